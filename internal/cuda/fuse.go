//go:build cuda

package cuda

// This file is the fused step: with fusion on, the ops of the contract that a training step issues
// (Gather, MatmulForward, CrossEntropy, MatmulBackward, ActivationBackward, SGD, and a
// recorded step's cursor advance) are queued instead of launched, and the queue is emitted at the
// next point that needs their results: any other Backend call (Download, Upload, Sync, SetOrder,
// SetCursor, Replay, Record, Zero, ...) and any launch that does not go through the queue. Emitting
// looks for three patterns, each checked operand by operand (the output of one op is the input of the
// next), and launches fused kernels for them; every other op is launched as it would have been:
//
//   - Gather(x) then MatmulForward(h, x, W, b, act) of a small batch (B*OC <= 2^17) on the 784
//     pixels: fc_in + fc_reduce (internal/kernels/fc_in.ptx), 2 launches instead of 3; not for a
//     data set with augmentation, whose Gather deforms the images in a kernel of its own (augment);
//   - the output layer, MatmulForward(z, h, W, b, identity) with at most 16 outputs on at most 256
//     inputs, then CrossEntropy(dz, z), MatmulBackward(dh, dW, db, dz, h, W) and
//     ActivationBackward(dh, dh, h), and when the next op is the previous layer's MatmulBackward on
//     dh through cuBLAS, its bias gradient too: head_ce + head_reduce (head.ptx), 2 launches
//     instead of 5 or 6; and when that previous layer is the first one, of a small batch, its weight
//     gradient goes to fc_dw (fc_in.ptx) instead of cuBLAS;
//   - in a recorded step, SGD then the cursor advance: one launch of sgd that also advances the
//     cursor.
//
// The same queue and the same patterns serve plain steps and recorded ones, so a step replayed as a
// CUDA graph gives the same bytes as the same step launched plainly, fused or not. Fused and unfused
// steps differ in the order of some sums, so they match each other (and the CPU) within tolerances.
// It is deliberately a peephole over a straight queue, not a graph compiler: anything it does not
// recognize runs unchanged.
//
// Fusion is off unless DLTRAIN_CUDA_FUSE=1 (or SetFusion(true)); see fuseDefault.

import (
	"os"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/ops"
)

// fuseDefault is whether fusion is on when DLTRAIN_CUDA_FUSE is not set. It stays off until a GPU run
// has passed the fused kernels' tests (bench/NOTES.md, "What the next GPU session should run").
const fuseDefault = false

// fusionFromEnv reads DLTRAIN_CUDA_FUSE: "1" on, "0" off, unset fuseDefault.
func fusionFromEnv() bool {
	switch os.Getenv("DLTRAIN_CUDA_FUSE") {
	case "1":
		return true
	case "0":
		return false
	}
	return fuseDefault
}

// SetFusion turns the fused step on or off (after emitting whatever is queued). Record a step again
// after changing it.
func (b *Backend) SetFusion(on bool) {
	b.flush()
	b.fuse = on
}

// Fusion reports whether the fused step is on.
func (b *Backend) Fusion() bool { return b.fuse }

type qkind uint8

const (
	qGather qkind = iota + 1
	qForward
	qBackward
	qActBackward
	qCrossEntropy
	qMSE
	qSGD
	qAdvance
)

// qop is one queued op: its operands in the op's own argument order (a, b, c, ... are its tensor
// arguments, left to right), its data set and sizes, and the cursor argument it had when it was
// queued (non-zero while a step is being recorded).
type qop struct {
	kind                 qkind
	a, b, c, d, e, f     Tensor
	data                 *data
	act                  ops.Activation
	start, B, C, OC, N   int
	nesterov             bool
	cursor, cursorTarget uint64
}

// queueing reports whether an op should be queued rather than launched.
func (b *Backend) queueing() bool { return b.fuse && !b.emitting }

func (b *Backend) enqueue(q qop) { b.queue = append(b.queue, q) }

// flush emits every queued op, fusing what it can. It is called at the start of every Backend
// method that is not a queued op, and by launch and gemm for launches from outside the queue.
func (b *Backend) flush() {
	if len(b.queue) == 0 || b.emitting {
		return
	}
	b.emitting = true
	q := b.queue
	for i := 0; i < len(q); {
		if n := b.fuseFcIn(q[i:]); n > 0 {
			i += n
			continue
		}
		if n := b.fuseHead(q[i:]); n > 0 {
			i += n
			continue
		}
		if n := b.fuseAdvance(q[i:]); n > 0 {
			i += n
			continue
		}
		b.emit(&q[i])
		i++
	}
	clear(q) // drop the references to the data sets
	b.queue = q[:0]
	b.emitting = false
}

// emit launches one queued op as it is (emitting is set, so the op's method launches it).
func (b *Backend) emit(q *qop) {
	saved := b.capturing
	if q.kind == qGather || q.kind == qCrossEntropy || q.kind == qMSE {
		b.capturing = q.cursor != 0 // so cursorArg gives the cursor the op was queued with
	}
	switch q.kind {
	case qGather:
		b.Gather(q.a, q.data, q.start, q.B)
	case qForward:
		b.MatmulForward(q.a, q.b, q.c, q.d, q.act, q.B, q.C, q.OC)
	case qBackward:
		b.MatmulBackward(opt(q.a), q.b, q.c, q.d, q.e, q.f, q.B, q.C, q.OC)
	case qActBackward:
		b.ActivationBackward(q.a, q.b, q.c, q.act, q.N)
	case qCrossEntropy:
		b.CrossEntropy(q.a, q.b, q.c, q.data, q.start, q.B, q.N)
	case qMSE:
		b.MSE(q.a, q.b, q.c, q.data, q.start, q.B, q.N)
	case qSGD:
		b.SGD(q.a, q.b, q.c, q.d, q.nesterov, q.N)
	case qAdvance:
		b.launch(kernels.Advance, 1, q.cursorTarget, uint64(q.N))
	}
	b.capturing = saved
}

// opt turns a zero Tensor (a nil argument when queued) back into a nil ops.Tensor.
func opt(t Tensor) ops.Tensor {
	if t == (Tensor{}) {
		return nil
	}
	return t
}

// scratch returns a device buffer of at least n floats for *buf, allocating a larger one when needed.
// An outgrown buffer is kept (a recorded graph may still use it) and freed by Close. Nothing can be
// allocated inside a stream capture: there it notes the need and reports false, the ops are emitted
// unfused, and Record allocates and records again (scratchRetry).
func (b *Backend) scratch(buf *Tensor, n int) (Tensor, bool) {
	if buf.n >= n {
		return *buf, true
	}
	if b.capturing {
		b.scratchNeed = append(b.scratchNeed, scratchNeed{buf, n})
		return Tensor{}, false
	}
	t, err := b.Alloc(n)
	if err != nil {
		b.fail(err)
		return Tensor{}, false
	}
	*buf = t.(Tensor)
	return *buf, true
}

// fcInKC is fc_in's chunk of the reduction (the 784 pixels in 7 chunks); the PTX allows up to 112.
const fcInKC = 112

// fcInFits reports whether the first layer of a batch of B rows and OC outputs goes to fc_in: small
// enough that cuBLAS's fixed cost dominates (the classic step, 100x128, and its evaluation batches of
// 1000), and at most 8 chunks.
func fcInFits(B, C, OC int) bool {
	return C == ops.Input && B*OC <= 1<<17 && (C+fcInKC-1)/fcInKC <= 8
}

// scratchNeed is scratch a capture could not allocate.
type scratchNeed struct {
	buf *Tensor
	n   int
}

// scratchRetry allocates what the last capture needed, and reports whether there was anything.
func (b *Backend) scratchRetry() (bool, error) {
	needs := b.scratchNeed
	b.scratchNeed = nil
	for _, s := range needs {
		if _, ok := b.scratch(s.buf, s.n); !ok {
			return false, b.err
		}
	}
	return len(needs) > 0, nil
}

// fuseFcIn matches Gather then the first layer's MatmulForward at the head of q; it returns the number
// of ops it covers after launching the fused kernels, or 0 (q does not start with the pattern, or its
// scratch could not be had inside a capture).
func (b *Backend) fuseFcIn(q []qop) int {
	if len(q) < 2 || q[0].kind != qGather || q[1].kind != qForward {
		return 0
	}
	g, f := &q[0], &q[1]
	B, C, OC := f.B, f.C, f.OC
	if f.b != g.a || g.B != B || small(B, C, OC) || !fcInFits(B, C, OC) || g.data.plan != nil {
		return 0 // (fc_in gathers plain pixels: an augmented Gather runs its own kernel, then the layer)
	}
	S := (C + fcInKC - 1) / fcInKC
	part, ok := b.scratch(&b.fcPart, S*B*OC)
	if !ok {
		return 0
	}
	blocks := S * ((OC + 31) / 32) * ((B + 31) / 32)
	b.launch(kernels.FcIn, blocks, ptr(part), ptr(g.a), uint64(g.data.pix), uint64(g.data.order), uint64(g.start), g.cursor,
		ptr(f.c), uint64(B), uint64(C), uint64(OC), fcInKC)
	b.launch(kernels.FcReduce, B*OC, ptr(f.a), ptr(part), ptr(f.d), uint64(B), uint64(OC), uint64(S), uint64(f.act))
	b.fusedFcIn++
	return 2
}

// dwFits reports whether a first layer's weight gradient (OC, C) over B rows goes to fc_dw: a small
// batch (one or two chunks of rows) and a layer of at most a million weights (the classic 128x784).
func dwFits(B, C, OC int) bool { return B <= 256 && C*OC <= 1<<20 }

// fuseAdvance matches the update followed by a recorded step's cursor advance, and has the update's
// kernel advance the cursor (sgd.ptx), one graph node fewer.
func (b *Backend) fuseAdvance(q []qop) int {
	if len(q) < 2 || q[0].kind != qSGD || q[1].kind != qAdvance || q[0].N < 1 {
		return 0
	}
	s := &q[0]
	b.launch(kernels.SGD, s.N, ptr(s.a), ptr(s.b), ptr(s.c), ptr(s.d), uint64(s.N), flag(s.nesterov), q[1].cursorTarget, uint64(q[1].N))
	return 2
}

// headFits reports whether an output layer of OC outputs on C inputs goes to head_ce.
func headFits(B, C, OC int) bool { return small(B, C, OC) && C <= 256 && OC <= 16 }

// fuseHead matches the output layer's forward, cross-entropy, backward and the hidden activation's
// gradient (and the previous layer's bias gradient when its MatmulBackward follows on cuBLAS); it
// returns the number of ops it covers after launching the fused kernels, or 0.
func (b *Backend) fuseHead(q []qop) int {
	if len(q) < 4 || q[0].kind != qForward || q[1].kind != qCrossEntropy || q[2].kind != qBackward || q[3].kind != qActBackward {
		return 0
	}
	f, ce, bw, ab := &q[0], &q[1], &q[2], &q[3]
	B, C, OC := f.B, f.C, f.OC
	switch {
	case f.act != ops.Identity || !headFits(B, C, OC):
		return 0
	case ce.c != f.a || ce.B != B || ce.N != OC: // logits
		return 0
	case bw.a == (Tensor{}) || bw.d != ce.a || bw.e != f.b || bw.f != f.c || bw.B != B || bw.C != C || bw.OC != OC:
		return 0
	case ab.a != bw.a || ab.b != bw.a || ab.c != f.b || ab.N != B*C:
		return 0
	}
	n := 4
	var prev *qop
	if len(q) > 4 && q[4].kind == qBackward && q[4].d == bw.a && q[4].B == B && q[4].OC == C && !small(B, q[4].C, C) {
		prev, n = &q[4], 5
	}
	nblk := kernels.HeadCE.Grid(B)
	P := OC*C + OC + C + 2
	part, ok := b.scratch(&b.headPart, nblk*P)
	if !ok {
		return 0
	}
	b.launch(kernels.HeadCE, B, ptr(part), ptr(f.a), ptr(ce.a), ptr(bw.a), ptr(f.b), ptr(f.c), ptr(f.d),
		uint64(ce.data.labels), uint64(ce.start), ce.cursor, uint64(B), uint64(C), uint64(OC), uint64(ab.act))
	dbprev := uint64(0)
	if prev != nil {
		dbprev = ptr(prev.c)
	}
	b.launch(kernels.HeadReduce, P, ptr(bw.b), ptr(bw.c), dbprev, ptr(ce.b), ptr(part), uint64(nblk), uint64(C), uint64(OC))
	b.fusedHead++
	if prev != nil {
		// The previous layer's weight and input gradients (head_reduce wrote its bias gradient): the
		// first layer's weight gradient of a small batch in fc_dw, anything else through cuBLAS.
		p := prev
		if p.a != (Tensor{}) {
			b.gemm(false, false, p.B, p.C, p.OC, p.d, p.OC, p.f, p.C, p.a, p.C)
		}
		if p.a == (Tensor{}) && dwFits(p.B, p.C, p.OC) {
			b.launch(kernels.FcDW, ((p.OC+31)/32)*((p.C+31)/32), ptr(p.b), ptr(p.d), ptr(p.e), uint64(p.B), uint64(p.C), uint64(p.OC))
			b.fusedDW++
		} else {
			b.gemm(true, false, p.OC, p.C, p.B, p.d, p.OC, p.e, p.C, p.b, p.C)
		}
	}
	return n
}
