package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// gemmCase runs Gemm against ref.Gemm for one shape; the leading dimensions are padded to catch
// stride mistakes, and C is poisoned with NaN so every element must be written.
func gemmCase(t *testing.T, rng *rand.Rand, tA, tB bool, M, N, K int) {
	t.Helper()
	lda, ldb, ldc := K+3, N+1, N+2
	arows := M
	if tA {
		lda, arows = M+1, K
	}
	brows := K
	if tB {
		ldb, brows = K+2, N
	}
	a := opstest.Randn(rng, arows*lda)
	b := opstest.Randn(rng, brows*ldb)
	want := opstest.NaNs(M * ldc)
	got := opstest.NaNs(M * ldc)
	ref.Gemm(tA, tB, M, N, K, a, lda, b, ldb, want, ldc)
	Gemm(tA, tB, M, N, K, a, lda, b, ldb, got, ldc)
	atol := 1e-5 * math.Sqrt(float64(K))
	for i := range M {
		if j, ok := opstest.Close(got[i*ldc:][:N], want[i*ldc:][:N], atol, 1e-4); !ok {
			t.Fatalf("Gemm(tA=%v, tB=%v, %d×%d×%d)[%d][%d] = %v, want %v", tA, tB, M, N, K, i, j, got[i*ldc+j], want[i*ldc+j])
		}
		for j := N; j < ldc; j++ {
			if !math.IsNaN(float64(got[i*ldc+j])) {
				t.Fatalf("Gemm(%d×%d×%d) wrote C[%d][%d] outside the matrix", M, N, K, i, j)
			}
		}
	}
}

func TestGemmAgainstNaive(t *testing.T) {
	rng := opstest.Rand(t)
	sizes := []int{1, 2, 5, 6, 7, 9, 10, 11, 15, 16, 17, 20, 31, 32, 33}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, M := range sizes {
				for _, N := range sizes {
					gemmCase(t, rng, tA, tB, M, N, 1+rng.IntN(40))
				}
			}
			// Around the K block edge and the training shapes.
			for _, s := range [][3]int{{7, 17, kc - 1}, {7, 17, kc}, {13, 33, kc + 1}, {100, 128, 784}, {128, 784, 100}, {100, 784, 128}, {100, 10, 128}, {101, 129, 2*kc + 3}, {9, 10, 11}, {10, 32, 33}, {11, 33, 7}, {21, 63, 65}} {
				gemmCase(t, rng, tA, tB, s[0], s[1], s[2])
			}
		}
	}
}

func TestGemmZeroK(t *testing.T) {
	c := opstest.NaNs(6)
	Gemm(false, false, 2, 3, 0, nil, 0, nil, 3, c, 3)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("Gemm(K=0) C[%d] = %v, want 0", i, v)
		}
	}
}

// TestKernelsMatchGo checks each assembly micro-kernel against the portable one on every operand
// layout it takes (op(A) by rows or by columns, B strided), ragged tiles included. Both add the same
// products in the same order, but FMA rounds once where Go rounds twice, so allow rounding.
func TestKernelsMatchGo(t *testing.T) {
	rng := opstest.Rand(t)
	type kern struct {
		name   string
		ok     bool
		mr, nr int
		f      func(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w int, acc bool)
	}
	kerns := []kern{
		{"AVX2", HasAVX2, 6, 16, func(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w int, acc bool) {
			kernelAVX2(kb, a, ars, aks, b, ldb, c, ldc, acc)
		}},
		{"AVX-512", HasAVX512, 10, 32, func(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w int, acc bool) {
			kernel512(kb, a, ars, aks, b, ldb, c, ldc, h, w, 1, acc)
		}},
	}
	for _, k := range kerns {
		if !k.ok {
			t.Logf("%s: not on this CPU, skipped", k.name)
			continue
		}
		for _, kb := range []int{0, 1, 2, 3, 100, kc} {
			for _, acc := range []bool{false, true} {
				for _, byCols := range []bool{false, true} {
					hs, ws := []int{k.mr}, []int{k.nr}
					if k.name == "AVX-512" {
						hs, ws = []int{1, 7, 10}, []int{1, 10, 16, 17, 31, 32}
					}
					for _, h := range hs {
						for _, w := range ws {
							lda := kb + 3 // by rows: row r at r·lda
							ars, aks := lda, 1
							if byCols {
								lda = k.mr + 2
								ars, aks = 1, lda
							}
							a := opstest.Randn(rng, k.mr*lda+kb*lda+1)
							ldb := k.nr + 7
							b := opstest.Randn(rng, kb*ldb+1)
							ldc := k.nr + 5
							c0 := opstest.Randn(rng, k.mr*ldc)
							c1 := append([]float32(nil), c0...)
							kernelGo(kb, a, ars, aks, b, ldb, c0, ldc, h, w, acc)
							k.f(kb, a, ars, aks, b, ldb, c1, ldc, h, w, acc)
							if i, ok := opstest.Close(c1, c0, 1e-5*math.Sqrt(float64(kb+1)), 1e-5); !ok {
								t.Fatalf("%s(kb=%d, acc=%v, byCols=%v, %d×%d)[%d] = %v, kernelGo %v", k.name, kb, acc, byCols, h, w, i, c1[i], c0[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmAVX512MatchesAVX2: the AVX-512 and AVX2 paths give the same bits (same K blocks, one FMA
// per product, k in order), at the training shapes and around both tile sizes.
func TestGemmAVX512MatchesAVX2(t *testing.T) {
	if !HasAVX512 || !HasAVX2 {
		t.Skip("needs AVX-512 and AVX2")
	}
	rng := opstest.Rand(t)
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, s := range [][3]int{{100, 128, 784}, {128, 784, 100}, {100, 784, 128}, {100, 10, 128}, {10, 128, 100}, {7, 33, 5}, {11, 31, 300}, {23, 65, 2*kc + 3}} {
				M, N, K := s[0], s[1], s[2]
				lda, ldb := K, N
				arows, brows := M, K
				if tA {
					lda, arows = M, K
				}
				if tB {
					ldb, brows = K, N
				}
				a, b := opstest.Randn(rng, arows*lda), opstest.Randn(rng, brows*ldb)
				c512, c2 := opstest.NaNs(M*N), opstest.NaNs(M*N)
				Gemm(tA, tB, M, N, K, a, lda, b, ldb, c512, N)
				HasAVX512 = false
				Gemm(tA, tB, M, N, K, a, lda, b, ldb, c2, N)
				HasAVX512 = true
				if !opstest.SameBits(c512, c2) {
					t.Fatalf("Gemm(tA=%v, tB=%v, %d×%d×%d): AVX-512 and AVX2 results differ", tA, tB, M, N, K)
				}
			}
		}
	}
}

// TestGemmDeterministicAcrossProcs: the same inputs give bit-identical C for any GOMAXPROCS (with
// one goroutine an NT GEMM packs each column panel in its chunk; with more, in a shared pass first).
func TestGemmDeterministicAcrossProcs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct {
		tB      bool
		M, N, K int
	}{{false, 100, 784, 300}, {true, 100, 784, 300}, {true, 100, 128, 784}} {
		tB, M, N, K := c.tB, c.M, c.N, c.K
		a, b := opstest.Randn(rng, M*K), opstest.Randn(rng, K*N)
		ldb := N
		if tB {
			ldb = K
		}
		var ref []float32
		for _, p := range []int{1, 2, 3, 8} {
			runtime.GOMAXPROCS(p)
			c := opstest.NaNs(M * N)
			Gemm(false, tB, M, N, K, a, K, b, ldb, c, N)
			if ref == nil {
				ref = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("tB=%v GOMAXPROCS=%d: C[%d] = %v, with 1 proc %v", tB, p, i, c[i], ref[i])
				}
			}
		}
	}
}

// BenchmarkGemm reports GFLOP/s at the three shapes training the seed model uses (batch 100) and
// the forward GEMM of 784-800-10. It also reports GFLOP per second of the process's CPU time
// (GFLOP/CPU-s): on a shared machine that figure moves much less with the load than GFLOP/s does,
// and with -cpu 1 it is the kernel's efficiency on one core (its spin-waiting included with more).
func BenchmarkGemm(b *testing.B) {
	for _, s := range []struct {
		name     string
		tA, tB   bool
		M, N, K  int
		lda, ldb int
	}{
		{"forward_NT_100x128x784", false, true, 100, 128, 784, 784, 784},
		{"dweight_TN_128x784x100", true, false, 128, 784, 100, 128, 784},
		{"dinput_NN_100x784x128", false, false, 100, 784, 128, 128, 784},
		{"forward_NT_100x800x784", false, true, 100, 800, 784, 784, 784},
	} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a := opstest.Randn(rng, s.M*s.K)
			bb := opstest.Randn(rng, s.K*s.N)
			c := make([]float32, s.M*s.N)
			b.ResetTimer()
			c0 := processCPU()
			for range b.N {
				Gemm(s.tA, s.tB, s.M, s.N, s.K, a, s.lda, bb, s.ldb, c, s.N)
			}
			flops := 2 * float64(s.M*s.N*s.K) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPU() - c0; cpu > 0 {
				b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/CPU-s")
			}
		})
	}
}

func TestTranspose8(t *testing.T) {
	if !HasAVX2 {
		t.Skip("no AVX2")
	}
	for _, n := range []int{1, 2, 5} {
		lds, ldd := 8*n+3, 9
		src := make([]float32, 8*lds)
		for i := range src {
			src[i] = float32(i)
		}
		dst := opstest.NaNs(8 * n * ldd)
		transpose8(dst, ldd, src, lds, n)
		for r := range 8 * n {
			for c := range 8 {
				if dst[r*ldd+c] != src[c*lds+r] {
					t.Fatalf("transpose8(n=%d): dst[%d][%d] = %v, want %v", n, r, c, dst[r*ldd+c], src[c*lds+r])
				}
			}
			if !math.IsNaN(float64(dst[r*ldd+8])) {
				t.Fatalf("transpose8(n=%d) wrote outside its blocks at row %d", n, r)
			}
		}
	}
}

// TestGemmConcurrentCallers: GEMMs started from several goroutines at once (they take turns on the
// pool) give the same bits as one at a time.
func TestGemmConcurrentCallers(t *testing.T) {
	rng := opstest.Rand(t)
	const callers = 4
	M, N, K := 37, 129, 300
	var as, bs, want [callers][]float32
	for i := range callers {
		as[i], bs[i] = opstest.Randn(rng, M*K), opstest.Randn(rng, N*K)
		want[i] = make([]float32, M*N)
		Gemm(false, true, M, N, K, as[i], K, bs[i], K, want[i], N)
	}
	var got [callers][]float32
	done := make(chan int)
	for i := range callers {
		got[i] = opstest.NaNs(M * N)
		go func() {
			for range 20 {
				Gemm(false, true, M, N, K, as[i], K, bs[i], K, got[i], N)
			}
			done <- i
		}()
	}
	for range callers {
		i := <-done
		if !opstest.SameBits(got[i], want[i]) {
			t.Fatalf("caller %d: concurrent Gemm differs from a lone one", i)
		}
	}
}
