package model_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/schedule"
)

// augHyper is an SGD run on elastic deformations with a cosine schedule and a validation split.
func augHyper(epochs int) model.Hyper {
	return model.Hyper{Epochs: epochs, BatchSize: 100, LR: 0.05, Momentum: 0.9,
		Schedule: schedule.Params{Kind: schedule.Cosine}, ValSplit: 500, Augment: augment.Default(augment.Elastic)}
}

// TestAugmentResumeBitExact: with --augment elastic, a run interrupted in the middle of epoch 2,
// saved, loaded back from the checkpoint bytes and resumed gives a checkpoint byte-identical to the
// uninterrupted run's; so do runs at GOMAXPROCS 1 and 2, and runs whose steps are recorded once and
// replayed (the CUDA graph path, on the CPU). Without augmentation the weights differ, so the
// deformations were applied.
func TestAugmentResumeBitExact(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	h := augHyper(3)
	run := func(be ops.Backend, h model.Hyper) []byte {
		m, _ := model.New(cfg, 3)
		if err := (&model.Trainer{Backend: be, Model: m, Hyper: h}).Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		return encode(t, m, h)
	}
	straight := run(&cpu.Backend{}, h)

	m, _ := model.New(cfg, 3)
	ctx, cancel := context.WithCancel(context.Background())
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h, ProgressEvery: 1,
		OnProgress: func(p model.Progress) {
			if p.Epoch == 2 && p.Done >= 700 {
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
	if ck.Hyper != h || ck.EpochStep != 7 {
		t.Fatalf("the checkpoint holds %+v at step %d of the epoch", ck.Hyper, ck.EpochStep)
	}
	if err := (&model.Trainer{Backend: &cpu.Backend{}, Model: ck.Model, Hyper: ck.Hyper}).Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, ck.Model, h), straight) {
		t.Fatal("with augmentation, interrupted, saved, loaded and resumed differs from the uninterrupted run")
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if !bytes.Equal(run(&cpu.Backend{}, h), straight) {
		t.Fatal("with augmentation, GOMAXPROCS=1 and GOMAXPROCS=2 give different checkpoints")
	}
	runtime.GOMAXPROCS(2)
	r := &replayCPU{Backend: &cpu.Backend{}, t: t}
	if !bytes.Equal(run(r, h), straight) || r.replays == 0 {
		t.Fatalf("with augmentation, recorded and replayed steps (%d replays) differ from plain steps", r.replays)
	}

	plain := h
	plain.Augment = augment.Params{}
	a, b := run(&cpu.Backend{}, plain), straight
	m1, _ := checkpoint.Decode(a)
	m2, _ := checkpoint.Decode(b)
	if bytes.Equal(checkpoint.F32Bytes(m1.Params), checkpoint.F32Bytes(m2.Params)) {
		t.Fatal("training with and without augmentation gave the same weights")
	}
}

// augSpy records what the trainer asks of the backend's augmentation: which data sets get a
// deformation and with what seed, the epochs set, and for every Gather whether its data set deforms
// and the epoch it is keyed by.
type augSpy struct {
	*cpu.Backend
	aug     map[ops.Data]ops.Augment
	seed    uint64
	epoch   map[ops.Data]int
	gathers []gather
}

type gather struct {
	n         int // the data set's size
	augmented bool
	epoch     int
}

func (s *augSpy) SetAugment(d ops.Data, a ops.Augment, seed uint64) error {
	s.aug[d], s.seed = a, seed
	return s.Backend.SetAugment(d, a, seed)
}

func (s *augSpy) SetEpoch(d ops.Data, epoch int) {
	s.epoch[d] = epoch
	s.Backend.SetEpoch(d, epoch)
}

func (s *augSpy) Gather(x ops.Tensor, d ops.Data, start, B int) {
	_, ok := s.aug[d]
	s.gathers = append(s.gathers, gather{d.N(), ok, s.epoch[d]})
	s.Backend.Gather(x, d, start, B)
}

// TestAugmentTrainingBatchesOnly: the trainer gives the deformation to the training set alone (2500
// images after the validation split), with the model's seed, sets epochs 1, 2, 3 on it before their
// batches, and gathers the validation (500) and test (1000) images plainly; the test accuracy it
// reports equals a plain evaluation of the final weights. Without augmentation nothing is set.
func TestAugmentTrainingBatchesOnly(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{16}, ops.ReLU, model.CrossEntropy)
	for _, mode := range []augment.Mode{augment.None, augment.Affine, augment.Elastic} {
		h := augHyper(3)
		h.Augment = augment.Default(mode)
		if mode == augment.None {
			h.Augment = augment.Params{}
		}
		m, _ := model.New(cfg, 77)
		spy := &augSpy{Backend: &cpu.Backend{}, aug: map[ops.Data]ops.Augment{}, epoch: map[ops.Data]int{}}
		var last model.EpochResult
		tr := &model.Trainer{Backend: spy, Model: m, Hyper: h, OnEpoch: func(r model.EpochResult) error { last = r; return nil }}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		if mode == augment.None {
			if len(spy.aug) != 0 {
				t.Fatalf("none: SetAugment called on %d data sets", len(spy.aug))
			}
		} else {
			if len(spy.aug) != 1 || spy.seed != 77 {
				t.Fatalf("%v: SetAugment on %d data sets with seed %d, want 1 with the model's seed 77", mode, len(spy.aug), spy.seed)
			}
			for d, a := range spy.aug {
				if d.N() != 2500 || a != model.OpsAugment(h.Augment) {
					t.Fatalf("%v: SetAugment(%d images, %+v), want the 2500 training images and %+v", mode, d.N(), a, h.Augment)
				}
			}
		}
		epochs := map[int]bool{}
		for _, g := range spy.gathers {
			switch {
			case g.n == 2500 && g.augmented != (mode != augment.None):
				t.Fatalf("%v: a training batch gathered with augmentation %v", mode, g.augmented)
			case g.n != 2500 && g.augmented:
				t.Fatalf("%v: a batch of the %d-image evaluation set was deformed", mode, g.n)
			case g.n == 2500:
				epochs[g.epoch] = true
			}
		}
		if len(epochs) != 3 || !epochs[1] || !epochs[2] || !epochs[3] {
			t.Fatalf("%v: training batches keyed by epochs %v, want 1, 2, 3", mode, epochs)
		}
		net, err := model.NewNet(&cpu.Backend{}, cfg, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Load(m); err != nil {
			t.Fatal(err)
		}
		dtest, _ := (&cpu.Backend{}).Resident(test)
		ev, err := net.Evaluate(dtest)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Accuracy != last.TestAccuracy {
			t.Fatalf("%v: reported test accuracy %v, a plain evaluation of the weights gives %v", mode, last.TestAccuracy, ev.Accuracy)
		}
	}
}

// TestAugmentHyperValidate: bad ranges are refused by Hyper.Validate, named by augment.
func TestAugmentHyperValidate(t *testing.T) {
	h := augHyper(1)
	h.Augment.Rotation = 120
	if err := h.Validate(); err == nil {
		t.Fatal("Validate accepted a rotation of 120°")
	}
	h.Augment = augment.Params{Mode: augment.Elastic, Sigma: 6}
	if err := h.Validate(); err == nil {
		t.Fatal("Validate accepted elastic with α 0")
	}
}

// TestAugmentWithAdversarial: adversarial training deforms its batches too (its pixels come from the
// host, not through Gather): with --augment elastic the weights differ from adversarial training
// alone, and a run interrupted mid-epoch 2, saved, loaded and resumed gives the same bytes as one
// that was not.
func TestAugmentWithAdversarial(t *testing.T) {
	train, test := subset(t)
	cfg := model.NewConfig([]int{32}, ops.ReLU, model.CrossEntropy)
	h := model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.05, Momentum: 0.9, Augment: augment.Default(augment.Elastic),
		Adversarial: model.Adversarial{Method: attack.FGSM, Eps: 0.1, Steps: 1, Ratio: 0.5}}
	run := func(h model.Hyper, stopAt int) []byte {
		m, _ := model.New(cfg, 3)
		if stopAt > 0 {
			ctx, cancel := context.WithCancel(context.Background())
			tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h, ProgressEvery: 1,
				OnProgress: func(p model.Progress) {
					if p.Epoch == 2 && p.Done >= stopAt {
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
			if ck.Hyper != h {
				t.Fatalf("the checkpoint holds %+v, want %+v", ck.Hyper, h)
			}
			m = ck.Model
		}
		if err := (&model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h}).Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		return encode(t, m, h)
	}
	straight := run(h, 0)
	if !bytes.Equal(run(h, 1100), straight) {
		t.Fatal("adversarial training on elastic deformations, interrupted and resumed, differs from the uninterrupted run")
	}
	alone := h
	alone.Augment = augment.Params{}
	a, _ := checkpoint.Decode(run(alone, 0))
	b, _ := checkpoint.Decode(straight)
	if bytes.Equal(checkpoint.F32Bytes(a.Params), checkpoint.F32Bytes(b.Params)) {
		t.Fatal("adversarial training gave the same weights with and without augmentation")
	}
}
