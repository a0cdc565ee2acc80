package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// net64 is a model's forward pass and its loss in float64 with the reference ops, from raw pixels:
// the oracle of the pixel path and of its input gradient.
type net64 struct {
	cfg  model.Config
	w, b [][]float64
}

func newNet64(m *model.Model) *net64 {
	n := &net64{cfg: m.Config}
	for l := range m.Config.Layers() {
		n.w, n.b = append(n.w, to64(m.Weight(l))), append(n.b, to64(m.Bias(l)))
	}
	return n
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// acts runs the layers on pixels x (B, 784), normalized as (x − 0.5)/0.5, and returns every layer's
// output, acts[0] being the normalized input.
func (n *net64) acts(x []float64, B int) [][]float64 {
	in := make([]float64, len(x))
	for i, v := range x {
		in[i] = (v - 0.5) / 0.5
	}
	acts := [][]float64{in}
	L := n.cfg.Layers()
	for l := range L {
		act := n.cfg.Activation
		if l == L-1 {
			act = ops.Identity
		}
		out := make([]float64, B*n.cfg.Sizes[l+1])
		ref.MatmulForward(out, acts[l], n.w[l], n.b[l], act, B, n.cfg.Sizes[l], n.cfg.Sizes[l+1])
		acts = append(acts, out)
	}
	return acts
}

// loss is the batch's mean loss at pixels x; with dlogits it also writes the loss gradient.
func (n *net64) loss(dlogits, logits []float64, y []uint8, B int) float64 {
	f := ref.CrossEntropy[float64]
	if n.cfg.Loss == model.MSE {
		f = ref.MSE[float64]
	}
	s, _ := f(dlogits, logits, y, B, ops.Classes)
	return s / float64(B)
}

// grad is the analytic input gradient in float64: the backward pass down to the normalized input,
// times 2, the derivative of (x − 0.5)/0.5.
func (n *net64) grad(x []float64, y []uint8, B int) []float64 {
	acts := n.acts(x, B)
	L := n.cfg.Layers()
	d := make([]float64, B*ops.Classes)
	n.loss(d, acts[L], y, B)
	for l := L - 1; l >= 0; l-- {
		if l < L-1 {
			ref.ActivationBackward(d, d, acts[l+1], n.cfg.Activation, len(d))
		}
		C, OC := n.cfg.Sizes[l], n.cfg.Sizes[l+1]
		dinp := make([]float64, B*C)
		ref.MatmulBackward(dinp, make([]float64, OC*C), make([]float64, OC), d, acts[l], n.w[l], B, C, OC)
		d = dinp
	}
	for i := range d {
		d[i] *= 2
	}
	return d
}

// randomPixels returns B images of pixels in 0..1, with a few at the bounds.
func randomPixels(rng *rand.Rand, B int) []float32 {
	x := make([]float32, B*ops.Input)
	for i := range x {
		switch rng.IntN(8) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = 1
		default:
			x[i] = rng.Float32()
		}
	}
	return x
}

// TestInputGradientFiniteDifferences: the gradient of the mean loss with respect to the raw pixels,
// through the normalization. First the reference path in float64 (the backward pass with the input
// gradient, times 2) against central differences of the float64 loss; then Net.InputGradient on the
// fast and the naive CPU backends (float32) against the same differences, for each activation and
// loss. The logits it returns are the forward pass's.
func TestInputGradientFiniteDifferences(t *testing.T) {
	rng := opstest.Rand(t)
	const B = 3
	for _, cfg := range []model.Config{
		model.NewConfig([]int{16}, ops.Tanh, model.CrossEntropy),
		model.NewConfig([]int{12, 8}, ops.Sigmoid, model.MSE),
		model.NewConfig([]int{16}, ops.ReLU, model.CrossEntropy),
		model.NewConfig(nil, ops.ReLU, model.CrossEntropy),
	} {
		m, err := model.New(cfg, rng.Uint64())
		if err != nil {
			t.Fatal(err)
		}
		set := opstest.RandomSet(rng, B)
		x := randomPixels(rng, B)
		n64 := newNet64(m)
		x64 := to64(x)
		L := func() float64 { return n64.loss(nil, n64.acts(x64, B)[cfg.Layers()], set.Labels, B) }
		analytic := n64.grad(x64, set.Labels, B)
		num := make([]float64, len(x64))
		maxG := 0.0
		for i := range x64 {
			const h = 1e-6
			old := x64[i]
			x64[i] = old + h
			lp := L()
			x64[i] = old - h
			lm := L()
			x64[i] = old
			num[i] = (lp - lm) / (2 * h)
			maxG = max(maxG, math.Abs(num[i]))
			if d := math.Abs(num[i] - analytic[i]); d > 1e-7+1e-5*math.Abs(num[i]) {
				t.Fatalf("%s %v/%v: reference input gradient [%d] = %.9g, finite differences %.9g", cfg.Arch(), cfg.Activation, cfg.Loss, i, analytic[i], num[i])
			}
		}
		logits64 := n64.acts(x64, B)[cfg.Layers()]
		for _, be := range []*cpu.Backend{{}, {Naive: true}} {
			net, err := model.NewNet(be, cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			if err := net.Load(m); err != nil {
				t.Fatal(err)
			}
			d, _ := be.Resident(set)
			grad, logits := opstest.NaNs(B*ops.Input), opstest.NaNs(B*ops.Classes)
			if err := net.InputGradient(grad, logits, x, d, 0, B); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("%s %v/%v naive=%v: InputGradient", cfg.Arch(), cfg.Activation, cfg.Loss, be.Naive)
			for i, g := range grad {
				if math.Abs(float64(g)-num[i]) > 1e-4*maxG+1e-3*math.Abs(num[i]) {
					t.Fatalf("%s[%d] = %.7g, finite differences %.7g (largest |gradient| %.3g)", what, i, g, num[i], maxG)
				}
			}
			for i, z := range logits {
				if math.Abs(float64(z)-logits64[i]) > 1e-5*(1+math.Abs(logits64[i])) {
					t.Fatalf("%s: logits[%d] = %v, float64 reference %v", what, i, z, logits64[i])
				}
			}
		}
	}
}

// TestPixelsMatchGather: pixels p/255 fed through SetPixels give the same logits, bit for bit, as the
// uint8 images gathered and normalized by the backend; and an input gradient pass between training
// steps leaves the parameters and the running stats as they were.
func TestPixelsMatchGather(t *testing.T) {
	rng := opstest.Rand(t)
	const B = 7
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	m, _ := model.New(cfg, 4)
	be := &cpu.Backend{}
	net, err := model.NewNet(be, cfg, B)
	if err != nil {
		t.Fatal(err)
	}
	net.Load(m)
	set := opstest.RandomSet(rng, B)
	d, _ := be.Resident(set)
	net.Forward(d, 0, B)
	net.Loss(d, 0, B)
	want := make([]float32, B*ops.Classes)
	net.Logits(want, B)
	loss0, correct0, _ := net.Stats()

	x := make([]float32, B*ops.Input)
	for i, p := range set.Images {
		x[i] = float32(p) / 255
	}
	got := opstest.NaNs(B * ops.Classes)
	if err := net.Target(d).Logits(got, x, B); err != nil {
		t.Fatal(err)
	}
	if !opstest.SameBits(got, want) {
		t.Fatalf("logits from pixels p/255 differ from the gathered images': %v, want %v", got[:ops.Classes], want[:ops.Classes])
	}
	if err := net.InputGradient(make([]float32, B*ops.Input), nil, x, d, 0, B); err != nil {
		t.Fatal(err)
	}
	loss, correct, _ := net.Stats()
	after := &model.Model{Config: cfg, Params: make([]float32, len(m.Params))}
	net.Store(after)
	if loss != loss0 || correct != correct0 || !opstest.SameBits(after.Params, m.Params) {
		t.Fatalf("an input gradient pass changed the stats (%v, %d → %v, %d) or the parameters", loss0, correct0, loss, correct)
	}
	if err := net.SetPixels(x, B+1); err == nil {
		t.Fatalf("SetPixels of %d rows into a net of batch %d: no error", B+1, B)
	}
}
