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
	if _, err := New(); !errors.Is(err, ErrNotBuilt) || err.Error() != "cuda: built without CUDA: make build-cuda" {
		t.Fatalf("New() = %v, want ErrNotBuilt", err)
	}
}
