package main

// This file is train's adversarial flags: --adversarial and its --adv-* settings, which become
// model.Hyper.Adversarial (recorded in the checkpoint), and --robust-eval, which measures robust
// accuracy on the test set after every epoch (an output setting, like --metrics, given again on
// --resume if wanted).

import (
	"github.com/spf13/pflag"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/model"
)

// AdvOptions are train's adversarial training and robust evaluation flags.
type AdvOptions struct {
	Adversarial string
	AdvEps      float64
	AdvSteps    int
	AdvStepSize float64
	AdvRatio    float64
	RobustEval  int
	RobustEps   float64
}

// robustSteps is the number of PGD steps of --robust-eval's fixed attack.
const robustSteps = 10

func bindAdvFlags(fl *pflag.FlagSet, o *AdvOptions) {
	fl.StringVar(&o.Adversarial, "adversarial", "", "adversarial training: fgsm (FGSM from a random start, Wong et al. 2020) or pgd (PGD-k, Madry et al. 2018)")
	fl.Float64Var(&o.AdvEps, "adv-eps", 0.1, "adversarial training: L-infinity radius in pixel units (0..1]")
	fl.IntVar(&o.AdvSteps, "adv-steps", 7, "adversarial training with pgd: steps k")
	fl.Float64Var(&o.AdvStepSize, "adv-step-size", 0, "adversarial training: step size alpha (default 1.25*eps for fgsm, 2.5*eps/k for pgd)")
	fl.Float64Var(&o.AdvRatio, "adv-ratio", 1, "adversarial training: share of each batch replaced by its attacked version (0..1]")
	fl.IntVar(&o.RobustEval, "robust-eval", 0, "after every epoch, PGD-10 robust accuracy on the first N test images (robust_accuracy in --metrics)")
	fl.Float64Var(&o.RobustEps, "robust-eps", 0, "--robust-eval's radius (default --adv-eps, or the checkpoint's with --resume)")
}

// advHyper fills h.Adversarial from the flags, for a new run.
func (o *AdvOptions) advHyper(h *model.Hyper, set func(string) bool) error {
	if o.Adversarial == "" {
		for _, name := range []string{"adv-eps", "adv-steps", "adv-step-size", "adv-ratio"} {
			if set(name) && !(name == "adv-eps" && o.RobustEval > 0) {
				return usageErr("--%s applies only with --adversarial fgsm or pgd", name)
			}
		}
		return nil
	}
	method, err := attack.ParseMethod(o.Adversarial)
	if err != nil {
		return usageErr("--adversarial: %q is not fgsm or pgd", o.Adversarial)
	}
	if !(o.AdvEps > 0 && o.AdvEps <= 1) {
		return usageErr("--adv-eps %v: want a radius in (0, 1] (pixels are 0..1)", o.AdvEps)
	}
	a := model.Adversarial{Method: method, Eps: o.AdvEps, Steps: o.AdvSteps, StepSize: o.AdvStepSize, Ratio: o.AdvRatio}
	if method == attack.FGSM {
		if set("adv-steps") {
			return usageErr("--adv-steps applies only to --adversarial pgd (fgsm takes one step)")
		}
		a.Steps = 1
	}
	if set("adv-step-size") && !(o.AdvStepSize > 0 && o.AdvStepSize <= 1) {
		return usageErr("--adv-step-size %v: want 0 < alpha ≤ 1", o.AdvStepSize)
	}
	if err := a.Validate(); err != nil {
		return usageErr("%v", err)
	}
	h.Adversarial = a
	return nil
}

// resumeAdv refuses the adversarial flags on --resume: the checkpoint records its recipe.
func (o *AdvOptions) resumeAdv(set func(string) bool) error {
	for _, name := range []string{"adversarial", "adv-eps", "adv-steps", "adv-step-size", "adv-ratio"} {
		if set(name) {
			return usageErr("--%s cannot be used with --resume: the checkpoint records its adversarial training", name)
		}
	}
	return nil
}

// robustEval is the Trainer's robust evaluation: PGD-10 at --robust-eps (else the adversarial radius,
// else --adv-eps), step eps/4, from the image itself (no random start, so every epoch faces the same
// deterministic attack).
func (o *AdvOptions) robustEval(h model.Hyper, set func(string) bool) (model.RobustEval, error) {
	if o.RobustEval < 0 {
		return model.RobustEval{}, usageErr("--robust-eval %d: want a number of test images (0 for none)", o.RobustEval)
	}
	if o.RobustEval == 0 {
		if set("robust-eps") {
			return model.RobustEval{}, usageErr("--robust-eps applies only with --robust-eval N")
		}
		return model.RobustEval{}, nil
	}
	eps := o.AdvEps
	if h.Adversarial.On() {
		eps = h.Adversarial.Eps
	}
	if set("robust-eps") {
		eps = o.RobustEps
	}
	c := attack.Config{Method: attack.PGD, Eps: eps, Steps: robustSteps}
	if err := c.Validate(); err != nil {
		return model.RobustEval{}, usageErr("--robust-eps: %v", err)
	}
	return model.RobustEval{N: o.RobustEval, Attack: c}, nil
}
