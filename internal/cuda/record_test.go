//go:build cuda

package cuda

// This file is the record run's throughput check (issue 18, bench/record.sh): the record's two nets,
// 784-1000-500-10 and 784-2500-2000-1500-1000-500-10, timed as training steps on this card at the
// batch sizes the record might use: the whole step replayed as a CUDA graph with the elastic augment
// kernel in it (what `dltrain train --augment elastic --device cuda` replays), the same step launched
// plainly, and its cuBLAS GEMMs alone, each as TFLOP/s beside a 4096³ SGEMM of random data in the same
// process; then every GEMM of one batch size on its own. It measures and prints; it checks nothing
// about speed (speed goals are shown, never asserted). It skips unless DLTRAIN_RECORD_GEMM names the
// markdown file to write.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// recordNets are the hidden widths of the record's two nets (Cireşan et al. 2010).
var recordNets = [][]int{{1000, 500}, {2500, 2000, 1500, 1000, 500}}

// recordTrainN is the training set of a record run: MNIST's 60,000 less bench/record.sh's
// --val-split 5000; it only turns a step's time into an epoch's.
const recordTrainN = 55000

// TestGPURecordThroughput writes the tables described at the top of the file to DLTRAIN_RECORD_GEMM.
// DLTRAIN_RECORD_BATCHES lists the batch sizes (default 128,256,512), DLTRAIN_RECORD_BATCH the one
// whose GEMMs are timed one by one (default 128), DLTRAIN_RECORD_PRECISION the precisions (default
// fp32; "fp32,tf32" for both).
func TestGPURecordThroughput(t *testing.T) {
	path := os.Getenv("DLTRAIN_RECORD_GEMM")
	if path == "" {
		t.Skip("set DLTRAIN_RECORD_GEMM=FILE (bench/record.sh does)")
	}
	batches, err := envInts("DLTRAIN_RECORD_BATCHES", "128,256,512")
	if err != nil {
		t.Fatal(err)
	}
	detail, err := envInts("DLTRAIN_RECORD_BATCH", "128")
	if err != nil || len(detail) != 1 {
		t.Fatalf("DLTRAIN_RECORD_BATCH: want one batch size (%v)", err)
	}
	var precs []Precision
	for _, s := range strings.Split(envOr("DLTRAIN_RECORD_PRECISION", "fp32"), ",") {
		p, err := ParsePrecision(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		precs = append(precs, p)
	}
	g := open(t)
	defer g.SetPrecision(FP32)
	rng := rand.New(rand.NewPCG(18, 18))
	maxB := 0
	for _, B := range append(batches, detail[0]) {
		if B < 1 || B > 8192 {
			t.Fatalf("batch size %d, want 1..8192", B)
		}
		maxB = max(maxB, B)
	}
	// The data: random images, deformed by the augment kernel as --augment elastic does. Replays walk
	// the set from the cursor, which is reset every replayEvery steps, so it holds that many batches.
	const replayEvery = 20
	d, err := g.Resident(opstest.RandomSet(rng, replayEvery*maxB))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetAugment(d, opstest.Augment(augment.Default(augment.Elastic)), 1); err != nil {
		t.Fatal(err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Card: %s. Each step: the augment kernel (elastic), every layer's forward, softmax cross-entropy, "+
		"the backward pass and SGD with momentum, as `dltrain train --augment elastic --device cuda` runs it. "+
		"Replayed: %d replays of the recorded step, the cursor reset and the loss read every %d (as the trainer reads its "+
		"statistics). TFLOP/s counts 6·B·C·OC per layer (2 for the first layer's missing input gradient: 4).\n\n",
		g.Device(), 3*replayEvery, replayEvery)
	for _, p := range precs {
		ref := sgemmRandom(t, g, p) // (which leaves the precision at fp32)
		if err := g.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "SGEMM 4096³ on random data, %s: %.1f TFLOP/s\n\n", p, ref/1000)
		fmt.Fprintf(&b, "| net, batch, %s | step replayed | step plainly | its GEMMs alone | TFLOP/s replayed (%% of 4096³) | GEMMs alone: TFLOP/s (%% of 4096³) | steps of a %d-image epoch |\n", p, recordTrainN)
		fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
		for _, hidden := range recordNets {
			cfg := model.NewConfig(hidden, ops.ReLU, model.CrossEntropy)
			for _, B := range batches {
				replay, plain, gemms := recordStep(t, g, cfg, d, B, replayEvery)
				f := trainFlops(cfg, B) / 1e12
				steps := (recordTrainN + B - 1) / B
				fmt.Fprintf(&b, "| %s, %d | %.1f µs | %.1f µs | %.1f µs | %.1f (%.0f %%) | %.1f (%.0f %%) | %.3f s |\n",
					cfg.Arch(), B, 1e6*replay, 1e6*plain, 1e6*gemms, f/replay, 100*f/replay/(ref/1000),
					f/gemms, 100*f/gemms/(ref/1000), float64(steps)*replay)
			}
		}
		fmt.Fprintf(&b, "\n")
		for _, hidden := range recordNets {
			recordGEMMs(t, g, &b, model.NewConfig(hidden, ops.ReLU, model.CrossEntropy), detail[0], p, ref, rng)
		}
	}
	fmt.Print(b.String())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordStep times a training step of cfg at batch B on d, in seconds per step: replayed as a CUDA
// graph, launched plainly, and its cuBLAS GEMMs alone (every PTX kernel skipped, plainly launched).
func recordStep(t *testing.T, g *Backend, cfg model.Config, d ops.Data, B, every int) (replay, plain, gemms float64) {
	t.Helper()
	m, err := model.NewInit(cfg, 1, model.Init{Kind: model.InitKaiming})
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
	net.SetStep(1e-4, 1) // random labels: a small rate keeps the weights finite; the time does not depend on it
	if err := net.Load(m); err != nil {
		t.Fatal(err)
	}
	step := func(start int) {
		net.Forward(d, start, B)
		net.Loss(d, start, B)
		net.Backward(B)
		net.Update()
	}
	reps := 3 * every
	timePlain := func() float64 {
		for i := range 2 {
			step(i * B)
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for i := range reps {
			step((i % every) * B)
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0).Seconds() / float64(reps)
	}
	plain = timePlain()
	g.skipKernels = true
	gemms = timePlain()
	g.skipKernels = false
	if err := g.Record(func() { step(0) }, B); err != nil {
		t.Fatalf("%s at batch %d: recording the step: %v", cfg.Arch(), B, err)
	}
	run := func(n int) {
		for i := range n {
			if i%every == 0 {
				if _, _, err := net.Stats(); err != nil {
					t.Fatal(err)
				}
				if err := g.SetCursor(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.Replay(); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	run(every) // warm-up
	t0 := time.Now()
	run(reps)
	replay = time.Since(t0).Seconds() / float64(reps)
	return replay, plain, gemms
}

// recordGEMMs times each cuBLAS GEMM of a training step of cfg at batch B on its own (20 launches
// back to back after one) and adds a table of them to b; ref is the 4096³ rate in GFLOP/s. Layers
// that go to the small-layer kernels (small) have no GEMM.
func recordGEMMs(t *testing.T, g *Backend, b *strings.Builder, cfg model.Config, B int, p Precision, ref float64, rng *rand.Rand) {
	t.Helper()
	T := func(n int) Tensor { return up(t, g, opstest.Randn(rng, n)).(Tensor) }
	fmt.Fprintf(b, "| GEMM of %s at batch %d, %s (row-major M×N×K) | µs | TFLOP/s | %% of 4096³ |\n|---|---|---|---|\n", cfg.Arch(), B, p)
	var sum, flops float64
	for l := range cfg.Layers() {
		C, OC := cfg.Sizes[l], cfg.Sizes[l+1]
		if small(B, C, OC) {
			fmt.Fprintf(b, "| fc%d %d→%d: linear_small, input_grad, grad_sums (no GEMM) | | | |\n", l+1, C, OC)
			continue
		}
		x, w, y, dy, dw, dx := T(B*C), T(OC*C), T(B*OC), T(B*OC), T(OC*C), T(B*C)
		type gm struct {
			name    string
			M, N, K int
			op      func()
		}
		list := []gm{
			{fmt.Sprintf("fc%d forward (NT)", l+1), B, OC, C, func() { g.gemm(false, true, B, OC, C, x, C, w, C, y, OC) }},
			{fmt.Sprintf("fc%d weight gradient (TN)", l+1), OC, C, B, func() { g.gemm(true, false, OC, C, B, dy, OC, x, C, dw, C) }},
		}
		if l > 0 {
			list = append(list, gm{fmt.Sprintf("fc%d input gradient (NN)", l+1), B, C, OC, func() { g.gemm(false, false, B, C, OC, dy, OC, w, C, dx, C) }})
		}
		for _, o := range list {
			o.op()
			if err := g.Sync(); err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			const reps = 20
			t0 := time.Now()
			for range reps {
				o.op()
			}
			if err := g.Sync(); err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			s := time.Since(t0).Seconds() / reps
			f := 2 * float64(o.M) * float64(o.N) * float64(o.K)
			sum, flops = sum+s, flops+f
			fmt.Fprintf(b, "| %s %d×%d×%d | %.1f | %.1f | %.0f %% |\n", o.name, o.M, o.N, o.K, 1e6*s, f/s/1e12, 100*f/s/1e9/ref)
		}
	}
	fmt.Fprintf(b, "| all of them, one after another | %.1f | %.1f | %.0f %% |\n\n", 1e6*sum, flops/sum/1e12, 100*flops/sum/1e9/ref)
}

// trainFlops is the arithmetic of one training step of cfg at batch B: 2·B·C·OC for each layer's
// forward, weight gradient and input gradient, except the first layer's input gradient (not computed).
func trainFlops(cfg model.Config, B int) float64 {
	var f float64
	for l := range cfg.Layers() {
		mac := float64(B) * float64(cfg.Sizes[l]) * float64(cfg.Sizes[l+1])
		f += 4 * mac
		if l > 0 {
			f += 2 * mac
		}
	}
	return f
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envInts reads a comma-separated list of integers from the variable name, or def when it is unset.
func envInts(name, def string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(envOr(name, def), ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	return out, nil
}
