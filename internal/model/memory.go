package model

// This file estimates the memory a training run needs, so that the command line can refuse a
// configuration that cannot fit before it allocates anything. It is an estimate from the shapes
// alone (what Net, Model and a checkpoint save allocate), not a measurement.

import "github.com/dltrain/dltrain/internal/ops"

// OptimizerStates is how many float32s of optimizer state each parameter carries in the Model and the
// checkpoint: 1 for SGD and Nesterov (the velocity), 2 for Adam and AdamW (the two moments).
func (h Hyper) OptimizerStates() int {
	if h.Optimizer.IsAdam() {
		return 2
	}
	return 1
}

// backendStates is how many float32s of optimizer state per parameter a Net holds on its backend:
// the velocity always (NewNet allocates it before the optimizer is known), and Adam's two moments
// when the optimizer is Adam or AdamW (SetOptimizer).
func (h Hyper) backendStates() int {
	if h.Optimizer.IsAdam() {
		return 3
	}
	return 1
}

// Memory is an estimate, in bytes, of what a training run holds at its peak.
type Memory struct {
	Params      int64 // the parameters on the backend
	Grads       int64 // their gradients
	State       int64 // the optimizer state on the backend (OptimizerStates per parameter)
	Activations int64 // activations and their gradients for the largest batch, every layer
	Host        int64 // the Model's host copies of the parameters and optimizer state
	Save        int64 // what encoding a checkpoint allocates on top (tensor bytes, the file's bytes twice)
	Data        int64 // the data set as the backend holds it
	// Attack is adversarial training's buffers: the input gradient on the backend and the host's
	// normalized pixels (B each, B as for Activations), the batch's clean and attacked pixels and the
	// attack's gradient and iterate (batch rows each). 0 without adversarial training.
	Attack int64
}

// Total is the sum of the parts.
func (m Memory) Total() int64 {
	return m.Params + m.Grads + m.State + m.Activations + m.Host + m.Save + m.Data + m.Attack
}

// EstimateMemory estimates the peak memory of training cfg with h on a data set of dataBytes (images
// and labels), with evaluation batches of evalRows rows. Every part is 4 bytes per float32:
//
//	parameters, gradients            P each                      (P = cfg.NumParams())
//	optimizer state on the backend   P × S'                      (S' = 1 for SGD, 3 for Adam)
//	activations and their gradients  B × (2·Σ sizes − inputs)    (B = max(batch, evalRows))
//	host copies                      P × (1 + S)
//	saving a checkpoint              3 × P × (1 + S)             (tensor bytes, then the file twice)
//	adversarial training             784 × (2·B + 4·batch)       (input gradient, pixels, attack)
//
// The data set adds its own bytes plus an int32 order and a label per sample, and the partial sums
// and small buffers of the backend (the loss statistics, the optimizer's scalars) are left out. Widths and counts are bounded (Validate), so
// nothing here overflows an int64.
func EstimateMemory(cfg Config, h Hyper, evalRows int, dataBytes int64) Memory {
	const f32 = 4
	P := int64(cfg.NumParams())
	S := int64(h.OptimizerStates())
	Sb := int64(h.backendStates())
	B := int64(max(h.BatchSize, evalRows))
	var units int64
	for l, s := range cfg.Sizes {
		units += int64(s)
		if l > 0 {
			units += int64(s) // the gradient of every activation but the input's
		}
	}
	samples := dataBytes / (ops.Input + 1)
	var attack int64
	if h.Adversarial.On() {
		attack = f32 * ops.Input * (2*B + 4*int64(h.BatchSize))
	}
	return Memory{
		Attack:      attack,
		Params:      f32 * P,
		Grads:       f32 * P,
		State:       f32 * P * Sb,
		Activations: f32 * B * units,
		Host:        f32 * P * (1 + S),
		Save:        3 * f32 * P * (1 + S),
		Data:        dataBytes + 5*samples,
	}
}
