//go:build !cuda

// Package cuda is dltrain's GPU backend through gorgonia.org/cu. This file stands in for it in builds
// without the cuda tag, which is every build that does not go through `make build-cuda`: it has the
// same exported names, and New always fails with ErrNotBuilt.
package cuda

import (
	"errors"

	"github.com/dltrain/dltrain/internal/ops"
)

// Built reports whether this binary was built with the CUDA backend.
const Built = false

// ErrNotBuilt is returned by New in builds without the cuda tag.
var ErrNotBuilt = errors.New("cuda: built without CUDA: make build-cuda")

// Available reports whether a GPU can be used; in this build it never can.
func Available() error { return ErrNotBuilt }

// New would open the first GPU; in this build it always returns ErrNotBuilt.
func New() (ops.Backend, error) { return nil, ErrNotBuilt }
