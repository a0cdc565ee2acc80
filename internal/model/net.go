package model

import (
	"fmt"
	"math"

	"github.com/dltrain/dltrain/internal/ops"
)

// Net is an MLP placed on a Backend: parameters, optimizer state and gradients as flat tensors,
// per-layer views into them, and activation buffers sized for batches of up to MaxB rows. Everything is
// allocated once (Adam's moments when SetOptimizer first asks for them); a training step allocates
// nothing.
//
// Layer l maps acts[l] (B, Sizes[l]) to acts[l+1] (B, Sizes[l+1]); hidden layers apply the activation
// in place, the last layer leaves raw logits. dacts[l] is the gradient with respect to acts[l].
type Net struct {
	Config Config
	MaxB   int
	be     ops.Backend

	params, velocity, grads ops.Tensor   // (P) each, Config.Layout order
	expAvg, expAvgSq        ops.Tensor   // (P) each, Adam's moments; nil until SetOptimizer needs them
	w, b, dw, db            []ops.Tensor // per layer: weight (OC, C), bias (OC) and their gradients
	acts, dacts             []ops.Tensor // per layer boundary: (MaxB, Sizes[l]); dacts[0] is nil
	stats                   ops.Tensor   // (2): loss sum, correct count
	statsHost               []float32    // (2): where Stats reads them to

	// The pixel input of the attacks (pixels.go), allocated on first use: dx is the input gradient
	// (MaxB, 784), xstats the loss stats of the attack's passes (kept apart from training's), and
	// xHost the host's normalized pixels (MaxB·784).
	dx, xstats ops.Tensor
	xHost      []float32

	// The optimizer: hyper holds its scalars (ops.Hyper* layout) and hyperHost what was last written
	// there; hyperLR and hyperAdam are views of the values that change per step. segs are the runs of
	// consecutive trainable layers, each updated by one op; lowest is the first trainable layer, below
	// which Backward has nothing to compute.
	opt                       Hyper
	hyper, hyperLR, hyperAdam ops.Tensor
	hyperHost                 []float32
	segs                      []segment
	lowest                    int
}

// segment is a run of consecutive trainable layers: views of n parameters, their gradients and their
// optimizer state (velocity for SGD, the moments for Adam).
type segment struct {
	p, g, v, m, sq ops.Tensor
	n              int
}

// NewNet allocates the buffers for cfg on be.
func NewNet(be ops.Backend, cfg Config, maxB int) (*Net, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxB < 1 {
		return nil, fmt.Errorf("model: batch size %d, want ≥ 1", maxB)
	}
	n := &Net{Config: cfg, MaxB: maxB, be: be, statsHost: make([]float32, 2), hyperHost: make([]float32, ops.HyperLen)}
	wOff, bOff, P := cfg.Layout()
	var err error
	alloc := func(k int) ops.Tensor {
		if err != nil {
			return nil
		}
		var t ops.Tensor
		t, err = be.Alloc(k)
		return t
	}
	n.params, n.velocity, n.grads, n.stats, n.hyper = alloc(P), alloc(P), alloc(P), alloc(2), alloc(ops.HyperLen)
	for l, s := range cfg.Sizes {
		n.acts = append(n.acts, alloc(maxB*s))
		if l == 0 {
			n.dacts = append(n.dacts, nil)
		} else {
			n.dacts = append(n.dacts, alloc(maxB*s))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("model: allocating %s for batch %d on %s: %w", cfg.Arch(), maxB, be.Name(), err)
	}
	for l := range cfg.Layers() {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		n.w = append(n.w, be.View(n.params, wOff[l], out*in))
		n.b = append(n.b, be.View(n.params, bOff[l], out))
		n.dw = append(n.dw, be.View(n.grads, wOff[l], out*in))
		n.db = append(n.db, be.View(n.grads, bOff[l], out))
	}
	n.hyperLR = be.View(n.hyper, ops.HyperLR, 1)
	n.hyperAdam = be.View(n.hyper, ops.HyperStepSize, ops.HyperPerStep-ops.HyperStepSize)
	if err := n.SetOptimizer(Hyper{}); err != nil {
		return nil, err
	}
	return n, nil
}

// SetOptimizer prepares the net to train with h's optimizer: it allocates Adam's moments (zeroed) the
// first time they are needed, lays out the updates around the layers in h.Freeze, and writes the
// scalars that stay fixed for a run. A new net trains with SGD at a rate of 0 until it is called.
func (n *Net) SetOptimizer(h Hyper) error {
	cfg := n.Config
	if h.Optimizer.IsAdam() && n.expAvg == nil {
		var err error
		if n.expAvg, err = n.be.Alloc(cfg.NumParams()); err == nil {
			n.expAvgSq, err = n.be.Alloc(cfg.NumParams())
		}
		if err != nil {
			return fmt.Errorf("model: allocating Adam's state for %s on %s: %w", cfg.Arch(), n.be.Name(), err)
		}
	}
	wOff, bOff, _ := cfg.Layout()
	n.segs, n.lowest = n.segs[:0], -1
	for l := 0; l < cfg.Layers(); l++ {
		if h.Freeze.Has(l) {
			continue
		}
		if n.lowest < 0 {
			n.lowest = l
		}
		last := l
		for last+1 < cfg.Layers() && !h.Freeze.Has(last+1) {
			last++
		}
		off, end := wOff[l], bOff[last]+cfg.Sizes[last+1]
		view := func(t ops.Tensor) ops.Tensor {
			if t == nil {
				return nil
			}
			return n.be.View(t, off, end-off)
		}
		n.segs = append(n.segs, segment{p: view(n.params), g: view(n.grads), v: view(n.velocity),
			m: view(n.expAvg), sq: view(n.expAvgSq), n: end - off})
		l = last
	}
	if n.lowest < 0 {
		return fmt.Errorf("model: every layer of %s is frozen; nothing would train", cfg.Arch())
	}
	n.opt = h
	h.constScalars(n.hyperHost)
	for i := range ops.HyperPerStep {
		n.hyperHost[i] = float32(math.NaN()) // unknown: the first SetStep writes them
	}
	n.be.SetScalars(n.hyper, n.hyperHost)
	return nil
}

// SetStep hands the backend the scalars of the next update: learning rate lr, and t, the optimizer's
// step count for it (1 for the first update; Adam's bias corrections use it). Only the values the
// optimizer reads and that changed since the last call are written (SetScalars), so a constant rate
// costs nothing after the first step. Call it before the step runs or is replayed, never inside a step
// being recorded.
func (n *Net) SetStep(lr float64, t int) {
	h := n.hyperHost
	lr32 := float32(lr)
	if !n.opt.Optimizer.IsAdam() {
		if h[ops.HyperLR] != lr32 {
			h[ops.HyperLR] = lr32
			n.be.SetScalars(n.hyperLR, h[ops.HyperLR:ops.HyperLR+1])
		}
		return
	}
	s, bc2, decay := h[ops.HyperStepSize], h[ops.HyperBias2Sqrt], h[ops.HyperDecay]
	n.opt.stepScalars(h, lr, t)
	if s != h[ops.HyperStepSize] || bc2 != h[ops.HyperBias2Sqrt] || decay != h[ops.HyperDecay] {
		n.be.SetScalars(n.hyperAdam, h[ops.HyperStepSize:ops.HyperPerStep])
	}
}

// Load copies a model's parameters and optimizer state onto the backend: the momentum buffers, and
// Adam's moments when the net has them (zeros where the model has none: a checkpoint holds only its
// own optimizer's state).
func (n *Net) Load(m *Model) error {
	if m.Config.Arch() != n.Config.Arch() {
		return fmt.Errorf("model: net is %s, model is %s", n.Config.Arch(), m.Config.Arch())
	}
	if err := n.be.Upload(n.params, m.Params); err != nil {
		return err
	}
	if m.Velocity == nil {
		n.be.Zero(n.velocity)
	} else if err := n.be.Upload(n.velocity, m.Velocity); err != nil {
		return err
	}
	if n.expAvg == nil {
		return nil
	}
	if m.ExpAvg == nil || m.ExpAvgSq == nil {
		n.be.Zero(n.expAvg)
		n.be.Zero(n.expAvgSq)
		return nil
	}
	if err := n.be.Upload(n.expAvg, m.ExpAvg); err != nil {
		return err
	}
	return n.be.Upload(n.expAvgSq, m.ExpAvgSq)
}

// Store copies the parameters and optimizer state back into m (allocating the vectors of the net's
// optimizer that m lacks).
func (n *Net) Store(m *Model) error {
	if err := n.be.Download(m.Params, n.params); err != nil {
		return err
	}
	if m.Velocity == nil && !n.opt.Optimizer.IsAdam() {
		m.Velocity = make([]float32, len(m.Params))
	}
	if m.Velocity != nil {
		if err := n.be.Download(m.Velocity, n.velocity); err != nil {
			return err
		}
	}
	if n.expAvg == nil {
		return nil
	}
	if m.ExpAvg == nil || m.ExpAvgSq == nil {
		m.ExpAvg, m.ExpAvgSq = make([]float32, len(m.Params)), make([]float32, len(m.Params))
	}
	if err := n.be.Download(m.ExpAvg, n.expAvg); err != nil {
		return err
	}
	return n.be.Download(m.ExpAvgSq, n.expAvgSq)
}

// Forward gathers batch rows start..start+B-1 of d and runs every layer; the logits end in
// acts[last] (B, 10).
func (n *Net) Forward(d ops.Data, start, B int) {
	n.be.Gather(n.acts[0], d, start, B)
	n.forwardLayers(B)
}

// forwardLayers runs every layer on the input already in acts[0] (B, 784).
func (n *Net) forwardLayers(B int) {
	be, cfg := n.be, n.Config
	L := cfg.Layers()
	for l := range L {
		C, OC := cfg.Sizes[l], cfg.Sizes[l+1]
		act := cfg.Activation
		if l == L-1 {
			act = ops.Identity
		}
		be.MatmulForward(n.acts[l+1], n.acts[l], n.w[l], n.b[l], act, B, C, OC)
	}
}

// Loss runs the loss op on the logits of the last Forward: it writes dlogits and adds the batch's loss
// sum and correct count to the running stats.
func (n *Net) Loss(d ops.Data, start, B int) { n.loss(n.stats, d, start, B) }

// loss runs the loss op, adding into stats.
func (n *Net) loss(stats ops.Tensor, d ops.Data, start, B int) {
	L := n.Config.Layers()
	switch n.Config.Loss {
	case CrossEntropy:
		n.be.CrossEntropy(n.dacts[L], stats, n.acts[L], d, start, B, ops.Classes)
	case MSE:
		n.be.MSE(n.dacts[L], stats, n.acts[L], d, start, B, ops.Classes)
	}
}

// Backward propagates the loss gradient from dlogits to every parameter gradient the optimizer uses.
// It stops at the lowest trainable layer: the first layer's input gradient is never needed, and no
// gradient at all is needed below a frozen bottom (fine-tuning with fc1 frozen skips fc1's two GEMMs).
// Frozen layers above a trainable one still pass the gradient down (their own weight gradients are
// computed with it, and left unused).
func (n *Net) Backward(B int) { n.backward(B, n.lowest, nil) }

// backward propagates dlogits down to layer lowest, whose input gradient goes to dinp0 (nil: not
// computed).
func (n *Net) backward(B, lowest int, dinp0 ops.Tensor) {
	be, cfg := n.be, n.Config
	for l := cfg.Layers() - 1; l >= lowest; l-- {
		C, OC := cfg.Sizes[l], cfg.Sizes[l+1]
		if l < cfg.Layers()-1 {
			// dacts[l+1] holds ∂loss/∂(activation output); turn it into ∂loss/∂(pre-activation).
			be.ActivationBackward(n.dacts[l+1], n.dacts[l+1], n.acts[l+1], cfg.Activation, B*OC)
		}
		dinp := n.dacts[l]
		if l == lowest {
			dinp = dinp0
		}
		be.MatmulBackward(dinp, n.dw[l], n.db[l], n.dacts[l+1], n.acts[l], n.w[l], B, C, OC)
	}
}

// Update applies one optimizer step, with the scalars of the last SetStep, to every trainable layer:
// one op per run of consecutive trainable layers (one op in all when nothing is frozen). Frozen
// layers' parameters and optimizer state are not touched.
func (n *Net) Update() {
	nesterov := n.opt.Optimizer == Nesterov
	decoupled := n.opt.Optimizer == AdamW
	for _, s := range n.segs {
		if n.opt.Optimizer.IsAdam() {
			n.be.Adam(s.p, s.m, s.sq, s.g, n.hyper, decoupled, s.n)
		} else {
			n.be.SGD(s.p, s.v, s.g, n.hyper, nesterov, s.n)
		}
	}
}

// ResetStats zeroes the running loss sum and correct count.
func (n *Net) ResetStats() { n.be.Zero(n.stats) }

// Stats reads the running loss sum and correct count.
func (n *Net) Stats() (lossSum float64, correct int, err error) {
	s := n.statsHost
	if err := n.be.Download(s, n.stats); err != nil {
		return 0, 0, err
	}
	return float64(s[0]), int(s[1]), nil
}

// Logits downloads the first B rows of the last layer's output into dst (B, 10).
func (n *Net) Logits(dst []float32, B int) error {
	L := n.Config.Layers()
	return n.be.Download(dst, n.be.View(n.acts[L], 0, B*ops.Classes))
}

// setOrder checks order once (ops.CheckOrder) and hands it to the backend, which trusts it.
func setOrder(be ops.Backend, d ops.Data, order []int32) error {
	if err := ops.CheckOrder(order, d.N()); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return be.SetOrder(d, order)
}
