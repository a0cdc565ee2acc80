package ref_test

import (
	"math"
	"testing"

	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// r32 rounds to float32 through float64: the product or sum of two float32 values is exact in float64,
// so r32(float64(a)*float64(b)) is the float32 product rounded once, never fused with what follows.
func r32(x float64) float32 { return float32(x) }

// TestRoundingIsExplicit: the ops that the GPU kernels reproduce bit for bit (the SGD update, the tanh
// and sigmoid gradients) round every product before any sum, on every architecture. On amd64 (no
// fusion at GOAMD64=v1) this always held; on arm64 it fails if a conversion in ref is dropped and the
// compiler fuses a multiply-add.
func TestRoundingIsExplicit(t *testing.T) {
	rng := opstest.Rand(t)
	const n = 4096
	p, v, g := opstest.Randn(rng, n), opstest.Randn(rng, n), opstest.Randn(rng, n)
	lr, mu := float32(0.01), float32(0.9)
	wp, wv := make([]float32, n), make([]float32, n)
	for i := range n {
		vi := r32(float64(r32(float64(mu)*float64(v[i]))) + float64(g[i]))
		wv[i] = vi
		wp[i] = r32(float64(p[i]) - float64(r32(float64(lr)*float64(vi))))
	}
	hyper := make([]float32, ops.HyperLen)
	hyper[ops.HyperLR], hyper[ops.HyperMomentum] = lr, mu
	ref.SGD(p, v, g, hyper, false, n)
	if !opstest.SameBits(p, wp) || !opstest.SameBits(v, wv) {
		t.Fatal("ref.SGD is not mu*v, +g, lr*v, p- each rounded on its own")
	}

	y, dout := opstest.Randn(rng, n), opstest.Randn(rng, n)
	for i := range y {
		y[i] = float32(math.Tanh(float64(y[i])))
	}
	want := make([]float32, n)
	for i := range n {
		want[i] = r32(float64(dout[i]) * float64(r32(1-float64(r32(float64(y[i])*float64(y[i]))))))
	}
	got := make([]float32, n)
	ref.ActivationBackward(got, dout, y, ops.Tanh, n)
	if !opstest.SameBits(got, want) {
		t.Fatal("ref.ActivationBackward(tanh) is not dout*(1 - y*y) with y*y rounded first")
	}
	for i := range y {
		y[i] = float32(1 / (1 + math.Exp(-float64(y[i]))))
	}
	for i := range n {
		want[i] = r32(float64(r32(float64(dout[i])*float64(y[i]))) * float64(r32(1-float64(y[i]))))
	}
	ref.ActivationBackward(got, dout, y, ops.Sigmoid, n)
	if !opstest.SameBits(got, want) {
		t.Fatal("ref.ActivationBackward(sigmoid) is not (dout*y)*(1 - y), each rounded")
	}
}
