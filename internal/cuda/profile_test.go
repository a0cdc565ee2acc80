//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/model"
)

// TestGPUProfile breaks the seed step (784-128-10, batch 100) into its ops and times each one as it
// runs inside a CUDA graph: the op repeated 50 times in one graph, the graph replayed 10 times, so a
// figure is the kernel's time plus the gap between graph nodes, which is what a replayed step pays.
// It also times the whole step, plainly launched and replayed. It runs with TestGPUReport (same
// variable) and writes its table next to the report, with "-profile" before the extension.
func TestGPUProfile(t *testing.T) {
	path := os.Getenv("DLTRAIN_GPU_REPORT")
	if path == "" {
		t.Skip("set DLTRAIN_GPU_REPORT=FILE (make gpu-check does)")
	}
	g := open(t)
	rng := rand.New(rand.NewPCG(5, 5))
	const B, H = 100, 128
	set := randomSet(rng, 6000)
	d, err := g.Resident(set)
	if err != nil {
		t.Fatal(err)
	}
	x := up(t, g, randn(rng, B*784))
	w1, b1 := up(t, g, randn(rng, H*784)), up(t, g, randn(rng, H))
	h := up(t, g, randn(rng, B*H))
	w2, b2 := up(t, g, randn(rng, 10*H)), up(t, g, randn(rng, 10))
	z, dz := up(t, g, randn(rng, B*10)), up(t, g, randn(rng, B*10))
	dh := up(t, g, randn(rng, B*H))
	dw1, db1 := up(t, g, randn(rng, H*784)), up(t, g, randn(rng, H))
	dw2, db2 := up(t, g, randn(rng, 10*H)), up(t, g, randn(rng, 10))
	np := H*784 + H + 10*H + 10
	p, v, gr := up(t, g, randn(rng, np)), up(t, g, randn(rng, np)), up(t, g, randn(rng, np))
	stats := up(t, g, []float32{0, 0})

	// inGraph returns µs per call of op, replayed inside a graph.
	inGraph := func(op func()) (float64, error) {
		const per, reps = 50, 10
		if err := g.Record(func() {
			for range per {
				op()
			}
		}, 0); err != nil {
			return 0, err
		}
		run := func() error {
			if err := g.SetCursor(0); err != nil {
				return err
			}
			if err := g.Replay(); err != nil {
				return err
			}
			return g.Sync()
		}
		if err := run(); err != nil { // warm-up
			return 0, err
		}
		t0 := time.Now()
		for range reps {
			if err := g.SetCursor(0); err != nil {
				return 0, err
			}
			if err := g.Replay(); err != nil {
				return 0, err
			}
		}
		if err := g.Sync(); err != nil {
			return 0, err
		}
		return 1e6 * time.Since(t0).Seconds() / (per * reps), nil
	}
	// plainly returns µs per call of op, launched back to back.
	plainly := func(op func()) (float64, error) {
		const reps = 300
		op()
		if err := g.Sync(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		for range reps {
			op()
		}
		if err := g.Sync(); err != nil {
			return 0, err
		}
		return 1e6 * time.Since(t0).Seconds() / reps, nil
	}
	ops := []struct {
		name string
		op   func()
	}{
		{"gather_normalize 100×784", func() { g.Gather(x, d, 0, B) }},
		{"sgemm fwd 100×128×784 (NT)", func() { g.gemm(false, true, B, H, 784, dev(x), 784, dev(w1), 784, dev(h), H) }},
		{"bias_act relu 100×128", func() { g.launch(kernels.BiasAct, B*H, ptr(h), ptr(b1), B, H, uint64(model.ReLU)) }},
		{"sgemm fwd 100×10×128 (NT)", func() { g.gemm(false, true, B, 10, H, dev(h), H, dev(w2), H, dev(z), 10) }},
		{"bias_act identity 100×10", func() { g.launch(kernels.BiasAct, B*10, ptr(z), ptr(b2), B, 10, uint64(model.Identity)) }},
		{"softmax_ce 100×10", func() { g.CrossEntropy(dz, stats, z, d, 0, B, 10) }},
		{"sgemm dW2 10×128×100 (TN)", func() { g.gemm(true, false, 10, H, B, dev(dz), 10, dev(h), H, dev(dw2), H) }},
		{"column_sums 100×10", func() { g.launch(kernels.ColumnSums, 10, ptr(db2), ptr(dz), B, 10) }},
		{"sgemm dh 100×128×10 (NN)", func() { g.gemm(false, false, B, H, 10, dev(dz), 10, dev(w2), H, dev(dh), H) }},
		{"act_backward relu 100×128", func() { g.ActivationBackward(dh, dh, h, model.ReLU, B*H) }},
		{"sgemm dW1 128×784×100 (TN)", func() { g.gemm(true, false, H, 784, B, dev(dh), H, dev(x), 784, dev(dw1), 784) }},
		{"column_sums 100×128", func() { g.launch(kernels.ColumnSums, H, ptr(db1), ptr(dh), B, H) }},
		{"sgd_momentum 101770", func() { g.SGDMomentum(p, v, gr, 0.001, 0.9, np) }},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| op (seed step, batch 100) | µs in a graph | µs launched plainly |\n|---|---|---|\n")
	var sumG, sumP float64
	for _, o := range ops {
		tg, err := inGraph(o.op)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		tp, err := plainly(o.op)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		sumG, sumP = sumG+tg, sumP+tp
		fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", o.name, tg, tp)
	}
	fmt.Fprintf(&b, "| sum of the ops | %.2f | %.2f |\n", sumG, sumP)
	step := func() {
		g.Gather(x, d, 0, B)
		for _, o := range ops[1:] {
			o.op()
		}
	}
	tg, err := inGraph(step)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := plainly(step)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "| whole step | %.2f | %.2f |\n", tg, tp)
	fmt.Print(b.String())
	out := strings.TrimSuffix(path, ".md") + "-profile.md"
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
