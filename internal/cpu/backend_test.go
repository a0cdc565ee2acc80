package cpu

import (
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestConformance runs the op contract's conformance suite on the fast backend and on the naive one
// (the portable path: backend_amd64_test.go).
func TestConformance(t *testing.T) {
	opstest.Run(t, &Backend{}, opstest.Default)
	opstest.Run(t, &Backend{Naive: true}, opstest.Default)
}
