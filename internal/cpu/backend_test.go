package cpu

import (
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestConformance runs the op contract's conformance suite on the fast backend and on the naive one
// (the portable path: backend_amd64_test.go). Augmented gathering is exact: the CPU backend runs
// augment.Gather itself.
func TestConformance(t *testing.T) {
	tol := opstest.Default
	tol.Augment = 0
	opstest.Run(t, &Backend{}, tol)
	opstest.Run(t, &Backend{Naive: true}, tol)
}
