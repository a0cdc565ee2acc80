package cuda

// This file is built with and without the cuda tag: the precision setting is parsed by the CLI in
// every build, and only a CUDA build can apply it.

import (
	"fmt"
	"strings"
)

// Precision is the arithmetic of the backend's cuBLAS GEMMs (the hidden layers' forward, weight and
// input gradients). The PTX kernels always compute in IEEE float32.
type Precision int

const (
	// FP32 is IEEE float32 throughout: the default, and what the CPU computes.
	FP32 Precision = iota
	// TF32 lets cuBLAS run its GEMMs on tensor cores with the inputs rounded to TensorFloat-32 (a
	// 10-bit mantissa; products summed in float32): CUBLAS_TF32_TENSOR_OP_MATH, on Ampere and later.
	// Results then differ from the CPU's by more than rounding, about 1e-3 relative per product.
	TF32
)

// ParsePrecision maps "fp32" or "tf32" to a Precision.
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "fp32", "":
		return FP32, nil
	case "tf32":
		return TF32, nil
	}
	return FP32, fmt.Errorf("cuda: unknown precision %q (want fp32 or tf32)", s)
}

func (p Precision) String() string {
	if p == TF32 {
		return "tf32"
	}
	return "fp32"
}
