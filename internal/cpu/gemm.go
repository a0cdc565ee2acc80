package cpu

import (
	"runtime"
	"sync"
)

// This file is the fast float32 GEMM, C = op(A)·op(B), row-major, where op(A) is (M, K) and op(B) is
// (K, N). It is the Goto/BLIS scheme in miniature:
//
//   - B is packed in kc×NR panels (NR = 16 columns, row by row), A in MR×kc panels (MR = 6 rows,
//     column by column), both zero-padded at the edges, so one micro-kernel serves NN, NT and TN;
//   - the micro-kernel keeps a 6×16 tile of C in twelve AVX2 registers and runs over kc, one rank-1
//     update per k (gemm_amd64.s), or a pure-Go loop where AVX2/FMA is missing;
//   - K is cut into blocks of KC so a packed B block stays in L2; C accumulates across K blocks in a
//     fixed order;
//   - the N dimension is split across goroutines in whole NR panels. Each element of C is computed by
//     exactly one goroutine, in the same order of k whatever the number of workers, so results are
//     bit-identical for any GOMAXPROCS.
//
// The naive GEMM, ref.Gemm, is the oracle the tests compare against.

const (
	mr = 6
	nr = 16
	kc = 256 // K block: a kc×NR panel of B is 16 KiB, an MR×kc panel of A 6 KiB

	// parallelMin is the flop count below which splitting across goroutines costs more than it saves.
	parallelMin = 1 << 18
)

// Gemm computes C (M, N) = op(A) · op(B), overwriting C; arguments as for ref.Gemm.
func Gemm(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if M == 0 || N == 0 {
		return
	}
	if K == 0 {
		for i := range M {
			clear(c[i*ldc:][:N])
		}
		return
	}
	panels := (N + nr - 1) / nr
	workers := min(runtime.GOMAXPROCS(0), panels, maxSplit)
	if M*N*K < parallelMin || workers < 2 {
		gemmRange(tA, tB, M, N, K, a, lda, b, ldb, c, ldc, 0, N)
		return
	}
	startPool.Do(func() {
		for range max(runtime.NumCPU(), runtime.GOMAXPROCS(0)) {
			go gemmWorker()
		}
	})
	var done chan struct{}
	select {
	case done = <-doneChans:
	default:
		done = make(chan struct{}, maxSplit)
	}
	args := gemmArgs{tA, tB, M, N, K, a, lda, b, ldb, c, ldc}
	// Every range goes to the pool and the caller blocks: its own P then runs one worker at once and
	// idle Ps take the others. (A caller that computed a range itself kept the worker it had just
	// woken waiting in its own run queue, and the GEMM ran serially.)
	for w := range workers {
		tasks <- gemmTask{args: args, j0: panels * w / workers * nr, j1: min(panels*(w+1)/workers*nr, N), done: done}
	}
	for range workers {
		<-done
	}
	select {
	case doneChans <- done:
	default:
	}
}

// The worker pool: one goroutine per core, started once and fed over an unbuffered channel. With more ranges than workers the caller waits for a free one (a worker never blocks: done
// is buffered), so nothing deadlocks. Which goroutine runs a column range never changes the result.
const maxSplit = 64

type gemmArgs struct {
	tA, tB  bool
	M, N, K int
	a       []float32
	lda     int
	b       []float32
	ldb     int
	c       []float32
	ldc     int
}

type gemmTask struct {
	args   gemmArgs
	j0, j1 int
	done   chan<- struct{}
}

func (t gemmTask) run() {
	g := t.args
	gemmRange(g.tA, g.tB, g.M, g.N, g.K, g.a, g.lda, g.b, g.ldb, g.c, g.ldc, t.j0, t.j1)
}

var (
	startPool sync.Once
	tasks     = make(chan gemmTask)
	doneChans = make(chan chan struct{}, 64) // reused completion channels

)

func gemmWorker() {
	for t := range tasks {
		t.run()
		t.done <- struct{}{}
	}
}

// packBuf holds one worker's packed panels. They are kept in a free list (a buffered channel, which
// unlike sync.Pool is not emptied by the garbage collector), so steady-state training allocates nothing.
type packBuf struct{ a, b []float32 }

var packBufs = make(chan *packBuf, 128)

// gemmRange computes columns j0..j1-1 of C.
func gemmRange(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, j0, j1 int) {
	var buf *packBuf
	select {
	case buf = <-packBufs:
	default:
		buf = new(packBuf)
	}
	defer func() {
		select {
		case packBufs <- buf:
		default:
		}
	}()
	nc := j1 - j0
	np := (nc + nr - 1) / nr
	mp := (M + mr - 1) / mr
	if need := np * nr * kc; cap(buf.b) < need {
		buf.b = make([]float32, need)
	}
	if need := mp * mr * kc; cap(buf.a) < need {
		buf.a = make([]float32, need)
	}
	var tile [mr * nr]float32
	// Cut K into equal blocks of at most kc (784 → 4 × 196, not 3 × 256 + 16).
	nk := (K + kc - 1) / kc
	step := (K + nk - 1) / nk
	for p0 := 0; p0 < K; p0 += step {
		kb := min(step, K-p0)
		bp := buf.b[:np*nr*kb]
		packB(bp, tB, b, ldb, p0, kb, j0, nc)
		// Where op(A) is A itself and the assembly kernel runs, full 6-row panels are read in place and
		// only a ragged last panel is packed.
		direct := !tA && hasStrided && HasAVX2
		ap := buf.a[:mp*mr*kb]
		if direct {
			if full := M / mr * mr; full < M {
				packA(ap[full*kb:][:mr*kb], tA, a[full*lda:], lda, p0, kb, M-full)
			}
		} else {
			packA(ap, tA, a, lda, p0, kb, M)
		}
		acc := p0 > 0
		for jp := range np {
			j := j0 + jp*nr
			w := min(nr, j1-j)
			bpan := bp[jp*nr*kb:][:nr*kb]
			for ip := range mp {
				i := ip * mr
				h := min(mr, M-i)
				apan := ap[ip*mr*kb:][:mr*kb]
				if h == mr && w == nr {
					if direct {
						kernelStrided(kb, a[i*lda+p0:], lda, bpan, c[i*ldc+j:], ldc, acc)
					} else {
						kernel(kb, apan, bpan, c[i*ldc+j:], ldc, acc)
					}
					continue
				}
				if direct && h == mr {
					// A full-height panel in a ragged column: pack this one panel.
					packA(apan, false, a[i*lda:], lda, p0, kb, mr)
				}
				// Edge tile: compute the full 6×16 into a scratch tile, then copy the valid part.
				if acc {
					for r := range h {
						copy(tile[r*nr:][:w], c[(i+r)*ldc+j:][:w])
					}
				}
				kernel(kb, apan, bpan, tile[:], nr, acc)
				for r := range h {
					copy(c[(i+r)*ldc+j:][:w], tile[r*nr:][:w])
				}
			}
		}
	}
}

// packA packs rows 0..M-1, k = p0..p0+kb-1 of op(A) into MR-row panels: panel ip holds, for each k,
// the MR values op(A)[ip·MR + r][k], zero past row M.
func packA(dst []float32, tA bool, a []float32, lda, p0, kb, M int) {
	mp := (M + mr - 1) / mr
	for ip := range mp {
		pan := dst[ip*mr*kb:][:mr*kb]
		i0 := ip * mr
		h := min(mr, M-i0)
		if tA {
			// op(A)[i][k] = a[k*lda+i]: rows of the stored matrix are contiguous in i.
			for k := range kb {
				src := a[(p0+k)*lda+i0:][:h]
				d := pan[k*mr:][:mr]
				copy(d, src)
				clear(d[h:])
			}
			continue
		}
		if h == mr {
			// Six row streams read in step, the panel written sequentially.
			r0, r1, r2 := a[i0*lda+p0:][:kb], a[(i0+1)*lda+p0:][:kb], a[(i0+2)*lda+p0:][:kb]
			r3, r4, r5 := a[(i0+3)*lda+p0:][:kb], a[(i0+4)*lda+p0:][:kb], a[(i0+5)*lda+p0:][:kb]
			for k := range kb {
				d := pan[k*mr:][:mr]
				d[0], d[1], d[2], d[3], d[4], d[5] = r0[k], r1[k], r2[k], r3[k], r4[k], r5[k]
			}
			continue
		}
		for k := range kb {
			d := pan[k*mr:][:mr]
			for r := range mr {
				if r < h {
					d[r] = a[(i0+r)*lda+p0+k]
				} else {
					d[r] = 0
				}
			}
		}
	}
}

// packB packs k = p0..p0+kb-1, columns j0..j0+nc-1 of op(B) into NR-column panels: panel jp holds,
// for each k, the NR values op(B)[k][j0 + jp·NR + c], zero past column j0+nc.
func packB(dst []float32, tB bool, b []float32, ldb, p0, kb, j0, nc int) {
	np := (nc + nr - 1) / nr
	for jp := range np {
		pan := dst[jp*nr*kb:][:nr*kb]
		jj := j0 + jp*nr
		w := min(nr, nc-jp*nr)
		if !tB {
			for k := range kb {
				d := pan[k*nr:][:nr]
				copy(d, b[(p0+k)*ldb+jj:][:w])
				clear(d[w:])
			}
			continue
		}
		// op(B)[k][j] = b[j*ldb+k]: each stored row is one column of op(B). Full 8×8 blocks go through
		// the AVX transpose; the ragged edges are copied one by one.
		c8, k8 := 0, 0
		if w == nr && HasAVX2 {
			c8, k8 = nr, kb/8*8
			for c0 := 0; c0 < nr; c0 += 8 {
				for k0 := 0; k0 < k8; k0 += 8 {
					transpose8(pan[k0*nr+c0:], nr, b[(jj+c0)*ldb+p0+k0:], ldb)
				}
			}
		}
		var rows [nr][]float32
		for c := range w {
			rows[c] = b[(jj+c)*ldb+p0:][:kb]
		}
		for k := range kb {
			d := pan[k*nr:][:nr]
			from := 0
			if k < k8 {
				from = c8 // columns already written by the transpose
			}
			for c := from; c < w; c++ {
				d[c] = rows[c][k]
			}
			clear(d[w:])
		}
	}
}

// kernelGo is the portable micro-kernel: the 6×16 tile at c (leading dimension ldc) is set to, or
// with acc incremented by, Σ_k a[k·6 + r]·b[k·16 + j].
func kernelGo(kb int, a, b, c []float32, ldc int, acc bool) {
	var t [mr][nr]float32
	for k := range kb {
		av := a[k*mr:][:mr]
		bv := b[k*nr:][:nr]
		for r := range mr {
			x := av[r]
			row := &t[r]
			for j := range nr {
				row[j] += x * bv[j]
			}
		}
	}
	for r := range mr {
		dst := c[r*ldc:][:nr]
		if acc {
			for j := range nr {
				dst[j] += t[r][j]
			}
		} else {
			copy(dst, t[r][:])
		}
	}
}
