package model_test

import (
	"testing"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// BenchmarkTrainStep times one SGD step of the seed configuration (784-128-10, batch 100) on the CPU
// and reports allocations per step, which should be zero.
func BenchmarkTrainStep(b *testing.B) {
	train, _ := subset(b)
	be := &cpu.Backend{}
	m, _ := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	net, err := model.NewNet(be, m.Config, 100)
	if err != nil {
		b.Fatal(err)
	}
	net.SetOptimizer(model.Hyper{Momentum: 0.9})
	net.SetStep(0.01, 1)
	net.Load(m)
	d, _ := be.Resident(train)
	be.SetOrder(d, model.EpochOrder(1, 1, train.N, nil))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := (i % 30) * 100
		net.Forward(d, start, 100)
		net.Loss(d, start, 100)
		net.Backward(100)
		net.Update()
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)*600, "s/epoch")
}

// TestTrainStepAllocatesNothing: after warm-up, a training step on the CPU allocates nothing.
func TestTrainStepAllocatesNothing(t *testing.T) {
	train, _ := subset(t)
	be := &cpu.Backend{}
	m, _ := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	net, err := model.NewNet(be, m.Config, 100)
	if err != nil {
		t.Fatal(err)
	}
	net.SetOptimizer(model.Hyper{Momentum: 0.9})
	net.SetStep(0.01, 1)
	net.Load(m)
	d, _ := be.Resident(train)
	be.SetOrder(d, model.EpochOrder(1, 1, train.N, nil))
	step := func() {
		net.Forward(d, 0, 100)
		net.Loss(d, 0, 100)
		net.Backward(100)
		net.Update()
	}
	for range 5 {
		step()
	}
	if a := testing.AllocsPerRun(50, step); a != 0 {
		t.Fatalf("a training step allocates %v times, want 0", a)
	}
	// AdamW with fc1 frozen, its scalars changing at every step.
	h := adamHyper(1)
	h.Freeze.Add(0)
	if err := net.SetOptimizer(h); err != nil {
		t.Fatal(err)
	}
	k := 0
	adam := func() {
		k++
		net.SetStep(1e-3/float64(k), k)
		step()
	}
	for range 5 {
		adam()
	}
	if a := testing.AllocsPerRun(50, adam); a != 0 {
		t.Fatalf("an AdamW step allocates %v times, want 0", a)
	}
}
