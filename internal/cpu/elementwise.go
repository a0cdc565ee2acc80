package cpu

import (
	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ref"
)

// This file is the fast path of the ops that touch O(B·C) values (gather, bias + activation,
// activation gradients, column sums, the SGD update, the losses): vectorized where there is AVX2
// (elementwise_amd64.s, fastmath_amd64.s) and shared out over the pool's goroutines in chunks. Each
// computes the same float32 operations in the same order as its reference in internal/ref, so the
// results are the reference's bits, the one exception being the float32 sigmoid and tanh
// (fastmath.go). Sums across elements (column sums, the loss) run in the reference's order, whatever
// the number of goroutines. It is not a second reference: internal/ref stays the oracle.

// elemChunk is the number of elements per chunk of the elementwise ops: large enough that a chunk
// costs more than claiming it (about a microsecond of work), small enough that two cores share a
// 100×128 layer evenly.
const elemChunk = 2048

// sgdChunk is the SGD update's chunk: it streams five arrays, and longer runs keep the hardware
// prefetcher on them.
const sgdChunk = 16384

// biasAct sets row = act(row + bias), elementwise; row and bias have the same length.
func biasAct(row, bias []float32, act ops.Activation) {
	n := len(row)
	bias = bias[:n]
	if !HasAVX2 {
		switch act {
		case ops.Sigmoid:
			for j, v := range row {
				row[j] = sigmoidGo(v + bias[j])
			}
		case ops.Tanh:
			for j, v := range row {
				row[j] = tanhGo(v + bias[j])
			}
		default:
			ref.BiasActivationForward(row, bias, act, 1, n)
		}
		return
	}
	k := n &^ 7
	if k > 0 {
		biasActAVX2(&row[0], &bias[0], k, int(act))
	}
	if k < n {
		// The ragged tail goes through the same instructions, by way of an 8-float buffer.
		var r, bb [8]float32
		copy(r[:], row[k:])
		copy(bb[:], bias[k:])
		biasActAVX2(&r[0], &bb[0], 8, int(act))
		copy(row[k:], r[:])
	}
}

// augmentRows is the images per chunk of a deformed gather: an elastic deformation takes about 4.5 µs
// an image, so a chunk is some 20 µs, and a batch of 100 makes 25 chunks to share out.
const augmentRows = 4

// elemTask is one of the chunked elementwise ops, chosen by kind; the fields used depend on it.
type elemTask struct {
	kind int
	n    int

	// gather, and the deformed gather of an augmented set
	x     []float32
	d     *data
	start int

	// SGD
	p, v, g []float32
	lr, mu  float32

	// activation backward
	dinp, dout, out []float32
	act             ops.Activation

	// column sums: dst (OC) = Σ_b src (B, OC)
	dst, src []float32
	B, OC    int
}

const (
	kindGather = iota
	kindAugment
	kindSGD
	kindActBackward
	kindColSums
)

// chunks is the number of chunks of the task: rows of 8 images for gather, 32-column strips for the
// column sums, elemChunk elements otherwise.
func (t *elemTask) chunks() int {
	switch t.kind {
	case kindGather:
		return (t.n + 7) / 8
	case kindAugment:
		return (t.n + augmentRows - 1) / augmentRows
	case kindColSums:
		return (t.OC + 31) / 32
	}
	return (t.n + t.chunk() - 1) / t.chunk()
}

// chunk is the elements per chunk of the SGD update and the activation gradient.
func (t *elemTask) chunk() int {
	if t.kind == kindSGD {
		return sgdChunk
	}
	return elemChunk
}

// serial reports whether the task is too small to share out.
func (t *elemTask) serial() bool {
	switch t.kind {
	case kindGather:
		return t.n*ops.Input < elemChunk
	case kindAugment:
		return t.n <= augmentRows
	case kindColSums:
		return t.B*t.OC < elemChunk
	}
	return t.n < 8*elemChunk
}

func (t *elemTask) run(chunk int, _ *scratch) {
	switch t.kind {
	case kindGather:
		b0, b1 := chunk*8, min(chunk*8+8, t.n)
		gather(t.x[b0*ops.Input:b1*ops.Input], t.d, t.start+b0, b1-b0)
	case kindAugment:
		b0, b1 := chunk*augmentRows, min(chunk*augmentRows+augmentRows, t.n)
		d := t.d
		augment.GatherRows(t.x[b0*ops.Input:b1*ops.Input], d.set.Images, d.order, t.start+b0, b1-b0, d.plan, d.seed, d.epoch)
	case kindColSums:
		j0, j1 := chunk*32, min(chunk*32+32, t.OC)
		colSums(t.dst[j0:j1], t.src[j0:], t.B, t.OC)
	default:
		c := t.chunk()
		i0, i1 := chunk*c, min(chunk*c+c, t.n)
		if t.kind == kindSGD {
			sgd(t.p[i0:i1], t.v[i0:i1], t.g[i0:i1], t.lr, t.mu)
		} else {
			actBackward(t.dinp[i0:i1], t.dout[i0:i1], t.out[i0:i1], t.act)
		}
	}
}

// runElem runs the elementwise task in pool.elem as a region. The caller holds pool.mu.
func runElem() {
	t := &pool.elem
	pool.run(t, t.chunks(), t.serial())
}

// gather fills x (B, 784) with the normalized images order[start : start+B] (ref.Gather).
func gather(x []float32, d *data, start, B int) {
	const P = ops.Input
	if !HasAVX2 {
		ref.Gather(x, d.set.Images, d.order, start, B)
		return
	}
	for b := range B {
		src := d.set.Images[int(d.order[start+b])*P:][:P]
		gatherAVX2(&x[b*P], &src[0], P) // 784 = 98·8
	}
	// The next batch's rows (if it is drawn in the same order, as training does) are scattered over
	// the whole set: ask for them now, so that they are in cache when the next step gathers them.
	for b := start + B; b < min(start+2*B, len(d.order)); b++ {
		prefetchRows(&d.set.Images[int(d.order[b])*P], P)
	}
}

// sgd is ref.SGD with momentum mu, rate lr, no weight decay and no Nesterov, on equal-length slices.
func sgd(p, v, g []float32, lr, mu float32) {
	n := len(p)
	v, g = v[:n], g[:n]
	k := 0
	if HasAVX2 {
		k = n &^ 7
		if k > 0 {
			sgdAVX2(&p[0], &v[0], &g[0], k, lr, mu)
		}
	}
	if k < n {
		var hyper [ops.HyperLen]float32
		hyper[ops.HyperLR], hyper[ops.HyperMomentum] = lr, mu
		ref.SGD(p[k:], v[k:], g[k:], hyper[:], false, n-k)
	}
}

// actBackward is ref.ActivationBackward on equal-length slices; dinp may be dout.
func actBackward(dinp, dout, out []float32, act ops.Activation) {
	n := len(dinp)
	dout, out = dout[:n], out[:n]
	if !HasAVX2 || act == ops.Identity {
		ref.ActivationBackward(dinp, dout, out, act, n)
		return
	}
	if k := n &^ 7; k > 0 {
		actBackwardAVX2(&dinp[0], &dout[0], &out[0], k, int(act))
	}
	if k := n &^ 7; k < n {
		ref.ActivationBackward(dinp[k:], dout[k:], out[k:], act, n-k)
	}
}

// colSums writes dst[j] = Σ_b src[b·ld + j] for j < len(dst), rows in order from +0
// (ref.ColumnSums on a strip of columns).
func colSums(dst, src []float32, B, ld int) {
	w := len(dst)
	if B > 0 {
		_ = src[(B-1)*ld+w-1]
	}
	k := 0
	if HasAVX2 && w >= 8 {
		k = w &^ 7
		colSumsAVX2(&dst[0], &src[0], B, ld, k)
	}
	for j := k; j < w; j++ {
		var s float32
		for b := range B {
			s += src[b*ld+j]
		}
		dst[j] = s
	}
}

// lossTask is CrossEntropy or MSE over a batch, chunked by rows. Each row's loss goes to rowLoss and
// each chunk's correct count to correct, so that the caller can add them in row order afterwards.
type lossTask struct {
	mse     bool
	dlogits []float32 // (B, K)
	logits  []float32 // (B, K)
	labels  []uint8   // (B)
	B, K    int
	rowLoss []float64 // (B)
	correct []int     // (chunks)
}

const lossRows = 16

func (t *lossTask) chunks() int { return (t.B + lossRows - 1) / lossRows }

func (t *lossTask) run(chunk int, _ *scratch) {
	b0, b1 := chunk*lossRows, min(chunk*lossRows+lossRows, t.B)
	if t.mse {
		t.correct[chunk] = ref.MSERows(t.dlogits, t.rowLoss[b0:b1], t.logits, t.labels, t.B, t.K, b0, b1)
	} else {
		t.correct[chunk] = ref.CrossEntropyRows(t.dlogits, t.rowLoss[b0:b1], t.logits, t.labels, t.B, t.K, b0, b1)
	}
}

// runLoss runs pool.loss as a region and returns the loss summed in row order and the correct count,
// exactly as the reference computes them. The caller holds pool.mu and has sized rowLoss.
func runLoss() (lossSum float64, correct int) {
	t := &pool.loss
	n := t.chunks()
	if cap(t.correct) < n {
		t.correct = make([]int, n)
	}
	t.correct = t.correct[:n]
	pool.run(t, n, t.B*t.K < 512)
	for _, l := range t.rowLoss[:t.B] {
		lossSum += l
	}
	for _, c := range t.correct {
		correct += c
	}
	return lossSum, correct
}
