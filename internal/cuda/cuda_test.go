//go:build cuda

package cuda

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/cu"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
	"github.com/dltrain/dltrain/internal/schedule"
)

// The GPU tests compare every kernel and GEMM with its CPU twin: fresh random inputs each run, the
// GPU output poisoned with NaN before the launch, every element checked against atol + rtol·|ref|, at
// sizes around the block edges. They skip when no GPU can be opened.

var gpu *Backend

func open(t testing.TB) *Backend {
	t.Helper()
	if gpu != nil {
		// Each test runs on its own goroutine: make the context current on this one's thread.
		if err := gpu.Bind(); err != nil {
			t.Fatal(err)
		}
		return gpu
	}
	b, err := Open(0)
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	gpu = b
	return b
}

// up allocates a device tensor holding v.
func up(t testing.TB, b *Backend, v []float32) ops.Tensor {
	t.Helper()
	d, err := b.Alloc(len(v))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(d, v); err != nil {
		t.Fatal(err)
	}
	return d
}

func down(t testing.TB, b *Backend, d ops.Tensor) []float32 {
	t.Helper()
	v := make([]float32, d.Len())
	if err := b.Download(v, d); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConformance runs the op contract's conformance suite (internal/ops/opstest) on the GPU: every
// op against the naive reference, as the CPU backend's tests do; with fusion off and on (the suite
// reads every result back, so fusion only queues and emits each op, which is what it checks here).
func TestConformance(t *testing.T) {
	g := open(t)
	for _, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() { opstest.Run(t, g, opstest.Default) })
	}
}

// shapes are (rows, cols) pairs around the block edges and at the training shapes.
func shapes() [][2]int {
	s := [][2]int{{100, 128}, {100, 10}, {4096, 784}}
	for _, n := range []int{1, 31, 32, 33, 255, 256, 257} {
		s = append(s, [2]int{n, 1}, [2]int{1, n}, [2]int{n, 33})
	}
	return s
}

func TestGEMMAgainstNaive(t *testing.T) {
	b := open(t)
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{1, 1, 1}, {100, 128, 784}, {128, 784, 100}, {100, 784, 128}, {33, 257, 31}, {255, 1, 257}} {
		M, N, K := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				lda, ldb := K, N
				if tA {
					lda = M
				}
				if tB {
					ldb = K
				}
				a, bb := opstest.Randn(rng, M*K), opstest.Randn(rng, K*N)
				want := make([]float32, M*N)
				ref.Gemm(tA, tB, M, N, K, a, lda, bb, ldb, want, N)
				c := up(t, b, opstest.NaNs(M*N))
				b.gemm(tA, tB, M, N, K, up(t, b, a).(Tensor), lda, up(t, b, bb).(Tensor), ldb, c.(Tensor), N)
				opstest.Compare(t, "gemm", down(t, b, c), want, 1e-4*math.Sqrt(float64(K)), 1e-4)
			}
		}
	}
}

// TestBiasActAndBiasSums: the two kernels the cuBLAS path adds after its GEMMs, launched alone
// against their twins: bias_act (out = act(x + bias)) and grad_sums as the bias gradient alone
// (cols = 0: the column sums of dout), at shapes around the block edges.
func TestBiasActAndBiasSums(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	biasAct := kernels.BiasAct.Twin.(func(out, bias []float32, act ops.Activation, B, OC int))
	for _, s := range shapes() {
		rows, cols := s[0], s[1]
		n := rows * cols
		for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh, ops.Identity} {
			x, bias := opstest.Randn(rng, n), opstest.Randn(rng, cols)
			want := append([]float32(nil), x...)
			biasAct(want, bias, act, rows, cols)
			out := up(t, g, x)
			g.launch(kernels.BiasAct, n, ptr(out), ptr(up(t, g, bias)), uint64(rows), uint64(cols), uint64(act))
			tol := 0.0
			if act == ops.Sigmoid || act == ops.Tanh {
				tol = opstest.Default.Transcendental
			}
			opstest.Compare(t, "bias_act "+act.String(), down(t, g, out), want, tol, tol)
		}
		// The reference sums in float64: against a float32 sum that adds rows one after the other,
		// grad_sums differed by 9e-5 at 4096 rows on the H100, and a float32 sum of that many terms is
		// only good to about that on either side.
		dout := opstest.Randn(rng, n)
		wantb := columnSums64(dout, rows, cols)
		db := up(t, g, opstest.NaNs(cols))
		g.launch(kernels.GradSums, cols, 0, ptr(db), ptr(up(t, g, dout)), 0, uint64(rows), 0, uint64(cols))
		opstest.Compare(t, "grad_sums (bias only)", down(t, g, db), wantb, 2e-7*float64(rows), 1e-5)
	}
}

// TestGradSums: the fused weight and bias gradient of a small layer, dweight = doutᵀ·inp (against the
// naive GEMM) and dbias = column sums of dout, at sizes around the kernel's 32-output blocks and
// 8-warp row split; then the same launch twice gives the same bits.
func TestGradSums(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	gradSums := kernels.GradSums.Twin.(func(dinp, dweight, dbias, dout, inp, weight []float32, B, C, OC int))
	for _, s := range [][3]int{{100, 128, 10}, {1, 1, 1}, {7, 33, 3}, {8, 31, 16}, {33, 32, 10}, {257, 255, 2}, {1000, 784, 10}, {4096, 64, 10}} {
		B, C, OC := s[0], s[1], s[2]
		dout, inp := opstest.Randn(rng, B*OC), opstest.Randn(rng, B*C)
		// The twin, MatmulBackward without dinp, sums in float32 row after row; the float64 sums of
		// columnSums64 bound the error better at thousands of rows.
		wantW, wantB := make([]float32, OC*C), make([]float32, OC)
		gradSums(nil, wantW, wantB, dout, inp, nil, B, C, OC)
		wantB = columnSums64(dout, B, OC)
		dw, db := up(t, g, opstest.NaNs(OC*C)), up(t, g, opstest.NaNs(OC))
		dd, di := up(t, g, dout), up(t, g, inp)
		g.launch(kernels.GradSums, OC*(C+1), ptr(dw), ptr(db), ptr(dd), ptr(di), uint64(B), uint64(C), uint64(OC))
		tol := 1e-5 * math.Sqrt(float64(B))
		gotW, gotB := down(t, g, dw), down(t, g, db)
		opstest.Compare(t, fmt.Sprintf("grad_sums dweight %v", s), gotW, wantW, tol, 1e-5)
		opstest.Compare(t, fmt.Sprintf("grad_sums dbias %v", s), gotB, wantB, tol, 1e-5)
		g.launch(kernels.GradSums, OC*(C+1), ptr(dw), ptr(db), ptr(dd), ptr(di), uint64(B), uint64(C), uint64(OC))
		if !bytes.Equal(checkpoint.F32Bytes(down(t, g, dw)), checkpoint.F32Bytes(gotW)) || !bytes.Equal(checkpoint.F32Bytes(down(t, g, db)), checkpoint.F32Bytes(gotB)) {
			t.Fatalf("grad_sums %v: two launches differ", s)
		}
	}
}

// TestSmallLayer: linear_small (GEMM + bias + activation) and input_grad against the naive GEMM and
// the CPU's bias_act twin, at sizes around the 32-output blocks and the 8-way column split, every
// activation; then a second launch gives the same bits.
func TestSmallLayer(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	linearSmall := kernels.LinearSmall.Twin.(func(out, inp, weight, bias []float32, act ops.Activation, B, C, OC int))
	inputGrad := kernels.InputGrad.Twin.(func(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int))
	for _, s := range [][3]int{{100, 128, 10}, {1, 1, 1}, {7, 33, 3}, {8, 31, 16}, {33, 7, 10}, {257, 255, 2}, {1000, 784, 10}, {3, 1025, 16}} {
		B, C, OC := s[0], s[1], s[2]
		inp, w, bias, dout := opstest.Randn(rng, B*C), opstest.Randn(rng, OC*C), opstest.Randn(rng, OC), opstest.Randn(rng, B*OC)
		di, dw, db, dd := up(t, g, inp), up(t, g, w), up(t, g, bias), up(t, g, dout)
		tol := 1e-5 * math.Sqrt(float64(C))
		for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh, ops.Identity} {
			want := make([]float32, B*OC)
			linearSmall(want, inp, w, bias, act, B, C, OC)
			out := up(t, g, opstest.NaNs(B*OC))
			g.launch(kernels.LinearSmall, B*OC, ptr(out), ptr(di), ptr(dw), ptr(db), uint64(B), uint64(C), uint64(OC), uint64(act))
			got := down(t, g, out)
			opstest.Compare(t, fmt.Sprintf("linear_small %v %v", s, act), got, want, tol, 1e-5)
			g.launch(kernels.LinearSmall, B*OC, ptr(out), ptr(di), ptr(dw), ptr(db), uint64(B), uint64(C), uint64(OC), uint64(act))
			if !bytes.Equal(checkpoint.F32Bytes(down(t, g, out)), checkpoint.F32Bytes(got)) {
				t.Fatalf("linear_small %v %v: two launches differ", s, act)
			}
		}
		want := make([]float32, B*C)
		inputGrad(false, false, B, C, OC, dout, OC, w, C, want, C)
		dinp := up(t, g, opstest.NaNs(B*C))
		g.launch(kernels.InputGrad, B*C, ptr(dinp), ptr(dd), ptr(dw), uint64(B), uint64(C), uint64(OC))
		opstest.Compare(t, fmt.Sprintf("input_grad %v", s), down(t, g, dinp), want, 1e-5*math.Sqrt(float64(OC)), 1e-5)
	}
}

// TestLoadModuleLog: a module the driver refuses (here for a non-ASCII comment, which CUDA 13
// rejects) gives an error that names the module and carries the JIT's log beyond the bare result.
func TestLoadModuleLog(t *testing.T) {
	open(t)
	src := ".version 7.0\n.target sm_52\n.address_size 64\n// x\u00b7y\n.visible .entry k()\n{\n\tbogus.op;\n\tret;\n}\n"
	_, plain := cu.LoadData(src)
	if plain == nil {
		t.Fatal("the driver loaded a module with an unknown instruction")
	}
	_, err := loadModule("bad", src)
	if err == nil {
		t.Fatal("loadModule accepted the bad module")
	}
	bare := fmt.Sprintf("cuda: loading bad.ptx: %v", plain)
	if !strings.HasPrefix(err.Error(), bare) || len(err.Error()) <= len(bare) {
		t.Fatalf("error %q does not add the JIT log to %q", err, bare)
	}
	t.Logf("%v", err)
}

// columnSums64 is ref.ColumnSums in float64, rounded to float32 at the end.
func columnSums64(dout []float32, rows, cols int) []float32 {
	d := make([]float64, len(dout))
	for i, v := range dout {
		d[i] = float64(v)
	}
	s := make([]float64, cols)
	ref.ColumnSums(s, d, rows, cols)
	out := make([]float32, cols)
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// TestParity trains the same seeded model 20 steps on CPU and GPU: losses within 1e-4 relative and
// weights within 1e-4 absolute. Then two GPU runs give identical bytes. The seed model, a deeper tanh
// net with MSE (the hidden layers on cuBLAS, the output layer on the small-layer kernels and mse),
// and a sigmoid net; each with fusion off and on (fused: fc_in for every first layer, head for the
// two cross-entropy nets).
func TestParity(t *testing.T) {
	g := open(t)
	for _, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() { parity(t, g) })
	}
}

func parity(t *testing.T, g *Backend) {
	rng := rand.New(rand.NewPCG(7, 7))
	train, test := opstest.RandomSet(rng, 2000), opstest.RandomSet(rng, 100)
	for _, cfg := range []model.Config{
		model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy),
		model.NewConfig([]int{64, 32}, ops.Tanh, model.MSE),
		model.NewConfig([]int{48}, ops.Sigmoid, model.CrossEntropy),
	} {
		run := func(be ops.Backend) (*model.Model, []float64) {
			m, err := model.New(cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			var losses []float64
			tr := &model.Trainer{Backend: be, Model: m, Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9},
				ProgressEvery: 1, OnProgress: func(p model.Progress) { losses = append(losses, p.Loss) }}
			if err := tr.Run(context.Background(), train, test); err != nil {
				t.Fatal(err)
			}
			return m, losses
		}
		mc, lc := run(&cpu.Backend{})
		mg, lg := run(g)
		arch := fmt.Sprintf("%s (fusion %v)", cfg.Arch(), g.Fusion())
		if len(lc) != 20 || len(lg) != 20 {
			t.Fatalf("%s: %d CPU and %d GPU progress reports, want 20", arch, len(lc), len(lg))
		}
		for i := range lc {
			if math.Abs(lc[i]-lg[i]) > 1e-4*math.Abs(lc[i]) {
				t.Fatalf("%s: step %d: running loss CPU %v, GPU %v", arch, i+1, lc[i], lg[i])
			}
		}
		opstest.Compare(t, arch+": weights after 20 steps", mg.Params, mc.Params, 1e-4, 0)
		mg2, _ := run(g)
		if !bytes.Equal(checkpoint.F32Bytes(mg.Params), checkpoint.F32Bytes(mg2.Params)) {
			t.Fatalf("%s: two GPU runs with the same seed differ", arch)
		}
	}
}

// TestGraphReplay: training with the step replayed as a CUDA graph gives the same bytes as plain
// launches, and the graph path was really taken; with fusion off, and on (where the fused kernels
// must have run in both).
func TestGraphReplay(t *testing.T) {
	g := open(t)
	for _, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() {
			fc, hd := g.fusedFcIn, g.fusedHead
			graphReplay(t, g)
			if fuse && (g.fusedFcIn == fc || g.fusedHead == hd) {
				t.Fatalf("fusion on: fc_in ran %d times and head %d times", g.fusedFcIn-fc, g.fusedHead-hd)
			}
		})
	}
}

func graphReplay(t *testing.T, g *Backend) {
	rng := rand.New(rand.NewPCG(11, 11))
	train, test := opstest.RandomSet(rng, 2050), opstest.RandomSet(rng, 100) // 20 full batches and a partial one
	run := func(noGraphs bool) []byte {
		m, _ := model.New(model.NewConfig([]int{64}, ops.ReLU, model.CrossEntropy), 5)
		tr := &model.Trainer{Backend: g, Model: m, NoGraphs: noGraphs,
			Hyper: model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.01, Momentum: 0.9}}
		if err := tr.Run(context.Background(), train, test); err != nil {
			t.Fatal(err)
		}
		if !noGraphs && tr.GraphErr != nil {
			t.Fatalf("recording the step failed: %v", tr.GraphErr)
		}
		return checkpoint.F32Bytes(append(m.Params, m.Velocity...))
	}
	if !bytes.Equal(run(true), run(false)) {
		t.Fatalf("graph replay and plain launches give different weights (fusion %v)", g.Fusion())
	}
}

// TestOptimizerKernels: sgd and adam launched alone against their CPU twins, bit for bit, at sizes
// around the 256-thread blocks and past the 1024-block grid cap (where the grid-stride loop takes a
// second lap), and at the parameter count of 784-800-10; every option of each.
func TestOptimizerKernels(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	sgd := kernels.SGD.Twin.(func(params, velocity, grads, hyper []float32, nesterov bool, N int))
	adam := kernels.Adam.Twin.(func(params, expAvg, expAvgSq, grads, hyper []float32, decoupled bool, N int))
	for _, n := range []int{1, 255, 256, 257, 1024*256 - 1, 1024*256 + 257, 636010} {
		for _, on := range []bool{false, true} {
			for _, wd := range []float64{0, 1e-2} {
				h := opstest.Hyper(0.01, 0.9, wd, 0.9, 0.999, 1e-8, 7)
				p, v, gr := opstest.Randn(rng, n), opstest.Randn(rng, n), opstest.Randn(rng, n)
				wp, wv := append([]float32(nil), p...), append([]float32(nil), v...)
				sgd(wp, wv, gr, h, on, n)
				dp, dv := up(t, g, p), up(t, g, v)
				g.launch(kernels.SGD, n, ptr(dp), ptr(dv), ptr(up(t, g, gr)), ptr(up(t, g, h)), uint64(n), flag(on))
				what := fmt.Sprintf("sgd n=%d nesterov=%v λ=%g", n, on, wd)
				opstest.Compare(t, what+" params", down(t, g, dp), wp, 0, 0)
				opstest.Compare(t, what+" velocity", down(t, g, dv), wv, 0, 0)

				m, sq := opstest.Randn(rng, n), opstest.Randn(rng, n)
				for i := range sq {
					sq[i] *= sq[i]
				}
				wp, wm, wsq := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), sq...)
				adam(wp, wm, wsq, gr, h, on, n)
				dp, dm, dsq := up(t, g, p), up(t, g, m), up(t, g, sq)
				g.launch(kernels.Adam, n, ptr(dp), ptr(dm), ptr(dsq), ptr(up(t, g, gr)), ptr(up(t, g, h)), uint64(n), flag(on))
				what = fmt.Sprintf("adam n=%d decoupled=%v λ=%g", n, on, wd)
				opstest.Compare(t, what+" params", down(t, g, dp), wp, 0, 0)
				opstest.Compare(t, what+" exp_avg", down(t, g, dm), wm, 0, 0)
				opstest.Compare(t, what+" exp_avg_sq", down(t, g, dsq), wsq, 0, 0)
			}
		}
	}
}

// TestHyperUnderReplay is the point of the hyper tensor: an update recorded once into a CUDA graph,
// then replayed with SetScalars changing the learning rate and Adam's bias corrections between
// replays, gives every step's own result (the CPU twin run with each step's scalars), bit for bit.
// SetScalars issued while recording is refused, since it would freeze its values.
func TestHyperUnderReplay(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	const n = 5000
	p, m, v, gr := opstest.Randn(rng, n), make([]float32, n), make([]float32, n), opstest.Randn(rng, n)
	dp, dm, dv, dg := up(t, g, p), up(t, g, m), up(t, g, v), up(t, g, gr)
	dh := up(t, g, opstest.Hyper(1e-3, 0, 1e-2, 0.9, 0.999, 1e-8, 1))
	if err := g.Record(func() { g.Adam(dp, dm, dv, dg, dh, true, n) }, 0); err != nil {
		t.Fatal(err)
	}
	for step := 1; step <= 5; step++ {
		h := opstest.Hyper(1e-3*float64(6-step)/5, 0, 1e-2, 0.9, 0.999, 1e-8, step)
		g.SetScalars(dh, h[:ops.HyperPerStep])
		if err := g.Replay(); err != nil {
			t.Fatal(err)
		}
		ref.Adam(p, m, v, gr, h, true, n)
	}
	opstest.Compare(t, "adam replayed 5 times with new scalars: params", down(t, g, dp), p, 0, 0)
	opstest.Compare(t, "exp_avg_sq", down(t, g, dv), v, 0, 0)

	err := g.Record(func() { g.SetScalars(dh, []float32{1}) }, 0)
	if err == nil || !strings.Contains(err.Error(), "freeze") {
		t.Fatalf("Record of a step that calls SetScalars = %v, want a refusal", err)
	}
}

// TestOptimizerParity trains with each new optimizer setting on CPU and GPU, 2 epochs of 20 steps:
// Adam with coupled weight decay under a cosine schedule after a warmup, Nesterov with weight decay
// under a step schedule, and AdamW with fc1 frozen (a model taken from another model's weights, as
// --init-from does). Weights agree within 1e-4; on the GPU the frozen layer's weights, bias and state
// keep their exact bytes; the step replayed as a CUDA graph (each step's scalars written with
// SetScalars between replays) gives the same bytes as plain launches.
func TestOptimizerParity(t *testing.T) {
	g := open(t)
	rng := rand.New(rand.NewPCG(13, 13))
	train, test := opstest.RandomSet(rng, 2000), opstest.RandomSet(rng, 100)
	cfg := model.NewConfig([]int{64}, ops.ReLU, model.CrossEntropy)
	var fc1 model.LayerSet
	fc1.Add(0)
	for _, h := range []model.Hyper{
		{Optimizer: model.Adam, LR: 1e-3, WeightDecay: 1e-2, Schedule: schedule.Params{Kind: schedule.Cosine, Warmup: 0.5}},
		{Optimizer: model.Nesterov, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Schedule: schedule.Params{Kind: schedule.Step, StepEpochs: 1, Gamma: 0.5}},
		{Optimizer: model.AdamW, LR: 2e-3, WeightDecay: 0.1, Freeze: fc1, Schedule: schedule.Params{Kind: schedule.OneCycle}},
	} {
		h.Epochs, h.BatchSize = 2, 100
		h.Beta1, h.Beta2, h.Eps = model.DefaultBeta1, model.DefaultBeta2, model.DefaultEps
		src, _ := model.New(cfg, 21)
		run := func(be ops.Backend, noGraphs bool) *model.Model {
			m, _ := model.New(cfg, 3)
			if err := m.TakeWeights(src); err != nil {
				t.Fatal(err)
			}
			tr := &model.Trainer{Backend: be, Model: m, Hyper: h, NoGraphs: noGraphs}
			if err := tr.Run(context.Background(), train, test); err != nil {
				t.Fatal(err)
			}
			if be == g && !noGraphs && tr.GraphErr != nil {
				t.Fatalf("%v: recording the step failed: %v", h.Optimizer, tr.GraphErr)
			}
			return m
		}
		mc := run(&cpu.Backend{}, true)
		mg := run(g, false)
		opstest.Compare(t, fmt.Sprintf("%v: weights after 40 steps", h.Optimizer), mg.Params, mc.Params, 1e-4, 0)
		plain := run(g, true)
		state := func(m *model.Model) []float32 {
			return append(append(append([]float32(nil), m.Params...), m.ExpAvg...), m.ExpAvgSq...)
		}
		if !opstest.SameBits(state(mg), state(plain)) || !opstest.SameBits(mg.Velocity, plain.Velocity) {
			t.Fatalf("%v: graph replay and plain launches give different bytes", h.Optimizer)
		}
		if !h.Freeze.Empty() {
			if !opstest.SameBits(mg.Weight(0), src.Weight(0)) || !opstest.SameBits(mg.Bias(0), src.Bias(0)) {
				t.Fatalf("%v: fc1 is frozen but changed on the GPU", h.Optimizer)
			}
			if n := len(src.Weight(0)) + len(src.Bias(0)); slices.ContainsFunc(mg.ExpAvg[:n], func(v float32) bool { return v != 0 }) {
				t.Fatalf("%v: fc1 is frozen but its Adam state changed on the GPU", h.Optimizer)
			}
			if opstest.SameBits(mg.Weight(1), src.Weight(1)) {
				t.Fatalf("%v: fc2 did not train on the GPU", h.Optimizer)
			}
		}
	}
}
