// Package schedule is dltrain's learning-rate schedules: each one a pure function of the optimizer
// step, the steps per epoch and the length of the run, following the closed forms of PyTorch's
// schedulers (StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, and LinearLR for the warmup), so
// that any step's rate can be computed without replaying the ones before it (a resumed run picks up
// its schedule from its position alone).
//
// It computes in float64, as PyTorch's schedulers do in Python; the training loop rounds the result
// to float32 once per step. It is not the optimizer (internal/model and the ops apply the rate) and
// holds no state.
package schedule

import (
	"fmt"
	"math"
	"strings"
)

// Kind names a schedule.
type Kind int

// The schedules. Each starts after the warmup (Params.Warmup), except OneCycle, whose rising phase is
// its own warmup.
const (
	// Constant keeps the base rate.
	Constant Kind = iota
	// Step multiplies the rate by Gamma every StepEpochs epochs: PyTorch's StepLR stepped once per
	// epoch, lr = base·γ^⌊e/StepEpochs⌋ for epoch e (counted from 0 after the warmup), never below Min.
	Step
	// Exp multiplies the rate by Decay every epoch: PyTorch's ExponentialLR stepped once per epoch,
	// lr = base·Decay^e, never below Min (Cireşan et al. 2010 used 0.97 per epoch).
	Exp
	// Cosine anneals the rate from base to Min over the steps after the warmup: PyTorch's
	// CosineAnnealingLR stepped every step, with T_max the number of those steps and eta_min Min.
	Cosine
	// OneCycle is PyTorch's OneCycleLR stepped every step, over every step of the run, with
	// anneal_strategy "cos", div_factor 25 (it starts at base/25), three_phase false and the learning
	// rate alone (cycle_momentum false). Its rise takes pct_start = 0.3 of the run, or Warmup epochs
	// when that is set; it ends at Min, or at PyTorch's default (base/25)/1e4 when Min is 0.
	OneCycle
)

var names = []string{"constant", "step", "exp", "cosine", "onecycle"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(names) {
		return fmt.Sprintf("schedule(%d)", int(k))
	}
	return names[k]
}

// ParseKind maps a name (constant, step, exp, cosine, onecycle) to its Kind.
func ParseKind(s string) (Kind, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("schedule: %q is not one of %s", s, strings.Join(names, ", "))
}

// OneCycle's fixed parameters, PyTorch's defaults.
const (
	oneCycleDiv      = 25  // div_factor: the first rate is base/25
	oneCycleFinalDiv = 1e4 // final_div_factor: the last rate is (base/25)/1e4, unless Min is set
	oneCyclePct      = 0.3 // pct_start: the share of the run spent rising, unless Warmup is set
	maxStepEpochs    = 1e9 // bound on StepEpochs
)

// Params are a schedule and its parameters. The zero value is the constant schedule.
type Params struct {
	Kind Kind
	// Warmup is the number of epochs (fractions allowed) over which the rate climbs linearly before
	// the schedule proper starts: step k of W = round(Warmup·steps per epoch) warmup steps gets
	// base·(k+1)/W, which is PyTorch's LinearLR(start_factor=1/W, total_iters=W−1). The schedule then
	// runs over the remaining steps, from its own step 0 (PyTorch's SequentialLR). For OneCycle it is
	// the length of the rise instead.
	Warmup float64
	// Min is the floor: eta_min of Cosine, the last rate of OneCycle, a lower bound for Step and Exp.
	Min float64
	// Decay is Exp's factor per epoch.
	Decay float64
	// StepEpochs and Gamma are Step's period in epochs and its factor.
	StepEpochs int
	Gamma      float64
}

// Validate checks the parameters against a base rate.
func (p Params) Validate(base float64) error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	switch {
	case p.Kind < Constant || p.Kind > OneCycle:
		return fmt.Errorf("schedule: unknown kind %d", int(p.Kind))
	case bad(p.Warmup) || p.Warmup < 0 || p.Warmup > 1e6:
		return fmt.Errorf("schedule: warmup %v epochs, want 0..1e6", p.Warmup)
	case bad(p.Min) || p.Min < 0 || p.Min > base:
		return fmt.Errorf("schedule: minimum rate %v, want 0 ≤ min ≤ the learning rate %v", p.Min, base)
	}
	switch p.Kind {
	case Step:
		if p.StepEpochs < 1 || p.StepEpochs > maxStepEpochs {
			return fmt.Errorf("schedule: step needs a period of at least 1 epoch, have %d", p.StepEpochs)
		}
		if bad(p.Gamma) || !(p.Gamma > 0 && p.Gamma <= 1) {
			return fmt.Errorf("schedule: step factor %v, want 0 < γ ≤ 1", p.Gamma)
		}
	case Exp:
		if bad(p.Decay) || !(p.Decay > 0 && p.Decay <= 1) {
			return fmt.Errorf("schedule: exp decay %v per epoch, want 0 < decay ≤ 1", p.Decay)
		}
	}
	return nil
}

// warmupSteps is W, the number of warmup steps in a run with spe steps per epoch, at most total.
func (p Params) warmupSteps(spe, total int) int {
	return min(int(math.Round(p.Warmup*float64(spe))), total)
}

// LR returns the learning rate of optimizer step t (0-based, counted from the start of the run) in a
// run of epochs epochs of spe steps each, with base rate base (the peak rate of OneCycle).
func (p Params) LR(base float64, t, spe, epochs int) float64 {
	total := spe * epochs
	if p.Kind == OneCycle {
		return p.oneCycle(base, t, spe, total)
	}
	W := p.warmupSteps(spe, total)
	if t < W {
		return base * float64(t+1) / float64(W)
	}
	u := t - W // step of the schedule proper
	switch p.Kind {
	case Step:
		e := u / spe
		return max(base*math.Pow(p.Gamma, float64(e/p.StepEpochs)), p.Min)
	case Exp:
		return max(base*math.Pow(p.Decay, float64(u/spe)), p.Min)
	case Cosine:
		T := total - W
		if T <= 0 {
			return base
		}
		return p.Min + (base-p.Min)*(1+math.Cos(math.Pi*float64(u)/float64(T)))/2
	}
	return base
}

// oneCycle is OneCycleLR's two-phase cosine: from base/25 up to base over the first pct_start·total
// steps, then down to the last rate, phase ends at pct_start·total − 1 and total − 1, as PyTorch
// counts them.
func (p Params) oneCycle(base float64, t, spe, total int) float64 {
	initial := base / oneCycleDiv
	last := initial / oneCycleFinalDiv
	if p.Min > 0 {
		last = p.Min
	}
	pct := oneCyclePct
	if p.Warmup > 0 && total > 0 {
		pct = math.Min(p.Warmup*float64(spe)/float64(total), 1)
	}
	cos := func(start, end, frac float64) float64 { return end + (start-end)/2*(math.Cos(math.Pi*frac)+1) }
	end1, end2 := pct*float64(total)-1, float64(total-1)
	step := float64(t)
	if step <= end1 {
		if end1 <= 0 {
			return base // a rise of one step (PyTorch divides by zero here)
		}
		return cos(initial, base, step/end1)
	}
	if end2 == end1 {
		return last
	}
	return cos(base, last, (step-end1)/(end2-end1))
}

// String describes the schedule for the training banner, e.g. "cosine to 0 after 1 warmup epoch".
func (p Params) String() string {
	s := p.Kind.String()
	switch p.Kind {
	case Step:
		s += fmt.Sprintf(" ×%g every %d epochs", p.Gamma, p.StepEpochs)
	case Exp:
		s += fmt.Sprintf(" ×%g per epoch", p.Decay)
	case Cosine:
		s += fmt.Sprintf(" to %g", p.Min)
	}
	if p.Min > 0 && (p.Kind == Step || p.Kind == Exp) {
		s += fmt.Sprintf(", at least %g", p.Min)
	}
	if p.Warmup > 0 {
		s += fmt.Sprintf(", %g warmup epochs", p.Warmup)
	}
	return s
}
