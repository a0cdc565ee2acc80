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
