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
	sizes := []int{1, 2, 5, 6, 7, 15, 16, 17, 31, 33}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, M := range sizes {
				for _, N := range sizes {
					gemmCase(t, rng, tA, tB, M, N, 1+rng.IntN(40))
				}
			}
			// Around the K block edge and the training shapes.
			for _, s := range [][3]int{{7, 17, kc - 1}, {7, 17, kc}, {13, 33, kc + 1}, {100, 128, 784}, {128, 784, 100}, {100, 784, 128}, {100, 10, 128}, {101, 129, 2*kc + 3}} {
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

// TestKernelGoMatchesAsm checks the portable micro-kernel against the one in use, bit for bit:
// both add the same products in the same order... except that FMA rounds once, so allow rounding.
func TestKernelGoMatchesAsm(t *testing.T) {
	if !HasAVX2 {
		t.Skip("no AVX2/FMA on this machine: only the Go kernel runs")
	}
	rng := opstest.Rand(t)
	for _, kb := range []int{0, 1, 2, 3, 100, kc} {
		for _, acc := range []bool{false, true} {
			a, b := opstest.Randn(rng, mr*kb+1), opstest.Randn(rng, nr*kb+1)
			ldc := nr + 5
			c0 := opstest.Randn(rng, mr*ldc)
			c1 := append([]float32(nil), c0...)
			kernelGo(kb, a, b, c0, ldc, acc)
			kernel(kb, a, b, c1, ldc, acc)
			if i, ok := opstest.Close(c1, c0, 1e-5*math.Sqrt(float64(kb+1)), 1e-5); !ok {
				t.Fatalf("kernel(kb=%d, acc=%v)[%d] = %v, kernelGo %v", kb, acc, i, c1[i], c0[i])
			}
		}
	}
}

// TestGemmDeterministicAcrossProcs: the same inputs give bit-identical C for any GOMAXPROCS.
func TestGemmDeterministicAcrossProcs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	M, N, K := 100, 784, 300
	a, b := opstest.Randn(rng, M*K), opstest.Randn(rng, K*N)
	var ref []float32
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, p := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(p)
		c := opstest.NaNs(M * N)
		Gemm(false, false, M, N, K, a, K, b, N, c, N)
		if ref == nil {
			ref = c
			continue
		}
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("GOMAXPROCS=%d: C[%d] = %v, with 1 proc %v", p, i, c[i], ref[i])
			}
		}
	}
}

// BenchmarkGemm reports GFLOP/s at the three shapes training the seed model uses (batch 100).
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
	} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a := opstest.Randn(rng, s.M*s.K)
			bb := opstest.Randn(rng, s.K*s.N)
			c := make([]float32, s.M*s.N)
			b.ResetTimer()
			for range b.N {
				Gemm(s.tA, s.tB, s.M, s.N, s.K, a, s.lda, bb, s.ldb, c, s.N)
			}
			gf := 2 * float64(s.M*s.N*s.K) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gf, "GFLOP/s")
		})
	}
}

func TestTranspose8(t *testing.T) {
	if !HasAVX2 {
		t.Skip("no AVX2")
	}
	src := make([]float32, 8*11)
	for i := range src {
		src[i] = float32(i)
	}
	dst := opstest.NaNs(8 * 9)
	transpose8(dst, 9, src, 11)
	for r := range 8 {
		for c := range 8 {
			if dst[r*9+c] != src[c*11+r] {
				t.Fatalf("transpose8: dst[%d][%d] = %v, want %v", r, c, dst[r*9+c], src[c*11+r])
			}
		}
		if !math.IsNaN(float64(dst[r*9+8])) {
			t.Fatalf("transpose8 wrote outside its block at row %d", r)
		}
	}
}
