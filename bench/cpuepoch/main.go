// Command cpuepoch times training epochs of several nets on the CPU backend, as `make bench` reports
// them: for each net, the median epoch, the step's GFLOP/s, how many cores were busy (the process's
// CPU time over the wall time of the epoch's steps, with and without the time the backend's
// goroutines spent spin-waiting), and the CPU time of an epoch (which a loaded machine moves less
// than the wall time). The nets take turns epoch by epoch, so that a change
// in the machine's load touches all of them alike. It prints one JSON object per net.
//
// It is a measuring tool for bench/bench.sh, not part of dltrain: it trains with the library's
// Trainer exactly as `dltrain train` does, and reads MNIST from -data.
//
//	go run ./bench/cpuepoch -data data -epochs 3 784-128-10/relu 784-128-10/tanh 784-800-10/relu
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// result is one net's line of output.
type result struct {
	Net          string    `json:"net"`
	Kernel       string    `json:"kernel"`
	Epochs       []float64 `json:"epoch_s"`        // training loop of each epoch, as EpochResult.Seconds
	Median       float64   `json:"median_epoch_s"` // of Epochs
	GFLOPs       float64   `json:"step_gflops"`    // flops of an epoch's steps / median epoch
	Cores        float64   `json:"cores_busy"`     // CPU time / wall time over the steps, all epochs
	CoresNoSpin  float64   `json:"cores_busy_no_spin"`
	CPUEpochs    []float64 `json:"cpu_epoch_s"` // process CPU time over each epoch's steps, scaled to all its steps
	MedianCPU    float64   `json:"median_cpu_epoch_s"`
	TestAccuracy []float64 `json:"test_acc"`
}

type run struct {
	name    string
	cfg     model.Config
	m       *model.Model
	res     result
	cpu     time.Duration // CPU time of the steps
	spin    time.Duration // of which spin-waiting
	wall    time.Duration // wall time of the steps
	flopsEp float64
	steps   int
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stepFlops is the multiply-add work of one step of B rows: every layer's forward and weight
// gradient, and the input gradient of every layer but the first (which is not computed).
func stepFlops(sizes []int, B int) float64 {
	f := 0.0
	for l := range len(sizes) - 1 {
		mm := 2 * float64(B) * float64(sizes[l]) * float64(sizes[l+1])
		f += 2 * mm
		if l > 0 {
			f += mm
		}
	}
	return f
}

func main() {
	dataDir := flag.String("data", "data", "directory holding the four MNIST IDX files")
	epochs := flag.Int("epochs", 3, "epochs per net")
	batch := flag.Int("batch", 100, "batch size")
	flag.Parse()
	nets := flag.Args()
	if len(nets) == 0 {
		nets = []string{"784-128-10/relu"}
	}
	files, err := mnist.Find(mnist.Dir(*dataDir))
	if err != nil {
		fail(err)
	}
	train, test, err := mnist.Load(files)
	if err != nil {
		fail(err)
	}
	var runs []*run
	for _, n := range nets {
		arch, actName, _ := strings.Cut(n, "/")
		sizes, err := model.ParseArch(arch)
		if err != nil {
			fail(err)
		}
		act, err := ops.ParseActivation(actName)
		if err != nil {
			fail(err)
		}
		cfg := model.NewConfig(sizes[1:len(sizes)-1], act, model.CrossEntropy)
		m, err := model.New(cfg, 1)
		if err != nil {
			fail(err)
		}
		steps := (train.N + *batch - 1) / *batch
		r := &run{name: n, cfg: cfg, m: m, steps: steps, flopsEp: stepFlops(cfg.Sizes, *batch) * float64(steps)}
		r.res = result{Net: n, Kernel: cpu.KernelName()}
		runs = append(runs, r)
	}
	for e := 1; e <= *epochs; e++ {
		for _, r := range runs {
			var c0, s0 time.Duration
			var t0 time.Time
			tr := &model.Trainer{Backend: &cpu.Backend{}, Model: r.m,
				Hyper:         model.Hyper{Epochs: e, BatchSize: *batch, LR: 0.01, Momentum: 0.9},
				ProgressEvery: 1,
				OnProgress: func(p model.Progress) {
					switch {
					case p.Done == *batch: // after the first step
						c0, s0, t0 = cpuTime(), cpu.SpinTime(), time.Now()
					case p.Done == p.Total:
						c := cpuTime() - c0
						r.wall += time.Since(t0)
						r.cpu += c
						r.spin += cpu.SpinTime() - s0
						r.res.CPUEpochs = append(r.res.CPUEpochs, c.Seconds()*float64(r.steps)/float64(r.steps-1))
					}
				},
				OnEpoch: func(er model.EpochResult) error {
					r.res.Epochs = append(r.res.Epochs, er.Seconds)
					r.res.TestAccuracy = append(r.res.TestAccuracy, er.TestAccuracy)
					return nil
				},
			}
			if err := tr.Run(context.Background(), train, test); err != nil {
				fail(err)
			}
		}
	}
	out := json.NewEncoder(os.Stdout)
	for _, r := range runs {
		s := append([]float64(nil), r.res.Epochs...)
		sort.Float64s(s)
		r.res.Median = s[len(s)/2]
		r.res.GFLOPs = r.flopsEp / r.res.Median / 1e9
		r.res.Cores = r.cpu.Seconds() / r.wall.Seconds()
		r.res.CoresNoSpin = (r.cpu - r.spin).Seconds() / r.wall.Seconds()
		c := append([]float64(nil), r.res.CPUEpochs...)
		sort.Float64s(c)
		r.res.MedianCPU = c[len(c)/2]
		if err := out.Encode(r.res); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cpuepoch:", err)
	os.Exit(1)
}
