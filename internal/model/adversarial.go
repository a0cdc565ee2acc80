package model

// This file is adversarial training: each batch (deformed first when Hyper.Augment says so) is
// attacked with the current weights and the net trains on the attacked images (all of them, or a
// share of the batch), and the robust accuracy that Run can measure after each epoch. The attacks
// themselves are internal/attack's; the pixel path and the input gradient are pixels.go's.

import (
	"fmt"
	"math"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
)

// Adversarial is a recipe of adversarial training. Its zero value (Eps 0) is none.
//
//   - FGSM is "fast is better than free" (Wong, Rice and Kolter 2020): FGSM from a random start,
//     δ uniform in [−ε, ε), one step of α = 1.25ε, projected back into the ε-ball and [0, 1]
//     (attack.PGD with one step and a random start).
//   - PGD is Madry et al.'s (2018): Steps steps of α = 2.5ε/Steps from a random start.
type Adversarial struct {
	Method attack.Method
	// Eps is the attack's radius ε in pixel units, 0 < ε ≤ 1; 0 means no adversarial training.
	Eps float64
	// Steps is PGD's number of steps (1 for FGSM).
	Steps int
	// StepSize is α; 0 means the recipe's (1.25ε for FGSM, 2.5ε/Steps for PGD).
	StepSize float64
	// Ratio is the share of each batch replaced by its attacked version, 0 < r ≤ 1: the first
	// round(r·B) rows of each (shuffled) batch are attacked, the others stay clean.
	Ratio float64
}

// On reports whether a is adversarial training at all.
func (a Adversarial) On() bool { return a.Eps != 0 }

// Validate checks the recipe (the zero value is valid: none).
func (a Adversarial) Validate() error {
	if !a.On() {
		return nil
	}
	if !(a.Ratio > 0 && a.Ratio <= 1) {
		return fmt.Errorf("model: adversarial ratio %v, want 0 < r ≤ 1", a.Ratio)
	}
	if !(a.StepSize >= 0) {
		return fmt.Errorf("model: adversarial step size %v, want α > 0 (0 for the recipe's)", a.StepSize)
	}
	if a.Method == attack.FGSM && a.Steps != 1 {
		return fmt.Errorf("model: adversarial fgsm takes 1 step, not %d", a.Steps)
	}
	if err := a.Attack(0).Validate(); err != nil {
		return fmt.Errorf("model: adversarial training: %w", err)
	}
	return nil
}

// Alpha is the step size: StepSize, else 1.25ε for FGSM and 2.5ε/Steps for PGD.
func (a Adversarial) Alpha() float64 {
	switch {
	case a.StepSize > 0:
		return a.StepSize
	case a.Method == attack.FGSM:
		return 1.25 * a.Eps
	}
	return 2.5 * a.Eps / float64(max(a.Steps, 1))
}

// Attack is the attack that crafts the training batches: PGD from a random start (one step for
// FGSM), seeded by seed.
func (a Adversarial) Attack(seed uint64) attack.Config {
	return attack.Config{Method: attack.PGD, Eps: a.Eps, Steps: a.Steps, StepSize: a.Alpha(), RandomStart: true, Seed: seed}
}

// String describes the recipe: "pgd-7 ε=0.1 α=0.0357" (and the ratio when it is not 1).
func (a Adversarial) String() string {
	s := fmt.Sprintf("%s-%d ε=%g α=%.3g", a.Method, a.Steps, a.Eps, a.Alpha())
	if a.Method == attack.FGSM {
		s = fmt.Sprintf("fgsm (random start) ε=%g α=%.3g", a.Eps, a.Alpha())
	}
	if a.Ratio != 1 {
		s += fmt.Sprintf(", %g of each batch", a.Ratio)
	}
	return s
}

// RobustEval asks Run to measure robust accuracy after every epoch: attack Attack on the first N test
// images (all of them when N is larger), into EpochResult.RobustAccuracy. N = 0 means never.
type RobustEval struct {
	N      int
	Attack attack.Config
}

// advTrainer runs adversarial training steps: the batch's pixels from the host's copy of the
// training set (deformed first when the run has augmentation), the attack on the first rows, then a
// step on the pixels.
type advTrainer struct {
	net   *Net
	d     ops.Data
	set   *mnist.Set
	a     *attack.Attacker
	ratio float64
	plan  *augment.Plan // nil without augmentation
	seed  uint64

	x0, adv []float32 // (B, 784) pixels: clean, and as trained on
	y       []uint8   // (B)
	ids     []uint64  // (B)
}

func newAdvTrainer(net *Net, d ops.Data, set *mnist.Set, h Hyper, seed uint64) (*advTrainer, error) {
	B := h.BatchSize
	a, err := attack.New(h.Adversarial.Attack(seed), B)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	at := &advTrainer{net: net, d: d, set: set, a: a, ratio: h.Adversarial.Ratio, seed: seed,
		x0: make([]float32, B*mnist.Pixels), adv: make([]float32, B*mnist.Pixels), y: make([]uint8, B), ids: make([]uint64, B)}
	if h.Augment.Mode != augment.None {
		if at.plan, err = augment.NewPlan(h.Augment); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	return at, nil
}

// step trains on rows start..start+B−1 of the epoch's order, the first round(ratio·B) of them
// attacked with the current weights.
func (at *advTrainer) step(order []int32, epoch, start, B int) error {
	const P = mnist.Pixels
	if at.plan != nil {
		// The deformation Gather would apply (keyed by seed, epoch and image index), brought back
		// from the normalization to pixels in 0..1: x·0.5 + 0.5, within an ulp of v/255, so that
		// ForwardPixels' normalization gives Gather's rows within an ulp.
		augment.Gather(at.x0[:B*P], at.set.Images, order, start, B, at.plan, at.seed, epoch)
		for i, x := range at.x0[:B*P] {
			at.x0[i] = float32(x*0.5) + 0.5
		}
	}
	for b := range B {
		s := int(order[start+b])
		if at.plan == nil {
			for i, p := range at.set.Images[s*P : (s+1)*P] {
				at.x0[b*P+i] = float32(p) / 255
			}
		}
		at.y[b] = at.set.Labels[s]
		// The row's id for its random start: (epoch, position in the epoch's order), so a resumed
		// run draws the same starts.
		at.ids[b] = uint64(epoch)<<32 | uint64(start+b)
	}
	k := min(B, int(math.Round(at.ratio*float64(B))))
	if k > 0 {
		if err := at.a.Perturb(at.net.Target(at.d), at.adv, at.x0, at.y, at.ids, start, k); err != nil {
			return err
		}
	}
	copy(at.adv[k*P:B*P], at.x0[k*P:B*P])
	if err := at.net.ForwardPixels(at.adv, B); err != nil {
		return err
	}
	at.net.Loss(at.d, start, B)
	at.net.Backward(B)
	at.net.Update()
	return nil
}
