package model

// This file is the net's pixel input, for the attacks (internal/attack) and adversarial training:
// float pixels in 0..1 go in instead of a gathered uint8 batch, and the loss gradient comes back with
// respect to them. It adds no backend op: the host normalizes the pixels and uploads them into the
// first layer's input, and the input gradient is the existing backward pass with the first layer's
// dinp turned on, downloaded and chained through the normalization. That costs one upload and one
// download of B·784 floats per attack step (3 MB at B = 1000), which on a GPU is small beside the
// step's GEMMs and keeps the op set, and so the GPU path, as it is.

import (
	"fmt"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
)

// pixelBuffers allocates the attack's buffers the first time they are needed.
func (n *Net) pixelBuffers() error {
	if n.dx != nil {
		return nil
	}
	dx, err := n.be.Alloc(n.MaxB * ops.Input)
	if err != nil {
		return fmt.Errorf("model: allocating the input gradient of %s for batch %d on %s: %w", n.Config.Arch(), n.MaxB, n.be.Name(), err)
	}
	xs, err := n.be.Alloc(2)
	if err != nil {
		return fmt.Errorf("model: allocating on %s: %w", n.be.Name(), err)
	}
	n.dx, n.xstats, n.xHost = dx, xs, make([]float32, n.MaxB*ops.Input)
	return nil
}

// SetPixels makes the pixels x (B, 784), values in 0..1, the net's input for the next pass:
// normalized on the host as (x − 0.5)/0.5 in float32, which for x = p/255 is bit for bit what
// Gather writes, and uploaded into the first layer's input.
func (n *Net) SetPixels(x []float32, B int) error {
	if B < 1 || B > n.MaxB || len(x) < B*ops.Input {
		return fmt.Errorf("model: %d pixels for a batch of %d (at most %d rows)", len(x), B, n.MaxB)
	}
	if err := n.pixelBuffers(); err != nil {
		return err
	}
	h := n.xHost[:B*ops.Input]
	for i, v := range x[:B*ops.Input] {
		h[i] = (v - 0.5) / 0.5
	}
	return n.be.Upload(n.be.View(n.acts[0], 0, B*ops.Input), h)
}

// ForwardPixels runs every layer on the pixels x (B, 784) (SetPixels); the logits end where Forward
// leaves them.
func (n *Net) ForwardPixels(x []float32, B int) error {
	if err := n.SetPixels(x, B); err != nil {
		return err
	}
	n.forwardLayers(B)
	return nil
}

// InputGradient writes into grad (B, 784) the gradient of the batch's mean loss (the model's loss
// against the labels of rows start..start+B−1 of d, in its current order) with respect to the pixels
// x (B, 784), and the logits at x into logits (B, 10) when it is not nil.
//
// The first layer sees x' = (x − 0.5)/0.5, so ∂loss/∂x = ∂loss/∂x' · ∂x'/∂x = 2·∂loss/∂x': the
// backward pass runs down to the first layer with its input gradient on (every layer, frozen ones
// too), and the host doubles what it downloads (exact in float32). The pass overwrites the parameter
// gradients but neither the running stats nor the parameters, so it can run between training steps,
// not between a Backward and its Update.
func (n *Net) InputGradient(grad, logits, x []float32, d ops.Data, start, B int) error {
	if len(grad) < B*ops.Input || logits != nil && len(logits) < B*ops.Classes {
		return fmt.Errorf("model: input gradient of %d rows into %d floats", B, len(grad))
	}
	if err := n.ForwardPixels(x, B); err != nil {
		return err
	}
	n.be.Zero(n.xstats)
	n.loss(n.xstats, d, start, B)
	n.backward(B, 0, n.dx)
	g := grad[:B*ops.Input]
	if err := n.be.Download(g, n.be.View(n.dx, 0, B*ops.Input)); err != nil {
		return err
	}
	for i := range g {
		g[i] *= 2
	}
	if logits != nil {
		return n.Logits(logits[:B*ops.Classes], B)
	}
	return nil
}

// Target is a net with a data set on its backend, as the attacks see it (attack.Target): row b of a
// batch at start is row start+b of the data set in its current order, whose label the loss op reads
// on the backend.
type Target struct {
	net *Net
	d   ops.Data
}

// Target returns n as an attack target for the samples of d.
func (n *Net) Target(d ops.Data) Target { return Target{net: n, d: d} }

// Gradient is InputGradient on the target's data.
func (t Target) Gradient(grad, logits, x []float32, start, B int) error {
	return t.net.InputGradient(grad, logits, x, t.d, start, B)
}

// Logits writes the logits (B, 10) of the pixels x (B, 784).
func (t Target) Logits(logits, x []float32, B int) error {
	if err := t.net.ForwardPixels(x, B); err != nil {
		return err
	}
	return t.net.Logits(logits[:B*ops.Classes], B)
}

var _ attack.Target = Target{}

// Attack runs each attack of cs on m against every image of s, in batches of up to 1000, with
// backend be, and reports the clean and robust accuracies (attack.Evaluate), one report per attack.
// The net and the data are placed on the backend once for all of them.
func Attack(be ops.Backend, m *Model, s *mnist.Set, cs []attack.Config, opt attack.Options) ([]attack.Report, error) {
	net, d, err := inferenceNet(be, m, s)
	if err != nil {
		return nil, err
	}
	var reps []attack.Report
	for _, c := range cs {
		rep, err := net.Robust(d, s, c, opt)
		if err != nil {
			return nil, err
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

// Robust runs attack.Evaluate on the samples of s, resident as d, in their natural order, in batches
// of MaxB.
func (n *Net) Robust(d ops.Data, s *mnist.Set, c attack.Config, opt attack.Options) (attack.Report, error) {
	order := make([]int32, d.N())
	for i := range order {
		order[i] = int32(i)
	}
	if err := setOrder(n.be, d, order); err != nil {
		return attack.Report{}, err
	}
	opt.Batch = n.MaxB
	return attack.Evaluate(n.Target(d), c, s.Images[:s.N*mnist.Pixels], s.Labels[:s.N], opt)
}
