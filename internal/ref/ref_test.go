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

// hyper64 fills the ops.Hyper* scalars in float64 for an optimizer's t-th step (t from 1).
func hyper64(lr, mu, wd, beta1, beta2, eps float64, t int) []float64 {
	h := make([]float64, ops.HyperLen)
	s, bc2, decay := ref.AdamScalars(lr, beta1, beta2, wd, t)
	h[ops.HyperLR], h[ops.HyperStepSize], h[ops.HyperBias2Sqrt], h[ops.HyperDecay] = lr, s, bc2, decay
	h[ops.HyperMomentum], h[ops.HyperWeightDecay] = mu, wd
	h[ops.HyperBeta1], h[ops.HyperOneMinusBeta1], h[ops.HyperBeta2], h[ops.HyperOneMinusBeta2] = beta1, 1-beta1, beta2, 1-beta2
	h[ops.HyperEps] = eps
	return h
}

// TestOptimizerStepByHand: the first step of each optimizer against its formula written out by hand
// in float64, where the bias corrections cancel: Adam's first step is p − lr·g'/(|g'| + ε).
func TestOptimizerStepByHand(t *testing.T) {
	const p0, g, lr, mu, wd, eps = 0.75, -0.3, 0.1, 0.9, 0.01, 1e-8
	for _, c := range []struct {
		name string
		step func(p, a, b []float64)
		want float64
	}{
		{"sgd", func(p, a, _ []float64) { ref.SGD(p, a, []float64{g}, hyper64(lr, mu, 0, 0, 0, 0, 1), false, 1) }, p0 - lr*g},
		{"sgd+wd", func(p, a, _ []float64) { ref.SGD(p, a, []float64{g}, hyper64(lr, mu, wd, 0, 0, 0, 1), false, 1) }, p0 - lr*(g+wd*p0)},
		{"nesterov+wd", func(p, a, _ []float64) { ref.SGD(p, a, []float64{g}, hyper64(lr, mu, wd, 0, 0, 0, 1), true, 1) },
			p0 - lr*(1+mu)*(g+wd*p0)},
		{"adam", func(p, a, b []float64) {
			ref.Adam(p, a, b, []float64{g}, hyper64(lr, 0, 0, 0.9, 0.999, eps, 1), false, 1)
		},
			p0 - lr*g/(math.Abs(g)+eps)},
		{"adam+wd", func(p, a, b []float64) {
			ref.Adam(p, a, b, []float64{g}, hyper64(lr, 0, wd, 0.9, 0.999, eps, 1), false, 1)
		},
			p0 - lr*(g+wd*p0)/(math.Abs(g+wd*p0)+eps)},
		{"adamw", func(p, a, b []float64) {
			ref.Adam(p, a, b, []float64{g}, hyper64(lr, 0, wd, 0.9, 0.999, eps, 1), true, 1)
		},
			p0*(1-lr*wd) - lr*g/(math.Abs(g)+eps)},
	} {
		p, a, b := []float64{p0}, []float64{0}, []float64{0}
		c.step(p, a, b)
		if math.Abs(p[0]-c.want) > 1e-15 {
			t.Errorf("%s: one step from p = %v with g = %v gives %.17g, want %.17g", c.name, p0, g, p[0], c.want)
		}
	}
	// A second SGD step: v2 = μ·g1 + g2, p2 = p1 − lr·v2.
	p, v := []float64{1}, []float64{0}
	h := hyper64(0.1, 0.9, 0, 0, 0, 0, 1)
	ref.SGD(p, v, []float64{0.5}, h, false, 1)
	ref.SGD(p, v, []float64{-0.25}, h, false, 1)
	wantV := 0.9*0.5 - 0.25
	wantP := 1 - 0.1*0.5 - 0.1*wantV
	if math.Abs(v[0]-wantV) > 1e-15 || math.Abs(p[0]-wantP) > 1e-15 {
		t.Fatalf("ref.SGD twice: p = %v, v = %v; want %v, %v", p[0], v[0], wantP, wantV)
	}
}

// torchOptim holds, per optimizer, the parameters and then the state tensors (momentum_buffer, or
// exp_avg and exp_avg_sq) after three steps of PyTorch 1.13 in float64 from the same start and
// gradients, printed by testdata/torch_optim.py.
var torchOptim = map[string][][]float64{
	"sgd":            {{0.5160953895, -1.4769631785, 1.879623568, 0.19981010000000005}, {0.03465110499999996, 0.14291678499999994, 0.37608432, -1.9991010000000002}},
	"sgd-nomomentum": {{0.49848148950000004, -1.5105394785, 1.954085968, 0.19990010000000002}},
	"nesterov":       {{0.5129509619804999, -1.4899051245315, 1.845940736512, 0.37972936100000004}, {0.03483677904999999, 0.14323302384999995, 0.37536875520000007, -1.9991019}},
	"adam":           {{0.4950406041018335, -1.4871259832907069, 1.974184713102294, -0.0010560024394598942}, {0.0034414718011413245, 0.014259413389811059, 0.03769126264070352, -0.1999174412630266}, {0.0002599482470396749, 0.0001286762542962429, 0.00015693457512303382, 0.004000298655058309}},
	"adamw":          {{0.4939881373721496, -1.4854536554397197, 1.9696438434234054, -0.0007579359617969116}, {0.008799999999999988, 0.042399999999999986, 0.05039999999999999, -0.3998399999999999}, {0.002582010000000002, 0.0013167900000000013, 0.001378090000000001, 0.040000009900000036}},
}

// TestOptimizersMatchPyTorch: three steps of ref.SGD and ref.Adam in float64 land where PyTorch's own
// optimizers land, for SGD with and without momentum, Nesterov, Adam and AdamW, all with weight
// decay; then the same steps in float32 stay within float32 rounding of them.
func TestOptimizersMatchPyTorch(t *testing.T) {
	p0 := []float64{0.5, -1.5, 2.0, 0.0}
	grads := [][]float64{{0.1, -0.2, 0.3, 0.0}, {-0.4, 0.05, 0.2, 1e-3}, {0.3, 0.3, -0.1, -2.0}}
	type run struct {
		lr, mu, wd, b1, b2, eps float64
		adam, flag              bool
	}
	runs := map[string]run{
		"sgd":            {lr: 0.1, mu: 0.9, wd: 0.01},
		"sgd-nomomentum": {lr: 0.1, wd: 0.01},
		"nesterov":       {lr: 0.1, mu: 0.9, wd: 0.01, flag: true},
		"adam":           {lr: 0.01, wd: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, adam: true},
		"adamw":          {lr: 0.01, wd: 0.1, b1: 0.8, b2: 0.99, eps: 1e-6, adam: true, flag: true},
	}
	for name, r := range runs {
		p, a, b := append([]float64(nil), p0...), make([]float64, 4), make([]float64, 4)
		p32, a32, b32 := to32s(p), make([]float32, 4), make([]float32, 4)
		for i, g := range grads {
			h := hyper64(r.lr, r.mu, r.wd, r.b1, r.b2, r.eps, i+1)
			if r.adam {
				ref.Adam(p, a, b, g, h, r.flag, 4)
				ref.Adam(p32, a32, b32, to32s(g), to32s(h), r.flag, 4)
			} else {
				ref.SGD(p, a, g, h, r.flag, 4)
				ref.SGD(p32, a32, to32s(g), to32s(h), r.flag, 4)
			}
		}
		got := [][]float64{p, a, b}
		got32 := [][]float32{p32, a32, b32}
		for k, want := range torchOptim[name] {
			for i := range want {
				if d := math.Abs(got[k][i] - want[i]); d > 1e-14*(1+math.Abs(want[i])) {
					t.Errorf("%s: tensor %d [%d] after 3 steps = %.17g, PyTorch %.17g", name, k, i, got[k][i], want[i])
				}
				if d := math.Abs(float64(got32[k][i]) - want[i]); d > 1e-6*(1+math.Abs(want[i])) {
					t.Errorf("%s in float32: tensor %d [%d] after 3 steps = %v, PyTorch (float64) %v", name, k, i, got32[k][i], want[i])
				}
			}
		}
	}
}

func to32s(v []float64) []float32 {
	o := make([]float32, len(v))
	for i, x := range v {
		o[i] = float32(x)
	}
	return o
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
