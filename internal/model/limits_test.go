package model_test

import (
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// TestLimits: the configuration, hyperparameter and position checks refuse exactly what lies outside
// the shared limits.
func TestLimits(t *testing.T) {
	ok := model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}
	for _, c := range []struct {
		name string
		err  error
		want string // "" for no error
	}{
		{"max epochs", func() error { h := ok; h.Epochs = model.MaxEpochs; return h.Validate() }(), ""},
		{"epochs over", func() error { h := ok; h.Epochs = 3_000_000_000_000; return h.Validate() }(), "epochs 3000000000000, want 1..1048576"},
		{"batch over", func() error { h := ok; h.BatchSize = model.MaxBatchSize + 1; return h.Validate() }(), "batch size 65537"},
		{"widest single layer", model.NewConfig([]int{model.MaxWidth}, ops.ReLU, model.CrossEntropy).Validate(), ""},
		{"too many parameters", model.NewConfig([]int{65536, 65536}, ops.ReLU, model.CrossEntropy).Validate(), "more than the 268435456"},
		{"too many layers", model.NewConfig(make([]int, 65), ops.ReLU, model.CrossEntropy).Validate(), "65 hidden layers, at most 64"},
		{"position", model.CheckPosition(model.MaxEpochs, model.MaxSteps, 0), ""},
		{"epoch over", model.CheckPosition(model.MaxEpochs+1, 0, 0), "epoch 1048577"},
		{"step over", model.CheckPosition(1, model.MaxSteps+1, 0), "step 9007199254740993"},
		{"epoch step past steps", model.CheckPosition(1, 5, 6), "epoch step 6"},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: %v, want no error", c.name, c.err)
		case c.want != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, c.err, c.want)
		}
	}
}

// counting is a CPU backend that adds up what it allocates.
type counting struct {
	cpu.Backend
	floats int64
}

func (c *counting) Alloc(n int) (ops.Tensor, error) {
	c.floats += int64(n)
	return c.Backend.Alloc(n)
}

// TestEstimateMemory: the backend part of the estimate is what NewNet and SetOptimizer allocate, to
// the float (less the small buffers: the two floats of the loss statistics and the optimizer's
// scalars).
func TestEstimateMemory(t *testing.T) {
	for _, c := range []struct {
		hidden      []int
		batch, eval int
		opt         model.Optimizer
	}{{[]int{128}, 100, 1000, model.SGD}, {[]int{64, 32}, 4096, 1000, model.SGD}, {nil, 1, 10, model.SGD}, {[]int{128}, 100, 1000, model.Adam}} {
		cfg := model.NewConfig(c.hidden, ops.Tanh, model.MSE)
		h := model.Hyper{Epochs: 1, BatchSize: c.batch, LR: 0.1, Optimizer: c.opt, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
		be := &counting{}
		net, err := model.NewNet(be, cfg, max(c.batch, c.eval))
		if err != nil {
			t.Fatal(err)
		}
		if err := net.SetOptimizer(h); err != nil {
			t.Fatal(err)
		}
		m := model.EstimateMemory(cfg, h, c.eval, 0)
		if got, want := m.Params+m.Grads+m.State+m.Activations, 4*(be.floats-2-ops.HyperLen); got != want {
			t.Errorf("EstimateMemory(%s, batch %d, %v) on the backend = %d bytes, NewNet and SetOptimizer allocated %d", cfg.Arch(), c.batch, c.opt, got, want)
		}
		S := int64(h.OptimizerStates())
		if P := int64(4 * cfg.NumParams()); m.Host != (1+S)*P || m.Save != 3*(1+S)*P {
			t.Errorf("EstimateMemory(%s, %v): host %d, save %d; want %d and %d", cfg.Arch(), c.opt, m.Host, m.Save, (1+S)*P, 3*(1+S)*P)
		}
		// Adversarial training adds the input gradient on the backend (and its two loss statistics),
		// allocated by the first input gradient pass, and host buffers the estimate counts beside it.
		B := max(c.batch, c.eval)
		before := be.floats
		set := &mnist.Set{Images: make([]uint8, B*ops.Input), Labels: make([]uint8, B), N: B}
		d, _ := be.Resident(set)
		if err := net.InputGradient(make([]float32, B*ops.Input), nil, make([]float32, B*ops.Input), d, 0, B); err != nil {
			t.Fatal(err)
		}
		h.Adversarial = model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 3, Ratio: 1}
		adv := model.EstimateMemory(cfg, h, c.eval, 0)
		if got, want := 4*(be.floats-before-2), int64(4*B*ops.Input); got != want || m.Attack != 0 || adv.Attack != 4*int64(ops.Input*(2*B+4*c.batch)) || adv.Total() != m.Total()+adv.Attack {
			t.Errorf("EstimateMemory(%s, batch %d) with adversarial training: attack %d of %d, the input gradient allocated %d bytes, want %d", cfg.Arch(), c.batch, adv.Attack, adv.Total(), got, want)
		}
	}
}
