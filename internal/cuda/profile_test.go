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
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
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
	set := opstest.RandomSet(rng, 6000)
	d, err := g.Resident(set)
	if err != nil {
		t.Fatal(err)
	}
	x := up(t, g, opstest.Randn(rng, B*784))
	w1, b1 := up(t, g, opstest.Randn(rng, H*784)), up(t, g, opstest.Randn(rng, H))
	h := up(t, g, opstest.Randn(rng, B*H))
	w2, b2 := up(t, g, opstest.Randn(rng, 10*H)), up(t, g, opstest.Randn(rng, 10))
	z, dz := up(t, g, opstest.Randn(rng, B*10)), up(t, g, opstest.Randn(rng, B*10))
	dh := up(t, g, opstest.Randn(rng, B*H))
	dw1, db1 := up(t, g, opstest.Randn(rng, H*784)), up(t, g, opstest.Randn(rng, H))
	dw2, db2 := up(t, g, opstest.Randn(rng, 10*H)), up(t, g, opstest.Randn(rng, 10))
	np := H*784 + H + 10*H + 10
	p, v, gr := up(t, g, opstest.Randn(rng, np)), up(t, g, opstest.Randn(rng, np)), up(t, g, opstest.Randn(rng, np))
	v2 := up(t, g, make([]float32, np))
	hy := up(t, g, opstest.Hyper(0.001, 0.9, 0, 0.9, 0.999, 1e-8, 1))
	stats := up(t, g, []float32{0, 0})
	dd := d.(*data)
	S := (784 + fcInKC - 1) / fcInKC
	fcPart := up(t, g, opstest.Randn(rng, S*B*H))
	nblk, P := kernels.HeadCE.Grid(B), 10*H+10+H+2
	headPart := up(t, g, opstest.Randn(rng, nblk*P))

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
	steps := []struct {
		name string
		op   func()
	}{
		{"gather_normalize 100×784", func() { g.Gather(x, d, 0, B) }},
		{"sgemm fwd 100×128×784 (NT)", func() { g.gemm(false, true, B, H, 784, dev(x), 784, dev(w1), 784, dev(h), H) }},
		{"bias_act relu 100×128", func() { g.launch(kernels.BiasAct, B*H, ptr(h), ptr(b1), B, H, uint64(ops.ReLU)) }},
		{"sgemm fwd 100×10×128 (NT), not in the step since linear_small", func() { g.gemm(false, true, B, 10, H, dev(h), H, dev(w2), H, dev(z), 10) }},
		{"bias_act identity 100×10, not in the step since linear_small", func() { g.launch(kernels.BiasAct, B*10, ptr(z), ptr(b2), B, 10, uint64(ops.Identity)) }},
		{"linear_small 100×10×128 + bias (replaces the two above)", func() {
			g.launch(kernels.LinearSmall, B*10, ptr(z), ptr(h), ptr(w2), ptr(b2), B, H, 10, uint64(ops.Identity))
		}},
		{"softmax_ce 100×10", func() { g.CrossEntropy(dz, stats, z, d, 0, B, 10) }},
		{"sgemm dW2 10×128×100 (TN), not in the step since grad_sums", func() { g.gemm(true, false, 10, H, B, dev(dz), 10, dev(h), H, dev(dw2), H) }},
		{"grad_sums dW2+db2 10×128 over 100 (replaces the two above)", func() {
			g.launch(kernels.GradSums, 10*(H+1), ptr(dw2), ptr(db2), ptr(dz), ptr(h), B, H, 10)
		}},
		{"sgemm dh 100×128×10 (NN), not in the step since input_grad", func() { g.gemm(false, false, B, H, 10, dev(dz), 10, dev(w2), H, dev(dh), H) }},
		{"input_grad dh 100×128×10 (replaces the one above)", func() {
			g.launch(kernels.InputGrad, B*H, ptr(dh), ptr(dz), ptr(w2), B, H, 10)
		}},
		{"act_backward relu 100×128", func() { g.ActivationBackward(dh, dh, h, ops.ReLU, B*H) }},
		{"sgemm dW1 128×784×100 (TN)", func() { g.gemm(true, false, H, 784, B, dev(dh), H, dev(x), 784, dev(dw1), 784) }},
		{"grad_sums db1 (bias only) 100×128", func() { g.launch(kernels.GradSums, H, 0, ptr(db1), ptr(dh), 0, B, 0, H) }},
		{"sgd 101770", func() { g.SGD(p, v, gr, hy, false, np) }},
		{"adam 101770, not in the seed step", func() { g.Adam(p, v, v2, gr, hy, false, np) }},
		// The fused step's kernels (DLTRAIN_CUDA_FUSE=1, fuse.go).
		{"fc_in 100×128×784, 7 chunks (fused step: with fc_reduce replaces gather, sgemm fwd, bias_act)", func() {
			g.launch(kernels.FcIn, S*4*4, ptr(fcPart), ptr(x), uint64(dd.pix), uint64(dd.order), 0, 0, ptr(w1), B, 784, H, fcInKC)
		}},
		{"fc_reduce 100×128 + bias + relu (fused step)", func() {
			g.launch(kernels.FcReduce, B*H, ptr(h), ptr(fcPart), ptr(b1), B, H, uint64(S), uint64(ops.ReLU))
		}},
		{"head_ce 100×10×128 (fused step: with head_reduce replaces linear_small, softmax_ce, grad_sums ×2, input_grad, act_backward)", func() {
			g.launch(kernels.HeadCE, B, ptr(headPart), ptr(z), ptr(dz), ptr(dh), ptr(h), ptr(w2), ptr(b2), uint64(dd.labels), 0, 0, B, H, 10, uint64(ops.ReLU))
		}},
		{"head_reduce 10×128 + 10 + 128 + 2 over 13 row blocks (fused step)", func() {
			g.launch(kernels.HeadReduce, P, ptr(dw2), ptr(db2), ptr(db1), ptr(stats), ptr(headPart), uint64(nblk), H, 10)
		}},
		{"fc_dw dW1 128×784 over 100 (fused step: replaces sgemm dW1)", func() {
			g.launch(kernels.FcDW, 4*25, ptr(dw1), ptr(dh), ptr(x), B, 784, H)
		}},
		{"sgd 101770 + cursor advance (fused step: replaces sgd and advance)", func() {
			g.launch(kernels.SGD, np, ptr(p), ptr(v), ptr(gr), ptr(hy), uint64(np), 0, uint64(g.cursor), 0) // by 0: the cursor (made by the first Record above) stays
		}},
		// Experiments: the small-layer kernels at the first layer's shapes, where cuBLAS is used.
		{"linear_small 100×128×784 + relu, not in the step (experiment)", func() {
			g.launch(kernels.LinearSmall, B*H, ptr(h), ptr(x), ptr(w1), ptr(b1), B, 784, H, uint64(ops.ReLU))
		}},
		{"grad_sums dW1+db1 128×784 over 100, not in the step (experiment)", func() {
			g.launch(kernels.GradSums, H*(784+1), ptr(dw1), ptr(db1), ptr(dh), ptr(x), B, 784, H)
		}},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| op (seed step, batch 100) | µs in a graph | µs launched plainly |\n|---|---|---|\n")
	var sumG, sumP float64
	for _, o := range steps {
		tg, err := inGraph(o.op)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		tp, err := plainly(o.op)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		if !strings.Contains(o.name, "not in the step") && !strings.Contains(o.name, "fused step") {
			sumG, sumP = sumG+tg, sumP+tp
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", o.name, tg, tp)
	}
	fmt.Fprintf(&b, "| sum of the ops in the step | %.2f | %.2f |\n", sumG, sumP)
	// The whole step as training runs it (model.Net on this backend).
	cfg := model.NewConfig([]int{H}, ops.ReLU, model.CrossEntropy)
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.NewNet(g, cfg, B)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetOptimizer(model.Hyper{Momentum: 0.9}); err != nil {
		t.Fatal(err)
	}
	net.SetStep(0.01, 1)
	if err := net.Load(m); err != nil {
		t.Fatal(err)
	}
	step := func() {
		net.Forward(d, 0, B)
		net.Loss(d, 0, B)
		net.Backward(B)
		net.Update()
	}
	for _, fuse := range []bool{false, true} {
		name := "whole step (model.Net), unfused"
		if fuse {
			name = "whole step (model.Net), fused (fc_in, fc_reduce, head_ce, head_reduce, fc_dw, sgd)"
		}
		withFusion(g, fuse, func() {
			tg, err := inGraph(step)
			if err != nil {
				t.Fatal(err)
			}
			tp, err := plainly(step)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", name, tg, tp)
		})
	}
	largeBatchProfile(t, g, &b)
	fmt.Print(b.String())
	out := strings.TrimSuffix(path, ".md") + "-profile.md"
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// largeBatchProfile times each op of a step of largeBatchConfig at batch largeBatchB (report_test.go), launched plainly (these
// kernels are long enough that launch gaps hardly count), to show where the step's time goes next to
// its GEMMs.
func largeBatchProfile(t *testing.T, g *Backend, b *strings.Builder) {
	B, H, K := largeBatchB, largeBatchConfig.Sizes[1], largeBatchConfig.Sizes[3]
	rng := rand.New(rand.NewPCG(6, 6))
	d, err := g.Resident(opstest.RandomSet(rng, B))
	if err != nil {
		t.Fatal(err)
	}
	T := func(n int) Tensor { return up(t, g, opstest.Randn(rng, n)).(Tensor) }
	x, w1, h1 := T(B*784), T(H*784), T(B*H)
	w2, b2, h2 := T(H*H), T(H), T(B*H)
	w3, b3, z, dz := T(K*H), T(K), T(B*K), T(B*K)
	dh, np := T(B*H), H*784+H+H*H+H+K*H+K
	p, v, gr := T(np), T(np), T(np)
	hy := up(t, g, opstest.Hyper(0.001, 0.9, 0, 0.9, 0.999, 1e-8, 1))
	stats := up(t, g, []float32{0, 0})
	steps := []struct {
		name string
		op   func()
	}{
		{"sgemm fwd 4096×4096×784", func() { g.gemm(false, true, B, H, 784, x, 784, w1, 784, h1, H) }},
		{"sgemm fwd 4096×4096×4096", func() { g.gemm(false, true, B, H, H, h1, H, w2, H, h2, H) }},
		{"sgemm fwd 4096×10×4096", func() { g.gemm(false, true, B, K, H, h2, H, w3, H, z, K) }},
		{"bias_act relu 4096×4096", func() { g.launch(kernels.BiasAct, B*H, ptr(h2), ptr(b2), uint64(B), uint64(H), uint64(ops.ReLU)) }},
		{"softmax_ce 4096×10", func() { g.CrossEntropy(dz, stats, z, d, 0, B, K) }},
		{"sgemm dW3 10×4096×4096 (TN)", func() { g.gemm(true, false, K, H, B, dz, K, h2, H, w3, H) }},
		{"grad_sums dW3+db3 (not in the step: B·C too big)", func() {
			g.launch(kernels.GradSums, K*(H+1), ptr(w3), ptr(b3), ptr(dz), ptr(h2), uint64(B), uint64(H), uint64(K))
		}},
		{"grad_sums db3 (bias only)", func() { g.launch(kernels.GradSums, K, 0, ptr(b3), ptr(dz), 0, uint64(B), 0, uint64(K)) }},
		{"sgemm dh 4096×4096×10 (NN)", func() { g.gemm(false, false, B, H, K, dz, K, w3, H, dh, H) }},
		{"act_backward relu 4096×4096", func() { g.ActivationBackward(dh, dh, h2, ops.ReLU, B*H) }},
		{"sgemm dW2 4096×4096×4096 (TN)", func() { g.gemm(true, false, H, H, B, dh, H, h1, H, w2, H) }},
		{"grad_sums db2 (bias only) 4096 cols", func() { g.launch(kernels.GradSums, H, 0, ptr(b2), ptr(dh), 0, uint64(B), 0, uint64(H)) }},
		{"sgemm dh 4096×4096×4096 (NN)", func() { g.gemm(false, false, B, H, H, dh, H, w2, H, h1, H) }},
		{"sgemm dW1 4096×784×4096 (TN)", func() { g.gemm(true, false, H, 784, B, dh, H, x, 784, w1, 784) }},
		{"sgd", func() { g.SGD(p, v, gr, hy, false, np) }},
	}
	fmt.Fprintf(b, "\n| op (784-4096-4096-10, batch 4096) | µs launched plainly |\n|---|---|\n")
	for _, o := range steps {
		o.op()
		if err := g.Sync(); err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		const reps = 10
		t0 := time.Now()
		for range reps {
			o.op()
		}
		if err := g.Sync(); err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		fmt.Fprintf(b, "| %s | %.1f |\n", o.name, 1e6*time.Since(t0).Seconds()/reps)
	}
}
