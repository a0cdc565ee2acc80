// Package ref is the naive reference of every op in the contract (internal/ops): plain loops written
// to be read, with the same names and argument order as the Backend methods (llm.c's order: outputs,
// then inputs and weights, then dimensions), generic over float32 and float64 so that gradient checks
// run in float64. It is the oracle that every fast path (the CPU backend's GEMM, the PTX kernels) is
// tested against, and the CPU backend calls it directly for the ops that are not worth a fast path.
// It is deliberately not fast.
//
// Letters used in shapes: B batch rows, C input features, OC output features, K classes, N elements.
// Each layer's forward sits next to its backward. Every op overwrites its outputs; only the loss ops
// add into their stats.
//
// Rounding. Go lets a compiler fuse x*y + z into one fused multiply-add, which rounds once instead of
// twice, and gc does so on arm64 (Grace Hopper's CPU), ppc64, s390x, riscv64, and on amd64 built with
// GOAMD64=v3 or later; on amd64 at the default GOAMD64=v1 it never fuses. An explicit conversion
// rounds and so prevents fusion (the Go spec, "Floating-point operators"; checked in the arm64
// assembly of the float32 instances). The ops whose results are claimed bit-identical to the GPU
// kernels (the SGD update and the activation gradients, which sgd.ptx and act_backward.ptx compute
// with one rounding per operation) write F(x*y) wherever a product meets a sum, so they give the
// same bits on every architecture. The sums of products in the matmuls and losses are left as they
// are: they are compared with tolerances, and a fused product there is only closer to the exact value.
package ref

import "github.com/dltrain/dltrain/internal/ops"

// Float is the element type of the reference kernels.
type Float interface{ ~float32 | ~float64 }

// NormTable maps a pixel to (p/255 − 0.5)/0.5 computed in float32, exactly as torchvision's
// ToTensor followed by Normalize((0.5,), (0.5,)) does.
var NormTable = func() (t [256]float32) {
	for p := range t {
		t[p] = (float32(p)/255 - 0.5) / 0.5
	}
	return t
}()

// Gather fills x (B, 784) with the normalized images order[start : start+B] of pix (N, 784).
func Gather[F Float](x []F, pix []uint8, order []int32, start, B int) {
	const P = ops.Input
	for b := range B {
		src := pix[int(order[start+b])*P:][:P]
		dst := x[b*P:][:P]
		for i, p := range src {
			dst[i] = F(NormTable[p])
		}
	}
}

// Advance moves a batch cursor on by one batch of B rows: the host's start += B between steps, which a
// step replayed as a CUDA graph does on the device (kernels.Advance).
func Advance(cursor *uint32, B int) { *cursor += uint32(B) }
