package cpu

import (
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestGemmPortablePath runs the GEMM with the AVX2 paths switched off, as on a CPU without them, and
// checks it against the naive oracle like the fast path.
func TestGemmPortablePath(t *testing.T) {
	defer func(v bool) { HasAVX2 = v }(HasAVX2)
	HasAVX2 = false
	rng := opstest.Rand(t)
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, s := range [][3]int{{1, 1, 1}, {7, 17, 9}, {100, 128, 784}, {13, 33, kc + 1}} {
				gemmCase(t, rng, tA, tB, s[0], s[1], s[2])
			}
		}
	}
}

// TestGemmAVX2Path runs the GEMM against the naive oracle with AVX-512 switched off, as on a CPU
// with AVX2 alone (the fast path's own test covers AVX-512 where the CPU has it).
func TestGemmAVX2Path(t *testing.T) {
	if !HasAVX2 {
		t.Skip("no AVX2/FMA")
	}
	defer func(v bool) { HasAVX512 = v }(HasAVX512)
	HasAVX512 = false
	rng := opstest.Rand(t)
	sizes := []int{1, 5, 6, 7, 16, 17, 33}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, M := range sizes {
				for _, N := range sizes {
					gemmCase(t, rng, tA, tB, M, N, 1+rng.IntN(40))
				}
			}
			for _, s := range [][3]int{{100, 128, 784}, {128, 784, 100}, {13, 33, kc + 1}} {
				gemmCase(t, rng, tA, tB, s[0], s[1], s[2])
			}
		}
	}
}
