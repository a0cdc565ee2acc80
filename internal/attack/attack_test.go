package attack_test

import (
	"context"
	"math"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
)

const P = attack.P

func subset(t testing.TB) (train, test *mnist.Set) {
	t.Helper()
	train, test, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// trained is a 784-32-10 net trained for 2 epochs on the committed subset (about 85 % on its test
// images), placed on the CPU with the subset's test images resident in natural order.
func trained(t testing.TB) (*model.Net, ops.Data, *mnist.Set) {
	t.Helper()
	train, test := subset(t)
	m, _ := model.New(model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy), 1)
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.05, Momentum: 0.9}}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	return place(t, m, test, 250)
}

// place puts m on the CPU with batches of up to maxB and s resident.
func place(t testing.TB, m *model.Model, s *mnist.Set, maxB int) (*model.Net, ops.Data, *mnist.Set) {
	t.Helper()
	be := &cpu.Backend{}
	net, err := model.NewNet(be, m.Config, maxB)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Load(m); err != nil {
		t.Fatal(err)
	}
	d, err := be.Resident(s)
	if err != nil {
		t.Fatal(err)
	}
	return net, d, s
}

// pixels are images first..first+B−1 of s as p/255.
func pixels(s *mnist.Set, first, B int) []float32 {
	x := make([]float32, B*P)
	for i, p := range s.Images[first*P : (first+B)*P] {
		x[i] = float32(p) / 255
	}
	return x
}

func ids(first, B int) []uint64 {
	v := make([]uint64, B)
	for i := range v {
		v[i] = uint64(first + i)
	}
	return v
}

func TestConfigValidate(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		cfg attack.Config
		ok  bool
	}{
		{attack.Config{Method: attack.FGSM, Eps: 0.1}, true},
		{attack.Config{Method: attack.FGSM, Eps: 1}, true},
		{attack.Config{Method: attack.PGD, Eps: 0.3, Steps: 40, StepSize: 0.01, RandomStart: true, Restarts: 5}, true},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 1}, true},
		{attack.Config{Method: attack.FGSM, Eps: 0}, false},
		{attack.Config{Method: attack.FGSM, Eps: -0.1}, false},
		{attack.Config{Method: attack.FGSM, Eps: 1.5}, false},
		{attack.Config{Method: attack.FGSM, Eps: nan}, false},
		{attack.Config{Method: attack.FGSM, Eps: math.Inf(1)}, false},
		{attack.Config{Method: attack.FGSM, Eps: 0.1, RandomStart: true}, false},
		{attack.Config{Method: attack.FGSM, Eps: 0.1, StepSize: 0.05}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 0}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: attack.MaxSteps + 1}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10, StepSize: -1}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10, StepSize: nan}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10, Restarts: 3}, false},
		{attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10, RandomStart: true, Restarts: -1}, false},
		{attack.Config{Method: attack.Method(7), Eps: 0.1}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", c.cfg, err, c.ok)
		}
		if _, err := attack.New(c.cfg, 10); (err == nil) != c.ok {
			t.Errorf("New(%+v) = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
	for _, s := range []string{"fgsm", "PGD"} {
		if _, err := attack.ParseMethod(s); err != nil {
			t.Errorf("ParseMethod(%q) = %v", s, err)
		}
	}
	if _, err := attack.ParseMethod("cw"); err == nil {
		t.Error("ParseMethod(cw): no error")
	}
}

// TestFGSMMovesEveryPixelByEps: every pixel of an FGSM image moves by exactly ε (to float32 rounding
// of x0 ± ε) in the direction of its gradient's sign, or stops at 0 or 1; the test net's gradients
// are nowhere 0.
func TestFGSMMovesEveryPixelByEps(t *testing.T) {
	rng := opstest.Rand(t)
	const B = 9
	for _, eps := range []float64{0.01, 0.1, 0.3, 1} {
		m, _ := model.New(model.NewConfig([]int{16}, ops.Tanh, model.CrossEntropy), rng.Uint64())
		set := opstest.RandomSet(rng, B)
		net, d, _ := place(t, m, set, B)
		x0 := make([]float32, B*P)
		for i := range x0 {
			x0[i] = float32(rng.IntN(256)) / 255
		}
		grad := make([]float32, B*P)
		if err := net.Target(d).Gradient(grad, nil, x0, 0, B); err != nil {
			t.Fatal(err)
		}
		a, _ := attack.New(attack.Config{Method: attack.FGSM, Eps: eps}, B)
		adv := opstest.NaNs(B * P)
		if err := a.Perturb(net.Target(d), adv, x0, set.Labels, ids(0, B), 0, B); err != nil {
			t.Fatal(err)
		}
		e := float32(eps)
		moved, bound := 0, 0
		for i, v := range adv {
			g := grad[i]
			if g == 0 {
				t.Fatalf("ε=%g: the test net's gradient is 0 at pixel %d", eps, i)
			}
			want := x0[i] + e // exact sum of the two float32s, rounded once
			if g < 0 {
				want = x0[i] - e
			}
			switch {
			case v == want:
				moved++
			case (v == 0 && g < 0 && want < 0) || (v == 1 && g > 0 && want > 1):
				bound++
			default:
				t.Fatalf("FGSM ε=%g: pixel %d went from %v to %v with gradient %v, want %v or a bound", eps, i, x0[i], v, g, want)
			}
			if d := math.Abs(float64(v) - float64(x0[i])); d > eps+6e-8 {
				t.Fatalf("FGSM ε=%g: pixel %d moved %v", eps, i, d)
			}
		}
		t.Logf("ε=%g: %d pixels moved by ε, %d stopped at 0 or 1", eps, moved, bound)
		if moved == 0 {
			t.Fatalf("ε=%g: no pixel moved by ε", eps)
		}
	}
}

// spy is a Target that checks every point it is asked about against the ε-ball around x0 and [0, 1],
// and records the first point each image is asked about.
type spy struct {
	attack.Target
	t     *testing.T
	x0    []float32 // all images, (N, P)
	eps   float32
	first map[int][]float32
	calls int
}

func (s *spy) Gradient(grad, logits, x []float32, start, B int) error {
	s.calls++
	for b := range B {
		if _, ok := s.first[start+b]; !ok {
			s.first[start+b] = append([]float32(nil), x[b*P:(b+1)*P]...)
		}
	}
	for i, v := range x[:B*P] {
		o := s.x0[start*P+i]
		if !(v >= 0 && v <= 1 && v >= o-s.eps && v <= o+s.eps) {
			s.t.Fatalf("call %d: pixel %d of image %d at %v, outside [0, 1] ∩ [%v − ε, %v + ε], ε = %v", s.calls, i%P, start+i/P, v, o, o, s.eps)
		}
	}
	return s.Target.Gradient(grad, logits, x, start, B)
}

// TestPGDStaysInBall: every point PGD asks the gradient of, and every image it returns, lies in
// [0, 1] and within ε of the original (x0 − ε ≤ x ≤ x0 + ε in float32, the projection's own bounds),
// with random starts, a step size larger than ε and several restarts; in float64 no pixel moves more
// than ε plus one rounding of a pixel.
func TestPGDStaysInBall(t *testing.T) {
	net, d, test := trained(t)
	const N = 60
	x0 := pixels(test, 0, N)
	for _, c := range []attack.Config{
		{Method: attack.PGD, Eps: 0.1, Steps: 5, StepSize: 0.25, RandomStart: true, Restarts: 3, Seed: 3},
		{Method: attack.PGD, Eps: 0.3, Steps: 7, RandomStart: true, Seed: 4},
		{Method: attack.PGD, Eps: 0.05, Steps: 4, StepSize: 0.01},
	} {
		s := &spy{Target: net.Target(d), t: t, x0: x0, eps: float32(c.Eps), first: map[int][]float32{}}
		a, _ := attack.New(c, 25)
		for start := 0; start < N; start += 25 {
			B := min(25, N-start)
			adv := opstest.NaNs(B * P)
			if err := a.Perturb(s, adv, x0[start*P:], test.Labels[start:], ids(start, B), start, B); err != nil {
				t.Fatal(err)
			}
			for i, v := range adv {
				o := x0[start*P+i]
				if !(v >= 0 && v <= 1) || math.Abs(float64(v)-float64(o)) > c.Eps+6e-8 {
					t.Fatalf("%v: pixel %d of image %d at %v, original %v", c, i%P, start+i/P, v, o)
				}
			}
		}
		if want := c.Steps * c.Restarts; c.Restarts > 0 && s.calls != want*3 {
			t.Fatalf("%v: %d gradient calls for 3 batches, want %d", c, s.calls, 3*want)
		}
	}
}

// TestRandomStartIsPerImage: an image's random start depends on the seed, its id and the restart,
// not on the batch it is in: batches of 7 and of 20 start every image at the same point; another
// seed starts it elsewhere; and the whole attack is deterministic given the seed.
func TestRandomStartIsPerImage(t *testing.T) {
	net, d, test := trained(t)
	const N = 40
	x0 := pixels(test, 0, N)
	starts := func(seed uint64, batch int) (map[int][]float32, []float32) {
		c := attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 2, RandomStart: true, Seed: seed}
		s := &spy{Target: net.Target(d), t: t, x0: x0, eps: 0.1, first: map[int][]float32{}}
		a, _ := attack.New(c, batch)
		var all []float32
		for start := 0; start < N; start += batch {
			B := min(batch, N-start)
			adv := make([]float32, B*P)
			if err := a.Perturb(s, adv, x0[start*P:], test.Labels[start:], ids(start, B), start, B); err != nil {
				t.Fatal(err)
			}
			all = append(all, adv...)
		}
		return s.first, all
	}
	a7, adv7 := starts(5, 7)
	a20, _ := starts(5, 20)
	b7, _ := starts(6, 7)
	again, adv7again := starts(5, 7)
	for i := range N {
		if !opstest.SameBits(a7[i], a20[i]) {
			t.Fatalf("image %d starts at different points in batches of 7 and of 20", i)
		}
		if opstest.SameBits(a7[i], b7[i]) {
			t.Fatalf("image %d starts at the same point with seeds 5 and 6", i)
		}
		if !opstest.SameBits(a7[i], again[i]) {
			t.Fatalf("image %d: two runs with seed 5 start at different points", i)
		}
	}
	if !opstest.SameBits(adv7, adv7again) {
		t.Fatal("two PGD runs with the same seed give different images")
	}
}

// predictions returns the target's classes for the B images x.
func predictions(t *testing.T, tg attack.Target, x []float32, B int) []int {
	t.Helper()
	logits := make([]float32, B*attack.K)
	if err := tg.Logits(logits, x, B); err != nil {
		t.Fatal(err)
	}
	p := make([]int, B)
	for b := range B {
		p[b] = attack.Predict(logits[b*attack.K : (b+1)*attack.K])
	}
	return p
}

// TestRestartsKeepWorstCase: with the same seed, restart 0 of a 4-restart PGD is the 1-restart PGD,
// so every image the single run fools stays fooled with 4 restarts, and some more may be.
func TestRestartsKeepWorstCase(t *testing.T) {
	net, d, test := trained(t)
	const N = 200
	x0 := pixels(test, 0, N)
	run := func(restarts int) []int {
		a, _ := attack.New(attack.Config{Method: attack.PGD, Eps: 0.05, Steps: 2, StepSize: 0.02, RandomStart: true, Restarts: restarts, Seed: 9}, N)
		adv := make([]float32, N*P)
		if err := a.Perturb(net.Target(d), adv, x0, test.Labels[:N], ids(0, N), 0, N); err != nil {
			t.Fatal(err)
		}
		return predictions(t, net.Target(d), adv, N)
	}
	one, four := run(1), run(4)
	f1, f4 := 0, 0
	for i := range N {
		y := int(test.Labels[i])
		if one[i] != y {
			f1++
			if four[i] == y {
				t.Fatalf("image %d: fooled by one restart (class %d), not by four", i, one[i])
			}
		}
		if four[i] != y {
			f4++
		}
	}
	t.Logf("misclassified after PGD: %d of %d with 1 restart, %d with 4", f1, N, f4)
}

// TestEvaluate: on a trained net, FGSM and PGD lower the accuracy, PGD-10 at least as much as FGSM
// give or take a few images, and the report adds up: per-class counts give the robust accuracy,
// robust ≤ clean, the perturbations' mean L∞ is at most ε (FGSM's close to ε), the examples come
// fooled first with their pixels. The report is the same for another batch size (the gradient of the
// mean loss only changes scale) and on the naive backend, but for rounding.
func TestEvaluate(t *testing.T) {
	net, d, test := trained(t)
	clean := -1.0
	var fgsm attack.Report
	for _, c := range []attack.Config{
		{Method: attack.FGSM, Eps: 0.1},
		{Method: attack.PGD, Eps: 0.1, Steps: 10},
		{Method: attack.PGD, Eps: 0.1, Steps: 10, RandomStart: true, Restarts: 2, Seed: 2},
	} {
		rep, err := net.Robust(d, test, c, attack.Options{Examples: 5})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: clean %.4f robust %.4f mean L∞ %.4f L2 %.4f", c, rep.Clean, rep.Robust, rep.MeanLinf, rep.MeanL2)
		if clean >= 0 && rep.Clean != clean {
			t.Fatalf("%v: clean accuracy %v, another attack's %v", c, rep.Clean, clean)
		}
		clean = rep.Clean
		if rep.N != test.N || !(rep.Robust <= rep.Clean) || rep.Robust > rep.Clean-0.2 {
			t.Fatalf("%v: robust accuracy %v of %d images, clean %v: want at least 20 points lower", c, rep.Robust, rep.N, rep.Clean)
		}
		var count [attack.K]int
		for _, y := range test.Labels {
			count[y]++
		}
		sum := 0.0
		for k := range attack.K {
			sum += rep.PerClass[k] * float64(count[k])
		}
		if math.Abs(sum-rep.Robust*float64(test.N)) > 1e-6 {
			t.Fatalf("%v: per-class robust accuracies add up to %v images, robust accuracy to %v", c, sum, rep.Robust*float64(test.N))
		}
		survived := 0
		for _, s := range rep.Survived {
			if s {
				survived++
			}
		}
		if len(rep.Survived) != test.N || float64(survived) != math.Round(rep.Robust*float64(test.N)) {
			t.Fatalf("%v: %d of %d images survived, robust accuracy %v", c, survived, len(rep.Survived), rep.Robust)
		}
		for _, e := range rep.Examples {
			if rep.Survived[e.Index] {
				t.Fatalf("%v: example %d was fooled but is marked as survived", c, e.Index)
			}
		}
		if rep.MeanLinf > c.Eps+1e-7 || rep.MeanL2 > c.Eps*28+1e-6 || rep.MeanL2 < rep.MeanLinf {
			t.Fatalf("%v: mean L∞ %v, L2 %v for ε = %v", c, rep.MeanLinf, rep.MeanL2, c.Eps)
		}
		if c.Method == attack.FGSM {
			if rep.MeanLinf < 0.99*c.Eps {
				t.Fatalf("FGSM: mean L∞ %v, want ε = %v", rep.MeanLinf, c.Eps)
			}
			fgsm = rep
		} else if rep.Robust > fgsm.Robust+0.01 {
			t.Fatalf("%v: robust accuracy %v, above FGSM's %v", c, rep.Robust, fgsm.Robust)
		}
		if len(rep.Examples) != 5 {
			t.Fatalf("%v: %d examples, want 5", c, len(rep.Examples))
		}
		for i, e := range rep.Examples {
			if !e.Fooled() || len(e.X0) != P || len(e.Adv) != P || (i > 0 && e.Index <= rep.Examples[i-1].Index) {
				t.Fatalf("%v: example %d = image %d, label %d, %d → %d: want fooled ones in order", c, i, e.Index, e.Label, e.Clean, e.Attacked)
			}
			if !opstest.SameBits(e.X0, pixels(test, e.Index, 1)) {
				t.Fatalf("%v: example %d's original is not image %d", c, i, e.Index)
			}
		}
	}

	c := attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10}
	test = &mnist.Set{Images: test.Images[:300*P], Labels: test.Labels[:300], N: 300}
	want, err := net.Robust(d, test, c, attack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &model.Model{Config: net.Config, Params: make([]float32, net.Config.NumParams())}
	net.Store(m)
	for _, o := range []struct {
		batch int
		naive bool
	}{{37, false}, {250, true}} {
		be := &cpu.Backend{Naive: o.naive}
		n2, err := model.NewNet(be, m.Config, o.batch)
		if err != nil {
			t.Fatal(err)
		}
		n2.Load(m)
		d2, _ := be.Resident(test)
		got, err := n2.Robust(d2, test, c, attack.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Clean != want.Clean || math.Abs(got.Robust-want.Robust) > 0.005 {
			t.Fatalf("batch %d, naive %v: clean %v robust %v; batch 250: %v %v", o.batch, o.naive, got.Clean, got.Robust, want.Clean, want.Robust)
		}
	}
}
