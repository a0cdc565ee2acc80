// Package attack crafts adversarial examples against a classifier of MNIST pixels: FGSM (Goodfellow,
// Shlens and Szegedy 2015) and PGD (Madry et al. 2018) in the L∞ ball of radius ε around each image,
// with pixels kept in [0, 1], and measures a model's robust accuracy on a data set under them
// (Evaluate). It is the attack's arithmetic only, done on the host in float32 exactly as the PyTorch
// formulas below would do it: the gradient and the logits come from a Target, which internal/model's
// Net implements on any backend (the backward pass with the first layer's input gradient on, chained
// through the normalization, so the gradient is with respect to raw pixels).
//
// It is deliberately not a model, a backend or a training loop: it imports neither, and adversarial
// training (internal/model's Trainer) calls Perturb on each batch.
//
// Letters: B rows of a batch, P = 784 pixels per image, K = 10 classes.
package attack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// P and K are the pixels per image and the classes of every net the attacks run against.
const (
	P = 784
	K = 10
)

// Target is a classifier as the attacks see it: a batch of B images as pixels x (B, P) in 0..1 in,
// the gradient of its loss with respect to x and its logits out. Row b of a batch is the target's
// sample start+b, whose true label the target knows (on the GPU the labels live on the device).
type Target interface {
	// Gradient writes into grad (B, P) the gradient of the batch's mean training loss (cross-entropy
	// against the true labels of samples start..start+B−1, or the model's own loss) with respect to
	// the pixels x (B, P), and the logits at x into logits (B, K) when it is not nil.
	Gradient(grad, logits, x []float32, start, B int) error
	// Logits writes the logits (B, K) at the pixels x (B, P).
	Logits(logits, x []float32, B int) error
}

// Method is an attack.
type Method int

// The attacks. FGSM takes one step of ε along the sign of the gradient; PGD takes Steps steps of
// StepSize, projecting back into the ε-ball and [0, 1] after each.
const (
	FGSM Method = iota
	PGD
)

var methodNames = []string{"fgsm", "pgd"}

func (m Method) String() string {
	if m < 0 || int(m) >= len(methodNames) {
		return fmt.Sprintf("method(%d)", int(m))
	}
	return methodNames[m]
}

// ParseMethod maps "fgsm" or "pgd" to a Method.
func ParseMethod(s string) (Method, error) {
	for i, n := range methodNames {
		if strings.EqualFold(s, n) {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("attack: unknown method %q (want fgsm or pgd)", s)
}

// Limits on a Config, so that a mistyped flag cannot ask for a day of work.
const (
	MaxSteps    = 10000
	MaxRestarts = 1000
)

// Config is one attack's settings.
type Config struct {
	Method Method
	// Eps is the radius ε of the L∞ ball, in pixel units (pixels are 0..1): 0 < ε ≤ 1.
	Eps float64
	// Steps is PGD's number of steps (≥ 1); FGSM ignores it.
	Steps int
	// StepSize is PGD's α; 0 means ε/4. FGSM's step is ε.
	StepSize float64
	// RandomStart starts PGD from x0 + δ, δ uniform in [−ε, ε) per pixel, clamped to [0, 1].
	RandomStart bool
	// Restarts runs PGD this many times from independent random starts (needs RandomStart when > 1);
	// an image counts as fooled if any restart fools it. 0 means 1.
	Restarts int
	// Seed seeds the random starts: row b of a batch draws from a PCG seeded by (Seed, its id, the
	// restart), so an image gets the same start whatever the batch it is in.
	Seed uint64
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Method != FGSM && c.Method != PGD:
		return fmt.Errorf("attack: unknown method %d", int(c.Method))
	case !(c.Eps > 0 && c.Eps <= 1):
		return fmt.Errorf("attack: ε %v, want 0 < ε ≤ 1 (pixels are 0..1)", c.Eps)
	case c.Method == FGSM && (c.RandomStart || c.Restarts > 1 || c.StepSize != 0):
		return errors.New("attack: fgsm takes one step of ε from the image: no step size, random start or restarts (use pgd)")
	case c.Method == PGD && (c.Steps < 1 || c.Steps > MaxSteps):
		return fmt.Errorf("attack: pgd steps %d, want 1..%d", c.Steps, MaxSteps)
	case !(c.StepSize >= 0 && c.StepSize <= 2):
		return fmt.Errorf("attack: step size %v, want 0 < α ≤ 2 (0 for the default ε/4)", c.StepSize)
	case c.Restarts < 0 || c.Restarts > MaxRestarts:
		return fmt.Errorf("attack: restarts %d, want 1..%d", c.Restarts, MaxRestarts)
	case c.Restarts > 1 && !c.RandomStart:
		return errors.New("attack: restarts without a random start would all find the same point")
	}
	return nil
}

// Alpha is the step size: ε for FGSM, StepSize or ε/4 for PGD.
func (c Config) Alpha() float64 {
	switch {
	case c.Method == FGSM:
		return c.Eps
	case c.StepSize > 0:
		return c.StepSize
	}
	return c.Eps / 4
}

func (c Config) restarts() int { return max(c.Restarts, 1) }

// String describes the attack: "pgd-20 ε=0.1 α=0.025, random start, 5 restarts".
func (c Config) String() string {
	if c.Method == FGSM {
		return fmt.Sprintf("fgsm ε=%g", c.Eps)
	}
	s := fmt.Sprintf("pgd-%d ε=%g α=%g", c.Steps, c.Eps, c.Alpha())
	if c.RandomStart {
		s += ", random start"
	}
	if c.restarts() > 1 {
		s += fmt.Sprintf(", %d restarts", c.restarts())
	}
	return s
}

// noiseStream separates the random starts' PCG streams from every other stream of a seed.
const noiseStream = 0x6e6f697365 << 20 // "noise"

// Attacker runs one Config on batches of up to MaxB rows. It keeps its scratch buffers between calls,
// so crafting a batch allocates nothing after the first. It is not safe for concurrent use.
type Attacker struct {
	Config Config
	MaxB   int

	grad, x, logits []float32 // (MaxB, P), (MaxB, P), (MaxB, K)
	margin          []float64 // (MaxB): the kept restart's margin; −Inf once fooled
	pcg             *rand.PCG
	rng             *rand.Rand
}

// New returns an Attacker for batches of up to maxB rows.
func New(c Config, maxB int) (*Attacker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if maxB < 1 {
		return nil, fmt.Errorf("attack: batch size %d, want ≥ 1", maxB)
	}
	a := &Attacker{Config: c, MaxB: maxB, grad: make([]float32, maxB*P), x: make([]float32, maxB*P),
		logits: make([]float32, maxB*K), margin: make([]float64, maxB), pcg: rand.NewPCG(0, 0)}
	a.rng = rand.New(a.pcg)
	return a, nil
}

// Perturb writes into adv (B, P) the adversarial version of the B images x0 (B, P), the target's
// samples start..start+B−1, whose true labels are y (B). ids (B) name the images for their random
// starts (PGD with RandomStart). adv must not overlap x0.
//
// FGSM (Goodfellow et al. 2015), with g the gradient at x0:
//
//	adv = clamp(x0 + ε·sign(g), 0, 1)
//
// PGD (Madry et al. 2018), from x = x0 (or x0 + δ clamped to [0, 1], δ uniform in [−ε, ε)), Steps
// times:
//
//	x = clamp(min(max(x + α·sign(g(x)), x0 − ε), x0 + ε), 0, 1)
//
// each operation in float32, as PyTorch computes x + alpha * grad.sign() and the torch.min, torch.max
// and clamp after it, so an adversarial image is the same float32 values in both. sign(0) is 0, as
// torch.sign's, and a NaN gradient moves nothing. With several restarts, a row keeps the first
// restart whose final point the target misclassifies, or else the one with the smallest margin
// (true logit minus the largest other logit): the worst case found.
func (a *Attacker) Perturb(t Target, adv, x0 []float32, y []uint8, ids []uint64, start, B int) error {
	if B < 1 || B > a.MaxB || len(adv) < B*P || len(x0) < B*P || len(y) < B || len(ids) < B {
		return fmt.Errorf("attack: batch of %d rows with %d pixels, %d labels and %d ids (at most %d rows)", B, len(x0), len(y), len(ids), a.MaxB)
	}
	c := a.Config
	eps := float32(c.Eps)
	adv, x0 = adv[:B*P], x0[:B*P]
	if c.Method == FGSM {
		if err := t.Gradient(a.grad[:B*P], nil, x0, start, B); err != nil {
			return err
		}
		for i, v := range x0 {
			adv[i] = clamp01(v + eps*sign(a.grad[i]))
		}
		return nil
	}
	alpha := float32(c.Alpha())
	x := a.x[:B*P]
	R := c.restarts()
	for r := range R {
		copy(x, x0)
		if c.RandomStart {
			for b := range B {
				a.pcg.Seed(c.Seed, noiseStream^(ids[b]<<10|uint64(r)))
				row := x[b*P : (b+1)*P]
				for i, v := range row {
					row[i] = clamp01(v + float32(c.Eps*(2*a.rng.Float64()-1)))
				}
			}
		}
		for range c.Steps {
			if err := t.Gradient(a.grad[:B*P], nil, x, start, B); err != nil {
				return err
			}
			for i, v := range x {
				v += alpha * sign(a.grad[i])
				v = min(max(v, x0[i]-eps), x0[i]+eps)
				x[i] = clamp01(v)
			}
		}
		if R == 1 {
			copy(adv, x)
			return nil
		}
		if err := t.Logits(a.logits[:B*K], x, B); err != nil {
			return err
		}
		for b := range B {
			m := margin(a.logits[b*K:(b+1)*K], int(y[b]))
			if r == 0 || (a.margin[b] > -math.MaxFloat64 && m < a.margin[b]) {
				a.margin[b] = m
				copy(adv[b*P:(b+1)*P], x[b*P:(b+1)*P])
			}
		}
	}
	return nil
}

// margin is z_y − max_{j≠y} z_j, or −MaxFloat64 when the prediction (the first largest logit, as
// Evaluate takes it) is not y: the target is fooled.
func margin(z []float32, y int) float64 {
	if Predict(z) != y {
		return -math.MaxFloat64
	}
	other := math.Inf(-1)
	for j, v := range z {
		if j != y {
			other = max(other, float64(v))
		}
	}
	return float64(z[y]) - other
}

// Predict is the class of a row of logits: the index of its first largest value.
func Predict(z []float32) int {
	p := 0
	for j, v := range z {
		if v > z[p] {
			p = j
		}
	}
	return p
}

// sign is torch.sign: −1, 0 or 1 (and 0 for NaN, which torch would pass on).
func sign(g float32) float32 {
	switch {
	case g > 0:
		return 1
	case g < 0:
		return -1
	}
	return 0
}

// clamp01 is clamp(v, 0, 1).
func clamp01(v float32) float32 { return min(max(v, 0), 1) }
