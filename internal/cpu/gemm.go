package cpu

import "github.com/dltrain/dltrain/internal/ops"

// This file is the fast float32 GEMM, C = op(A)·op(B), row-major, where op(A) is (M, K) and op(B) is
// (K, N). It is the Goto/BLIS scheme in miniature, cut to the shapes of small MLPs:
//
//   - C is cut into MR×NR tiles. A micro-kernel keeps one tile in registers and runs over a block of
//     k, one rank-1 update per k: acc += op(A)[i][k]·op(B)[k][j] with one fused multiply-add per
//     element and k in increasing order. Three kernels share that contract: AVX-512 (10×32 tile,
//     gemm512_amd64.s), AVX2/FMA (6×16, gemm_amd64.s) and pure Go (6×16, kernelGo), chosen at run
//     time from the CPU's features (kernelPath), as hash/crc32 chooses its backend.
//   - The kernels read A and B where they lie whenever the layout allows: A row by row (op(A) = A)
//     or column by column (op(A) = Aᵀ, and a packed panel is that same layout), B row by row
//     (op(B) = B). Only op(B) = Bᵀ (the forward pass, x·Wᵀ) is packed, once per call for all of K,
//     in NR-column panels: by the chunk that uses a panel, into its own scratch, or in a shared
//     pass first when several chunks use each panel. A ragged last row panel of A is copied once
//     into a zero-padded panel.
//     The AVX-512 kernel masks ragged columns and stores only the valid rows; the AVX2 kernel
//     computes ragged tiles in a scratch tile.
//   - K is cut into equal blocks of at most kc (784 → 4 × 196), and C accumulates across blocks:
//     the first block overwrites C, later ones add to it. The blocking depends on K alone, so each
//     element of C is the same sum of the same products in the same order on every path that has
//     FMA, for any tile shape and any split of the work: the AVX-512 and AVX2 paths give the same
//     bits.
//   - The tiles are shared out in chunks (an NR-column panel and a run of row panels) among the
//     pool's goroutines (pool.go). Each element is computed by exactly one goroutine, in the same
//     order, so results are bit-identical for any GOMAXPROCS.
//   - An optional epilogue (bias + activation, for MatmulForward) runs on each chunk right after its
//     last K block, while the chunk is still in cache.
//
// The naive GEMM, ref.Gemm, is the oracle the tests compare against.

const (
	kc = 256 // K block: a kc×NR panel of B is 32 KiB for NR = 32

	maxMR, maxNR = 10, 32

	// parallelMin is the M·N·K below which a GEMM runs on the calling goroutine alone (about a
	// microsecond of work, the cost of sharing it out).
	parallelMin = 1 << 18
)

// Kernel paths, in order of preference.
const (
	pathGo = iota
	pathAVX2
	pathAVX512
)

// kernelPath is the micro-kernel this CPU runs; HasAVX512 and HasAVX2 can be switched off (tests do)
// to force the narrower ones.
func kernelPath() int {
	switch {
	case HasAVX512 && HasAVX2:
		return pathAVX512
	case HasAVX2:
		return pathAVX2
	}
	return pathGo
}

// KernelName names the GEMM micro-kernel in use: "AVX-512", "AVX2+FMA" or "pure Go".
func KernelName() string {
	return [...]string{"pure Go", "AVX2+FMA", "AVX-512"}[kernelPath()]
}

func tileShape(path int) (mr, nr int) {
	if path == pathAVX512 {
		return 10, 32
	}
	return 6, 16
}

// kBlock is the K block length for a reduction of length K: equal blocks of at most kc.
func kBlock(K int) int {
	nk := (K + kc - 1) / kc
	return (K + nk - 1) / nk
}

// Gemm computes C (M, N) = op(A) · op(B), overwriting C; arguments as for ref.Gemm.
func Gemm(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	g := &pool.gemms[0]
	g.set(tA, tB, M, N, K, a, lda, b, ldb, c, ldc)
	g.runAlone()
}

// set fills in the operands and the tile counts of the kernel path in use, with no epilogue; plan
// and prepare come next.
func (g *gemmTask) set(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	apBuf := g.apBuf
	*g = gemmTask{tA: tA, tB: tB, M: M, N: N, K: K, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, apBuf: apBuf}
	g.path = kernelPath()
	g.mr, g.nr = tileShape(g.path)
	g.mp, g.np = (M+g.mr-1)/g.mr, (N+g.nr-1)/g.nr
	if K > 0 {
		g.kstep = kBlock(K)
	}
}

// small reports whether the GEMM is too small to share out.
func (g *gemmTask) small() bool { return g.M*g.N*g.K < parallelMin }

// plan cuts the tiles into chunks for a region shared by up to p goroutines: whole column panels when
// there are enough of them, else each panel cut along M too into groups of as equal a number of row
// panels as can be, so that there are about eight chunks per goroutine: the pool balances them, and
// the last chunk to finish holds the others up for less. An NT GEMM keeps whole panels from two per
// goroutine on: each chunk then packs its own panel of Bᵀ and keeps it in its core's L2, which beat
// a shared packing pass and 16 smaller chunks for the classic forward (100×128×784 on two cores:
// 105–108 µs against 115–119, load ~2).
func (g *gemmTask) plan(p int) {
	want := 8 * p
	g.groups = 1
	if g.tB && g.np >= 2*p {
		return
	}
	if p > 1 && g.np < want {
		g.groups = min(g.mp, (want+g.np-1)/g.np)
	}
}

func (g *gemmTask) chunks() int {
	if g.M == 0 || g.N == 0 {
		return 0
	}
	return g.np * g.groups
}

// prepare packs what the chunks share, after plan: op(B) when it is Bᵀ and its column panels are
// cut among several chunks (when each panel is one chunk, the chunk packs it into its goroutine's
// scratch, where it stays in L2, instead of a shared buffer that may not), and a ragged last row
// panel of op(A).
func (g *gemmTask) prepare() {
	if g.M == 0 || g.N == 0 || g.K == 0 {
		return
	}
	if g.groups > 1 {
		g.packB()
	}
	if h := g.M % g.mr; h != 0 {
		g.apBuf = grow(g.apBuf, g.mr*g.K)
		g.ap = g.apBuf
		packA(g.ap, g.tA, g.a, g.lda, g.M-h, 0, g.K, h, g.mr)
	}
}

// packB packs op(B) = Bᵀ for the NT case into pool.bp, zero-padded to whole panels: panel jp holds,
// for k = 0..K-1, the NR values B[jp·NR + c][k]. It is a region of its own when large.
func (g *gemmTask) packB() {
	if !g.tB || g.K == 0 || g.N == 0 {
		return
	}
	pool.bp = grow(pool.bp, g.np*g.nr*g.K)
	g.bp = pool.bp
	pk := &pool.pack
	*pk = packTask{g: g}
	pool.run(pk, g.np, g.N*g.K < parallelMin/8)
}

// runAlone runs the GEMM as its own region (or two, when op(B) is packed first).
func (g *gemmTask) runAlone() {
	if g.M == 0 || g.N == 0 {
		return
	}
	if g.K == 0 {
		for i := range g.M {
			clear(g.c[i*g.ldc:][:g.N])
		}
		g.epilogue(0, g.M, 0, g.N)
		return
	}
	p := participants(1 << 30)
	if g.small() {
		p = 1
	}
	g.plan(p)
	g.prepare()
	pool.run(g, g.chunks(), p == 1)
}

// gemmTask is one GEMM and its plan; a pool task whose chunks are tile groups.
type gemmTask struct {
	tA, tB  bool
	M, N, K int
	a       []float32
	lda     int
	b       []float32
	ldb     int
	c       []float32
	ldc     int

	// Epilogue: with epi set, C = act(C + bias) once the last K block is in. bias is (N).
	epi  bool
	bias []float32
	act  ops.Activation

	path, mr, nr int
	mp, np       int       // row panels of MR, column panels of NR
	kstep        int       // K block length
	groups       int       // chunks per column panel: row panels g·mp/groups … (g+1)·mp/groups − 1
	bp           []float32 // packed op(B) when tB
	ap           []float32 // the ragged last row panel of op(A), packed: (K, MR) column-major
	apBuf        []float32 // this task's storage for ap, kept from call to call
}

func (g *gemmTask) run(chunk int, s *scratch) {
	jp, grp := chunk/g.groups, chunk%g.groups
	j := jp * g.nr
	w := min(g.nr, g.N-j)
	ip0 := grp * g.mp / g.groups
	ip1 := (grp + 1) * g.mp / g.groups
	full := min(ip1, g.M/g.mr) // row panels ip0..full-1 are whole
	var bpan []float32         // the packed column panel of op(B) = Bᵀ, (K, NR)
	if g.tB {
		if g.groups == 1 {
			s.bpan = grow(s.bpan, g.nr*g.K)
			bpan = s.bpan
			g.packPanel(bpan, jp)
		} else {
			bpan = g.bp[jp*g.nr*g.K:][:g.nr*g.K]
		}
	}
	for p0 := 0; p0 < g.K; p0 += g.kstep {
		kb := min(g.kstep, g.K-p0)
		ip := ip0
		if g.path == pathAVX512 && full > ip0 {
			// The AVX-512 kernel runs down the whole panels in one call.
			g.tiles512(ip0*g.mr, j, w, full-ip0, bpan, p0, kb)
			ip = full
		}
		for ; ip < ip1; ip++ {
			i := ip * g.mr
			g.tile(s, i, j, min(g.mr, g.M-i), w, bpan, p0, kb)
		}
	}
	g.epilogue(ip0*g.mr, min(ip1*g.mr, g.M), j, w)
}

// epilogue applies bias and activation to rows i0..i1-1, columns j..j+w-1 of C.
func (g *gemmTask) epilogue(i0, i1, j, w int) {
	if !g.epi {
		return
	}
	for i := i0; i < i1; i++ {
		biasAct(g.c[i*g.ldc+j:][:w], g.bias[j:][:w], g.act)
	}
}

// tile computes the h×w tile of C at (i, j) over k = p0..p0+kb-1: overwriting C for the first K
// block, adding to it for later ones.
func (g *gemmTask) tile(s *scratch, i, j, h, w int, bpan []float32, p0, kb int) {
	acc := p0 > 0
	mr, nr := g.mr, g.nr
	// op(B) rows k: b[k·ldb + c].
	var b []float32
	ldb := g.ldb
	if g.tB {
		b, ldb = bpan[p0*nr:], nr
	} else {
		b = g.b[p0*g.ldb+j:]
	}
	// op(A): ars apart from row to row, aks from k to k. The ragged row panel was copied into a
	// zero-padded column-major panel by prepare (for the Go kernel too, so that every path reads the
	// same layouts).
	var a []float32
	ars, aks := g.lda, 1
	switch {
	case h < mr:
		a, ars, aks = g.ap[p0*mr:], 1, mr
	case g.tA:
		a, ars, aks = g.a[p0*g.lda+i:], 1, g.lda
	default:
		a = g.a[i*g.lda+p0:]
	}
	c := g.c[i*g.ldc+j:]
	switch g.path {
	case pathAVX512:
		kernel512(kb, a, ars, aks, b, ldb, c, g.ldc, h, w, 1, acc)
	case pathAVX2:
		if w < nr && !g.tB {
			s.b = grow(s.b, kb*nr)
			for k := range kb {
				d := s.b[k*nr:][:nr]
				copy(d, b[k*ldb:][:w])
				clear(d[w:])
			}
			b, ldb = s.b, nr
		}
		if h == mr && w == nr {
			kernelAVX2(kb, a, ars, aks, b, ldb, c, g.ldc, acc)
			return
		}
		t := s.tile[:mr*nr]
		if acc {
			for r := range h {
				copy(t[r*nr:][:w], c[r*g.ldc:][:w])
			}
		}
		kernelAVX2(kb, a, ars, aks, b, ldb, t, nr, acc)
		for r := range h {
			copy(c[r*g.ldc:][:w], t[r*nr:][:w])
		}
	default:
		kernelGo(kb, a, ars, aks, b, ldb, c, g.ldc, h, w, acc)
	}
}

// tiles512 is tile for n whole row panels from row i on, in one call of the AVX-512 kernel.
func (g *gemmTask) tiles512(i, j, w, n int, bpan []float32, p0, kb int) {
	var b []float32
	ldb := g.ldb
	if g.tB {
		b, ldb = bpan[p0*g.nr:], g.nr
	} else {
		b = g.b[p0*g.ldb+j:]
	}
	var a []float32
	ars, aks := g.lda, 1
	if g.tA {
		a, ars, aks = g.a[p0*g.lda+i:], 1, g.lda
	} else {
		a = g.a[i*g.lda+p0:]
	}
	kernel512(kb, a, ars, aks, b, ldb, g.c[i*g.ldc+j:], g.ldc, g.mr, w, n, p0 > 0)
}

// packA copies rows i..i+h-1, k = p0..p0+kb-1 of op(A) into dst as a column-major MR-row panel
// (dst[k·mr + r]), zero past row h.
func packA(dst []float32, tA bool, a []float32, lda, i, p0, kb, h, mr int) {
	for k := range kb {
		d := dst[k*mr:][:mr]
		if tA {
			copy(d, a[(p0+k)*lda+i:][:h])
		} else {
			for r := range h {
				d[r] = a[(i+r)*lda+p0+k]
			}
		}
		clear(d[h:])
	}
}

// packTask packs the column panels of op(B) = Bᵀ, one panel per chunk.
type packTask struct{ g *gemmTask }

func (t *packTask) run(jp int, _ *scratch) {
	g := t.g
	g.packPanel(g.bp[jp*g.nr*g.K:][:g.nr*g.K], jp)
}

// packPanel packs column panel jp of op(B) = Bᵀ into pan (K, NR), zero past column N.
func (g *gemmTask) packPanel(pan []float32, jp int) {
	nr, K := g.nr, g.K
	j := jp * nr
	w := min(nr, g.N-j)
	b, ldb := g.b, g.ldb
	// op(B)[k][j] = b[j·ldb + k]: each stored row is one column of op(B). Full 8×8 blocks go through
	// the AVX transpose; the ragged edges are copied one by one.
	c8, k8 := 0, 0
	if HasAVX2 {
		c8, k8 = w/8*8, K/8*8
		for c0 := 0; c0 < c8; c0 += 8 {
			transpose8(pan[c0:], nr, b[(j+c0)*ldb:], ldb, k8/8)
		}
	}
	for c := range w {
		row := b[(j+c)*ldb:][:K]
		k0 := 0
		if c < c8 {
			k0 = k8 // columns already written by the transpose up to k8
		}
		for k := k0; k < K; k++ {
			pan[k*nr+c] = row[k]
		}
	}
	if w < nr {
		for k := range K {
			clear(pan[k*nr+w:][:nr-w])
		}
	}
}

// kernelGo is the portable micro-kernel: for r < h, c < w, the tile at c (leading dimension ldc) is
// set to, or with acc incremented by, Σ_k a[r·ars + k·aks]·b[k·ldb + c], k in order. Go does not fuse
// the multiply and add on amd64, so it rounds twice where the assembly kernels round once.
func kernelGo(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w int, acc bool) {
	var t [maxMR][maxNR]float32
	for k := range kb {
		bv := b[k*ldb:][:w]
		for r := range h {
			x := a[r*ars+k*aks]
			row := t[r][:w]
			for j, y := range bv {
				row[j] += x * y
			}
		}
	}
	for r := range h {
		dst := c[r*ldc:][:w]
		if acc {
			for j := range dst {
				dst[j] += t[r][j]
			}
		} else {
			copy(dst, t[r][:w])
		}
	}
}
