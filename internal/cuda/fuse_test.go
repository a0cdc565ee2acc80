//go:build cuda

package cuda

// GPU tests of the fused step (fuse.go, internal/kernels/fc_in.ptx and head.ptx): the kernels alone
// against compositions of their ops' CPU twins at the training shapes and around their edges, and a
// whole step through the Backend with fusion on against the same step with fusion off and on the CPU.
// (TestParity, TestGraphReplay and TestConformance in cuda_test.go run with fusion off and on too.)

import (
	"fmt"
	"math"
	"testing"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// withFusion runs f with the backend's fusion set to on, then restores it.
func withFusion(g *Backend, on bool, f func()) {
	old := g.Fusion()
	g.SetFusion(on)
	defer g.SetFusion(old)
	f()
}

func TestFcInKernels(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	set := opstest.RandomSet(rng, 1100)
	order := make([]int32, set.N)
	for i, j := range rng.Perm(set.N) {
		order[i] = int32(j)
	}
	d, err := g.Resident(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetOrder(d, order); err != nil {
		t.Fatal(err)
	}
	dd := d.(*data)
	const C = ops.Input
	for _, s := range [][2]int{{100, 128}, {1000, 128}, {1, 1}, {33, 31}, {64, 33}, {31, 130}, {257, 64}} {
		B, OC := s[0], s[1]
		w, bias := opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
		dw, db := up(t, g, w), up(t, g, bias)
		for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh, ops.Identity} {
			start := 7
			wantX := make([]float32, B*C)
			ref.Gather(wantX, set.Images, order, start, B)
			want := make([]float32, B*OC)
			ref.MatmulForward(want, wantX, w, bias, act, B, C, OC)
			S := (C + fcInKC - 1) / fcInKC
			part, x, h := up(t, g, opstest.NaNs(S*B*OC)), up(t, g, opstest.NaNs(B*C)), up(t, g, opstest.NaNs(B*OC))
			blocks := S * ((OC + 31) / 32) * ((B + 31) / 32)
			g.launch(kernels.FcIn, blocks, ptr(part), ptr(x), uint64(dd.pix), uint64(dd.order), uint64(start), 0, ptr(dw), uint64(B), C, uint64(OC), fcInKC)
			g.launch(kernels.FcReduce, B*OC, ptr(h), ptr(part), ptr(db), uint64(B), uint64(OC), uint64(S), uint64(act))
			tol := opstest.Default.GEMM * math.Sqrt(C)
			if act == ops.Sigmoid || act == ops.Tanh {
				tol += opstest.Default.Transcendental
			}
			what := fmt.Sprintf("fc_in %d×%d×%d %v", B, OC, C, act)
			opstest.Compare(t, what+" x", down(t, g, x), wantX, 0, 0)
			opstest.Compare(t, what+" out", down(t, g, h), want, tol, 1e-4)
		}
	}
}

func TestFcDWKernel(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{100, 784, 128}, {256, 784, 128}, {1, 1, 1}, {129, 33, 31}, {17, 784, 64}} {
		B, C, OC := s[0], s[1], s[2]
		dout, inp := opstest.Randn(rng, B*OC), opstest.Randn(rng, B*C)
		want, wantB := make([]float32, OC*C), make([]float32, OC)
		ref.MatmulBackward(nil, want, wantB, dout, inp, nil, B, C, OC)
		dw := up(t, g, opstest.NaNs(OC*C))
		g.launch(kernels.FcDW, ((OC+31)/32)*((C+31)/32), ptr(dw), ptr(up(t, g, dout)), ptr(up(t, g, inp)), uint64(B), uint64(C), uint64(OC))
		opstest.Compare(t, fmt.Sprintf("fc_dw %v", s), down(t, g, dw), want, opstest.Default.GEMM*math.Sqrt(float64(B)), 1e-4)
	}
}

func TestHeadKernels(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{100, 128, 10}, {1000, 128, 10}, {1, 1, 1}, {9, 256, 16}, {17, 33, 10}, {100, 48, 10}} {
		B, C, OC := s[0], s[1], s[2]
		set := opstest.RandomSet(rng, B+5)
		for i := range set.Labels {
			set.Labels[i] %= uint8(OC)
		}
		d, err := g.Resident(set)
		if err != nil {
			t.Fatal(err)
		}
		for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
			h := make([]float32, B*C)
			ref.ActivationForward(h, opstest.Randn(rng, B*C), act, B*C)
			w, bias := opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
			start := 3
			y := set.Labels[start:]
			z := make([]float32, B*OC)
			ref.MatmulForward(z, h, w, bias, ops.Identity, B, C, OC)
			dz := make([]float32, B*OC)
			loss, correct := ref.CrossEntropy(dz, z, y, B, OC)
			dh, dw, db := make([]float32, B*C), make([]float32, OC*C), make([]float32, OC)
			ref.MatmulBackward(dh, dw, db, dz, h, w, B, C, OC)
			ref.ActivationBackward(dh, dh, h, act, B*C)
			dbp := make([]float32, C)
			ref.ColumnSums(dbp, dh, B, C)

			nblk, P := kernels.HeadCE.Grid(B), OC*C+OC+C+2
			part := up(t, g, opstest.NaNs(nblk*P))
			gz, gdz, gdh := up(t, g, opstest.NaNs(B*OC)), up(t, g, opstest.NaNs(B*OC)), up(t, g, opstest.NaNs(B*C))
			gdw, gdb, gdbp := up(t, g, opstest.NaNs(OC*C)), up(t, g, opstest.NaNs(OC)), up(t, g, opstest.NaNs(C))
			stats := up(t, g, []float32{1.5, 2})
			g.launch(kernels.HeadCE, B, ptr(part), ptr(gz), ptr(gdz), ptr(gdh), ptr(up(t, g, h)), ptr(up(t, g, w)), ptr(up(t, g, bias)),
				uint64(d.(*data).labels), uint64(start), 0, uint64(B), uint64(C), uint64(OC), uint64(act))
			g.launch(kernels.HeadReduce, P, ptr(gdw), ptr(gdb), ptr(gdbp), ptr(stats), ptr(part), uint64(nblk), uint64(C), uint64(OC))
			what := fmt.Sprintf("head %v %v", s, act)
			gt := opstest.Default.GEMM
			opstest.Compare(t, what+" z", down(t, g, gz), z, gt*math.Sqrt(float64(C)), 1e-4)
			opstest.Compare(t, what+" dz", down(t, g, gdz), dz, opstest.Default.Loss*1e-2, opstest.Default.Loss)
			opstest.Compare(t, what+" dweight", down(t, g, gdw), dw, gt*math.Sqrt(float64(B)), 1e-4)
			opstest.Compare(t, what+" dbias", down(t, g, gdb), db, gt*math.Sqrt(float64(B)), 1e-4)
			opstest.Compare(t, what+" dh", down(t, g, gdh), dh, 1e-6, 1e-4)
			opstest.Compare(t, what+" dbprev", down(t, g, gdbp), dbp, gt*math.Sqrt(float64(B)), 1e-4)
			opstest.Compare(t, what+" stats", down(t, g, stats), []float32{1.5 + float32(loss), 2 + float32(correct)},
				opstest.Default.Loss, opstest.Default.Loss)
		}
	}
}

// TestFusedStep: one training step of the classic model through the Backend's ops (as model.Net
// issues them) with fusion on, against the same step with fusion off: every buffer the step writes
// within tolerance, and the fused kernels really ran (fc_in once, head once).
func TestFusedStep(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	set := opstest.RandomSet(rng, 500)
	cfg := model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy)
	m, err := model.New(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	const B = 100
	run := func(fuse bool) (params, vel []float32, logits []float32, stats [2]float64) {
		withFusion(g, fuse, func() {
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
			d, err := g.Resident(set)
			if err != nil {
				t.Fatal(err)
			}
			fc, hd, dw := g.fusedFcIn, g.fusedHead, g.fusedDW
			for s := range 3 {
				net.Forward(d, 100*s, B)
				net.Loss(d, 100*s, B)
				net.Backward(B)
				net.Update()
			}
			logits = make([]float32, B*ops.Classes)
			if err := net.Logits(logits, B); err != nil {
				t.Fatal(err)
			}
			loss, correct, err := net.Stats()
			if err != nil {
				t.Fatal(err)
			}
			stats = [2]float64{loss, float64(correct)}
			if fuse && (g.fusedFcIn-fc != 3 || g.fusedHead-hd != 3 || g.fusedDW-dw != 3) {
				t.Fatalf("fused step: fc_in ran %d times, head %d and fc_dw %d in 3 steps, want 3 each", g.fusedFcIn-fc, g.fusedHead-hd, g.fusedDW-dw)
			}
			mm := *m
			mm.Params, mm.Velocity = make([]float32, len(m.Params)), make([]float32, len(m.Velocity))
			if err := net.Store(&mm); err != nil {
				t.Fatal(err)
			}
			params, vel = mm.Params, mm.Velocity
		})
		return
	}
	p0, v0, z0, s0 := run(false)
	p1, v1, z1, s1 := run(true)
	opstest.Compare(t, "fused step: params after 3 steps", p1, p0, 1e-5, 1e-4)
	opstest.Compare(t, "fused step: momentum after 3 steps", v1, v0, 1e-5, 1e-4)
	opstest.Compare(t, "fused step: logits of the last step", z1, z0, 1e-4, 1e-4)
	// The sums run in other orders, so a near-tie between two logits may flip one row's argmax.
	if math.Abs(s1[0]-s0[0]) > 1e-4*math.Abs(s0[0]) || math.Abs(s1[1]-s0[1]) > 1 {
		t.Fatalf("fused step: stats (loss sum, correct) %v, unfused %v", s1, s0)
	}
}

// TestFusedEvaluate: evaluation (fc_in at batches of 1000, the rest unfused) gives the unfused
// accuracy and loss.
func TestFusedEvaluate(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	set := opstest.RandomSet(rng, 2500)
	m, err := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 4)
	if err != nil {
		t.Fatal(err)
	}
	var ev [2]model.Eval
	for i, fuse := range []bool{false, true} {
		withFusion(g, fuse, func() {
			if ev[i], err = model.Evaluate(g, m, set); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The first layer's sums run in another order, so a near-tie may flip: one sample in either way.
	if math.Abs(ev[0].Accuracy-ev[1].Accuracy) > 1.5/float64(set.N) || math.Abs(ev[0].Loss-ev[1].Loss) > 1e-5*ev[0].Loss {
		t.Fatalf("Evaluate fused: accuracy %v loss %v; unfused %v, %v", ev[1].Accuracy, ev[1].Loss, ev[0].Accuracy, ev[0].Loss)
	}
}
