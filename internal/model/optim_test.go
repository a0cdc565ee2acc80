package model_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/schedule"
)

// adamHyper is an AdamW run with a cosine schedule after a warmup, weight decay and a validation
// split: every per-step scalar changes at every step.
func adamHyper(epochs int) model.Hyper {
	return model.Hyper{Epochs: epochs, BatchSize: 100, LR: 3e-3, Momentum: 0.9, Optimizer: model.AdamW, WeightDecay: 0.01,
		Beta1: model.DefaultBeta1, Beta2: model.DefaultBeta2, Eps: model.DefaultEps,
		Schedule: schedule.Params{Kind: schedule.Cosine, Warmup: 0.5, Min: 1e-5}, ValSplit: 500}
}

func encode(t testing.TB, m *model.Model, h model.Hyper) []byte {
	t.Helper()
	b, err := checkpoint.Encode(checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: h}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeBitExact: for each optimizer, with a schedule and a validation split, a run interrupted
// in the middle of epoch 2, saved, loaded back from the checkpoint bytes and resumed gives a
// checkpoint byte-identical to the uninterrupted run's: weights, optimizer state (Adam's moments and
// step count), position and best epoch.
func TestResumeBitExact(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	for _, opt := range []model.Optimizer{model.SGD, model.Nesterov, model.Adam, model.AdamW} {
		h := adamHyper(3)
		h.Optimizer = opt
		if !opt.IsAdam() {
			h.LR, h.Beta1, h.Beta2, h.Eps = 0.05, 0, 0, 0 // (not recorded for SGD)
		}
		m, _ := model.New(cfg, 3)
		tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		straight := encode(t, m, h)

		m, _ = model.New(cfg, 3)
		ctx, cancel := context.WithCancel(context.Background())
		tr = &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h, ProgressEvery: 1,
			OnProgress: func(p model.Progress) {
				if p.Epoch == 2 && p.Done >= 700 {
					cancel()
				}
			}}
		if err := tr.Run(ctx, train, test); err != context.Canceled {
			t.Fatalf("%v: interrupted run: %v", opt, err)
		}
		ck, err := checkpoint.Decode(encode(t, m, h))
		if err != nil {
			t.Fatal(err)
		}
		if ck.Hyper != h || ck.EpochStep != 7 {
			t.Fatalf("%v: the checkpoint holds %+v at step %d of the epoch", opt, ck.Hyper, ck.EpochStep)
		}
		tr = &model.Trainer{Backend: &cpu.Backend{}, Model: ck.Model, Hyper: ck.Hyper}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(encode(t, ck.Model, h), straight) {
			t.Fatalf("%v: interrupted, saved, loaded and resumed differs from the uninterrupted run", opt)
		}
	}
}

// TestFreeze: after a run with fc1 frozen (and again with fc2 frozen in a 3-layer net, and under graph
// replay), the frozen layers' weights, biases and optimizer state are byte-identical to what they
// were, and every other layer's weights changed.
func TestFreeze(t *testing.T) {
	train, test := subset(t)
	for _, c := range []struct {
		hidden []int
		freeze string
		opt    model.Optimizer
		graphs bool
	}{
		{[]int{32}, "fc1", model.SGD, false},
		{[]int{32}, "fc1", model.Adam, true},
		{[]int{32, 16}, "fc2", model.AdamW, false},
		{[]int{32, 16}, "fc1,fc3", model.Nesterov, true},
	} {
		freeze, err := model.ParseLayerSet(c.freeze)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := model.New(model.NewConfig(c.hidden, ops.Tanh, model.CrossEntropy), 2)
		P := m.Config.NumParams()
		for i := range P {
			m.Velocity[i] = float32(i%7) * 1e-3 // state that must survive untouched
		}
		m.ExpAvg, m.ExpAvgSq = slices.Clone(m.Velocity), slices.Clone(m.Velocity)
		before := cloneModel(m)
		h := adamHyper(2)
		h.Optimizer, h.Freeze, h.ValSplit = c.opt, freeze, 0
		var be ops.Backend = &cpu.Backend{}
		if c.graphs {
			be = &replayCPU{Backend: &cpu.Backend{}, t: t}
		}
		tr := &model.Trainer{Backend: be, Model: m, Hyper: h}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		for l := range m.Config.Layers() {
			for _, v := range []struct {
				name      string
				now, then []float32
				state     bool
			}{
				{"weight", m.Weight(l), before.Weight(l), false},
				{"bias", m.Bias(l), before.Bias(l), false},
				{"momentum", layerOf(m, m.Velocity, l), layerOf(m, before.Velocity, l), true},
				{"exp_avg", layerOf(m, m.ExpAvg, l), layerOf(m, before.ExpAvg, l), true},
				{"exp_avg_sq", layerOf(m, m.ExpAvgSq, l), layerOf(m, before.ExpAvgSq, l), true},
			} {
				same := bytes.Equal(checkpoint.F32Bytes(v.now), checkpoint.F32Bytes(v.then))
				if freeze.Has(l) && !same {
					t.Errorf("%s frozen (%v): fc%d.%s changed", c.freeze, c.opt, l+1, v.name)
				}
				if !freeze.Has(l) && same && !v.state {
					t.Errorf("%s frozen (%v): fc%d.%s did not change", c.freeze, c.opt, l+1, v.name)
				}
			}
		}
	}
}

// layerOf is layer l's weight and bias within a vector of m's layout.
func layerOf(m *model.Model, v []float32, l int) []float32 {
	wOff, bOff, _ := m.Config.Layout()
	return v[wOff[l] : bOff[l]+m.Config.Sizes[l+1]]
}

func cloneModel(m *model.Model) *model.Model {
	c := *m
	c.Params, c.Velocity = slices.Clone(m.Params), slices.Clone(m.Velocity)
	c.ExpAvg, c.ExpAvgSq = slices.Clone(m.ExpAvg), slices.Clone(m.ExpAvgSq)
	return &c
}

// TestFreezeChecks: freezing a layer the net does not have, or every layer, is refused.
func TestFreezeChecks(t *testing.T) {
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	for _, c := range []struct{ freeze, want string }{
		{"fc3", "cannot freeze fc3: 784-32-10 has 2 layers (fc1…fc2)"},
		{"fc1,fc2", "every layer of 784-32-10 is frozen"},
	} {
		set, err := model.ParseLayerSet(c.freeze)
		if err != nil {
			t.Fatal(err)
		}
		h := adamHyper(1)
		h.Freeze = set
		if err := h.Check(cfg, 3000); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check with --freeze %s = %v, want %q", c.freeze, err, c.want)
		}
	}
	for _, s := range []string{"fc0", "fc", "conv1", "fc1,,fc2", "fc129"} {
		if _, err := model.ParseLayerSet(s); err == nil {
			t.Errorf("ParseLayerSet(%q) accepted it", s)
		}
	}
	if s, err := model.ParseLayerSet(" fc3, fc1 "); err != nil || s.String() != "fc1,fc3" || !s.Has(0) || s.Has(1) {
		t.Errorf("ParseLayerSet(\" fc3, fc1 \") = %v, %v", s, err)
	}
}

// TestTakeWeights: the weights (only) of a trained model move into a fresh one of the same shape; a
// model of another shape is refused with both architectures named.
func TestTakeWeights(t *testing.T) {
	src, _ := trainSubset(t, model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy), 1, 4)
	dst, _ := model.New(model.NewConfig([]int{32}, ops.Tanh, model.MSE), 9)
	if err := dst.TakeWeights(src); err != nil {
		t.Fatal(err)
	}
	if !opstest.SameBits(dst.Params, src.Params) {
		t.Fatal("TakeWeights: the parameters were not copied")
	}
	if dst.Epoch != 0 || dst.Step != 0 || dst.Seed != 9 || slices.ContainsFunc(dst.Velocity, func(v float32) bool { return v != 0 }) {
		t.Fatalf("TakeWeights moved more than the weights: epoch %d, step %d, seed %d", dst.Epoch, dst.Step, dst.Seed)
	}
	other, _ := model.New(model.NewConfig([]int{64}, ops.ReLU, model.CrossEntropy), 1)
	err := other.TakeWeights(src)
	if err == nil || !strings.Contains(err.Error(), "784-32-10") || !strings.Contains(err.Error(), "784-64-10") ||
		!strings.Contains(err.Error(), "fc1.weight is [32 784] there, [64 784] here") {
		t.Fatalf("TakeWeights(784-32-10 into 784-64-10) = %v, want both architectures named", err)
	}
	deeper, _ := model.New(model.NewConfig([]int{32, 10}, ops.ReLU, model.CrossEntropy), 1)
	if err := deeper.TakeWeights(src); err == nil || !strings.Contains(err.Error(), "784-32-10 net do not fit a 784-32-10-10 net") {
		t.Fatalf("TakeWeights(784-32-10 into 784-32-10-10) = %v", err)
	}
}

// TestResetHead: only the output layer changes, to exactly what a fresh model of the same seed and
// init has there.
func TestResetHead(t *testing.T) {
	m, _ := trainSubset(t, model.NewConfig([]int{32, 16}, ops.ReLU, model.CrossEntropy), 1, 4)
	before := cloneModel(m)
	in := model.Init{Kind: model.InitXavier}
	if err := m.ResetHead(in); err != nil {
		t.Fatal(err)
	}
	fresh, _ := model.NewInit(m.Config, m.Seed, in)
	for l := range 2 {
		if !opstest.SameBits(m.Weight(l), before.Weight(l)) || !opstest.SameBits(m.Bias(l), before.Bias(l)) {
			t.Fatalf("ResetHead changed fc%d", l+1)
		}
	}
	if !opstest.SameBits(m.Weight(2), fresh.Weight(2)) || !opstest.SameBits(m.Bias(2), fresh.Bias(2)) || opstest.SameBits(m.Weight(2), before.Weight(2)) {
		t.Fatal("ResetHead: fc3 is not the fresh initialization")
	}
}

// TestInitSchemes: each scheme's draws stay within its bound and fill it (the largest |w| is within
// 5% of it), their variance is bound²/3 within 5%, and biases are zero where the scheme says so.
func TestInitSchemes(t *testing.T) {
	cfg := model.NewConfig([]int{512}, ops.ReLU, model.CrossEntropy)
	for _, c := range []struct {
		init      string
		bound     func(in, out int) float64
		zeroBias  bool
		biasBound func(in, out int) float64
	}{
		{"pytorch", func(in, _ int) float64 { return 1 / math.Sqrt(float64(in)) }, false, func(in, _ int) float64 { return 1 / math.Sqrt(float64(in)) }},
		{"uniform:0.05", func(int, int) float64 { return 0.05 }, false, func(int, int) float64 { return 0.05 }},
		{"xavier", func(in, out int) float64 { return math.Sqrt(6 / float64(in+out)) }, true, nil},
		{"kaiming", func(in, _ int) float64 { return math.Sqrt(6 / float64(in)) }, true, nil},
	} {
		in, err := model.ParseInit(c.init)
		if err != nil || in.String() != c.init {
			t.Fatalf("ParseInit(%q) = %v, %v", c.init, in, err)
		}
		m, err := model.NewInit(cfg, 7, in)
		if err != nil {
			t.Fatal(err)
		}
		for l := range cfg.Layers() {
			fi, fo := cfg.Sizes[l], cfg.Sizes[l+1]
			b := c.bound(fi, fo)
			checkUniform(t, c.init+" weight", m.Weight(l), b)
			if c.zeroBias {
				if slices.ContainsFunc(m.Bias(l), func(v float32) bool { return v != 0 }) {
					t.Errorf("%s: fc%d.bias is not zero", c.init, l+1)
				}
			} else if l == 0 { // 512 values: enough for the bound; fc2's 10 are not
				checkUniform(t, c.init+" bias", m.Bias(l), c.biasBound(fi, fo))
			}
		}
	}
	for _, bad := range []string{"he", "uniform", "uniform:0", "uniform:-1", "uniform:x", "xavier:2", "uniform:1e9"} {
		if _, err := model.ParseInit(bad); err == nil {
			t.Errorf("ParseInit(%q) accepted it", bad)
		}
	}
	old, _ := model.New(cfg, 7)
	same, _ := model.NewInit(cfg, 7, model.Init{})
	if !opstest.SameBits(old.Params, same.Params) {
		t.Fatal("NewInit with the zero Init differs from New")
	}
}

func checkUniform(t *testing.T, what string, v []float32, bound float64) {
	t.Helper()
	var maxAbs, sum2 float64
	for _, x := range v {
		maxAbs = max(maxAbs, math.Abs(float64(x)))
		sum2 += float64(x) * float64(x)
	}
	variance := sum2 / float64(len(v))
	if maxAbs > bound || maxAbs < 0.95*bound {
		t.Errorf("%s: max |w| = %v, want just under %v", what, maxAbs, bound)
	}
	if want := bound * bound / 3; len(v) > 1000 && math.Abs(variance-want) > 0.05*want {
		t.Errorf("%s: variance %v, want %v (bound²/3)", what, variance, want)
	}
}

// TestSplit: the validation split is a seeded, disjoint partition that keeps the original order
// and the images with their labels, the same for the same seed and different for another.
func TestSplit(t *testing.T) {
	train, _ := subset(t)
	tr, val, err := model.Split(train, 500, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 2500 || val.N != 500 || len(tr.Images) != 2500*mnist.Pixels || len(val.Labels) != 500 {
		t.Fatalf("Split(3000, 500) = %d + %d images", tr.N, val.N)
	}
	// Each image of the subset is in exactly one part, in the original order: walk both parts.
	i, j := 0, 0
	for k := range train.N {
		img := train.Images[k*mnist.Pixels : (k+1)*mnist.Pixels]
		switch {
		case i < tr.N && bytes.Equal(img, tr.Images[i*mnist.Pixels:(i+1)*mnist.Pixels]) && train.Labels[k] == tr.Labels[i]:
			i++
		case j < val.N && bytes.Equal(img, val.Images[j*mnist.Pixels:(j+1)*mnist.Pixels]) && train.Labels[k] == val.Labels[j]:
			j++
		default:
			t.Fatalf("image %d of the training set is in neither part (in order)", k)
		}
	}
	_, again, _ := model.Split(train, 500, 1)
	_, other, _ := model.Split(train, 500, 2)
	if !bytes.Equal(again.Images, val.Images) || bytes.Equal(other.Images, val.Images) {
		t.Fatal("Split: the same seed must hold out the same images, another seed others")
	}
	for _, n := range []int{0, 3000, -1} {
		if _, _, err := model.Split(train, n, 1); err == nil {
			t.Errorf("Split(3000 images, %d) accepted it", n)
		}
	}
}

// TestValidationMetrics: with a validation split, each epoch reports val_loss and val_accuracy, the
// test figures are still there, the best epoch is the highest validation accuracy, and the metrics
// line has the new keys after the old ones; without one, the line has no val keys. lr is each
// epoch's last step's rate from the schedule.
func TestValidationMetrics(t *testing.T) {
	train, test := subset(t)
	h := adamHyper(3)
	m, _ := model.New(model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy), 1)
	var res []model.EpochResult
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h,
		OnEpoch: func(r model.EpochResult) error { res = append(res, r); return nil }}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	best := 0
	for i, r := range res {
		if !r.Validated || r.ValAccuracy < 0.5 || r.ValLoss <= 0 || r.TestAccuracy < 0.5 {
			t.Fatalf("epoch %d: %+v", i+1, r)
		}
		if r.ValAccuracy > res[best].ValAccuracy || (r.ValAccuracy == res[best].ValAccuracy && r.ValLoss < res[best].ValLoss) {
			best = i
		}
		steps := 25 // 2500 training images in batches of 100
		if want := h.Schedule.LR(h.LR, (i+1)*steps-1, steps, 3); r.LR != want {
			t.Errorf("epoch %d: lr %v, want the schedule's %v", i+1, r.LR, want)
		}
	}
	if m.Best.Epoch != best+1 || m.Best.Accuracy != res[best].ValAccuracy || !res[best].Best {
		t.Fatalf("best %+v, want epoch %d (%v)", m.Best, best+1, res[best].ValAccuracy)
	}
	b, _ := json.Marshal(res[0])
	if s := string(b); !strings.HasPrefix(s, `{"epoch":1,"train_loss":`) || !strings.Contains(s, `"samples_per_second":`) ||
		!strings.Contains(s, `,"lr":`) || !strings.Contains(s, `"val_loss":`) || !strings.HasSuffix(strings.Split(s, `"val_accuracy":`)[0], ",") {
		t.Fatalf("metrics line %s", s)
	}
	res[0].Validated = false
	b, _ = json.Marshal(res[0])
	if s := string(b); strings.Contains(s, "val_") || !strings.Contains(s, `"lr":`) {
		t.Fatalf("metrics line without validation %s", s)
	}
}

// TestPatience: with patience 1 the run stops at the first epoch that does not beat the best one,
// says so, and the best epoch is the one before.
func TestPatience(t *testing.T) {
	train, test := subset(t)
	h := model.Hyper{Epochs: 30, BatchSize: 100, LR: 0.02, Optimizer: model.Adam, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		ValSplit: 300, Patience: 1}
	m, _ := model.New(model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy), 1)
	var res []model.EpochResult
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h,
		OnEpoch: func(r model.EpochResult) error { res = append(res, r); return nil }}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	last := len(res)
	if !tr.StoppedEarly || last == 30 || m.Epoch != last || m.Best.Epoch != last-1 || res[last-1].Best {
		t.Fatalf("stopped early %v after %d epochs, best %+v", tr.StoppedEarly, last, m.Best)
	}
	for i := 1; i < last-1; i++ {
		if !res[i].Best {
			t.Fatalf("epoch %d did not improve, but training went on (patience 1)", i+1)
		}
	}
	t.Logf("stopped after epoch %d; best epoch %d at %.4f", last, m.Best.Epoch, m.Best.Accuracy)
}

// TestHyperValidate: the settings' errors, in the user's terms.
func TestHyperValidate(t *testing.T) {
	base := model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}
	for _, c := range []struct {
		edit func(h *model.Hyper)
		want string
	}{
		{func(h *model.Hyper) { h.Optimizer, h.Momentum = model.Nesterov, 0 }, "nesterov needs a momentum > 0"},
		{func(h *model.Hyper) { h.WeightDecay = -1 }, "weight decay -1"},
		{func(h *model.Hyper) { h.Optimizer, h.Beta1, h.Beta2 = model.Adam, 1, 0.999 }, "betas 1, 0.999"},
		{func(h *model.Hyper) { h.Patience = 3 }, "patience needs a validation split"},
		{func(h *model.Hyper) { h.ValSplit, h.Patience = 10, model.MaxPatience+1 }, "patience 2147483648, want 0..2147483647"},
		{func(h *model.Hyper) { h.ValSplit = model.MaxValSplit + 1 }, "validation split 2147483648, want 0..2147483647"},
		{func(h *model.Hyper) { h.Schedule.Kind = schedule.Step }, "step needs a period"},
		{func(h *model.Hyper) { h.LR = 1e300 }, "learning rate 1e+300"},
	} {
		h := base
		c.edit(&h)
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want %q", err, c.want)
		}
	}
	if _, err := model.ParseOptimizer("adamx"); err == nil || err.Error() != `model: "adamx" is not one of sgd, nesterov, adam, adamw` {
		t.Errorf("ParseOptimizer(adamx) = %v", err)
	}
}
