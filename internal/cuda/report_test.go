//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
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

// TestGPUReport is make gpu-check's benchmark. It runs only when DLTRAIN_GPU_REPORT names the file
// to write the table to, and needs MNIST (DLTRAIN_DATA). It prints a short table: card and driver,
// median epoch time of the seed configuration on the GPU and on the CPU in the same run, test
// accuracy per epoch on both, samples/s, peak device memory, and the large-batch line (784-4096-4096-10
// at batch 4096) next to a plain 4096³ SGEMM measured in the same run.
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
	graphErr := error(nil)
	seed := func(be ops.Backend, noGraphs bool) ([]model.EpochResult, error) {
		m, _ := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
		var res []model.EpochResult
		tr := &model.Trainer{Backend: be, Model: m, Hyper: model.Hyper{Epochs: 10, BatchSize: 100, LR: 0.01, Momentum: 0.9},
			ProgressEvery: 600, NoGraphs: noGraphs, OnEpoch: func(r model.EpochResult) error { res = append(res, r); return nil }}
		err := tr.Run(context.Background(), train, test)
		if !noGraphs && tr.GraphErr != nil {
			graphErr = tr.GraphErr
		}
		return res, err
	}
	// Device memory: what the card has in use after the first training run (context, cuBLAS and its
	// workspace, modules, and everything the run allocated), and how much of it that run allocated.
	// make gpu-check runs this test in a process of its own, so nothing else is on the card.
	memBefore, err := g.MemUsed()
	if err != nil {
		t.Fatal(err)
	}
	gres, err := seed(g, false)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := g.MemUsed()
	if err != nil {
		t.Fatal(err)
	}
	pres, err := seed(g, true)
	if err != nil {
		t.Fatal(err)
	}
	cres, err := seed(&cpu.Backend{}, true)
	if err != nil {
		t.Fatal(err)
	}
	lb, sgemm := largeBatch(t, g, train)

	var b strings.Builder
	fmt.Fprintf(&b, "| what | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| card, driver | %s |\n", g.Device())
	graph := "graph replay"
	if graphErr != nil {
		graph = fmt.Sprintf("graph replay FAILED (%v), so plain launches", graphErr)
	}
	fmt.Fprintf(&b, "| GPU epoch, median of 10 (seed config, batch 100), %s | %.1f ms |\n", graph, 1000*median(gres))
	fmt.Fprintf(&b, "| GPU epoch, median of 10, plain launches | %.1f ms |\n", 1000*median(pres))
	fmt.Fprintf(&b, "| CPU epoch, median of 10, same run | %.1f ms |\n", 1000*median(cres))
	fmt.Fprintf(&b, "| GPU samples/s (median epoch) | %.0f |\n", float64(train.N)/median(gres))
	fmt.Fprintf(&b, "| GPU test accuracy per epoch | %s |\n", accs(gres))
	fmt.Fprintf(&b, "| GPU test accuracy per epoch, plain launches | %s |\n", accs(pres))
	fmt.Fprintf(&b, "| CPU test accuracy per epoch | %s |\n", accs(cres))
	fmt.Fprintf(&b, "| device memory in use after one 10-epoch run (whole card) | %d MiB, of which the run allocated %d MiB |\n", mem>>20, (mem-memBefore)>>20)
	fmt.Fprintf(&b, "| large batch 784-4096-4096-10, batch 4096 | %.0f GFLOP/s, %.0f samples/s |\n", lb.gflops, lb.samples)
	fmt.Fprintf(&b, "| plain SGEMM 4096³, same run | %.0f GFLOP/s (large batch at %.1f%%) |\n", sgemm, 100*lb.gflops/sgemm)
	fmt.Print(b.String())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func median(r []model.EpochResult) float64 {
	s := make([]float64, len(r))
	for i, x := range r {
		s[i] = x.Seconds
	}
	sort.Float64s(s)
	return s[len(s)/2]
}

func accs(r []model.EpochResult) string {
	var parts []string
	for _, x := range r {
		parts = append(parts, fmt.Sprintf("%.2f", 100*x.TestAccuracy))
	}
	return strings.Join(parts, " ") + " %"
}

type lbResult struct{ gflops, samples float64 }

// largeBatch times training steps of 784-4096-4096-10 at batch 4096, and a plain 4096³ SGEMM.
// largeBatchConfig at batch largeBatchB is the large-batch benchmark: the report times it as whole
// steps, the profile (profile_test.go) op by op.
var largeBatchConfig = model.NewConfig([]int{4096, 4096}, ops.ReLU, model.CrossEntropy)

const largeBatchB = 4096

func largeBatch(t *testing.T, g *Backend, train *mnist.Set) (lbResult, float64) {
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
	per := time.Since(t0).Seconds() / steps
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
	lb := lbResult{flops / per / 1e9, float64(B) / per}

	// Random operands: an SGEMM on zeros draws less power and can run faster than on real data.
	const n = 4096
	rng := rand.New(rand.NewPCG(9, 9))
	a, bm, c := up(t, g, opstest.Randn(rng, n*n)), up(t, g, opstest.Randn(rng, n*n)), up(t, g, opstest.Randn(rng, n*n))
	g.gemm(false, false, n, n, n, a.(Tensor), n, bm.(Tensor), n, c.(Tensor), n)
	g.Sync()
	t0 = time.Now()
	const reps = 20
	for range reps {
		g.gemm(false, false, n, n, n, a.(Tensor), n, bm.(Tensor), n, c.(Tensor), n)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	sg := 2 * float64(n) * n * n * reps / time.Since(t0).Seconds() / 1e9
	return lb, sg
}
