package cpu

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// The conformance suite (backend_test.go) checks every op of the fast backend against the reference
// with NaN-poisoned outputs; these tests add what it does not: bit-equality where the fast op claims
// it (losses included), every pixel value through the vector gather, and both paths.

// paths runs f with the vector paths on (where the CPU has them) and off.
func paths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := HasAVX2
	defer func() { HasAVX2 = saved }()
	for _, on := range []bool{true, false} {
		if on && !saved {
			continue
		}
		HasAVX2 = on
		t.Run(fmt.Sprintf("AVX2=%v", on), f)
	}
}

// TestGatherTable: every pixel value normalizes to ref.NormTable's float32, bit for bit (the vector
// path divides by 255 with a multiply and one refinement step; see gatherAVX2).
func TestGatherTable(t *testing.T) {
	paths(t, func(t *testing.T) {
		set := &mnist.Set{Images: make([]uint8, 256/ops.Input*ops.Input+ops.Input), Labels: make([]uint8, 1), N: 1}
		x := make([]float32, ops.Input)
		for p0 := 0; p0 < 256; p0 += ops.Input {
			for i := range ops.Input {
				set.Images[i] = uint8(p0 + i)
			}
			d := &data{set: set, order: []int32{0}}
			copy(x, opstest.NaNs(ops.Input))
			gather(x, d, 0, 1)
			for i, v := range x {
				if want := ref.NormTable[uint8(p0+i)]; math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("gather(pixel %d) = %v, want %v", uint8(p0+i), v, want)
				}
			}
		}
	})
}

// TestColSumsBits: column sums at widths around the 8- and 32-column strips, bit for bit.
func TestColSumsBits(t *testing.T) {
	rng := opstest.Rand(t)
	paths(t, func(t *testing.T) {
		for _, B := range []int{1, 7, 100} {
			for _, OC := range []int{1, 7, 8, 9, 31, 32, 33, 40, 65, 128} {
				src := opstest.Randn(rng, B*OC)
				want := make([]float32, OC)
				ref.ColumnSums(want, src, B, OC)
				got := opstest.NaNs(OC)
				colSums(got, src, B, OC)
				if !opstest.SameBits(got, want) {
					t.Fatalf("colSums(B=%d, OC=%d) = %v, want %v", B, OC, got, want)
				}
			}
		}
	})
}

// TestLossBits: CrossEntropy and MSE give the reference's gradient and stats bit for bit, with one
// goroutine and with several (the row losses are added in row order either way).
func TestLossBits(t *testing.T) {
	rng := opstest.Rand(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	be := &Backend{}
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for _, B := range []int{1, 15, 16, 17, 100, 1000} {
			set := opstest.RandomSet(rng, B)
			d, _ := be.Resident(set)
			for _, mse := range []bool{false, true} {
				z := opstest.Randn(rng, B*ops.Classes)
				want := make([]float32, B*ops.Classes)
				f := ref.CrossEntropy[float32]
				if mse {
					f = ref.MSE[float32]
				}
				sum, correct := f(want, z, set.Labels, B, ops.Classes)
				wantStats := []float32{0.25 + float32(sum), 3 + float32(correct)}
				got, stats := Tensor(opstest.NaNs(B*ops.Classes)), Tensor([]float32{0.25, 3})
				if mse {
					be.MSE(got, stats, Tensor(z), d, 0, B, ops.Classes)
				} else {
					be.CrossEntropy(got, stats, Tensor(z), d, 0, B, ops.Classes)
				}
				if !opstest.SameBits(got, want) || !opstest.SameBits(stats, wantStats) {
					t.Fatalf("GOMAXPROCS=%d B=%d mse=%v: gradient or stats %v differ from the reference's %v", procs, B, mse, stats, wantStats)
				}
			}
		}
	}
}

// TestElementwiseBits: the SGD update, the activation gradients and bias + ReLU/identity give the
// reference's bits on both paths, at sizes around the 8-lane and chunk edges, NaN and −0 included.
func TestElementwiseBits(t *testing.T) {
	rng := opstest.Rand(t)
	paths(t, func(t *testing.T) {
		for _, n := range []int{1, 7, 8, 9, 4095, 4096, 4097, 10000} {
			p, v, g := opstest.Randn(rng, n), opstest.Randn(rng, n), opstest.Randn(rng, n)
			wp, wv := append([]float32(nil), p...), append([]float32(nil), v...)
			hyper := make([]float32, ops.HyperLen)
			hyper[ops.HyperLR], hyper[ops.HyperMomentum] = 0.01, 0.9
			ref.SGD(wp, wv, g, hyper, false, n)
			sgd(p, v, g, 0.01, 0.9)
			if !opstest.SameBits(p, wp) || !opstest.SameBits(v, wv) {
				t.Fatalf("sgd(n=%d) differs from ref.SGD", n)
			}
			for _, act := range []ops.Activation{ops.Identity, ops.ReLU, ops.Sigmoid, ops.Tanh} {
				y := opstest.Randn(rng, n)
				ref.ActivationForward(y, y, act, n)
				y[0], y[n/2] = float32(math.NaN()), 0
				dout := opstest.Randn(rng, n)
				want := make([]float32, n)
				ref.ActivationBackward(want, dout, y, act, n)
				got := opstest.NaNs(n)
				actBackward(got, dout, y, act)
				if !opstest.SameBits(got, want) {
					t.Fatalf("actBackward(%v, n=%d) differs from ref.ActivationBackward", act, n)
				}
				if act == ops.Sigmoid || act == ops.Tanh {
					continue // float32 approximations: TestFastMath*
				}
				x, bias := opstest.Randn(rng, n), opstest.Randn(rng, n)
				if n > 2 {
					x[0], bias[1], x[2], bias[2] = float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1))
				}
				want = append([]float32(nil), x...)
				ref.BiasActivationForward(want, bias, act, 1, n)
				biasAct(x, bias, act)
				if !opstest.SameBits(x, want) {
					t.Fatalf("biasAct(%v, n=%d) = %v, want %v", act, n, x[:min(n, 4)], want[:min(n, 4)])
				}
			}
		}
	})
}
