package kernels

// Every kernel against its CPU twin (internal/ref), run in the PTX interpreter of emu_test.go: the
// same checks as internal/cuda's GPU tests, at smaller sizes, on every `make test`. Outputs start as
// NaN poison (the interpreter's fresh memory), inputs are fresh random values with their seed logged,
// and NaN, ±Inf and signed zeros are fed where the CPU defines what happens to them.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

var acts = []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh, ops.Identity}

// special are the values every elementwise kernel must treat as the CPU does.
var special = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 100, -100}

// sprinkle overwrites a few random entries of v with the special values (all of them when v is short).
func sprinkle(rng *rand.Rand, v []float32) []float32 {
	for i, x := range special {
		if len(v) > 2*len(special) {
			v[rng.IntN(len(v))] = x
		} else if i < len(v) {
			v[i] = x
		}
	}
	return v
}

// actTol is the tolerance of an activation's output: ex2.approx is exact in the interpreter, so the
// gap to Go's float64 exp is the float32 arithmetic around it.
func actTol(act ops.Activation) float64 {
	if act == ops.Sigmoid || act == ops.Tanh {
		return 1e-6
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmuGather(t *testing.T) {
	rng := opstest.Rand(t)
	e := newEmu()
	set := opstest.RandomSet(rng, 40)
	order := make([]int32, set.N)
	for i, j := range rng.Perm(set.N) {
		order[i] = int32(j)
	}
	pix, ord := e.bytes(set.Images), e.i32s(order)
	cur := e.i32s([]int32{3})
	for _, c := range []struct{ start, cursor, B int }{{0, 0, 1}, {5, 0, 7}, {2, 3, 33}} {
		want := make([]float32, c.B*ops.Input)
		ref.Gather(want, set.Images, order, c.start+c.cursor, c.B)
		x := e.alloc(4 * len(want))
		curArg := uint64(0)
		if c.cursor != 0 {
			curArg = cur
		}
		must(t, e.launchEntry(GatherNormalize, c.B*ops.Input, x, pix, ord, uint64(c.start), curArg, uint64(c.B)))
		opstest.Compare(t, fmt.Sprintf("gather_normalize %+v", c), e.getF32(x, len(want)), want, 0, 0)
	}
	must(t, e.launchEntry(Advance, 1, cur, 100))
	if got := e.u32(cur); got != 103 {
		t.Fatalf("advance(3, 100) = %d, want 103", got)
	}
}

func TestEmuBiasAct(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range [][2]int{{1, 1}, {3, 33}, {17, 16}, {2, 300}} {
		rows, cols := s[0], s[1]
		for _, act := range acts {
			e := newEmu()
			x, bias := sprinkle(rng, opstest.Randn(rng, rows*cols)), opstest.Randn(rng, cols)
			want := append([]float32(nil), x...)
			ref.BiasActivationForward(want, bias, act, rows, cols)
			out := e.f32s(x)
			must(t, e.launchEntry(BiasAct, rows*cols, out, e.f32s(bias), uint64(rows), uint64(cols), uint64(act)))
			opstest.Compare(t, fmt.Sprintf("bias_act %v %v", s, act), e.getF32(out, rows*cols), want, actTol(act), actTol(act))
		}
	}
}

func TestEmuActBackward(t *testing.T) {
	rng := opstest.Rand(t)
	for _, n := range []int{1, 31, 257} {
		for _, act := range acts {
			e := newEmu()
			x := sprinkle(rng, opstest.Randn(rng, n))
			out := make([]float32, n)
			ref.ActivationForward(out, x, act, n)
			out = sprinkle(rng, out)
			dout := sprinkle(rng, opstest.Randn(rng, n))
			want := make([]float32, n)
			ref.ActivationBackward(want, dout, out, act, n)
			dinp := e.alloc(4 * n)
			must(t, e.launchEntry(ActBackward, n, dinp, e.f32s(dout), e.f32s(out), uint64(n), uint64(act)))
			opstest.Compare(t, fmt.Sprintf("act_backward %v n=%d", act, n), e.getF32(dinp, n), want, 0, 0)
		}
	}
}

// smallShapes are (B, C, OC) around the small-layer kernels' 32-output blocks and 8-way splits.
var smallShapes = [][3]int{{1, 1, 1}, {7, 33, 3}, {8, 31, 16}, {33, 7, 10}, {20, 128, 10}}

func TestEmuLinearSmall(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range smallShapes {
		B, C, OC := s[0], s[1], s[2]
		inp, w, bias := sprinkle(rng, opstest.Randn(rng, B*C)), opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
		for _, act := range acts {
			e := newEmu()
			want := make([]float32, B*OC)
			ref.MatmulForward(want, inp, w, bias, act, B, C, OC)
			out := e.alloc(4 * B * OC)
			must(t, e.launchEntry(LinearSmall, B*OC, out, e.f32s(inp), e.f32s(w), e.f32s(bias), uint64(B), uint64(C), uint64(OC), uint64(act)))
			tol := 1e-5*math.Sqrt(float64(C)) + actTol(act)
			opstest.Compare(t, fmt.Sprintf("linear_small %v %v", s, act), e.getF32(out, B*OC), want, tol, 1e-5)
		}
	}
	// NaN and ±Inf inputs through a 1-input layer with weight 1 and bias 0, which passes x through:
	// the output must be exactly the CPU's (ReLU keeps NaN, maps −Inf to 0).
	const n = 40
	for _, act := range acts {
		e := newEmu()
		x := sprinkle(rng, opstest.Randn(rng, n))
		want := make([]float32, n)
		ref.MatmulForward(want, x, []float32{1}, []float32{0}, act, n, 1, 1)
		out := e.alloc(4 * n)
		must(t, e.launchEntry(LinearSmall, n, out, e.f32s(x), e.f32s([]float32{1}), e.f32s([]float32{0}), n, 1, 1, uint64(act)))
		opstest.Compare(t, fmt.Sprintf("linear_small %v on NaN/Inf", act), e.getF32(out, n), want, actTol(act), actTol(act))
	}
}

func TestEmuGradSumsAndInputGrad(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range append(smallShapes, [3]int{41, 5, 2}) {
		B, C, OC := s[0], s[1], s[2]
		e := newEmu()
		inp, w, dout := opstest.Randn(rng, B*C), opstest.Randn(rng, OC*C), opstest.Randn(rng, B*OC)
		wantI, wantW, wantB := make([]float32, B*C), make([]float32, OC*C), make([]float32, OC)
		ref.MatmulBackward(wantI, wantW, wantB, dout, inp, w, B, C, OC)
		dd, di, dw := e.f32s(dout), e.f32s(inp), e.f32s(w)
		gw, gb, gi := e.alloc(4*OC*C), e.alloc(4*OC), e.alloc(4*B*C)
		must(t, e.launchEntry(GradSums, OC*(C+1), gw, gb, dd, di, uint64(B), uint64(C), uint64(OC)))
		tol := 1e-5 * math.Sqrt(float64(B))
		opstest.Compare(t, fmt.Sprintf("grad_sums dweight %v", s), e.getF32(gw, OC*C), wantW, tol, 1e-5)
		opstest.Compare(t, fmt.Sprintf("grad_sums dbias %v", s), e.getF32(gb, OC), wantB, tol, 1e-5)
		gb2 := e.alloc(4 * OC)
		must(t, e.launchEntry(GradSums, OC, 0, gb2, dd, 0, uint64(B), 0, uint64(OC)))
		opstest.Compare(t, fmt.Sprintf("grad_sums (bias only) %v", s), e.getF32(gb2, OC), wantB, tol, 1e-5)
		must(t, e.launchEntry(InputGrad, B*C, gi, dd, dw, uint64(B), uint64(C), uint64(OC)))
		opstest.Compare(t, fmt.Sprintf("input_grad %v", s), e.getF32(gi, B*C), wantI, 1e-5*math.Sqrt(float64(OC)), 1e-5)
	}
}

// lossCase runs softmax_ce or mse on B rows of K logits against the labels of rows start.. of a
// random set (with the cursor adding cur when cur > 0), or against label 0 for every row when zero is
// set, and compares gradient and stats.
func lossCase(t *testing.T, rng *rand.Rand, en Entry, B, K, start, cur int, z []float32, zero bool) {
	t.Helper()
	e := newEmu()
	labels := make([]uint8, start+cur+B+3)
	for i := range labels {
		if !zero {
			labels[i] = uint8(rng.IntN(max(K, 1)))
		}
	}
	want := make([]float32, B*K)
	f := ref.CrossEntropy[float32]
	if en.Name == MSE.Name {
		f = ref.MSE[float32]
	}
	sum, correct := f(want, z, labels[start+cur:], B, K)
	stats := e.f32s([]float32{1.5, 2})
	curArg := uint64(0)
	if cur > 0 {
		curArg = e.i32s([]int32{int32(cur)})
	}
	dz := e.alloc(4 * B * K)
	must(t, e.launchEntry(en, B, dz, stats, e.f32s(z), e.bytes(labels), uint64(start), curArg, uint64(B), uint64(K)))
	what := fmt.Sprintf("%s B=%d K=%d start=%d cursor=%d", en.Name, B, K, start, cur)
	tol := opstest.Default.Loss
	opstest.Compare(t, what+" gradient", e.getF32(dz, B*K), want, tol*1e-2, tol)
	opstest.Compare(t, what+" stats", e.getF32(stats, 2), []float32{1.5 + float32(sum), 2 + float32(correct)}, tol, tol)
}

func TestEmuLosses(t *testing.T) {
	rng := opstest.Rand(t)
	for _, en := range []Entry{SoftmaxCE, MSE} {
		for _, c := range [][4]int{{1, 10, 0, 0}, {31, 10, 2, 0}, {65, 10, 0, 5}, {100, 10, 3, 0}, {300, 10, 1, 2}, {9, 16, 0, 0}, {5, 1, 0, 0}} {
			B, K := c[0], c[1]
			lossCase(t, rng, en, B, K, c[2], c[3], opstest.Randn(rng, B*K), false)
		}
		// NaN and ±Inf logits, first in a row and elsewhere: the loss and gradient go NaN where the
		// CPU's do, and the argmax (so the correct count) is the CPU's. Label 0 everywhere, so a row
		// whose z_0 is NaN counts as correct exactly when the kernel's argmax is the CPU's 0.
		for row := range 6 {
			const B, K = 6, 10
			z := opstest.Randn(rng, B*K)
			pos := 0
			if row >= 3 {
				pos = 1 + rng.IntN(K-1)
			}
			z[row*K+pos] = special[row%3]
			lossCase(t, rng, en, B, K, 0, 0, z, true)
		}
	}
}

// TestEmuMSENoClasses: with k = 0 the mse kernel must touch neither out nor dout (it read and wrote
// element 0 of each before the guard) and add nothing to stats.
func TestEmuMSENoClasses(t *testing.T) {
	for _, en := range []Entry{MSE, SoftmaxCE} {
		e := newEmu()
		stats := e.f32s([]float32{1.5, 2})
		empty := e.alloc(0)
		must(t, e.launchEntry(en, 3, empty, stats, empty, e.bytes([]byte{0, 0, 0}), 0, 0, 3, 0))
		opstest.Compare(t, en.Name+" k=0 stats", e.getF32(stats, 2), []float32{1.5, 2}, 0, 0)
	}
}

// hyperOf is a hyper tensor (ops.HyperLen floats) with the given values set and the rest 0.
func hyperOf(vals map[int]float32) []float32 {
	h := make([]float32, ops.HyperLen)
	for k, v := range vals {
		h[k] = v
	}
	return h
}

// TestEmuSGD: sgd against ref.SGD, bit for bit, with and without Nesterov and weight decay, on
// NaN/Inf-sprinkled inputs; then a grid smaller than n, which also advances the cursor once.
func TestEmuSGD(t *testing.T) {
	rng := opstest.Rand(t)
	for _, n := range []int{1, 255, 257} {
		for _, c := range []struct {
			nesterov bool
			wd       float32
		}{{false, 0}, {true, 0}, {false, 1e-2}, {true, 5e-4}} {
			e := newEmu()
			p, v, g := sprinkle(rng, opstest.Randn(rng, n)), opstest.Randn(rng, n), sprinkle(rng, opstest.Randn(rng, n))
			hyper := hyperOf(map[int]float32{ops.HyperLR: 0.01, ops.HyperMomentum: 0.9, ops.HyperWeightDecay: c.wd})
			wp, wv := append([]float32(nil), p...), append([]float32(nil), v...)
			ref.SGD(wp, wv, g, hyper, c.nesterov, n)
			dp, dv := e.f32s(p), e.f32s(v)
			nest := uint64(0)
			if c.nesterov {
				nest = 1
			}
			must(t, e.launchEntry(SGD, n, dp, dv, e.f32s(g), e.f32s(hyper), uint64(n), nest, 0, 0))
			what := fmt.Sprintf("sgd n=%d nesterov=%v wd=%g", n, c.nesterov, c.wd)
			opstest.Compare(t, what+" params", e.getF32(dp, n), wp, 0, 0)
			opstest.Compare(t, what+" velocity", e.getF32(dv, n), wv, 0, 0)
		}
	}
	// A grid smaller than n: the grid-stride loop covers every element.
	e := newEmu()
	const n = 600
	p, v, g := opstest.Randn(rng, n), opstest.Randn(rng, n), opstest.Randn(rng, n)
	hyper := hyperOf(map[int]float32{ops.HyperLR: 0.5, ops.HyperMomentum: 0.25})
	wp, wv := append([]float32(nil), p...), append([]float32(nil), v...)
	ref.SGD(wp, wv, g, hyper, false, n)
	dp, dv := e.f32s(p), e.f32s(v)
	cur := e.i32s([]int32{300})
	must(t, e.launch(SGD.Module, SGD.Name, 2, 32, dp, dv, e.f32s(g), e.f32s(hyper), n, 0, cur, 100))
	opstest.Compare(t, "sgd grid-stride params", e.getF32(dp, n), wp, 0, 0)
	opstest.Compare(t, "sgd grid-stride velocity", e.getF32(dv, n), wv, 0, 0)
	if got := e.u32(cur); got != 400 {
		t.Fatalf("sgd with cursor 300, by 100: cursor = %d, want 400 (advanced once)", got)
	}
}

// TestEmuAdam: adam against ref.Adam, bit for bit, as Adam (with and without coupled weight decay)
// and as AdamW, at the scalars of a few steps.
func TestEmuAdam(t *testing.T) {
	rng := opstest.Rand(t)
	for _, n := range []int{1, 255, 257} {
		for _, c := range []struct {
			decoupled bool
			wd        float64
			step      int
		}{{false, 0, 1}, {false, 1e-2, 3}, {true, 1e-2, 1}, {true, 0.1, 1000}} {
			e := newEmu()
			p, m, g := sprinkle(rng, opstest.Randn(rng, n)), opstest.Randn(rng, n), sprinkle(rng, opstest.Randn(rng, n))
			v := opstest.Randn(rng, n)
			for i := range v {
				v[i] *= v[i]
			}
			s, bc2, decay := ref.AdamScalars(1e-3, 0.9, 0.999, c.wd, c.step)
			hyper := hyperOf(map[int]float32{ops.HyperStepSize: float32(s), ops.HyperBias2Sqrt: float32(bc2), ops.HyperDecay: float32(decay),
				ops.HyperWeightDecay: float32(c.wd), ops.HyperEps: 1e-8, ops.HyperBeta1: 0.9, ops.HyperOneMinusBeta1: float32(1 - 0.9),
				ops.HyperBeta2: 0.999, ops.HyperOneMinusBeta2: float32(1 - 0.999)})
			wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			ref.Adam(wp, wm, wv, g, hyper, c.decoupled, n)
			dp, dm, dv := e.f32s(p), e.f32s(m), e.f32s(v)
			dec := uint64(0)
			if c.decoupled {
				dec = 1
			}
			must(t, e.launchEntry(Adam, n, dp, dm, dv, e.f32s(g), e.f32s(hyper), uint64(n), dec))
			what := fmt.Sprintf("adam n=%d decoupled=%v wd=%g step %d", n, c.decoupled, c.wd, c.step)
			opstest.Compare(t, what+" params", e.getF32(dp, n), wp, 0, 0)
			opstest.Compare(t, what+" exp_avg", e.getF32(dm, n), wm, 0, 0)
			opstest.Compare(t, what+" exp_avg_sq", e.getF32(dv, n), wv, 0, 0)
		}
	}
}

// TestEmuCatchesBugs: the interpreter's own rules, on small kernels that break them.
func TestEmuCatchesBugs(t *testing.T) {
	head := ".version 7.0\n.target sm_52\n.address_size 64\n"
	for _, c := range []struct{ name, body, want string }{
		{"oob", ".visible .entry k(.param .u64 p)\n{\n.reg .b64 %p;\n.reg .f32 %f;\nld.param.u64 %p, [p];\nld.global.f32 %f, [%p+4];\nret;\n}\n", "outside every allocation"},
		{"undef", ".visible .entry k(.param .u64 p)\n{\n.reg .b32 %a, %b;\nadd.u32 %a, %b, 1;\nret;\n}\n", "never written"},
		{"race", ".visible .entry k(.param .u64 p)\n{\n.reg .b64 %p;\n.reg .b32 %t;\nld.param.u64 %p, [p];\nmov.u32 %t, %tid.x;\nst.global.u32 [%p], %t;\nret;\n}\n", "race"},
		{"barrier", ".visible .entry k(.param .u64 p)\n{\n.reg .pred %q;\n.reg .b32 %t;\nmov.u32 %t, %tid.x;\nsetp.eq.u32 %q, %t, 0;\n@%q bra DONE;\nbar.sync 0;\nDONE:\nret;\n}\n", "exited threads"},
	} {
		mod, err := parseModule(c.name, head+c.body)
		if err != nil {
			t.Fatal(err)
		}
		e := newEmu()
		e.modules[c.name] = mod
		p := e.alloc(4)
		err = e.launch(c.name, "k", 1, 2, p)
		if err == nil || !containsStr(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
