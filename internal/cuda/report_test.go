//go:build cuda

package cuda

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestGPUReport is make gpu-check's benchmark. It runs only when DLTRAIN_GPU_REPORT names the file to
// write its table to, and needs MNIST (DLTRAIN_DATA). When DLTRAIN_TORCH_DIR names the folder where
// bench/gpu-check.sh left PyTorch's results from the same run on the same card (torch-resident.json,
// torch-graph.json, torch-large.json), it quotes them and the ratios.
//
// The classic model (784-128-10, batch 100, 10 epochs, seed 1) is trained as the CLI trains it: a
// stats read every 20 steps, the step replayed as a CUDA graph. Two figures per epoch, each the
// median of epochs 2..10 (epoch 1 also records the graph and warms up):
//   - "steps": the Trainer's own epoch time (EpochResult.Seconds, the --metrics "seconds"): from the
//     epoch's first step to the Sync after its last, stats reads included; no shuffle, no test pass;
//   - "whole": the time between the ends of consecutive epochs, i.e. everything the CLI does for an
//     epoch: the host shuffle and the order upload, the 600 steps with their stats reads, the weights'
//     download, the test pass over 10,000 images, the epoch callback.
//
// It does so unfused (the default), fused (fuse.go), with plain launches, with TF32 GEMMs, and on the
// CPU. The large-batch net (784-4096-4096-10 at batch 4096) is timed per step in FP32 and TF32, next to
// the same step's cuBLAS GEMMs alone on the same buffers (skipKernels) and a 4096³ SGEMM of random
// data.
func TestGPUReport(t *testing.T) {
	path := os.Getenv("DLTRAIN_GPU_REPORT")
	if path == "" {
		t.Skip("set DLTRAIN_GPU_REPORT=FILE (make gpu-check does)")
	}
	g := open(t)
	files, err := mnist.Find(mnist.Dir(""))
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := mnist.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	// Device memory: what the card has in use after the first training run (context, cuBLAS and its
	// workspace, modules, and everything the run allocated), and how much of it that run allocated.
	// make gpu-check runs this test in a process of its own, so nothing else is on the card.
	memBefore, err := g.MemUsed()
	if err != nil {
		t.Fatal(err)
	}
	run := func(be ops.Backend, fuse, noGraphs bool, p Precision) epochRuns {
		if gb, ok := be.(*Backend); ok {
			gb.SetFusion(fuse)
			if err := gb.SetPrecision(p); err != nil {
				t.Fatal(err)
			}
			defer gb.SetFusion(false)
			defer gb.SetPrecision(FP32)
		}
		r, err := classic(be, train, test, noGraphs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	unfused := run(g, false, false, FP32)
	mem, err := g.MemUsed()
	if err != nil {
		t.Fatal(err)
	}
	fc0, hd0, dw0 := g.fusedFcIn, g.fusedHead, g.fusedDW
	fused := run(g, true, false, FP32)
	fusedLaunches := fmt.Sprintf("fc_in %d, head %d, fc_dw %d launches", g.fusedFcIn-fc0, g.fusedHead-hd0, g.fusedDW-dw0)
	plain := run(g, false, true, FP32)
	tf32 := run(g, false, false, TF32)
	cpuRun := run(&cpu.Backend{}, false, true, FP32)
	compUnfused, compFused := components(t, g, train, test, false), components(t, g, train, test, true)
	lb32, lbTF := largeBatch(t, g, train, FP32), largeBatch(t, g, train, TF32)
	sg32, sgTF := sgemmRandom(t, g, FP32), sgemmRandom(t, g, TF32)
	torch := readTorch(t, os.Getenv("DLTRAIN_TORCH_DIR"))

	var b strings.Builder
	row := func(what, format string, args ...any) {
		fmt.Fprintf(&b, "| %s | %s |\n", what, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "| what | value |\n|---|---|\n")
	row("date, commit", "%s, %s", time.Now().UTC().Format("2006-01-02 15:04 MST"), os.Getenv("DLTRAIN_COMMIT"))
	row("card, driver", "%s", g.Device())
	row("classic epoch, steps only (median of epochs 2-10): GPU, graph replay, unfused (the default)", "%s", unfused.steps())
	row("classic epoch, steps only: GPU, graph replay, fused (DLTRAIN_CUDA_FUSE=1; "+fusedLaunches+")", "%s", fused.steps())
	row("classic epoch, steps only: GPU, plain launches, unfused", "%s", plain.steps())
	row("classic epoch, steps only: GPU, graph replay, unfused, --precision tf32", "%s", tf32.steps())
	row("classic epoch, whole as the CLI runs it (shuffle, 600 steps, weights download, test pass): GPU unfused", "%s", unfused.whole())
	row("classic epoch, whole: GPU fused", "%s", fused.whole())
	row("classic epoch, whole: GPU plain launches, unfused", "%s", plain.whole())
	row("classic epoch, whole: CPU, same run", "%s", cpuRun.whole())
	row("whole-epoch parts besides the steps (median of 5): host shuffle, order upload, weights download", "%.2f ms, %.2f ms, %.2f ms",
		1000*compUnfused.shuffle, 1000*compUnfused.upload, 1000*compUnfused.store)
	row("whole-epoch parts: test pass over 10,000 images, unfused / fused", "%.2f ms / %.2f ms", 1000*compUnfused.eval, 1000*compFused.eval)
	if torch.resident.MedianEpochS > 0 || torch.graph.MedianEpochS > 0 {
		row("PyTorch "+torch.graph.Torch+" on the same card, median epoch (randperm + 600 steps; no test pass): resident / CUDA graph",
			"%.1f ms / %.1f ms", 1000*torch.resident.MedianEpochS, 1000*torch.graph.MedianEpochS)
		best := min(median(fused.wholeS), median(unfused.wholeS))
		bestSteps := min(median(fused.stepsS[1:]), median(unfused.stepsS[1:]))
		row("PyTorch CUDA graph epoch / dltrain's faster GPU epoch: whole (dltrain's includes shuffle and test pass) / steps only",
			"%.1f× / %.1f×", torch.graph.MedianEpochS/best, torch.graph.MedianEpochS/bestSteps)
		row("PyTorch test accuracy per epoch (graph mode)", "%s", pct(torch.graph.TestAcc))
	} else {
		row("PyTorch on the same card", "not run (see gpu-check's torch logs)")
	}
	row("GPU test accuracy per epoch, unfused", "%s", pct(unfused.acc))
	row("GPU test accuracy per epoch, fused", "%s", pct(fused.acc))
	row("GPU test accuracy per epoch, plain launches", "%s", pct(plain.acc))
	row("GPU test accuracy per epoch, tf32", "%s", pct(tf32.acc))
	row("CPU test accuracy per epoch", "%s", pct(cpuRun.acc))
	for _, r := range []epochRuns{unfused, fused, plain, tf32} {
		if r.graphErr != nil {
			row("graph recording FAILED (the run used plain launches)", "%v", r.graphErr)
		}
	}
	row("device memory in use after one 10-epoch run (whole card)", "%d MiB, of which the run allocated %d MiB", mem>>20, (mem-memBefore)>>20)
	for _, lb := range []lbResult{lb32, lbTF} {
		sg := sg32
		if lb.p == TF32 {
			sg = sgTF
		}
		row(fmt.Sprintf("large batch 784-4096-4096-10, batch 4096, %s: step, samples/s, GFLOP/s", lb.p), "%.2f ms, %.0f, %.0f", 1000*lb.step, lb.samples, lb.gflops)
		row(fmt.Sprintf("large batch %s: the step's own cuBLAS GEMMs alone, same buffers", lb.p), "%.2f ms (the step at %.1f%% of its GEMMs' time)", 1000*lb.gemms, 100*lb.gemms/lb.step)
		row(fmt.Sprintf("large batch %s: a 4096³ SGEMM of random data, same run", lb.p), "%.0f GFLOP/s (the step at %.1f%% of its rate)", sg, 100*lb.gflops/sg)
	}
	for _, c := range []struct {
		p Precision
		r torchLarge
	}{{FP32, torch.large.FP32}, {TF32, torch.large.TF32}} {
		lb := lb32
		if c.p == TF32 {
			lb = lbTF
		}
		if c.r.SamplesPerS > 0 {
			row(fmt.Sprintf("PyTorch large batch %s, same card: step, samples/s", c.p), "%.2f ms, %.0f (dltrain / PyTorch: %.2f×)", c.r.StepMS, c.r.SamplesPerS, lb.samples/c.r.SamplesPerS)
		}
	}
	fmt.Print(b.String())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// epochRuns is one 10-epoch training run's per-epoch figures.
type epochRuns struct {
	stepsS   []float64 // EpochResult.Seconds, epochs 1..10
	wholeS   []float64 // between the ends of epochs k-1 and k, k = 2..10
	acc      []float64
	graphErr error
}

func (r epochRuns) steps() string {
	return fmt.Sprintf("%.2f ms (%.0f samples/s)", 1000*median(r.stepsS[1:]), 60000/median(r.stepsS[1:]))
}

func (r epochRuns) whole() string { return fmt.Sprintf("%.2f ms", 1000*median(r.wholeS)) }

// classic trains the classic model for 10 epochs as the CLI does (ProgressEvery left at its default,
// no progress callback: the CLI draws bars only on a terminal) and times every epoch both ways.
func classic(be ops.Backend, train, test *mnist.Set, noGraphs bool) (epochRuns, error) {
	var r epochRuns
	m, err := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		return r, err
	}
	var last time.Time
	tr := &model.Trainer{Backend: be, Model: m, Hyper: model.Hyper{Epochs: 10, BatchSize: 100, LR: 0.01, Momentum: 0.9},
		NoGraphs: noGraphs, OnEpoch: func(res model.EpochResult) error {
			now := time.Now()
			if !last.IsZero() {
				r.wholeS = append(r.wholeS, now.Sub(last).Seconds())
			}
			last = now
			r.stepsS = append(r.stepsS, res.Seconds)
			r.acc = append(r.acc, res.TestAccuracy)
			return nil
		}}
	err = tr.Run(context.Background(), train, test)
	r.graphErr = tr.GraphErr
	return r, err
}

func median(s []float64) float64 {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	return c[len(c)/2]
}

func pct(acc []float64) string {
	var parts []string
	for _, a := range acc {
		parts = append(parts, fmt.Sprintf("%.2f", 100*a))
	}
	return strings.Join(parts, " ") + " %"
}

// The PyTorch results gpu-check.sh leaves in DLTRAIN_TORCH_DIR: the last JSON line of
// ../shared/anchors/torch_mnist.py --mode resident / graph, and of bench/torch_large.py.
type torchAnchor struct {
	Torch        string    `json:"torch"`
	MedianEpochS float64   `json:"median_epoch_s"`
	TestAcc      []float64 `json:"test_acc"`
}

type torchLarge struct {
	StepMS      float64 `json:"step_ms"`
	SamplesPerS float64 `json:"samples_per_s"`
}

type torchResults struct {
	resident, graph torchAnchor
	large           struct {
		FP32 torchLarge `json:"fp32"`
		TF32 torchLarge `json:"tf32"`
	}
}

func readTorch(t *testing.T, dir string) torchResults {
	var r torchResults
	if dir == "" {
		return r
	}
	for name, v := range map[string]any{"torch-resident.json": &r.resident, "torch-graph.json": &r.graph, "torch-large.json": &r.large} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Logf("PyTorch results: %v", err)
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Logf("PyTorch results: %s: %v", name, err)
		}
	}
	return r
}

// epochParts are the parts of a whole epoch besides its steps, timed alone (median of 5 each).
type epochParts struct{ shuffle, upload, store, eval float64 }

func components(t *testing.T, g *Backend, train, test *mnist.Set, fuse bool) epochParts {
	g.SetFusion(fuse)
	defer g.SetFusion(false)
	m, err := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.NewNet(g, m.Config, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Load(m); err != nil {
		t.Fatal(err)
	}
	dtrain, err := g.Resident(train)
	if err != nil {
		t.Fatal(err)
	}
	dtest, err := g.Resident(test)
	if err != nil {
		t.Fatal(err)
	}
	order := make([]int32, 0, train.N)
	med := func(f func() error) float64 {
		var s []float64
		for range 5 {
			if err := g.Sync(); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			if err := g.Sync(); err != nil {
				t.Fatal(err)
			}
			s = append(s, time.Since(t0).Seconds())
		}
		return median(s)
	}
	var p epochParts
	p.shuffle = med(func() error { order = model.EpochOrder(1, 2, train.N, order); return nil })
	p.upload = med(func() error {
		if err := ops.CheckOrder(order, train.N); err != nil {
			return err
		}
		return g.SetOrder(dtrain, order)
	})
	p.store = med(func() error { return net.Store(m) })
	p.eval = med(func() error { _, err := net.Evaluate(dtest); return err })
	return p
}

// largeBatchConfig at batch largeBatchB is the large-batch benchmark: the report times it as whole
// steps, the profile (profile_test.go) op by op.
var largeBatchConfig = model.NewConfig([]int{4096, 4096}, ops.ReLU, model.CrossEntropy)

const largeBatchB = 4096

type lbResult struct {
	p               Precision
	step, gemms     float64 // seconds per step: the whole step, and its GEMMs alone
	gflops, samples float64
}

// largeBatch times training steps of largeBatchConfig at batch largeBatchB in precision p, then the
// same steps with every PTX kernel skipped: the step's own cuBLAS GEMMs, on the same buffers.
func largeBatch(t *testing.T, g *Backend, train *mnist.Set, p Precision) lbResult {
	if err := g.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	defer g.SetPrecision(FP32)
	cfg, B := largeBatchConfig, largeBatchB
	m, _ := model.New(cfg, 1)
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
	d, err := g.Resident(train)
	if err != nil {
		t.Fatal(err)
	}
	step := func(i int) {
		start := (i * B) % (train.N - B)
		net.Forward(d, start, B)
		net.Loss(d, start, B)
		net.Backward(B)
		net.Update()
	}
	timeSteps := func() float64 {
		for i := range 3 {
			step(i)
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
		const steps = 30
		t0 := time.Now()
		for i := range steps {
			step(i)
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0).Seconds() / steps
	}
	r := lbResult{p: p}
	r.step = timeSteps()
	g.skipKernels = true
	r.gemms = timeSteps()
	g.skipKernels = false
	// Forward and the weight gradient cost 2·B·C·OC each per layer; the input gradient too, except for
	// the first layer, whose input gradient is not computed.
	var flops float64
	for l := range cfg.Layers() {
		mac := float64(B) * float64(cfg.Sizes[l]) * float64(cfg.Sizes[l+1])
		flops += 4 * mac
		if l > 0 {
			flops += 2 * mac
		}
	}
	r.gflops, r.samples = flops/r.step/1e9, float64(B)/r.step
	return r
}

// sgemmRandom is the rate of a 4096³ SGEMM on random operands in precision p (an SGEMM on zeros draws
// less power and can run faster than on real data).
func sgemmRandom(t *testing.T, g *Backend, p Precision) float64 {
	if err := g.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	defer g.SetPrecision(FP32)
	const n = 4096
	rng := rand.New(rand.NewPCG(9, 9))
	a, bm, c := up(t, g, opstest.Randn(rng, n*n)), up(t, g, opstest.Randn(rng, n*n)), up(t, g, opstest.Randn(rng, n*n))
	g.gemm(false, false, n, n, n, a.(Tensor), n, bm.(Tensor), n, c.(Tensor), n)
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	const reps = 20
	for range reps {
		g.gemm(false, false, n, n, n, a.(Tensor), n, bm.(Tensor), n, c.(Tensor), n)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	return 2 * float64(n) * n * n * reps / time.Since(t0).Seconds() / 1e9
}
