package main

// This file is the augmentation flags shared by train and data preview: --augment none|affine|elastic
// and the ranges of the random deformation (--rotate, --scale, --shear, --shift, --elastic-sigma,
// --elastic-alpha), turned into augment.Params; and, for train, what --resume does with them. It
// does not deform anything (internal/augment does).

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/model"
)

// AugmentOptions are the augmentation flags.
type AugmentOptions struct {
	Augment      string
	Rotate       float64
	Scale        float64
	Shear        float64
	Shift        float64
	ElasticSigma float64
	ElasticAlpha float64
}

// augmentHelp is the flags' description for the verbs' long help.
const augmentHelp = `--augment affine|elastic deforms every training image afresh in every epoch (never stored; the
validation and test images are not deformed): a random rotation within ±--rotate degrees (15),
scale factors in x and y drawn separately within 1 ± --scale (0.15), a horizontal shear within
±--shear (0.15, x' = x + shear·y) and shifts in x and y within ±--shift pixels (2), all uniform;
elastic adds Simard's elastic distortion, a random displacement field smoothed by a Gaussian of
σ = --elastic-sigma pixels (6) and scaled by α = --elastic-alpha pixels (36). The image is
resampled bilinearly (zero outside) before normalization. The deformation of image i in epoch e
depends only on (--seed, e, i), so --resume and GOMAXPROCS do not change the weights.`

// bindAugmentFlags adds the flags of AugmentOptions to fl: --augment with the default mode given,
// the ranges with the defaults of augment.Default.
func bindAugmentFlags(fl *pflag.FlagSet, o *AugmentOptions, mode, what string) {
	d := augment.Default(augment.Elastic)
	fl.StringVar(&o.Augment, "augment", mode, what+": none, affine (rotation, scale, shear, shift) or elastic (affine + Simard's elastic field)")
	fl.Float64Var(&o.Rotate, "rotate", d.Rotation, "affine, elastic: rotations uniform in ±DEG degrees (0..90)")
	fl.Float64Var(&o.Scale, "scale", d.Scale, "affine, elastic: x and y scale factors uniform in 1 ± FRAC, drawn separately (0..0.5)")
	fl.Float64Var(&o.Shear, "shear", d.Shear, "affine, elastic: horizontal shear factor uniform in ±S, x' = x + S·y (0..1)")
	fl.Float64Var(&o.Shift, "shift", d.Translate, "affine, elastic: x and y shifts uniform in ±PX pixels, drawn separately (0..14)")
	fl.Float64Var(&o.ElasticSigma, "elastic-sigma", d.Sigma, "elastic: σ of the Gaussian that smooths the displacement field, pixels (0.5..14)")
	fl.Float64Var(&o.ElasticAlpha, "elastic-alpha", d.Alpha, "elastic: α, the smoothed field's scale, pixels (>0..100)")
}

// augmentFlags are the range flags, with the modes that use them.
var augmentFlags = []struct {
	name    string
	elastic bool // only elastic uses it
}{{"rotate", false}, {"scale", false}, {"shear", false}, {"shift", false}, {"elastic-sigma", true}, {"elastic-alpha", true}}

// params turns the flags into augment.Params, refusing ranges the mode would ignore and values out of
// range. In affine mode Sigma and Alpha stay 0 (they are not recorded).
func (o *AugmentOptions) params(set func(string) bool) (augment.Params, error) {
	mode, err := augment.ParseMode(o.Augment)
	if err != nil {
		return augment.Params{}, usageErr("--augment: %q is not one of none, affine, elastic", o.Augment)
	}
	for _, f := range augmentFlags {
		switch {
		case !set(f.name):
		case mode == augment.None:
			return augment.Params{}, usageErr("--%s applies only with --augment affine or elastic", f.name)
		case f.elastic && mode != augment.Elastic:
			return augment.Params{}, usageErr("--%s applies only with --augment elastic", f.name)
		}
	}
	if mode == augment.None {
		return augment.Params{}, nil
	}
	p := augment.Params{Mode: mode, Rotation: o.Rotate, Scale: o.Scale, Shear: o.Shear, Translate: o.Shift}
	if mode == augment.Elastic {
		p.Sigma, p.Alpha = o.ElasticSigma, o.ElasticAlpha
	}
	if err := p.Validate(); err != nil {
		return augment.Params{}, withCode(exitUsage, err, "the ranges: --rotate 0..90, --scale 0..0.5, --shear 0..1, --shift 0..14, --elastic-sigma 0.5..14, --elastic-alpha >0..100")
	}
	return p, nil
}

// resumeAugment keeps the checkpoint's augmentation on --resume: the flags may repeat it but not
// change it, since the epochs already trained saw the recorded deformations and the rest of the run
// must see the same ones for the weights to match an uninterrupted run.
func (o *AugmentOptions) resumeAugment(h *model.Hyper, resume string, set func(string) bool) error {
	given := set("augment")
	for _, f := range augmentFlags {
		given = given || set(f.name)
	}
	if !given {
		return nil
	}
	// What the flags ask for: each flag given, else the checkpoint's value where its mode has one,
	// else the flag's default.
	was := h.Augment
	ask := *o
	pick := func(name string, dst *float64, recorded float64, has bool) {
		if !set(name) && has {
			*dst = recorded
		}
	}
	if !set("augment") {
		ask.Augment = was.Mode.String()
	}
	affine, elastic := was.Mode != augment.None, was.Mode == augment.Elastic
	pick("rotate", &ask.Rotate, was.Rotation, affine)
	pick("scale", &ask.Scale, was.Scale, affine)
	pick("shear", &ask.Shear, was.Shear, affine)
	pick("shift", &ask.Shift, was.Translate, affine)
	pick("elastic-sigma", &ask.ElasticSigma, was.Sigma, elastic)
	pick("elastic-alpha", &ask.ElasticAlpha, was.Alpha, elastic)
	p, err := ask.params(set)
	if err != nil {
		return err
	}
	if p != was {
		return withCode(exitUsage, fmt.Errorf("the augmentation cannot change on --resume: %s was trained with %s, the flags ask for %s",
			filepath.Base(resume), describeAugment(was), describeAugment(p)),
			fmt.Sprintf("leave the augmentation flags out to continue as it was, or start a new run from its weights with --init-from %s", resume))
	}
	return nil
}

// describeAugment is the banner's augmentation part, e.g. "elastic (±15°, scale ±0.15, shear ±0.15,
// shift ±2 px, σ 6, α 36)"; "none" without augmentation.
func describeAugment(p augment.Params) string {
	if p.Mode == augment.None {
		return "none"
	}
	s := fmt.Sprintf("%s (±%g°, scale ±%g, shear ±%g, shift ±%g px", p.Mode, p.Rotation, p.Scale, p.Shear, p.Translate)
	if p.Mode == augment.Elastic {
		s += fmt.Sprintf(", σ %g, α %g", p.Sigma, p.Alpha)
	}
	return s + ")"
}
