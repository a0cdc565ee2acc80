//go:build !cuda

package cuda

import (
	"errors"
	"testing"
)

func TestStubSaysBuiltWithoutCUDA(t *testing.T) {
	if Built {
		t.Fatal("Built is true in a build without the cuda tag")
	}
	if err := Available(); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Available() = %v, want ErrNotBuilt", err)
	}
	if _, err := New(); !errors.Is(err, ErrNotBuilt) || err.Error() != "cuda: built without CUDA: make build-cuda" {
		t.Fatalf("New() = %v, want ErrNotBuilt", err)
	}
}
