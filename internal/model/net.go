package model

import (
	"fmt"

	"github.com/dltrain/dltrain/internal/ops"
)

// Net is an MLP placed on a Backend: parameters, momentum and gradients as flat tensors, per-layer
// views into them, and activation buffers sized for batches of up to MaxB rows. Everything is
// allocated once; a training step allocates nothing.
//
// Layer l maps acts[l] (B, Sizes[l]) to acts[l+1] (B, Sizes[l+1]); hidden layers apply the activation
// in place, the last layer leaves raw logits. dacts[l] is the gradient with respect to acts[l].
type Net struct {
	Config Config
	MaxB   int
	be     ops.Backend

	params, velocity, grads ops.Tensor   // (P) each, Config.Layout order
	w, b, dw, db            []ops.Tensor // per layer: weight (OC, C), bias (OC) and their gradients
	acts, dacts             []ops.Tensor // per layer boundary: (MaxB, Sizes[l]); dacts[0] is nil
	stats                   ops.Tensor   // (2): loss sum, correct count
	hyper                   ops.Tensor   // (ops.HyperLen): the optimizer's scalars
	statsHost               []float32    // (2): where Stats reads them to
	hyperHost               []float32    // (ops.HyperLen): what hyper holds
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
	return n, nil
}

// Load copies a model's parameters and momentum buffers onto the backend.
func (n *Net) Load(m *Model) error {
	if m.Config.Arch() != n.Config.Arch() {
		return fmt.Errorf("model: net is %s, model is %s", n.Config.Arch(), m.Config.Arch())
	}
	if err := n.be.Upload(n.params, m.Params); err != nil {
		return err
	}
	return n.be.Upload(n.velocity, m.Velocity)
}

// Store copies the parameters and momentum buffers back into m.
func (n *Net) Store(m *Model) error {
	if err := n.be.Download(m.Params, n.params); err != nil {
		return err
	}
	return n.be.Download(m.Velocity, n.velocity)
}

// Forward gathers batch rows start..start+B-1 of d and runs every layer; the logits end in
// acts[last] (B, 10).
func (n *Net) Forward(d ops.Data, start, B int) {
	be, cfg := n.be, n.Config
	be.Gather(n.acts[0], d, start, B)
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
func (n *Net) Loss(d ops.Data, start, B int) {
	L := n.Config.Layers()
	switch n.Config.Loss {
	case CrossEntropy:
		n.be.CrossEntropy(n.dacts[L], n.stats, n.acts[L], d, start, B, ops.Classes)
	case MSE:
		n.be.MSE(n.dacts[L], n.stats, n.acts[L], d, start, B, ops.Classes)
	}
}

// Backward propagates the loss gradient from dlogits to every parameter gradient. The first layer's
// input gradient is never needed, so it is not computed.
func (n *Net) Backward(B int) {
	be, cfg := n.be, n.Config
	for l := cfg.Layers() - 1; l >= 0; l-- {
		C, OC := cfg.Sizes[l], cfg.Sizes[l+1]
		if l < cfg.Layers()-1 {
			// dacts[l+1] holds ∂loss/∂(activation output); turn it into ∂loss/∂(pre-activation).
			be.ActivationBackward(n.dacts[l+1], n.dacts[l+1], n.acts[l+1], cfg.Activation, B*OC)
		}
		be.MatmulBackward(n.dacts[l], n.dw[l], n.db[l], n.dacts[l+1], n.acts[l], n.w[l], B, C, OC)
	}
}

// Update applies one SGD-with-momentum step to every parameter in one op. The rate and momentum go to
// the backend only when they change (here: on the first step, which is never a recorded one).
func (n *Net) Update(lr, mu float32) {
	if n.hyperHost[ops.HyperLR] != lr || n.hyperHost[ops.HyperMomentum] != mu {
		n.hyperHost[ops.HyperLR], n.hyperHost[ops.HyperMomentum] = lr, mu
		n.be.SetScalars(n.hyper, n.hyperHost)
	}
	n.be.SGD(n.params, n.velocity, n.grads, n.hyper, false, n.params.Len())
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
