package ref_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"

	"github.com/dltrain/dltrain/internal/ops"
)

// Finite-difference gradient checks, in float64, for every layer, activation and loss. Each op's
// scalar objective is L = Σ out ⊙ R for a fixed random R (so dout = R), or the loss itself.

func randF64(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// numGrad returns dL/dx[i] by central differences.
func numGrad(x []float64, i int, L func() float64) float64 {
	const h = 1e-6
	old := x[i]
	x[i] = old + h
	lp := L()
	x[i] = old - h
	lm := L()
	x[i] = old
	return (lp - lm) / (2 * h)
}

func checkGrad(t *testing.T, what string, x, analytic []float64, L func() float64) {
	t.Helper()
	for i := range x {
		num := numGrad(x, i, L)
		if math.Abs(num-analytic[i]) > 1e-6+1e-5*math.Abs(num) {
			t.Fatalf("%s[%d]: analytic %.9g, numerical %.9g", what, i, analytic[i], num)
		}
	}
}

func TestMatmulGradients(t *testing.T) {
	rng := opstest.Rand(t)
	B, C, OC := 3, 5, 4
	inp, w, bias := randF64(rng, B*C), randF64(rng, OC*C), randF64(rng, OC)
	R := randF64(rng, B*OC)
	out := make([]float64, B*OC)
	L := func() float64 { ref.MatmulForward(out, inp, w, bias, ops.Identity, B, C, OC); return dot(out, R) }
	dinp, dw, db := make([]float64, B*C), make([]float64, OC*C), make([]float64, OC)
	ref.MatmulBackward(dinp, dw, db, R, inp, w, B, C, OC)
	checkGrad(t, "dinp", inp, dinp, L)
	checkGrad(t, "dweight", w, dw, L)
	checkGrad(t, "dbias", bias, db, L)
}

func TestActivationGradients(t *testing.T) {
	rng := opstest.Rand(t)
	N := 20
	for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
		x := randF64(rng, N)
		for i := range x {
			if math.Abs(x[i]) < 1e-3 { // keep ReLU away from its kink
				x[i] = 0.5
			}
		}
		R := randF64(rng, N)
		out := make([]float64, N)
		L := func() float64 { ref.ActivationForward(out, x, act, N); return dot(out, R) }
		L()
		dx := make([]float64, N)
		ref.ActivationBackward(dx, R, out, act, N)
		checkGrad(t, "d"+act.String(), x, dx, L)

		// In place (out aliases inp, dinp aliases dout) gives the same result.
		L() // out was left at a perturbed point by checkGrad
		y := append([]float64(nil), x...)
		ref.ActivationForward(y, y, act, N)
		d := append([]float64(nil), R...)
		ref.ActivationBackward(d, d, y, act, N)
		for i := range d {
			if d[i] != dx[i] || y[i] != out[i] {
				t.Fatalf("%v in place differs at %d", act, i)
			}
		}
	}
}

func TestLossGradients(t *testing.T) {
	rng := opstest.Rand(t)
	B, K := 4, 10
	labels := []uint8{3, 0, 9, 3}
	for _, tc := range []struct {
		name string
		f    func(d, z []float64, l []uint8, B, K int) (float64, int)
		mean func(sum float64) float64 // the batch loss whose gradient d is
	}{
		{"cross-entropy", ref.CrossEntropy[float64], func(s float64) float64 { return s / float64(B) }},
		{"mse", ref.MSE[float64], func(s float64) float64 { return s / float64(B) }},
	} {
		z := randF64(rng, B*K)
		d := make([]float64, B*K)
		tc.f(d, z, labels, B, K)
		L := func() float64 { s, _ := tc.f(nil, z, labels, B, K); return tc.mean(s) }
		checkGrad(t, "d"+tc.name, z, d, L)
	}
}

func TestCrossEntropyValues(t *testing.T) {
	// Uniform logits: loss log K per row, gradient (1/K − onehot)/B.
	B, K := 2, 10
	z := make([]float64, B*K)
	z[1*K+7] = 100 // row 1 is confident in 7
	d := make([]float64, B*K)
	loss, correct := ref.CrossEntropy(d, z, []uint8{4, 7}, B, K)
	if math.Abs(loss-math.Log(10)) > 1e-9 {
		t.Errorf("ref.CrossEntropy loss = %v, want log 10 = %v (row 1 adds ~0)", loss, math.Log(10))
	}
	if correct != 1 { // row 0 predicts class 0 (first max), row 1 predicts 7
		t.Errorf("ref.CrossEntropy correct = %d, want 1", correct)
	}
	if got, want := d[4], (0.1-1)/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("dlogits[0][4] = %v, want %v", got, want)
	}
	// Huge logits do not overflow.
	z[0] = 1e30
	if l, _ := ref.CrossEntropy(d, z, []uint8{0, 7}, B, K); math.IsNaN(l) || math.IsInf(l, 0) {
		t.Errorf("ref.CrossEntropy with logit 1e30 = %v", l)
	}
}

func TestSGDMomentumMatchesPyTorch(t *testing.T) {
	// Two steps by hand: v1 = g1, p1 = p0 − lr·g1; v2 = μ·g1 + g2, p2 = p1 − lr·v2.
	p, v := []float64{1}, []float64{0}
	ref.SGDMomentum(p, v, []float64{0.5}, 0.1, 0.9, 1)
	ref.SGDMomentum(p, v, []float64{-0.25}, 0.1, 0.9, 1)
	wantV := 0.9*0.5 - 0.25
	wantP := 1 - 0.1*0.5 - 0.1*wantV
	if math.Abs(v[0]-wantV) > 1e-15 || math.Abs(p[0]-wantP) > 1e-15 {
		t.Fatalf("ref.SGDMomentum: p = %v, v = %v; want %v, %v", p[0], v[0], wantP, wantV)
	}
}

func TestGatherNormalizes(t *testing.T) {
	pix := make([]uint8, 2*ops.Input)
	for i := range pix {
		pix[i] = uint8(i)
	}
	x := make([]float32, ops.Input)
	ref.Gather(x, pix, []int32{1, 0}, 0, 1) // row 0 of the batch is image 1
	for i, v := range x {
		p := float32(pix[ops.Input+i])
		if want := (p/255 - 0.5) / 0.5; v != want {
			t.Fatalf("Gather x[%d] = %v, want %v", i, v, want)
		}
	}
	if ref.NormTable[0] != -1 || ref.NormTable[255] != 1 {
		t.Fatalf("ref.NormTable ends = %v, %v; want -1, 1", ref.NormTable[0], ref.NormTable[255])
	}
}
