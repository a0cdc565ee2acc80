package model_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// robustPGD is the fixed attack of the robust accuracy metric in these tests: PGD-10, ε = 0.1.
var robustPGD = model.RobustEval{N: 200, Attack: attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10}}

// TestAdversarialTraining: on the committed subset, adversarial training (FGSM with a random start,
// and PGD-3 on half of each batch) gives a net more robust to PGD-10 than plain training of the same
// seed, at some cost in clean accuracy; robust_accuracy is reported every epoch when asked and is
// absent from the metrics line otherwise; and a Graphs backend trains adversarially with plain steps,
// to the same bytes.
func TestAdversarialTraining(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{64}, ops.ReLU, model.CrossEntropy)
	run := func(be ops.Backend, a model.Adversarial, robust model.RobustEval, epochs int) (*model.Model, []model.EpochResult) {
		m, _ := model.New(cfg, 2)
		var res []model.EpochResult
		tr := &model.Trainer{Backend: be, Model: m, Robust: robust,
			Hyper:   model.Hyper{Epochs: epochs, BatchSize: 100, LR: 0.05, Momentum: 0.9, Adversarial: a},
			OnEpoch: func(r model.EpochResult) error { res = append(res, r); return nil }}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		return m, res
	}
	_, plain := run(&cpu.Backend{}, model.Adversarial{}, robustPGD, 5)
	_, quiet := run(&cpu.Backend{}, model.Adversarial{}, model.RobustEval{}, 1)
	b, _ := json.Marshal(quiet[0])
	if strings.Contains(string(b), "robust") || quiet[0].RobustAccuracy != nil {
		t.Fatalf("metrics without a robust evaluation: %s", b)
	}
	for _, a := range []model.Adversarial{
		{Method: attack.FGSM, Eps: 0.1, Steps: 1, Ratio: 1},
		{Method: attack.PGD, Eps: 0.1, Steps: 3, Ratio: 0.5},
	} {
		_, res := run(&cpu.Backend{}, a, robustPGD, 5)
		for _, r := range res {
			if r.RobustAccuracy == nil {
				t.Fatalf("%v: epoch %d has no robust accuracy", a, r.Epoch)
			}
		}
		p, r := plain[4], res[4]
		t.Logf("%v: clean %.4f robust %.4f; plain training: clean %.4f robust %.4f", a, r.TestAccuracy, *r.RobustAccuracy, p.TestAccuracy, *p.RobustAccuracy)
		if !(*r.RobustAccuracy > *p.RobustAccuracy+0.1) {
			t.Fatalf("%v: robust accuracy %.4f, plain training's %.4f: want 10 points more", a, *r.RobustAccuracy, *p.RobustAccuracy)
		}
		b, _ := json.Marshal(r)
		if !strings.Contains(string(b), `"robust_accuracy":`) {
			t.Fatalf("metrics line without robust_accuracy: %s", b)
		}
	}
	a := model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 2, Ratio: 0.5}
	m, _ := run(&cpu.Backend{}, a, model.RobustEval{}, 1)
	g, _ := run(&replayCPU{Backend: &cpu.Backend{}, t: t}, a, model.RobustEval{}, 1)
	if !bytes.Equal(encode(t, g, model.Hyper{}), encode(t, m, model.Hyper{})) {
		t.Fatalf("%v: a backend with Graphs trains to other weights", a)
	}
}

// TestAdversarialResumeBitExact: adversarial training interrupted mid-epoch, saved, loaded back and
// resumed gives the uninterrupted run's bytes (the random starts are drawn from the image's place in
// the epoch, not from a running generator), and the checkpoint records the recipe.
func TestAdversarialResumeBitExact(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	h := model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.05, Momentum: 0.9,
		Adversarial: model.Adversarial{Method: attack.PGD, Eps: 0.2, Steps: 2, StepSize: 0.15, Ratio: 0.75}}
	m, _ := model.New(cfg, 3)
	if err := (&model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h}).Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	straight := encode(t, m, h)

	m, _ = model.New(cfg, 3)
	ctx, cancel := context.WithCancel(context.Background())
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h, ProgressEvery: 1,
		OnProgress: func(p model.Progress) {
			if p.Epoch == 2 && p.Done >= 1100 {
				cancel()
			}
		}}
	if err := tr.Run(ctx, train, test); err != context.Canceled {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := checkpoint.Decode(encode(t, m, h))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Hyper != h || ck.EpochStep != 11 {
		t.Fatalf("the checkpoint holds %+v at step %d of the epoch", ck.Hyper, ck.EpochStep)
	}
	if err := (&model.Trainer{Backend: &cpu.Backend{}, Model: ck.Model, Hyper: ck.Hyper}).Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, ck.Model, h), straight) {
		t.Fatal("adversarial training interrupted, saved, loaded and resumed differs from the uninterrupted run")
	}
}

// TestAdversarialValidate: the recipe's errors.
func TestAdversarialValidate(t *testing.T) {
	base := model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9,
		Adversarial: model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 7, Ratio: 1}}
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", base.Adversarial, err)
	}
	for _, c := range []struct {
		edit func(a *model.Adversarial)
		want string
	}{
		{func(a *model.Adversarial) { a.Eps = 1.5 }, "ε 1.5"},
		{func(a *model.Adversarial) { a.Eps = -0.1 }, "ε -0.1"},
		{func(a *model.Adversarial) { a.Ratio = 0 }, "ratio 0"},
		{func(a *model.Adversarial) { a.Ratio = 1.5 }, "ratio 1.5"},
		{func(a *model.Adversarial) { a.Steps = 0 }, "steps 0"},
		{func(a *model.Adversarial) { a.Method, a.Steps = attack.FGSM, 3 }, "fgsm takes 1 step"},
		{func(a *model.Adversarial) { a.StepSize = -1 }, "step size -1"},
	} {
		h := base
		c.edit(&h.Adversarial)
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", h.Adversarial, err, c.want)
		}
	}
	for _, c := range []struct {
		a    model.Adversarial
		want float64
	}{
		{model.Adversarial{Method: attack.FGSM, Eps: 0.1, Steps: 1}, 0.125},
		{model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 10}, 0.025},
		{model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 10, StepSize: 0.01}, 0.01},
	} {
		if got := c.a.Alpha(); got != c.want {
			t.Errorf("%+v.Alpha() = %v, want %v", c.a, got, c.want)
		}
	}
}
