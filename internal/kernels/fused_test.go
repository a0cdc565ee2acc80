package kernels

// The fused step's kernels (fc_in.ptx, head.ptx) in the interpreter, against compositions of their
// ops' CPU twins, at shapes around their tile and block edges.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/ref"
)

// fcIn runs fc_in then fc_reduce the way internal/cuda's launcher does: kc = 112 (or less for narrow
// inputs), grid = S * CT * RT blocks of 256.
func fcIn(t *testing.T, e *emu, x, h, pix, order uint64, start int, cursor uint64, w, bias uint64, act ops.Activation, B, C, OC int) {
	t.Helper()
	kc := min(112, (C+3)/4*4)
	S := (C + kc - 1) / kc
	blocks := S * ((OC + 31) / 32) * ((B + 31) / 32)
	part := e.alloc(4 * S * B * OC)
	must(t, e.launchEntry(FcIn, blocks, part, x, pix, order, uint64(start), cursor, w, uint64(B), uint64(C), uint64(OC), uint64(kc)))
	must(t, e.launchEntry(FcReduce, B*OC, h, part, bias, uint64(B), uint64(OC), uint64(S), uint64(act)))
}

// gatherAny is ref.Gather for images of any width C.
func gatherAny(x []float32, pix []uint8, order []int32, start, B, C int) {
	for b := range B {
		for i := range C {
			x[b*C+i] = ref.NormTable[pix[int(order[start+b])*C+i]]
		}
	}
}

func TestEmuFcIn(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{5, 784, 3}, {33, 40, 33}, {32, 113, 40}, {7, 9, 1}} {
		B, C, OC := s[0], s[1], s[2]
		N := B + 5
		pix := make([]uint8, N*C)
		for i := range pix {
			pix[i] = uint8(rng.IntN(256))
		}
		order := make([]int32, N)
		for i, j := range rng.Perm(N) {
			order[i] = int32(j)
		}
		w, bias := opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
		// Every activation on the narrow shapes, ReLU alone on the wide ones (the interpreter is slow,
		// and the activation is fc_reduce's alone); with and without a cursor.
		for i, act := range acts {
			if C > 64 && i > 0 {
				break
			}
			for _, cur := range []int{0, 2} {
				if cur > 0 && i > 0 {
					continue
				}
				e := newEmu()
				start := 1
				wantX := make([]float32, B*C)
				gatherAny(wantX, pix, order, start+cur, B, C)
				want := make([]float32, B*OC)
				ref.MatmulForward(want, wantX, w, bias, act, B, C, OC)
				x, h := e.alloc(4*B*C), e.alloc(4*B*OC)
				curArg := uint64(0)
				if cur > 0 {
					curArg = e.i32s([]int32{int32(cur)})
				}
				fcIn(t, e, x, h, e.bytes(pix), e.i32s(order), start, curArg, e.f32s(w), e.f32s(bias), act, B, C, OC)
				what := fmt.Sprintf("fc_in %v %v cursor %d", s, act, cur)
				opstest.Compare(t, what+" x", e.getF32(x, B*C), wantX, 0, 0)
				opstest.Compare(t, what+" out", e.getF32(h, B*OC), want, 2e-6*math.Sqrt(float64(C))+actTol(act), 1e-5)
			}
		}
	}
}

// TestEmuFcInSpecials: NaN and ±Inf weights travel through the split-K sums and the activation as on
// the CPU (the pixels themselves are always finite).
func TestEmuFcInSpecials(t *testing.T) {
	rng := opstest.Rand(t)
	const B, C, OC = 9, 50, 20
	pix := make([]uint8, B*C)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	order := make([]int32, B)
	for i := range order {
		order[i] = int32(i)
	}
	w, bias := opstest.Randn(rng, OC*C), sprinkle(rng, opstest.Randn(rng, OC))
	w[3*C+7] = float32(math.NaN())
	w[5*C] = float32(math.Inf(1))
	w[6*C+49] = float32(math.Inf(-1))
	for _, act := range acts {
		e := newEmu()
		x := make([]float32, B*C)
		gatherAny(x, pix, order, 0, B, C)
		want := make([]float32, B*OC)
		ref.MatmulForward(want, x, w, bias, act, B, C, OC)
		dx, h := e.alloc(4*B*C), e.alloc(4*B*OC)
		fcIn(t, e, dx, h, e.bytes(pix), e.i32s(order), 0, 0, e.f32s(w), e.f32s(bias), act, B, C, OC)
		opstest.Compare(t, fmt.Sprintf("fc_in %v with NaN/Inf weights", act), e.getF32(h, B*OC), want, 2e-6*math.Sqrt(C)+actTol(act), 1e-5)
	}
}

func TestEmuFcDW(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{10, 40, 33}, {1, 1, 1}, {130, 33, 31}, {7, 64, 64}} {
		B, C, OC := s[0], s[1], s[2]
		e := newEmu()
		dout, inp := sprinkle(rng, opstest.Randn(rng, B*OC)), opstest.Randn(rng, B*C)
		want, wantB := make([]float32, OC*C), make([]float32, OC)
		ref.MatmulBackward(nil, want, wantB, dout, inp, nil, B, C, OC)
		dw := e.alloc(4 * OC * C)
		blocks := ((OC + 31) / 32) * ((C + 31) / 32)
		must(t, e.launchEntry(FcDW, blocks, dw, e.f32s(dout), e.f32s(inp), uint64(B), uint64(C), uint64(OC)))
		opstest.Compare(t, fmt.Sprintf("fc_dw %v", s), e.getF32(dw, OC*C), want, 1e-6*math.Sqrt(float64(B)), 1e-5)
	}
}

// headCase runs head_ce and head_reduce on a hidden output h (B, C) = act(random), against the CPU
// ops in order: MatmulForward (identity), CrossEntropy, MatmulBackward, ActivationBackward and the
// previous layer's bias sum (ColumnSums).
func headCase(t *testing.T, rng *rand.Rand, B, C, OC int, act ops.Activation, cur int, special bool) {
	t.Helper()
	e := newEmu()
	pre := opstest.Randn(rng, B*C)
	h := make([]float32, B*C)
	ref.ActivationForward(h, pre, act, B*C)
	w, bias := opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
	if special {
		h[rng.IntN(B*C)] = float32(math.NaN())
		w[rng.IntN(OC*C)] = float32(math.Inf(1))
	}
	start := 3
	labels := make([]uint8, start+cur+B+2)
	for i := range labels {
		labels[i] = uint8(rng.IntN(OC))
	}
	y := labels[start+cur:]

	z := make([]float32, B*OC)
	ref.MatmulForward(z, h, w, bias, ops.Identity, B, C, OC)
	dz := make([]float32, B*OC)
	loss, correct := ref.CrossEntropy(dz, z, y, B, OC)
	dh, dw, db := make([]float32, B*C), make([]float32, OC*C), make([]float32, OC)
	ref.MatmulBackward(dh, dw, db, dz, h, w, B, C, OC)
	ref.ActivationBackward(dh, dh, h, act, B*C)
	dbp := make([]float32, C)
	ref.ColumnSums(dbp, dh, B, C)

	nblk := HeadCE.Grid(B)
	P := OC*C + OC + C + 2
	part := e.alloc(4 * nblk * P)
	gz, gdz, gdh := e.alloc(4*B*OC), e.alloc(4*B*OC), e.alloc(4*B*C)
	gdw, gdb, gdbp := e.alloc(4*OC*C), e.alloc(4*OC), e.alloc(4*C)
	stats := e.f32s([]float32{1.5, 2})
	curArg := uint64(0)
	if cur > 0 {
		curArg = e.i32s([]int32{int32(cur)})
	}
	must(t, e.launchEntry(HeadCE, B, part, gz, gdz, gdh, e.f32s(h), e.f32s(w), e.f32s(bias), e.bytes(labels),
		uint64(start), curArg, uint64(B), uint64(C), uint64(OC), uint64(act)))
	must(t, e.launchEntry(HeadReduce, P, gdw, gdb, gdbp, stats, part, uint64(nblk), uint64(C), uint64(OC)))

	what := fmt.Sprintf("head B=%d C=%d OC=%d %v cursor %d", B, C, OC, act, cur)
	if special {
		what += " NaN/Inf"
	}
	gtol := 2e-6 * math.Sqrt(float64(C))
	opstest.Compare(t, what+" z", e.getF32(gz, B*OC), z, gtol, 1e-5)
	opstest.Compare(t, what+" dz", e.getF32(gdz, B*OC), dz, 1e-7, 1e-5)
	opstest.Compare(t, what+" dweight", e.getF32(gdw, OC*C), dw, 1e-6*math.Sqrt(float64(B)), 1e-4)
	opstest.Compare(t, what+" dbias", e.getF32(gdb, OC), db, 1e-6*math.Sqrt(float64(B)), 1e-4)
	opstest.Compare(t, what+" dh", e.getF32(gdh, B*C), dh, 1e-6, 1e-4)
	opstest.Compare(t, what+" dbprev", e.getF32(gdbp, C), dbp, 1e-6*math.Sqrt(float64(B)), 1e-4)
	opstest.Compare(t, what+" stats", e.getF32(stats, 2), []float32{1.5 + float32(loss), 2 + float32(correct)}, 1e-5, 1e-5)
}

func TestEmuHead(t *testing.T) {
	rng := opstest.Rand(t)
	for _, s := range [][3]int{{21, 40, 10}, {8, 1, 1}, {1, 3, 16}, {17, 129, 10}, {9, 256, 3}} {
		for _, act := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
			headCase(t, rng, s[0], s[1], s[2], act, 0, false)
		}
	}
	headCase(t, rng, 100, 128, 10, ops.ReLU, 4, false)
	headCase(t, rng, 13, 20, 10, ops.ReLU, 0, true)
	headCase(t, rng, 13, 20, 10, ops.Tanh, 2, true)
}

// TestEmuHeadNoPrev: with dbprev = 0 head_reduce writes the other sums and nothing else.
func TestEmuHeadNoPrev(t *testing.T) {
	rng := opstest.Rand(t)
	e := newEmu()
	const B, C, OC = 10, 12, 10
	h, w, bias := opstest.Randn(rng, B*C), opstest.Randn(rng, OC*C), opstest.Randn(rng, OC)
	labels := make([]uint8, B)
	nblk, P := HeadCE.Grid(B), OC*C+OC+C+2
	part := e.alloc(4 * nblk * P)
	must(t, e.launchEntry(HeadCE, B, part, e.alloc(4*B*OC), e.alloc(4*B*OC), e.alloc(4*B*C), e.f32s(h), e.f32s(w), e.f32s(bias),
		e.bytes(labels), 0, 0, B, C, OC, uint64(ops.Identity)))
	dw, db := e.alloc(4*OC*C), e.alloc(4*OC)
	must(t, e.launchEntry(HeadReduce, P, dw, db, 0, e.f32s([]float32{0, 0}), part, uint64(nblk), C, OC))
	for _, v := range e.getF32(db, OC) {
		if math.IsNaN(float64(v)) {
			t.Fatal("head_reduce without dbprev left dbias unwritten")
		}
	}
}
