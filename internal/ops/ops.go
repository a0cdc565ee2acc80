// Package ops is the op contract of dltrain: the Backend interface that the CPU backend (internal/cpu)
// and the CUDA backend (internal/cuda) implement op for op, the Tensor and Data types those ops take,
// and the few constants every implementation shares. The naive reference of every op, written to be
// read, is internal/ref; the conformance suite that checks a Backend against it is ops/opstest.
//
// This package holds no arithmetic and imports nothing of dltrain's but internal/mnist (for the data
// set that Resident places on a backend). The model (internal/model) is written against it; backends
// import it and never the model.
package ops

import (
	"fmt"

	"github.com/dltrain/dltrain/internal/mnist"
)

// Input and Classes are the input width and class count of every net dltrain trains: 28×28 images in
// 10 classes.
const (
	Input   = mnist.Pixels
	Classes = 10
)

// Tensor is a float32 buffer owned by a Backend: host memory on the CPU, device memory on CUDA.
type Tensor interface {
	Len() int
}

// Data is a data set made resident on a Backend: uint8 pixels and labels, plus the order in which
// batches are drawn from it.
type Data interface {
	N() int
	// Labels are the labels in natural order, kept on the host too (60 KB) for evaluation.
	Labels() []uint8
}

// Backend is the set of ops the MLP is written against. The CPU backend (internal/cpu) and the CUDA
// backend (internal/cuda) implement it op for op, with the same names and contracts; internal/ref
// holds the naive reference of each op under the same name.
//
// Argument order follows llm.c: outputs, then inputs and weights, then dimensions. Letters: B is the
// batch, C the input features of a layer, OC its output features, K the number of classes.
//
// Overwrite or accumulate: every op here overwrites its outputs (dweight and dbias included: each
// parameter is used once per step, so there is nothing to accumulate), except that the loss ops add
// into stats and the optimizer ops update their parameters and state in place.
type Backend interface {
	// Name is "cpu" or "cuda".
	Name() string
	// Alloc returns a zeroed tensor of n floats.
	Alloc(n int) (Tensor, error)
	// View is the n floats of t starting at off; writes through the view change t.
	View(t Tensor, off, n int) Tensor
	// Upload copies src into dst; Download copies src into dst. Lengths must match.
	Upload(dst Tensor, src []float32) error
	Download(dst []float32, src Tensor) error
	// Zero sets every element of t to 0.
	Zero(t Tensor)

	// Resident copies a data set to the backend, kept as uint8.
	Resident(s *mnist.Set) (Data, error)
	// SetOrder sets the order batches are drawn in: batch rows start..start+B-1 are order[start..].
	// The caller has checked the order with CheckOrder: len(order) is d.N() and each entry is in
	// 0..N-1. Backends do not check it again.
	SetOrder(d Data, order []int32) error

	// SetAugment gives d a random deformation that every later Gather of d applies (see Augment): on
	// the training set, so that evaluation sets, made resident separately, are gathered plainly. An
	// Augment with Mode AugmentNone turns it off. It validates a and returns an error for bad ranges.
	// seed is the run's seed; the deformation of image i (its index in d, not its place in the order)
	// also depends on the epoch set with SetEpoch (1 until then).
	SetAugment(d Data, a Augment, seed uint64) error
	// SetEpoch sets the epoch that keys d's deformations, in order with the ops queued before and
	// after it, like SetScalars (on CUDA a 4-byte write to the device word the kernel reads, so that a
	// replayed step sees each new epoch); it must not be issued inside a step being recorded. It does
	// nothing to a data set without augmentation.
	SetEpoch(d Data, epoch int)
	// Gather fills x (B, 784) with images order[start : start+B], normalized as (p/255 − 0.5)/0.5,
	// each deformed first when d has an Augment (SetAugment): row b is then augment.Gather's, image
	// i = order[start+b] under the deformation of (seed, epoch, i).
	Gather(x Tensor, d Data, start, B int)
	// MatmulForward: out (B, OC) = act(inp (B, C) · weight (OC, C)ᵀ + bias (OC)), with the bias and the
	// activation applied in one pass after the GEMM; act is Identity for the output layer.
	MatmulForward(out, inp, weight, bias Tensor, act Activation, B, C, OC int)
	// MatmulBackward: dinp (B, C) = dout (B, OC) · weight (OC, C); dweight (OC, C) = doutᵀ · inp;
	// dbias (OC) = column sums of dout. dinp may be nil, and then it is not computed.
	MatmulBackward(dinp, dweight, dbias, dout, inp, weight Tensor, B, C, OC int)
	// ActivationBackward: dinp = dout · act'(…), computed from the activation's output out; dinp may be
	// dout.
	ActivationBackward(dinp, dout, out Tensor, act Activation, N int)
	// CrossEntropy: softmax cross-entropy of logits (B, K) against the labels of batch rows
	// start..start+B-1. It writes dlogits = (softmax − onehot)/B and adds the summed loss to stats[0]
	// and the count of correct argmax predictions to stats[1].
	CrossEntropy(dlogits, stats, logits Tensor, d Data, start, B, K int)
	// MSE: mean squared error of out (B, K) against one-hot labels, with PyTorch's mean over B·K. It
	// writes dout = 2(out − onehot)/(B·K) and adds Σ_rows mean_k (out − onehot)² to stats[0] and the
	// correct count to stats[1].
	MSE(dout, stats, out Tensor, d Data, start, B, K int)
	// SetScalars writes vals into dst[0 : len(vals)], in order with the ops queued before and after it
	// and without waiting for them; vals is read before it returns. It is how the host hands the
	// optimizer ops their per-step scalars (see Hyper below). It must not be issued inside a step
	// being recorded (Graphs.Record): the recording would freeze its values.
	SetScalars(dst Tensor, vals []float32)
	// SGD updates N parameters with PyTorch's SGD (torch.optim.SGD, dampening 0), its scalars read
	// from hyper (HyperLen floats: HyperLR, HyperMomentum, HyperWeightDecay):
	//
	//	g' = g + λ·p        (coupled L2, only when λ ≠ 0)
	//	v  = μ·v + g'
	//	d  = g' + μ·v  if nesterov, else v
	//	p  = p − lr·d
	//
	// Every product and sum is rounded to float32 on its own, in this order (no FMA), so that every
	// backend gives the same bits. With μ = 0, v = g' (PyTorch keeps no buffer then; the result is
	// the same).
	SGD(params, velocity, grads, hyper Tensor, nesterov bool, N int)
	// Adam updates N parameters with PyTorch's Adam (torch.optim.Adam, amsgrad off), or AdamW when
	// decoupled (torch.optim.AdamW), its scalars read from hyper (HyperStepSize, HyperBias2Sqrt,
	// HyperDecay, HyperWeightDecay, HyperBeta1 … HyperEps), expAvg and expAvgSq being its first and
	// second moments m and v:
	//
	//	p  = p·(1 − lr·λ)                      (AdamW: decoupled weight decay, HyperDecay)
	//	g' = g + λ·p                           (Adam: coupled L2, only when λ ≠ 0)
	//	m  = β1·m + (1 − β1)·g'
	//	v  = β2·v + ((1 − β2)·g')·g'
	//	p  = p − (s·m) / (√v / √(1 − β2^t) + ε),   s = lr / (1 − β1^t)
	//
	// with t the Adam step (1 for the first update). ε is added after the bias correction of √v, as
	// PyTorch places it. Each operation is rounded to float32 on its own (√ and ÷ correctly rounded).
	Adam(params, expAvg, expAvgSq, grads, hyper Tensor, decoupled bool, N int)
	// Sync waits for queued work to finish (a no-op on the CPU).
	Sync() error
}

// The optimizer's scalars: the layout of the hyper tensor (HyperLen floats) that SGD and Adam read.
//
// The optimizer ops take their scalars from device memory rather than from their arguments because a
// training step replayed as a CUDA graph (Graphs) re-runs its kernels with the arguments they had when
// it was recorded, while the learning rate (under a schedule) and Adam's bias corrections change at
// every step. So the host computes each scalar in float64, as PyTorch computes it in Python, rounds it
// once to float32, and writes the values that changed with SetScalars before the step is run or
// replayed: on CUDA an asynchronous 4-byte memset per value on the step's stream, which neither waits
// for the GPU nor is part of the recording; on the CPU a plain store. The values that change per step
// come first, so one SetScalars call covers them; the constants of a run are written once.
const (
	HyperLR            = iota // lr, this step's learning rate (SGD)
	HyperStepSize             // Adam: s = lr / (1 − β1^t)
	HyperBias2Sqrt            // Adam: √(1 − β2^t)
	HyperDecay                // AdamW: 1 − lr·λ
	HyperMomentum             // SGD: μ
	HyperWeightDecay          // λ (coupled for SGD and Adam, 0 for none; AdamW uses HyperDecay)
	HyperBeta1                // Adam: β1
	HyperOneMinusBeta1        // Adam: 1 − β1 (computed in float64, then rounded)
	HyperBeta2                // Adam: β2
	HyperOneMinusBeta2        // Adam: 1 − β2
	HyperEps                  // Adam: ε
	HyperLen                  // the hyper tensor's length
	// HyperPerStep is how many leading values can change from one step to the next.
	HyperPerStep = HyperDecay + 1
)

// AugmentMode says which deformation an Augment applies; its values are internal/augment's Mode
// (None, Affine, Elastic), which the backends convert to.
type AugmentMode int

// The augmentation modes.
const (
	AugmentNone AugmentMode = iota
	AugmentAffine
	AugmentElastic
)

// Augment is the random deformation of training images that SetAugment attaches to a data set: the
// ranges of internal/augment.Params, field for field (their meaning, limits and defaults are
// documented there). Each image of each epoch gets a fresh deformation, computed while gathering and
// never stored, a pure function of (seed, epoch, image index).
//
// Why a value type here and not augment's own: this contract imports nothing of dltrain's but
// internal/mnist, so that the model and the backends meet on a leaf package, as database/sql and its
// drivers meet on database/sql/driver. The backends import internal/augment and build the same
// augment.Plan from these fields (augment.NewPlan), the CPU backend to run augment.Gather and the
// CUDA backend to pass the plan's float32 constants and Gaussian taps to its PTX twin; the
// conformance suite (ops/opstest) checks both against augment.Gather. Augmentation is state of the
// data set rather than an op of its own because a training step replayed as a CUDA graph must
// deform the same way on every replay: the recorded Gather reads the plan fixed at recording and the
// epoch from device memory, which SetEpoch rewrites between epochs.
type Augment struct {
	Mode      AugmentMode
	Rotation  float64 // degrees: angles uniform in ±Rotation
	Scale     float64 // fraction: x and y scale factors uniform in 1 ± Scale, drawn separately
	Shear     float64 // horizontal shear factor uniform in ±Shear
	Translate float64 // pixels: x and y shifts uniform in ±Translate, drawn separately
	Sigma     float64 // elastic: the smoothing Gaussian's σ, pixels
	Alpha     float64 // elastic: the field's scale α, pixels
}

// Graphs is implemented by backends that can record the ops of one training step once and replay
// them at a fraction of the launch cost (CUDA graphs). A recorded step's parameters are fixed, so while
// recording, Gather and the loss ops take their batch offset from a cursor in device memory (their
// start argument is then relative to it) and every replay advances the cursor by the batch size.
type Graphs interface {
	// Record records step, which issues one full-batch step's ops with start 0, without running it.
	Record(step func(), batch int) error
	// SetCursor sets the offset of the next replayed batch (a 4-byte copy; a few per epoch).
	SetCursor(start int) error
	// Replay runs the recorded step at the cursor and advances the cursor by the batch size.
	Replay() error
}

// CheckOrder reports whether order can be given to SetOrder for a data set of n samples: n entries,
// each in 0..n-1.
func CheckOrder(order []int32, n int) error {
	if len(order) != n {
		return fmt.Errorf("ops: order has %d entries for %d samples", len(order), n)
	}
	for i, o := range order {
		if o < 0 || int(o) >= n {
			return fmt.Errorf("ops: order[%d] = %d, out of range 0..%d", i, o, n-1)
		}
	}
	return nil
}
