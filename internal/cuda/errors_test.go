//go:build cuda

package cuda

// GPU tests of the backend's life cycle and error paths, and of special values: a failed Open or a
// Close leaves nothing on the card; a failed recording (a cuBLAS refusal or a driver error while
// capturing) leaves the backend working; oversized tensors are refused on the host; NaN and ±Inf
// travel through the cuBLAS path, the fused bias+activation and the losses as on the CPU; TF32 math
// mode is applied and undone. They skip when no GPU can be opened.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// memUsed is the card's memory in use, read through g's context (made current on this thread again,
// since an Open on this thread may have changed the current context).
func memUsed(t *testing.T, g *Backend) int64 {
	t.Helper()
	if err := g.Bind(); err != nil {
		t.Fatal(err)
	}
	m, err := g.MemUsed()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOpenFailureReleasesContext: an Open that fails after its context exists (here a module the
// driver refuses) destroys the context, cuBLAS handle, stream and allocations it made. Three leaked
// contexts would hold hundreds of MiB of device memory.
func TestOpenFailureReleasesContext(t *testing.T) {
	g := open(t)
	before := memUsed(t, g)
	orig := moduleSource
	defer func() { moduleSource = orig }()
	moduleSource = func(m string) (string, error) {
		if m == kernels.SoftmaxCE.Module {
			return ".version 7.0\n.target sm_52\n.address_size 64\n.visible .entry softmax_ce()\n{\n\tbogus.op;\n\tret;\n}\n", nil
		}
		return orig(m)
	}
	for range 3 {
		b, err := Open(0)
		if err == nil {
			b.Close()
			t.Fatal("Open succeeded with a module the driver refuses")
		}
		if !strings.Contains(err.Error(), "softmax_ce.ptx") {
			t.Fatalf("Open error %q does not name the refused module", err)
		}
	}
	after := memUsed(t, g)
	t.Logf("device memory in use: %d MiB before three failed Opens, %d MiB after", before>>20, after>>20)
	if after-before > 64<<20 {
		t.Fatalf("three failed Opens left %d MiB in use on the card: the context or its allocations leaked", (after-before)>>20)
	}
}

// TestCloseReleases: a second backend with allocations, closed, leaves the card as it found it; a
// second Close does nothing.
func TestCloseReleases(t *testing.T) {
	g := open(t)
	before := memUsed(t, g)
	b, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Alloc(64 << 20); err != nil { // 256 MiB
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	after := memUsed(t, g)
	t.Logf("device memory in use: %d MiB before, %d MiB after a backend with 256 MiB was closed", before>>20, after>>20)
	if after-before > 64<<20 {
		t.Fatalf("Close left %d MiB in use on the card", (after-before)>>20)
	}
}

// TestFailedRecordingRecovers: a recording that fails, first because cuBLAS refuses an SGEMM inside
// it, then because a synchronous memset on the legacy stream breaks the capture, returns an error and
// leaves the backend usable: later SGEMMs and kernels run, Sync is clean, and a good step records and
// replays. (gorgonia.org/cu/blas kept its first error forever, so every later SGEMM was skipped.)
func TestFailedRecordingRecovers(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	const M, N, K = 33, 65, 17
	a, bm := opstest.Randn(rng, M*K), opstest.Randn(rng, K*N)
	da, db, dc := up(t, g, a), up(t, g, bm), up(t, g, opstest.NaNs(M*N))
	// lda = 1 < K: cuBLAS returns CUBLAS_STATUS_INVALID_VALUE without launching anything.
	err := g.Record(func() { g.gemm(false, false, M, N, K, dev(da), 1, dev(db), N, dev(dc), N) }, 0)
	if err == nil || !strings.Contains(err.Error(), "SGEMM") {
		t.Fatalf("Record around a refused SGEMM: err = %v, want the SGEMM's error", err)
	}
	t.Logf("recording with a refused SGEMM: %v", err)
	zeros := up(t, g, make([]float32, N)) // nothing may be allocated while capturing
	err = g.Record(func() {
		g.launch(kernels.BiasAct, M*N, ptr(dc), ptr(zeros), M, N, uint64(ops.Identity))
		g.Zero(dc)
	}, 0)
	t.Logf("recording with a legacy-stream memset: %v", err)

	want := make([]float32, M*N)
	ref.Gemm(false, false, M, N, K, a, K, bm, N, want, N)
	g.gemm(false, false, M, N, K, dev(da), K, dev(db), N, dev(dc), N)
	opstest.Compare(t, "SGEMM after failed recordings", down(t, g, dc), want, 1e-4*math.Sqrt(K), 1e-4)
	if err := g.Sync(); err != nil {
		t.Fatalf("Sync after failed recordings: %v", err)
	}
	dd := up(t, g, opstest.NaNs(M*N))
	if err := g.Record(func() { g.gemm(false, false, M, N, K, dev(da), K, dev(db), N, dev(dd), N) }, 0); err != nil {
		t.Fatalf("a good recording after failed ones: %v", err)
	}
	if err := g.SetCursor(0); err != nil {
		t.Fatal(err)
	}
	if err := g.Replay(); err != nil {
		t.Fatal(err)
	}
	opstest.Compare(t, "replayed SGEMM after failed recordings", down(t, g, dd), want, 1e-4*math.Sqrt(K), 1e-4)
}

// TestHugeTensorsRefused: the kernels index with 32 bits, so a tensor of 2^31 floats is refused before
// anything is allocated.
func TestHugeTensorsRefused(t *testing.T) {
	g := open(t)
	if _, err := g.Alloc(1 << 31); err == nil || !strings.Contains(err.Error(), "32 bits") {
		t.Fatalf("Alloc(2^31) = %v, want a refusal naming the 32-bit indices", err)
	}
	if _, err := g.Alloc((1 << 16) * (1 << 16)); err == nil {
		t.Fatal("Alloc of a 65536-row batch of a 65536-wide layer succeeded")
	}
}

// TestSpecialValues: NaN, ±Inf and signed zeros through the cuBLAS path (a 17-output layer of a
// single input with weights 1 and bias 0 passes each input through), through bias_act alone, and
// through both losses, exactly as on the CPU (within the transcendental tolerance for sigmoid and
// tanh; a NaN must be a NaN, an Inf the same Inf).
func TestSpecialValues(t *testing.T) {
	g := open(t)
	rng := opstest.Rand(t)
	sprinkle := func(v []float32) []float32 {
		sp := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 100, -100}
		for _, x := range sp {
			v[rng.IntN(len(v))] = x
		}
		return v
	}
	const B, OC = 257, 17
	for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh, ops.Identity} {
		tol := 0.0
		if act == ops.Sigmoid || act == ops.Tanh {
			tol = opstest.Default.Transcendental
		}
		x := sprinkle(opstest.Randn(rng, B))
		w, bias := make([]float32, OC), make([]float32, OC)
		for i := range w {
			w[i] = 1
		}
		want := make([]float32, B*OC)
		ref.MatmulForward(want, x, w, bias, act, B, 1, OC)
		out := up(t, g, opstest.NaNs(B*OC))
		g.MatmulForward(out, up(t, g, x), up(t, g, w), up(t, g, bias), act, B, 1, OC)
		opstest.Compare(t, fmt.Sprintf("MatmulForward (cuBLAS path) %v on NaN/Inf", act), down(t, g, out), want, tol, tol)

		v, bb := sprinkle(opstest.Randn(rng, B*OC)), sprinkle(opstest.Randn(rng, OC))
		want = append([]float32(nil), v...)
		ref.BiasActivationForward(want, bb, act, B, OC)
		dv := up(t, g, v)
		g.launch(kernels.BiasAct, B*OC, ptr(dv), ptr(up(t, g, bb)), B, OC, uint64(act))
		opstest.Compare(t, fmt.Sprintf("bias_act %v on NaN/Inf", act), down(t, g, dv), want, tol, tol)
	}
	set := opstest.RandomSet(rng, 40)
	d, err := g.Resident(set)
	if err != nil {
		t.Fatal(err)
	}
	const Bl, K = 32, ops.Classes
	for _, loss := range []string{"CrossEntropy", "MSE"} {
		z := opstest.Randn(rng, Bl*K)
		for i, x := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			z[(3*i+1)*K+rng.IntN(K)] = x
		}
		z[10*K] = float32(math.NaN()) // first in its row: the CPU's argmax is then 0
		want := make([]float32, Bl*K)
		f := ref.CrossEntropy[float32]
		if loss == "MSE" {
			f = ref.MSE[float32]
		}
		sum, correct := f(want, z, set.Labels, Bl, K)
		dz, st := up(t, g, opstest.NaNs(Bl*K)), up(t, g, []float32{0, 0})
		if loss == "MSE" {
			g.MSE(dz, st, up(t, g, z), d, 0, Bl, K)
		} else {
			g.CrossEntropy(dz, st, up(t, g, z), d, 0, Bl, K)
		}
		tol := opstest.Default.Loss
		opstest.Compare(t, loss+" gradient on NaN/Inf logits", down(t, g, dz), want, tol*1e-2, tol)
		stats := down(t, g, st)
		if !math.IsNaN(float64(stats[0])) || !math.IsNaN(sum) {
			t.Fatalf("%s loss on NaN/Inf logits: GPU %v, CPU %v; want NaN on both", loss, stats[0], sum)
		}
		if int(stats[1]) != correct {
			t.Fatalf("%s correct count on NaN/Inf logits: GPU %v, CPU %d", loss, stats[1], correct)
		}
	}
	// A loss over no classes is refused on the host.
	g.MSE(up(t, g, []float32{0}), up(t, g, []float32{0, 0}), up(t, g, []float32{0}), d, 0, 1, 0)
	if err := g.Sync(); err == nil || !strings.Contains(err.Error(), "mse of 0 classes") {
		t.Fatalf("MSE with K = 0: Sync = %v, want a refusal", err)
	}
	g.err = nil // the refusal is the backend's sticky error; clear it for the tests after this one
}

// TestTF32: with SetPrecision(TF32) the GEMMs round their inputs to TF32 (about 1e-3 relative per
// product), and back at FP32 they are exact to float32 rounding again.
func TestTF32(t *testing.T) {
	g := open(t)
	defer g.SetPrecision(FP32)
	rng := opstest.Rand(t)
	const M, N, K = 256, 256, 256
	a, bm := opstest.Randn(rng, M*K), opstest.Randn(rng, K*N)
	want := make([]float32, M*N)
	ref.Gemm(false, true, M, N, K, a, K, bm, K, want, N)
	da, db := up(t, g, a), up(t, g, bm)
	run := func(p Precision) []float32 {
		if err := g.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		c := up(t, g, opstest.NaNs(M*N))
		g.gemm(false, true, M, N, K, dev(da), K, dev(db), K, dev(c), N)
		return down(t, g, c)
	}
	tf := run(TF32)
	opstest.Compare(t, "SGEMM in TF32", tf, want, 4e-3*math.Sqrt(K), 1e-2)
	fp := run(FP32)
	opstest.Compare(t, "SGEMM back in FP32", fp, want, 1e-4*math.Sqrt(K), 1e-4)
	worst := 0.0
	for i := range tf {
		worst = max(worst, math.Abs(float64(tf[i]-fp[i])))
	}
	t.Logf("largest TF32 - FP32 difference over %d×%d×%d: %.3g (0 would mean cuBLAS did not use TF32)", M, N, K, worst)
}
