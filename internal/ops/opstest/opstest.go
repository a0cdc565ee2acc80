// Package opstest is the conformance suite of the op contract (internal/ops), as testing/fstest is for
// file systems: Run takes any Backend and checks every op against its naive reference (internal/ref)
// on fresh random inputs, with every output poisoned with NaN before the op runs, at sizes around the
// block edges of both backends, with a tolerance of atol + rtol·|ref|. The CPU backend's tests call
// it, and so do the CUDA backend's where a GPU exists, so a new op is checked on both backends by
// writing its check here once.
//
// It also holds the small helpers every backend test needs (seeded random inputs that log their seed,
// NaN poison, comparison), so that no backend's tests write them again.
//
// Run calls no t.Run and starts no goroutine: the CUDA backend's context is bound to the calling
// goroutine's thread, and every check runs on it.
package opstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ref"
)

// Rand returns a generator for a test's random inputs. Its seed comes from $DLTRAIN_TEST_SEED when set
// (to replay a failure), else it is fresh; either way it is logged, so a failing run names it.
func Rand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("DLTRAIN_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DLTRAIN_TEST_SEED=%q is not an unsigned integer", s)
		}
		seed = v
	}
	t.Logf("random inputs from seed %d (replay with DLTRAIN_TEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x6f7073)) // "ops"
}

// Randn returns n standard normal float32 values.
func Randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// NaNs returns n NaNs: the poison every output starts as, so that an element an op forgets to write
// fails the comparison.
func NaNs(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// Close reports the first index where got and want differ by more than atol + rtol·|want|, and false;
// or −1 and true. Where want is NaN, got must be NaN; where want is ±Inf, got must be the same Inf.
func Close(got, want []float32, atol, rtol float64) (int, bool) {
	if len(got) != len(want) {
		return min(len(got), len(want)), false
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				return i, false
			}
		case math.IsInf(w, 0):
			if g != w {
				return i, false
			}
		case math.IsNaN(g) || math.Abs(g-w) > atol+rtol*math.Abs(w):
			return i, false
		}
	}
	return -1, true
}

// Compare fails t at the first element of got that is not Close to want.
func Compare(t testing.TB, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if i, ok := Close(got, want, atol, rtol); !ok {
		t.Fatalf("%s[%d] = %v, reference %v (atol %g, rtol %g)", what, i, got[i], want[i], atol, rtol)
	}
}

// SameBits reports whether a and b hold the same float32 values bit for bit (NaNs included).
func SameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// RandomSet is a data set of n random images and labels.
func RandomSet(rng *rand.Rand, n int) *mnist.Set {
	s := &mnist.Set{Images: make([]uint8, n*mnist.Pixels), Labels: make([]uint8, n), N: n}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(ops.Classes))
	}
	return s
}

// Tolerance is how far a backend may stray from the reference. Ops with no tolerance named here must
// match it exactly (gather, ReLU, activation gradients, the optimizer update).
type Tolerance struct {
	// GEMM is the absolute tolerance per unit of √(reduction length) of the matmuls, against the
	// reference computed in float64; the relative tolerance is 1e-4.
	GEMM float64
	// Transcendental is the absolute and relative tolerance of sigmoid and tanh outputs.
	Transcendental float64
	// Loss is the absolute and relative tolerance of the loss gradients and stats.
	Loss float64
	// Augment is the absolute and relative tolerance of an augmented Gather against augment.Gather.
	// The CPU backend runs augment.Gather itself and meets 0; the PTX twin repeats its float32
	// operations in the same order (every one rounded, no FMA), so it should too, but the first GPU
	// run gets a margin of a few ulp of the ±1 range.
	Augment float64
}

// Default is what both backends meet: the CPU's packed GEMM and the GPU's cuBLAS differ from the
// float64 reference by rounding only, and the GPU's exp differs from Go's by about 2 ulp.
var Default = Tolerance{GEMM: 2e-6, Transcendental: 2e-6, Loss: 1e-5, Augment: 1e-5}

// Shapes are the (B, C, OC) layer shapes every matmul check runs: edges of the CPU GEMM's 6×16 tiles
// and of the GPU's 256-thread blocks, the GPU's small-layer switch (OC ≤ 16, B·C ≤ 65536) on both
// sides, and the classic model's training shapes.
var Shapes = [][3]int{
	{1, 1, 1}, {1, 784, 10}, {5, 7, 17}, {6, 16, 16}, {7, 255, 33}, {8, 31, 16}, {33, 32, 10},
	{100, 784, 128}, {100, 128, 10}, {37, 257, 129}, {257, 255, 2}, {1000, 784, 10},
}

// Elementwise are the element counts of the elementwise checks, around 256-thread block edges.
var Elementwise = []int{1, 31, 32, 33, 255, 256, 257, 1000, 4097}

var activations = []ops.Activation{ops.Identity, ops.ReLU, ops.Sigmoid, ops.Tanh}

// Run checks every op of be against the reference. It fails t at the first mismatch, naming the op,
// the shape and the element.
func Run(t *testing.T, be ops.Backend, tol Tolerance) {
	t.Helper()
	rng := Rand(t)
	c := &checker{t: t, be: be, tol: tol, rng: rng}
	c.memory()
	c.gather()
	c.augmentGather()
	c.matmulForward()
	c.matmulBackward()
	c.activationBackward()
	c.losses()
	c.setScalars()
	c.sgd()
	c.adam()
	if err := be.Sync(); err != nil {
		t.Fatalf("%s: Sync after the checks: %v", be.Name(), err)
	}
}

type checker struct {
	t   *testing.T
	be  ops.Backend
	tol Tolerance
	rng *rand.Rand
}

// randomOrder is a random permutation of 0..n-1.
func (c *checker) randomOrder(n int) []int32 {
	order := make([]int32, n)
	for i, j := range c.rng.Perm(n) {
		order[i] = int32(j)
	}
	return order
}

// up returns a backend tensor holding v.
func (c *checker) up(v []float32) ops.Tensor {
	c.t.Helper()
	d, err := c.be.Alloc(len(v))
	if err != nil {
		c.t.Fatalf("%s: Alloc(%d): %v", c.be.Name(), len(v), err)
	}
	if err := c.be.Upload(d, v); err != nil {
		c.t.Fatalf("%s: Upload of %d floats: %v", c.be.Name(), len(v), err)
	}
	return d
}

// down returns the contents of a backend tensor.
func (c *checker) down(d ops.Tensor) []float32 {
	c.t.Helper()
	v := make([]float32, d.Len())
	if err := c.be.Download(v, d); err != nil {
		c.t.Fatalf("%s: Download of %d floats: %v", c.be.Name(), d.Len(), err)
	}
	return v
}

func (c *checker) compare(what string, got, want []float32, atol, rtol float64) {
	c.t.Helper()
	Compare(c.t, c.be.Name()+": "+what, got, want, atol, rtol)
}

// memory: Alloc zeroes, Upload and Download round-trip, a View writes through to its tensor, Zero
// clears, and mismatched lengths are errors.
func (c *checker) memory() {
	for _, n := range Elementwise {
		d, err := c.be.Alloc(n)
		if err != nil {
			c.t.Fatalf("%s: Alloc(%d): %v", c.be.Name(), n, err)
		}
		if d.Len() != n {
			c.t.Fatalf("%s: Alloc(%d).Len() = %d", c.be.Name(), n, d.Len())
		}
		c.compare(fmt.Sprintf("Alloc(%d)", n), c.down(d), make([]float32, n), 0, 0)
		v := Randn(c.rng, n)
		if err := c.be.Upload(d, v); err != nil {
			c.t.Fatal(err)
		}
		c.compare(fmt.Sprintf("Upload/Download(%d)", n), c.down(d), v, 0, 0)
		off, k := n/3, n-n/3-n/4
		w := Randn(c.rng, k)
		if err := c.be.Upload(c.be.View(d, off, k), w); err != nil {
			c.t.Fatal(err)
		}
		copy(v[off:], w)
		c.compare(fmt.Sprintf("write through View(%d, %d) of %d", off, k, n), c.down(d), v, 0, 0)
		c.be.Zero(c.be.View(d, off, k))
		clear(v[off : off+k])
		c.compare(fmt.Sprintf("Zero(View(%d, %d)) of %d", off, k, n), c.down(d), v, 0, 0)
		if err := c.be.Upload(d, make([]float32, n+1)); err == nil {
			c.t.Fatalf("%s: Upload of %d floats into %d: no error", c.be.Name(), n+1, n)
		}
		if err := c.be.Download(make([]float32, n+1), d); err == nil {
			c.t.Fatalf("%s: Download of %d floats into %d: no error", c.be.Name(), n, n+1)
		}
	}
}

// gather: Resident, SetOrder and Gather against ref.Gather, exactly, at several batch offsets.
func (c *checker) gather() {
	for _, B := range []int{1, 31, 100, 255, 256, 257, 1000} {
		set := RandomSet(c.rng, B+7)
		order := c.randomOrder(set.N)
		d, err := c.be.Resident(set)
		if err != nil {
			c.t.Fatalf("%s: Resident(%d images): %v", c.be.Name(), set.N, err)
		}
		if d.N() != set.N {
			c.t.Fatalf("%s: Resident(%d images).N() = %d", c.be.Name(), set.N, d.N())
		}
		if err := c.be.SetOrder(d, order); err != nil {
			c.t.Fatal(err)
		}
		for _, start := range []int{0, 5, set.N - B} {
			want := make([]float32, B*ops.Input)
			ref.Gather(want, set.Images, order, start, B)
			x := c.up(NaNs(B * ops.Input))
			c.be.Gather(x, d, start, B)
			c.compare(fmt.Sprintf("Gather(start %d, B %d)", start, B), c.down(x), want, 0, 0)
		}
	}
}

// matmul64 is the float64 reference of MatmulForward, rounded to float32.
func matmul64(inp, weight, bias []float32, act ops.Activation, B, C, OC int) []float32 {
	out := make([]float64, B*OC)
	ref.MatmulForward(out, to64(inp), to64(weight), to64(bias), act, B, C, OC)
	return to32(out)
}

func to64(v []float32) []float64 {
	if v == nil {
		return nil
	}
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

func to32(v []float64) []float32 {
	o := make([]float32, len(v))
	for i, x := range v {
		o[i] = float32(x)
	}
	return o
}

// gemmTol is the absolute tolerance of a matmul whose sums run over k terms.
func (c *checker) gemmTol(k int) float64 { return c.tol.GEMM * math.Sqrt(float64(max(k, 1))) }

func (c *checker) actTol(act ops.Activation) float64 {
	if act == ops.Sigmoid || act == ops.Tanh {
		return c.tol.Transcendental
	}
	return 0
}

// matmulForward: every activation at every shape, against the float64 reference.
func (c *checker) matmulForward() {
	for _, s := range Shapes {
		B, C, OC := s[0], s[1], s[2]
		inp, w, bias := Randn(c.rng, B*C), Randn(c.rng, OC*C), Randn(c.rng, OC)
		di, dw, db := c.up(inp), c.up(w), c.up(bias)
		for _, act := range activations {
			want := matmul64(inp, w, bias, act, B, C, OC)
			out := c.up(NaNs(B * OC))
			c.be.MatmulForward(out, di, dw, db, act, B, C, OC)
			tol := max(c.gemmTol(C), c.actTol(act))
			c.compare(fmt.Sprintf("MatmulForward %v %v", s, act), c.down(out), want, tol, 1e-4)
		}
	}
}

// matmulBackward: the three gradients against the float64 reference, and again with dinp nil.
func (c *checker) matmulBackward() {
	for _, s := range Shapes {
		B, C, OC := s[0], s[1], s[2]
		inp, w, dout := Randn(c.rng, B*C), Randn(c.rng, OC*C), Randn(c.rng, B*OC)
		wi, ww, wb := make([]float64, B*C), make([]float64, OC*C), make([]float64, OC)
		ref.MatmulBackward(wi, ww, wb, to64(dout), to64(inp), to64(w), B, C, OC)
		di, dinp, dw, db := c.up(inp), c.up(NaNs(B*C)), c.up(NaNs(OC*C)), c.up(NaNs(OC))
		dd, dwt := c.up(dout), c.up(w)
		c.be.MatmulBackward(dinp, dw, db, dd, di, dwt, B, C, OC)
		c.compare(fmt.Sprintf("MatmulBackward %v dinp", s), c.down(dinp), to32(wi), c.gemmTol(OC), 1e-4)
		c.compare(fmt.Sprintf("MatmulBackward %v dweight", s), c.down(dw), to32(ww), c.gemmTol(B), 1e-4)
		c.compare(fmt.Sprintf("MatmulBackward %v dbias", s), c.down(db), to32(wb), c.gemmTol(B), 1e-4)

		dw2, db2 := c.up(NaNs(OC*C)), c.up(NaNs(OC))
		c.be.MatmulBackward(nil, dw2, db2, dd, di, dwt, B, C, OC)
		c.compare(fmt.Sprintf("MatmulBackward %v (no dinp) dweight", s), c.down(dw2), to32(ww), c.gemmTol(B), 1e-4)
		c.compare(fmt.Sprintf("MatmulBackward %v (no dinp) dbias", s), c.down(db2), to32(wb), c.gemmTol(B), 1e-4)
	}
}

// specials are the inputs whose handling must match the reference exactly: NaN and ±Inf must travel
// through an op as they do on the CPU, so a divergence on one backend is not hidden on the other.
var specials = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}

// withSpecials overwrites a few entries of v with NaN, ±Inf and signed zeros.
func (c *checker) withSpecials(v []float32) []float32 {
	for i, x := range specials {
		if len(v) > 2*len(specials) {
			v[c.rng.IntN(len(v))] = x
		} else if i < len(v) {
			v[i] = x
		}
	}
	return v
}

// activationBackward: each activation, separate and in place (dinp = dout), on outputs the forward
// could give; then bias + activation forward and backward on NaN and Inf inputs.
func (c *checker) activationBackward() {
	for _, n := range Elementwise {
		for _, act := range activations {
			x := Randn(c.rng, n)
			out := make([]float32, n)
			ref.ActivationForward(out, x, act, n)
			dout := Randn(c.rng, n)
			want := make([]float32, n)
			ref.ActivationBackward(want, dout, out, act, n)
			dinp := c.up(NaNs(n))
			dd, do := c.up(dout), c.up(out)
			c.be.ActivationBackward(dinp, dd, do, act, n)
			c.compare(fmt.Sprintf("ActivationBackward %v n=%d", act, n), c.down(dinp), want, 0, 0)
			c.be.ActivationBackward(dd, dd, do, act, n)
			c.compare(fmt.Sprintf("ActivationBackward %v n=%d in place", act, n), c.down(dd), want, 0, 0)
		}
	}
	// NaN and Inf through the forward (a 1-input layer with weight 1 and bias 0 passes x through) and
	// the backward.
	const n = 257
	for _, act := range activations {
		x := c.withSpecials(Randn(c.rng, n))
		want := make([]float32, n)
		ref.MatmulForward(want, x, []float32{1}, []float32{0}, act, n, 1, 1)
		out := c.up(NaNs(n))
		c.be.MatmulForward(out, c.up(x), c.up([]float32{1}), c.up([]float32{0}), act, n, 1, 1)
		c.compare(fmt.Sprintf("MatmulForward %v on NaN/Inf inputs", act), c.down(out), want, c.actTol(act), c.actTol(act))

		y := c.withSpecials(Randn(c.rng, n))
		dout := c.withSpecials(Randn(c.rng, n))
		wantd := make([]float32, n)
		ref.ActivationBackward(wantd, dout, y, act, n)
		dinp := c.up(NaNs(n))
		c.be.ActivationBackward(dinp, c.up(dout), c.up(y), act, n)
		c.compare(fmt.Sprintf("ActivationBackward %v on NaN/Inf inputs", act), c.down(dinp), wantd, 0, 0)
	}
}

// losses: CrossEntropy and MSE at several batch sizes and offsets: the gradient, and the stats added
// to what was there.
func (c *checker) losses() {
	const K = ops.Classes
	for _, B := range []int{1, 31, 100, 255, 256, 257, 1000, 4096} {
		set := RandomSet(c.rng, B+7)
		order := c.randomOrder(set.N)
		d, err := c.be.Resident(set)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := c.be.SetOrder(d, order); err != nil {
			c.t.Fatal(err)
		}
		start := min(5, set.N-B)
		labels := make([]uint8, B)
		for i := range labels {
			labels[i] = set.Labels[order[start+i]]
		}
		for _, loss := range []string{"CrossEntropy", "MSE"} {
			z := Randn(c.rng, B*K)
			want := make([]float32, B*K)
			f := ref.CrossEntropy[float32]
			if loss == "MSE" {
				f = ref.MSE[float32]
			}
			sum, correct := f(want, z, labels, B, K)
			stats0 := []float32{1.5, 2}
			wantStats := []float32{stats0[0] + float32(sum), stats0[1] + float32(correct)}
			dz, st := c.up(NaNs(B*K)), c.up(stats0)
			if loss == "MSE" {
				c.be.MSE(dz, st, c.up(z), d, start, B, K)
			} else {
				c.be.CrossEntropy(dz, st, c.up(z), d, start, B, K)
			}
			c.compare(fmt.Sprintf("%s B=%d gradient", loss, B), c.down(dz), want, c.tol.Loss*1e-2, c.tol.Loss)
			c.compare(fmt.Sprintf("%s B=%d stats", loss, B), c.down(st), wantStats, c.tol.Loss, c.tol.Loss)
		}
	}
}

// Hyper returns the optimizer scalars (the ops.Hyper* layout) of an update at learning rate lr with
// momentum mu, weight decay wd and Adam's β1, β2, ε at its step t (from 1), computed as the training
// loop computes them: in float64, rounded once.
func Hyper(lr, mu, wd, beta1, beta2, eps float64, t int) []float32 {
	h := make([]float32, ops.HyperLen)
	s, bc2, decay := ref.AdamScalars(lr, beta1, beta2, wd, t)
	for i, v := range map[int]float64{ops.HyperLR: lr, ops.HyperStepSize: s, ops.HyperBias2Sqrt: bc2, ops.HyperDecay: decay,
		ops.HyperMomentum: mu, ops.HyperWeightDecay: wd, ops.HyperBeta1: beta1, ops.HyperOneMinusBeta1: 1 - beta1,
		ops.HyperBeta2: beta2, ops.HyperOneMinusBeta2: 1 - beta2, ops.HyperEps: eps} {
		h[i] = float32(v)
	}
	return h
}

// setScalars: values land where they are written, through a view too, and reads see them.
func (c *checker) setScalars() {
	d := c.up(NaNs(ops.HyperLen))
	want := Randn(c.rng, ops.HyperLen)
	c.be.SetScalars(d, want[:ops.HyperPerStep])
	c.be.SetScalars(c.be.View(d, ops.HyperPerStep, ops.HyperLen-ops.HyperPerStep), want[ops.HyperPerStep:])
	c.compare("SetScalars", c.down(d), want, 0, 0)
	c.be.SetScalars(c.be.View(d, 2, 1), []float32{7})
	want[2] = 7
	c.compare("SetScalars of one value", c.down(d), want, 0, 0)
}

// sgd: SGD with and without momentum, weight decay and Nesterov, exactly, at every elementwise
// size; gradients with NaN and Inf travel as in the reference.
func (c *checker) sgd() {
	for _, n := range Elementwise {
		for _, o := range []struct {
			mu, wd   float64
			nesterov bool
		}{{0.9, 0, false}, {0, 0, false}, {0.9, 1e-2, false}, {0.9, 5e-4, true}, {0.5, 0, true}} {
			p, v, g := Randn(c.rng, n), Randn(c.rng, n), c.withSpecials(Randn(c.rng, n))
			h := Hyper(0.01, o.mu, o.wd, 0, 0, 0, 1)
			wp, wv := append([]float32(nil), p...), append([]float32(nil), v...)
			ref.SGD(wp, wv, g, h, o.nesterov, n)
			dp, dv := c.up(p), c.up(v)
			c.be.SGD(dp, dv, c.up(g), c.up(h), o.nesterov, n)
			what := fmt.Sprintf("SGD n=%d μ=%g λ=%g nesterov=%v", n, o.mu, o.wd, o.nesterov)
			c.compare(what+" params", c.down(dp), wp, 0, 0)
			c.compare(what+" velocity", c.down(dv), wv, 0, 0)
		}
	}
}

// adam: Adam and AdamW, with and without weight decay, early and late in training (the bias
// corrections far from and close to 1), exactly, at every elementwise size; gradients with NaN and
// Inf travel as in the reference. Then the scalars change between two updates through SetScalars,
// as they do between training steps, and the second update sees the new ones.
func (c *checker) adam() {
	for _, n := range Elementwise {
		for _, o := range []struct {
			wd        float64
			decoupled bool
			t         int
		}{{0, false, 1}, {1e-2, false, 3}, {1e-2, true, 1}, {0, true, 1000}, {5e-4, false, 100000}} {
			p, g := Randn(c.rng, n), c.withSpecials(Randn(c.rng, n))
			m, v := Randn(c.rng, n), Randn(c.rng, n)
			for i := range v {
				v[i] *= v[i] // a second moment is never negative
			}
			h := Hyper(1e-3, 0, o.wd, 0.9, 0.999, 1e-8, o.t)
			wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			ref.Adam(wp, wm, wv, g, h, o.decoupled, n)
			dp, dm, dv := c.up(p), c.up(m), c.up(v)
			c.be.Adam(dp, dm, dv, c.up(g), c.up(h), o.decoupled, n)
			what := fmt.Sprintf("Adam n=%d λ=%g decoupled=%v t=%d", n, o.wd, o.decoupled, o.t)
			c.compare(what+" params", c.down(dp), wp, 0, 0)
			c.compare(what+" exp_avg", c.down(dm), wm, 0, 0)
			c.compare(what+" exp_avg_sq", c.down(dv), wv, 0, 0)
		}
	}
	const n = 1000
	p, m, v, g := Randn(c.rng, n), make([]float32, n), make([]float32, n), Randn(c.rng, n)
	dp, dm, dv, dg := c.up(p), c.up(m), c.up(v), c.up(g)
	dh := c.up(Hyper(1e-3, 0, 1e-2, 0.9, 0.999, 1e-8, 1))
	for t := 1; t <= 3; t++ {
		h := Hyper(1e-3/float64(t), 0, 1e-2, 0.9, 0.999, 1e-8, t)
		c.be.SetScalars(dh, h[:ops.HyperPerStep])
		c.be.Adam(dp, dm, dv, dg, dh, true, n)
		ref.Adam(p, m, v, g, h, true, n)
	}
	c.compare("Adam after 3 steps with SetScalars between them: params", c.down(dp), p, 0, 0)
}
