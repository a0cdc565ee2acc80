// Package cpu is dltrain's CPU backend: ops.Backend on the host. Its fast path has a GEMM (gemm.go)
// with AVX-512 and AVX2/FMA micro-kernels chosen at run time from the CPU's features (a pure-Go
// kernel elsewhere), vectorized elementwise ops (elementwise.go, with a float32 sigmoid and tanh in
// fastmath.go), and a worker pool (pool.go) that shares every op of a step among the cores. Training
// batches with augmentation are deformed by internal/augment's Gather. With Naive set, every op is
// the naive reference of internal/ref instead.
//
// It imports the contract (internal/ops), the data set (internal/mnist) and the deformations
// (internal/augment), never the model.
package cpu

import (
	"fmt"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ref"
)

// Tensor is the CPU backend's ops.Tensor: a plain float32 slice in host memory.
type Tensor []float32

// Len is the number of floats.
func (t Tensor) Len() int { return len(t) }

// data is the CPU backend's ops.Data: the set itself, the batch order and a label scratch buffer, and
// the deformation Gather applies (SetAugment; nil for none) with its seed and epoch.
type data struct {
	set    *mnist.Set
	order  []int32 // (N)
	labels []uint8 // (N), labels in batch order
	plan   *augment.Plan
	seed   uint64
	epoch  int
}

func (d *data) N() int { return d.set.N }

// Labels returns the labels in natural order.
func (d *data) Labels() []uint8 { return d.set.Labels }

// Backend runs every op on the CPU. With Naive set, the matmuls use the naive oracle (ref) too.
// Its methods come in the order of the contract; internal/cuda's launch.go has the same order.
type Backend struct {
	Naive bool
}

var _ ops.Backend = (*Backend)(nil)

// Name is "cpu".
func (*Backend) Name() string { return "cpu" }

func f32(t ops.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.(Tensor)
}

// Alloc returns n zeroed floats.
func (*Backend) Alloc(n int) (ops.Tensor, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: alloc of %d floats", n)
	}
	return Tensor(make([]float32, n)), nil
}

// View is t[off : off+n].
func (*Backend) View(t ops.Tensor, off, n int) ops.Tensor {
	return Tensor(f32(t)[off : off+n : off+n])
}

// Upload copies src into dst.
func (*Backend) Upload(dst ops.Tensor, src []float32) error {
	if dst.Len() != len(src) {
		return fmt.Errorf("cpu: upload of %d floats into %d", len(src), dst.Len())
	}
	copy(f32(dst), src)
	return nil
}

// Download copies src into dst.
func (*Backend) Download(dst []float32, src ops.Tensor) error {
	if src.Len() != len(dst) {
		return fmt.Errorf("cpu: download of %d floats into %d", src.Len(), len(dst))
	}
	copy(dst, f32(src))
	return nil
}

// Zero clears t.
func (*Backend) Zero(t ops.Tensor) { clear(f32(t)) }

// Resident wraps the set; on the CPU the data already is where it is used.
func (*Backend) Resident(s *mnist.Set) (ops.Data, error) {
	d := &data{set: s, order: make([]int32, s.N), labels: make([]uint8, s.N)}
	for i := range d.order {
		d.order[i] = int32(i)
	}
	copy(d.labels, s.Labels)
	return d, nil
}

// SetOrder sets the batch order (checked by the caller, ops.CheckOrder).
func (*Backend) SetOrder(md ops.Data, order []int32) error {
	d := md.(*data)
	for i, o := range order {
		d.order[i] = o
		d.labels[i] = d.set.Labels[o]
	}
	return nil
}

// SetAugment makes Gather deform d's images with a's plan (augment.NewPlan); mode none removes it.
func (*Backend) SetAugment(md ops.Data, a ops.Augment, seed uint64) error {
	d := md.(*data)
	pl, err := plan(a)
	if err != nil {
		return err
	}
	if pl.Mode == augment.None {
		pl = nil
	}
	d.plan, d.seed, d.epoch = pl, seed, 1
	return nil
}

// plan is augment.NewPlan of a, the contract's copy of augment.Params (internal/cuda has the same).
func plan(a ops.Augment) (*augment.Plan, error) {
	return augment.NewPlan(augment.Params{Mode: augment.Mode(a.Mode), Rotation: a.Rotation, Scale: a.Scale,
		Shear: a.Shear, Translate: a.Translate, Sigma: a.Sigma, Alpha: a.Alpha})
}

// SetEpoch sets the epoch of d's deformations.
func (*Backend) SetEpoch(md ops.Data, epoch int) { md.(*data).epoch = epoch }

// Gather fills x (B, 784) with normalized images: augment.Gather's values when d has a plan, else
// ref.Gather's, a few rows per chunk of the pool.
func (be *Backend) Gather(x ops.Tensor, md ops.Data, start, B int) {
	d := md.(*data)
	kind := kindGather
	switch {
	case d.plan != nil && be.Naive:
		augment.GatherRows(f32(x), d.set.Images, d.order, start, B, d.plan, d.seed, d.epoch)
		return
	case d.plan != nil:
		// Shared out on the pool, whose helpers are awake between the ops of a step: augment.Gather's
		// own goroutines would first have to be woken, which costs more than half a batch takes.
		kind = kindAugment
	case be.Naive:
		ref.Gather(f32(x), d.set.Images, d.order, start, B)
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.elem = elemTask{kind: kind, n: B, x: f32(x), d: d, start: start}
	runElem()
}

// MatmulForward: out (B, OC) = act(inp (B, C) · weight (OC, C)ᵀ + bias), the GEMM with the bias and
// activation applied to each chunk of out as soon as its last K block is in.
func (be *Backend) MatmulForward(out, inp, weight, bias ops.Tensor, act ops.Activation, B, C, OC int) {
	o, in, w, bi := f32(out), f32(inp), f32(weight), f32(bias)
	if be.Naive {
		ref.MatmulForward(o, in, w, bi, act, B, C, OC)
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	g := &pool.gemms[0]
	g.set(false, true, B, OC, C, in, C, w, C, o, OC)
	g.epi, g.bias, g.act = true, bi[:OC], act
	g.runAlone()
}

// MatmulBackward: dinp = dout·weight (skipped when nil), dweight = doutᵀ·inp, dbias = Σ_b dout, all
// three in one region of the pool.
func (be *Backend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight ops.Tensor, B, C, OC int) {
	di, dw, db, do, in, w := f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight)
	if be.Naive || B == 0 {
		ref.MatmulBackward(di, dw, db, do, in, w, B, C, OC)
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	p := participants(1 << 30)
	serial := B*C*OC < parallelMin/4
	if serial {
		p = 1
	}
	m := &pool.multi
	m.reset()
	gw := &pool.gemms[0]
	gw.set(true, false, OC, C, B, do, OC, in, C, dw, C)
	gw.plan(p)
	gw.prepare()
	m.add(gw, gw.chunks())
	if di != nil {
		gi := &pool.gemms[1]
		gi.set(false, false, B, C, OC, do, OC, w, C, di, C)
		gi.plan(p)
		gi.prepare()
		m.add(gi, gi.chunks())
	}
	pool.elem = elemTask{kind: kindColSums, dst: db[:OC], src: do, B: B, OC: OC}
	m.add(&pool.elem, pool.elem.chunks())
	pool.run(m, m.chunks(), serial)
}

// ActivationBackward: dinp = dout·act' (ref.ActivationBackward), elementwise.
func (be *Backend) ActivationBackward(dinp, dout, out ops.Tensor, act ops.Activation, N int) {
	if be.Naive {
		ref.ActivationBackward(f32(dinp), f32(dout), f32(out), act, N)
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.elem = elemTask{kind: kindActBackward, n: N, dinp: f32(dinp)[:N], dout: f32(dout)[:N], out: f32(out)[:N], act: act}
	runElem()
}

// CrossEntropy: fused softmax cross-entropy; adds to stats[0] (loss sum) and stats[1] (correct).
func (be *Backend) CrossEntropy(dlogits, stats, logits ops.Tensor, md ops.Data, start, B, K int) {
	be.loss(false, dlogits, stats, logits, md, start, B, K)
}

// MSE: mean squared error against one-hot labels; adds to stats like CrossEntropy.
func (be *Backend) MSE(dout, stats, out ops.Tensor, md ops.Data, start, B, K int) {
	be.loss(true, dout, stats, out, md, start, B, K)
}

// loss runs CrossEntropy or MSE: rows in chunks, the loss summed in row order afterwards, so the
// stats are the reference's bits for any number of goroutines.
func (be *Backend) loss(mse bool, dout, stats, out ops.Tensor, md ops.Data, start, B, K int) {
	d := md.(*data)
	labels := d.labels[start : start+B]
	var loss float64
	var correct int
	switch {
	case be.Naive && mse:
		loss, correct = ref.MSE(f32(dout), f32(out), labels, B, K)
	case be.Naive:
		loss, correct = ref.CrossEntropy(f32(dout), f32(out), labels, B, K)
	default:
		pool.mu.Lock()
		t := &pool.loss
		if cap(t.rowLoss) < B {
			t.rowLoss = make([]float64, B)
		}
		t.mse, t.dlogits, t.logits, t.labels, t.B, t.K = mse, f32(dout), f32(out), labels, B, K
		loss, correct = runLoss()
		t.dlogits, t.logits, t.labels = nil, nil, nil
		pool.mu.Unlock()
	}
	s := f32(stats)
	s[0] += float32(loss)
	s[1] += float32(correct)
}

// SetScalars stores vals at the start of dst: on the CPU every op has finished when the next starts.
func (*Backend) SetScalars(dst ops.Tensor, vals []float32) {
	copy(f32(dst)[:len(vals)], vals)
}

// SGD: PyTorch's SGD, its scalars read from hyper (ref.SGD). The classic form (momentum, no weight
// decay, no Nesterov) runs elementwise on the pool, with ref.SGD's arithmetic bit for bit; the others
// run ref.SGD itself.
func (be *Backend) SGD(params, velocity, grads, hyper ops.Tensor, nesterov bool, N int) {
	h := f32(hyper)
	if be.Naive || nesterov || h[ops.HyperWeightDecay] != 0 {
		ref.SGD(f32(params), f32(velocity), f32(grads), h, nesterov, N)
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.elem = elemTask{kind: kindSGD, n: N, p: f32(params)[:N], v: f32(velocity)[:N], g: f32(grads)[:N], lr: h[ops.HyperLR], mu: h[ops.HyperMomentum]}
	runElem()
}

// Adam: PyTorch's Adam or AdamW, its scalars read from hyper (ref.Adam).
func (*Backend) Adam(params, expAvg, expAvgSq, grads, hyper ops.Tensor, decoupled bool, N int) {
	ref.Adam(f32(params), f32(expAvg), f32(expAvgSq), f32(grads), f32(hyper), decoupled, N)
}

// Sync is a no-op on the CPU.
func (*Backend) Sync() error { return nil }
