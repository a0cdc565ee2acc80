//go:build cuda

package cuda

// The attacks on the GPU (internal/attack through model.Net's pixel path): no new op, so what is
// checked is that the pixel upload, the backward pass down to the first layer's input gradient and
// the download give the CPU's numbers, and that attacks and adversarial training built on them do,
// with fusion off and on.

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
)

func subset(t testing.TB) (train, test *mnist.Set) {
	t.Helper()
	train, test, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// TestInputGradientParity: Net.InputGradient on the GPU against the CPU on random pixels (a few at
// 0 and 1) for batches around the block edges and the small-layer switch, every activation and both
// losses: the gradient within 1e-5 of its largest value plus 1e-3 relative, the logits within 1e-5
// plus 1e-5 relative, the outputs poisoned with NaN first.
func TestInputGradientParity(t *testing.T) {
	g := open(t)
	for _, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() { inputGradientParity(t, g) })
	}
}

func inputGradientParity(t *testing.T, g *Backend) {
	rng := opstest.Rand(t)
	for _, cfg := range []model.Config{
		model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy),
		model.NewConfig([]int{64, 32}, ops.Tanh, model.MSE),
		model.NewConfig([]int{48}, ops.Sigmoid, model.CrossEntropy),
		model.NewConfig(nil, ops.ReLU, model.CrossEntropy),
	} {
		m, _ := model.New(cfg, rng.Uint64())
		for _, B := range []int{1, 31, 83, 100, 257, 1000} {
			set := opstest.RandomSet(rng, B)
			x := make([]float32, B*ops.Input)
			for i := range x {
				x[i] = min(1, max(0, rng.Float32()*1.2-0.1))
			}
			grad := func(be ops.Backend) ([]float32, []float32) {
				net, err := model.NewNet(be, cfg, B)
				if err != nil {
					t.Fatal(err)
				}
				if err := net.Load(m); err != nil {
					t.Fatal(err)
				}
				d, err := be.Resident(set)
				if err != nil {
					t.Fatal(err)
				}
				gr, lg := opstest.NaNs(B*ops.Input), opstest.NaNs(B*ops.Classes)
				if err := net.InputGradient(gr, lg, x, d, 0, B); err != nil {
					t.Fatal(err)
				}
				return gr, lg
			}
			gc, lc := grad(&cpu.Backend{})
			gg, lg := grad(g)
			top := 0.0
			for _, v := range gc {
				top = max(top, math.Abs(float64(v)))
			}
			what := fmt.Sprintf("%s %v/%v B=%d fusion %v", cfg.Arch(), cfg.Activation, cfg.Loss, B, g.Fusion())
			opstest.Compare(t, what+": InputGradient", gg, gc, 1e-5*top, 1e-3)
			opstest.Compare(t, what+": logits", lg, lc, 1e-5, 1e-5)
		}
	}
}

// TestAttackParity: a net trained on the subset, attacked on the GPU and on the CPU with FGSM, PGD-10
// and PGD with random starts and restarts: the same clean accuracy, and robust accuracies and mean
// perturbation norms that differ by at most the few images whose gradient signs rounding can flip
// (0.5 % of the 1000 test images). On the GPU two runs give the same report.
func TestAttackParity(t *testing.T) {
	g := open(t)
	train, test := subset(t)
	m, _ := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: model.Hyper{Epochs: 3, BatchSize: 100, LR: 0.05, Momentum: 0.9}}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	cs := []attack.Config{
		{Method: attack.FGSM, Eps: 0.1},
		{Method: attack.PGD, Eps: 0.1, Steps: 10},
		{Method: attack.PGD, Eps: 0.2, Steps: 5, StepSize: 0.05, RandomStart: true, Restarts: 3, Seed: 4},
	}
	cpuReps := make([]attack.Report, len(cs))
	for i, c := range cs {
		cpuReps[i] = attackOn(t, &cpu.Backend{}, m, test, c)
	}
	for _, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() {
			for i, c := range cs {
				rc, rg := cpuReps[i], attackOn(t, g, m, test, c)
				t.Logf("%v (fusion %v): CPU clean %.4f robust %.4f L2 %.4f; GPU %.4f %.4f %.4f", c, fuse, rc.Clean, rc.Robust, rc.MeanL2, rg.Clean, rg.Robust, rg.MeanL2)
				if math.Abs(rg.Clean-rc.Clean) > 0.001 || math.Abs(rg.Robust-rc.Robust) > 0.005 ||
					math.Abs(rg.MeanLinf-rc.MeanLinf) > 1e-3 || math.Abs(rg.MeanL2-rc.MeanL2) > 0.01*rc.MeanL2 {
					t.Fatalf("%v (fusion %v): GPU clean %v robust %v L∞ %v L2 %v, CPU %v %v %v %v", c, fuse,
						rg.Clean, rg.Robust, rg.MeanLinf, rg.MeanL2, rc.Clean, rc.Robust, rc.MeanLinf, rc.MeanL2)
				}
				if again := attackOn(t, g, m, test, c); again.Robust != rg.Robust || again.MeanL2 != rg.MeanL2 {
					t.Fatalf("%v: two GPU runs give robust %v and %v", c, rg.Robust, again.Robust)
				}
			}
		})
	}
}

func attackOn(t *testing.T, be ops.Backend, m *model.Model, s *mnist.Set, c attack.Config) attack.Report {
	t.Helper()
	reps, err := model.Attack(be, m, s, []attack.Config{c}, attack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return reps[0]
}

// TestAdversarialTrainingParity: one epoch of adversarial training (PGD-3 on 3/4 of each batch, with
// robust accuracy measured after it) on the GPU and on the CPU: the running losses of the first 5
// steps within 1e-3 relative (before sign flips of tiny gradients can compound), and the final test
// and robust accuracies within 2 points; graph replay is off for adversarial batches, so the GPU
// Trainer reports no graph error.
func TestAdversarialTrainingParity(t *testing.T) {
	g := open(t)
	train, test := subset(t)
	run := func(be ops.Backend) ([]float64, model.EpochResult, error) {
		m, _ := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 2)
		var losses []float64
		var last model.EpochResult
		tr := &model.Trainer{Backend: be, Model: m, ProgressEvery: 1,
			Hyper:      model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.05, Momentum: 0.9, Adversarial: model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 3, Ratio: 0.75}},
			Robust:     model.RobustEval{N: 500, Attack: attack.Config{Method: attack.PGD, Eps: 0.1, Steps: 10}},
			OnProgress: func(p model.Progress) { losses = append(losses, p.Loss) },
			OnEpoch:    func(r model.EpochResult) error { last = r; return nil }}
		err := tr.Run(context.Background(), train, test)
		if tr.GraphErr != nil {
			t.Fatalf("%s: graph error %v with adversarial training", be.Name(), tr.GraphErr)
		}
		return losses, last, err
	}
	lc, rc, err := run(&cpu.Backend{})
	if err != nil {
		t.Fatal(err)
	}
	lg, rg, err := run(g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if math.Abs(lc[i]-lg[i]) > 1e-3*math.Abs(lc[i]) {
			t.Fatalf("step %d: running loss CPU %v, GPU %v", i+1, lc[i], lg[i])
		}
	}
	t.Logf("CPU test %.4f robust %.4f; GPU %.4f %.4f", rc.TestAccuracy, *rc.RobustAccuracy, rg.TestAccuracy, *rg.RobustAccuracy)
	if math.Abs(rc.TestAccuracy-rg.TestAccuracy) > 0.02 || math.Abs(*rc.RobustAccuracy-*rg.RobustAccuracy) > 0.02 {
		t.Fatalf("after one adversarial epoch: CPU test %v robust %v, GPU %v %v", rc.TestAccuracy, *rc.RobustAccuracy, rg.TestAccuracy, *rg.RobustAccuracy)
	}
}
