package cpu

import (
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestConformancePortable runs the conformance suite with the AVX2 paths switched off: the pure-Go
// micro-kernel, as on a CPU without AVX2/FMA.
func TestConformancePortable(t *testing.T) {
	defer func(v bool) { HasAVX2 = v }(HasAVX2)
	HasAVX2 = false
	opstest.Run(t, &Backend{}, opstest.Default)
}
