//go:build cuda

package cuda

// This file is the GPU side of every op of the contract (internal/ops), in the order of the CPU
// backend's methods (internal/cpu/backend.go), so the two read side by side. Each op's launcher owns
// its launch geometry (kernels.Entry.Grid) and checks the launch; the large GEMMs go to cuBLAS.

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/cu"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
)

// launch runs entry e over n work items with 64-bit arguments, checking the launch. Queued ops
// (fuse.go) are emitted first, so a launch from outside the queue keeps its place in the stream.
func (b *Backend) launch(e kernels.Entry, n int, args ...uint64) {
	b.flush()
	if b.err != nil || b.skipKernels {
		return
	}
	if len(args) != len(e.Params) { // a launcher out of step with its PTX (kernels.Entry.Params)
		b.fail(fmt.Errorf("cuda: %s: %d arguments for %d parameters", e.Name, len(args), len(e.Params)))
		return
	}
	if n > maxFloats { // Alloc refuses tensors this long, so no launch should see it
		b.fail(fmt.Errorf("cuda: %s over %d items: the kernels index with 32 bits", e.Name, n))
		return
	}
	grid := e.Grid(n)
	if grid == 0 {
		return
	}
	copy(b.argv[:], args)
	err := b.fns[e.Name].Launch(grid, 1, 1, e.Block, 1, 1, 0, b.stream, b.argp[:len(args)])
	if err != nil {
		b.fail(fmt.Errorf("cuda: %s: launch of %d×%d: %v", e.Name, grid, e.Block, err))
	}
}

func ptr(t ops.Tensor) uint64 { return uint64(dev(t).ptr) }

// cursorArg is the cursor's address while a step is being recorded, else 0 (no cursor).
func (b *Backend) cursorArg() uint64 {
	if b.capturing {
		return uint64(b.cursor)
	}
	return 0
}

func f32bits(f float32) uint64 { return uint64(math.Float32bits(f)) }

// SetEpoch writes the epoch to the device word the augment kernel reads, with an asynchronous 4-byte
// memset on the backend's stream, as SetScalars writes its values: ordered between the launches (or
// graph replays) before and after it (ops queued for the fused step are emitted first), never waiting
// for the GPU, and refused inside a recording, which would freeze it. A data set without augmentation
// has nothing to set.
func (b *Backend) SetEpoch(md ops.Data, epoch int) {
	b.flush() // a queued Gather of the last epoch must read the old value
	d := md.(*data)
	if b.err != nil || d.plan == nil {
		return
	}
	if b.capturing {
		b.fail(errors.New("cuda: SetEpoch inside a recorded step would freeze the epoch"))
		return
	}
	if err := cu.MemsetD32Async(d.epoch, uint(uint32(epoch)), 1, b.stream); err != nil {
		b.fail(fmt.Errorf("cuda: SetEpoch: %v", err))
	}
}

// Gather launches gather_normalize, or augment (one block of 784 threads per image) when d has an
// augmentation plan: the plan's constants as float32 bits, its taps and the epoch as device pointers,
// so that a replayed step deforms each epoch's batches with that epoch's draws.
func (b *Backend) Gather(x ops.Tensor, md ops.Data, start, B int) {
	d := md.(*data)
	if b.queueing() {
		b.enqueue(qop{kind: qGather, a: dev(x), data: d, start: start, B: B, cursor: b.cursorArg()})
		return
	}
	if pl := d.plan; pl != nil {
		taps := uint64(0)
		if pl.Mode == augment.Elastic {
			taps = uint64(d.taps)
		}
		b.launch(kernels.Augment, B, ptr(x), uint64(d.pix), uint64(d.order), uint64(start), b.cursorArg(), uint64(B),
			uint64(d.epoch), d.seed, taps, uint64(pl.Radius), f32bits(pl.Rotation), f32bits(pl.Scale), f32bits(pl.Shear),
			f32bits(pl.Translate), f32bits(pl.Alpha))
		return
	}
	b.launch(kernels.GatherNormalize, B*mnist.Pixels, ptr(x), uint64(d.pix), uint64(d.order), uint64(start), b.cursorArg(), uint64(B))
}

// gemm computes the row-major C (M, N) = op(A) · op(B) with cuBLAS, which is column-major.
//
// A row-major matrix X (r × c, leading dimension ld) is, read column-major, Xᵀ (c × r) with the same
// ld. So the row-major C is the column-major Cᵀ (N × M), and
//
//	Cᵀ = (op(A)·op(B))ᵀ = op(B)ᵀ · op(A)ᵀ.
//
// cuBLAS is therefore called with its "A" = our B and its "B" = our A, m = N, n = M, k = K:
//   - our B not transposed (stored K × N): read column-major it is op(B)ᵀ already → NoTrans, ld = ldb;
//     our B transposed (stored N × K): read column-major it is op(B) → Trans, ld = ldb;
//   - the same for our A with m and n swapped.
//
// Leading dimensions pass through unchanged.
func (b *Backend) gemm(tA, tB bool, M, N, K int, a Tensor, lda int, bm Tensor, ldb int, c Tensor, ldc int) {
	b.flush()
	if b.err != nil || M == 0 || N == 0 {
		return
	}
	if err := b.blas.sgemm(tB, tA, N, M, K, uint64(bm.ptr), ldb, uint64(a.ptr), lda, uint64(c.ptr), ldc); err != nil {
		b.fail(fmt.Errorf("cuda: SGEMM %d×%d×%d: %v", M, N, K, err))
	}
}

// MatmulForward: out = act(inp · weightᵀ + bias): one SGEMM, then bias_act; for a small layer
// (small(B, C, OC)) one linear_small launch does all three.
func (b *Backend) MatmulForward(out, inp, weight, bias ops.Tensor, act ops.Activation, B, C, OC int) {
	if b.queueing() {
		b.enqueue(qop{kind: qForward, a: dev(out), b: dev(inp), c: dev(weight), d: dev(bias), act: act, B: B, C: C, OC: OC})
		return
	}
	if small(B, C, OC) {
		b.launch(kernels.LinearSmall, B*OC, ptr(out), ptr(inp), ptr(weight), ptr(bias), uint64(B), uint64(C), uint64(OC), uint64(act))
		return
	}
	b.gemm(false, true, B, OC, C, dev(inp), C, dev(weight), C, dev(out), OC)
	b.launch(kernels.BiasAct, B*OC, ptr(out), ptr(bias), uint64(B), uint64(OC), uint64(act))
}

// MatmulBackward: dinp = dout·weight (skipped when nil), dweight = doutᵀ·inp, dbias = column sums of
// dout. For a small layer (small(B, C, OC): the output layer) input_grad computes dinp and one
// grad_sums launch gives dweight and dbias together. Otherwise the two GEMMs go to cuBLAS and
// grad_sums (cols = 0) sums the bias gradient.
func (b *Backend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight ops.Tensor, B, C, OC int) {
	if b.queueing() {
		b.enqueue(qop{kind: qBackward, a: dev(dinp), b: dev(dweight), c: dev(dbias), d: dev(dout), e: dev(inp), f: dev(weight), B: B, C: C, OC: OC})
		return
	}
	if small(B, C, OC) {
		if dinp != nil {
			b.launch(kernels.InputGrad, B*C, ptr(dinp), ptr(dout), ptr(weight), uint64(B), uint64(C), uint64(OC))
		}
		b.launch(kernels.GradSums, OC*(C+1), ptr(dweight), ptr(dbias), ptr(dout), ptr(inp), uint64(B), uint64(C), uint64(OC))
		return
	}
	if dinp != nil {
		b.gemm(false, false, B, C, OC, dev(dout), OC, dev(weight), C, dev(dinp), C)
	}
	b.gemm(true, false, OC, C, B, dev(dout), OC, dev(inp), C, dev(dweight), C)
	b.launch(kernels.GradSums, OC, 0, ptr(dbias), ptr(dout), 0, uint64(B), 0, uint64(OC))
}

// small reports whether a layer (batch B, C inputs, OC outputs) goes to the hand-written small-layer
// kernels (linear_small, input_grad, grad_sums) instead of cuBLAS. cuBLAS is slow on such shapes
// (measured on an H100 against these kernels; the figures are in bench/NOTES.md, GPU). The kernels
// spread one output over 8 warps, so they are meant for a few thousand outputs of short sums.
func small(B, C, OC int) bool { return OC <= 16 && B*C <= 1<<16 }

// ActivationBackward launches act_backward.
func (b *Backend) ActivationBackward(dinp, dout, out ops.Tensor, act ops.Activation, N int) {
	if b.queueing() {
		b.enqueue(qop{kind: qActBackward, a: dev(dinp), b: dev(dout), c: dev(out), act: act, N: N})
		return
	}
	b.launch(kernels.ActBackward, N, ptr(dinp), ptr(dout), ptr(out), uint64(N), uint64(act))
}

// CrossEntropy launches softmax_ce, which gives each row a half-warp, one logit per lane, and so
// takes at most maxClasses classes.
func (b *Backend) CrossEntropy(dlogits, stats, logits ops.Tensor, md ops.Data, start, B, K int) {
	d := md.(*data)
	if b.queueing() {
		b.enqueue(qop{kind: qCrossEntropy, a: dev(dlogits), b: dev(stats), c: dev(logits), data: d, start: start, B: B, N: K, cursor: b.cursorArg()})
		return
	}
	if K < 1 || K > maxClasses {
		b.fail(fmt.Errorf("cuda: softmax_ce handles 1 to %d classes, not %d", maxClasses, K))
		return
	}
	b.launch(kernels.SoftmaxCE, B, ptr(dlogits), ptr(stats), ptr(logits), uint64(d.labels), uint64(start), b.cursorArg(), uint64(B), uint64(K))
}

// maxClasses is the most classes softmax_ce.ptx takes (16 lanes per row).
const maxClasses = 16

// MSE launches mse.
func (b *Backend) MSE(dout, stats, out ops.Tensor, md ops.Data, start, B, K int) {
	d := md.(*data)
	if b.queueing() {
		b.enqueue(qop{kind: qMSE, a: dev(dout), b: dev(stats), c: dev(out), data: d, start: start, B: B, N: K, cursor: b.cursorArg()})
		return
	}
	if K < 1 {
		b.fail(fmt.Errorf("cuda: mse of %d classes", K))
		return
	}
	b.launch(kernels.MSE, B, ptr(dout), ptr(stats), ptr(out), uint64(d.labels), uint64(start), b.cursorArg(), uint64(B), uint64(K))
}

// SetScalars writes each value with an asynchronous 4-byte memset on the backend's stream: the value
// travels in the call itself, so nothing waits for the GPU and no host buffer must outlive the call,
// and the write is ordered between the ops (or graph replays) queued before and after it. Issued while
// a step is being recorded it would become part of the graph with its value frozen, so it fails then.
// Queued ops (fuse.go) are emitted first: the memset does not go through launch.
func (b *Backend) SetScalars(dst ops.Tensor, vals []float32) {
	b.flush()
	if b.err != nil {
		return
	}
	d := dev(dst)
	if len(vals) > d.n {
		b.fail(fmt.Errorf("cuda: SetScalars of %d values into %d", len(vals), d.n))
		return
	}
	if b.capturing {
		b.fail(errors.New("cuda: SetScalars inside a recorded step would freeze its values"))
		return
	}
	for i, v := range vals {
		if err := cu.MemsetD32Async(d.ptr+cu.DevicePtr(4*i), uint(math.Float32bits(v)), 1, b.stream); err != nil {
			b.fail(fmt.Errorf("cuda: SetScalars: %v", err))
			return
		}
	}
}

// SGD launches sgd over N parameters; lr, μ and λ are read from hyper on the device. With fusion on
// it is queued, so that a recorded step's cursor advance can ride on it (fuse.go).
func (b *Backend) SGD(params, velocity, grads, hyper ops.Tensor, nesterov bool, N int) {
	if b.queueing() {
		b.enqueue(qop{kind: qSGD, a: dev(params), b: dev(velocity), c: dev(grads), d: dev(hyper), nesterov: nesterov, N: N})
		return
	}
	b.launch(kernels.SGD, N, ptr(params), ptr(velocity), ptr(grads), ptr(hyper), uint64(N), flag(nesterov), 0, 0)
}

// Adam launches adam over N parameters; its scalars are read from hyper on the device.
func (b *Backend) Adam(params, expAvg, expAvgSq, grads, hyper ops.Tensor, decoupled bool, N int) {
	b.launch(kernels.Adam, N, ptr(params), ptr(expAvg), ptr(expAvgSq), ptr(grads), ptr(hyper), uint64(N), flag(decoupled))
}

func flag(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}
