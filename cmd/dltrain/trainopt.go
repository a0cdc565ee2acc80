package main

// This file is train's optimization and transfer flags: the optimizer and its weight decay, the
// learning-rate schedule, the validation split with --save-best and --patience, the initialization,
// and transfer learning (--init-from, --freeze, --reset-head). It turns them into model.Hyper and the
// starting model; train.go runs the training. It does not read data.

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/schedule"
)

// OptimOptions are train's flags beyond the first release's SGD.
type OptimOptions struct {
	Optimizer   string
	WeightDecay float64
	Beta1       float64
	Beta2       float64
	Eps         float64

	LRSchedule string
	Warmup     float64
	LRMin      float64
	LRDecay    float64
	LRStep     int
	LRGamma    float64

	ValSplit int
	SaveBest bool
	Patience int

	Init      string
	InitFrom  string
	Freeze    string
	ResetHead bool
}

// bindOptimFlags adds the flags of OptimOptions to fl.
func bindOptimFlags(fl *pflag.FlagSet, o *OptimOptions) {
	fl.StringVar(&o.Optimizer, "optimizer", "sgd", "sgd, nesterov, adam or adamw (PyTorch's semantics)")
	fl.Float64Var(&o.WeightDecay, "weight-decay", 0, "weight decay λ: L2 added to the gradient (sgd, nesterov, adam) or decoupled (adamw; default 0.01 there, as in PyTorch)")
	fl.Float64Var(&o.Beta1, "beta1", model.DefaultBeta1, "Adam's β1")
	fl.Float64Var(&o.Beta2, "beta2", model.DefaultBeta2, "Adam's β2")
	fl.Float64Var(&o.Eps, "eps", model.DefaultEps, "Adam's ε")
	fl.StringVar(&o.LRSchedule, "lr-schedule", "constant", "constant, step, exp, cosine or onecycle (the rate changes every step)")
	fl.Float64Var(&o.Warmup, "warmup", 0, "epochs of linear warmup before the schedule (onecycle: the length of its rise)")
	fl.Float64Var(&o.LRMin, "lr-min", 0, "the lowest rate: cosine's end, onecycle's end, a floor for step and exp")
	fl.Float64Var(&o.LRDecay, "lr-decay", 0.97, "exp: the factor per epoch")
	fl.IntVar(&o.LRStep, "lr-step", 0, "step: epochs between decays (required with --lr-schedule step)")
	fl.Float64Var(&o.LRGamma, "lr-gamma", 0.1, "step: the factor at each decay")
	fl.IntVar(&o.ValSplit, "val-split", 0, "hold out N training images for validation, evaluated every epoch")
	fl.BoolVar(&o.SaveBest, "save-best", false, "also save the best validation epoch to OUT-best.EXT (needs --val-split)")
	fl.IntVar(&o.Patience, "patience", 0, "stop after K epochs without a better validation accuracy (needs --val-split)")
	fl.StringVar(&o.Init, "init", "pytorch", "initialization: pytorch, uniform:A, xavier or kaiming")
	fl.StringVar(&o.InitFrom, "init-from", "", "start from this checkpoint's weights (not its optimizer state or position)")
	fl.StringVar(&o.Freeze, "freeze", "", "layers to keep fixed, e.g. fc1 or fc1,fc2")
	fl.BoolVar(&o.ResetHead, "reset-head", false, "with --init-from: re-initialize the output layer")
}

// bestPath names the checkpoint of the best validation epoch: model.bin → model-best.bin.
func bestPath(out string) string {
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + "-best" + ext
}

// optimHyper fills h's optimizer, schedule and validation settings from the flags, for a new run.
func (o *OptimOptions) optimHyper(h *model.Hyper, set func(string) bool) error {
	opt, err := model.ParseOptimizer(o.Optimizer)
	if err != nil {
		return usageErr("--optimizer: %q is not one of sgd, nesterov, adam, adamw", o.Optimizer)
	}
	h.Optimizer = opt
	if opt.IsAdam() && !set("lr") {
		h.LR = 1e-3 // PyTorch's Adam and AdamW default
	}
	h.WeightDecay, h.Beta1, h.Beta2, h.Eps = o.WeightDecay, o.Beta1, o.Beta2, o.Eps
	if opt == model.AdamW && !set("weight-decay") {
		h.WeightDecay = 1e-2 // PyTorch's AdamW default
	}
	if !opt.IsAdam() {
		h.Beta1, h.Beta2, h.Eps = 0, 0, 0
	}
	kind, err := schedule.ParseKind(o.LRSchedule)
	if err != nil {
		return usageErr("--lr-schedule: %q is not one of constant, step, exp, cosine, onecycle", o.LRSchedule)
	}
	h.Schedule = schedule.Params{Kind: kind, Warmup: o.Warmup, Min: o.LRMin}
	switch kind {
	case schedule.Exp:
		h.Schedule.Decay = o.LRDecay
	case schedule.Step:
		h.Schedule.StepEpochs, h.Schedule.Gamma = o.LRStep, o.LRGamma
	}
	h.ValSplit, h.Patience = o.ValSplit, o.Patience
	if h.Freeze, err = model.ParseLayerSet(o.Freeze); err != nil {
		return usageErr("--freeze: %v", err)
	}
	return o.checkCombinations(*h, set)
}

// checkCombinations refuses flags that the chosen optimizer or schedule would ignore.
func (o *OptimOptions) checkCombinations(h model.Hyper, set func(string) bool) error {
	for _, f := range []struct {
		name string
		used bool
		by   string
	}{
		{"momentum", !h.Optimizer.IsAdam(), "--optimizer sgd or nesterov (Adam's momentum is --beta1)"},
		{"beta1", h.Optimizer.IsAdam(), "--optimizer adam or adamw"},
		{"beta2", h.Optimizer.IsAdam(), "--optimizer adam or adamw"},
		{"eps", h.Optimizer.IsAdam(), "--optimizer adam or adamw (an adversarial radius is --adv-eps)"},
		{"lr-decay", h.Schedule.Kind == schedule.Exp, "--lr-schedule exp"},
		{"lr-step", h.Schedule.Kind == schedule.Step, "--lr-schedule step"},
		{"lr-gamma", h.Schedule.Kind == schedule.Step, "--lr-schedule step"},
		{"lr-min", h.Schedule.Kind != schedule.Constant, "a --lr-schedule other than constant"},
		{"save-best", h.ValSplit > 0, "--val-split N"},
		{"patience", h.ValSplit > 0, "--val-split N"},
	} {
		if set(f.name) && !f.used {
			return usageErr("--%s applies only with %s", f.name, f.by)
		}
	}
	if h.Schedule.Kind == schedule.Step && h.Schedule.StepEpochs < 1 {
		return usageErr("--lr-schedule step needs --lr-step N, the epochs between decays")
	}
	return nil
}

// transfer builds the starting model of a new run from --init-from: the source checkpoint's weights
// in a model of cfg (the source's own architecture, activation and loss unless --hidden, --activation
// or --loss say otherwise),
// with the output layer re-initialized by --reset-head.
func (o *OptimOptions) transfer(cfg model.Config, seed uint64, init model.Init, key []byte, set func(string) bool) (*model.Model, error) {
	src, err := checkpoint.Load(o.InitFrom, key)
	if err != nil {
		return nil, modelErr("--init-from", err)
	}
	if !set("hidden") {
		cfg.Sizes = src.Config.Sizes
	}
	if !set("activation") {
		cfg.Activation = src.Config.Activation
	}
	if !set("loss") {
		cfg.Loss = src.Config.Loss
	}
	m, err := model.NewInit(cfg, seed, init)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if err := m.TakeWeights(src.Model); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--init-from %s: %v", o.InitFrom, err),
			fmt.Sprintf("leave out --hidden to take the architecture of %s, or pick a checkpoint of %s", filepath.Base(o.InitFrom), cfg.Arch()))
	}
	if o.ResetHead {
		if err := m.ResetHead(init); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	return m, nil
}

// resumeHyper applies to a checkpoint's settings h the flags that may change on --resume, and refuses
// those that may not: the optimizer (its state would not carry over), the validation split (the
// training set would change), the frozen layers, and the transfer flags.
func (o *OptimOptions) resumeHyper(h *model.Hyper, resume string, set func(string) bool) error {
	if set("optimizer") && !strings.EqualFold(o.Optimizer, h.Optimizer.String()) {
		state := "momentum buffers"
		if h.Optimizer.IsAdam() {
			state = "moments"
		}
		return withCode(exitUsage, fmt.Errorf("--optimizer %s cannot change on --resume: %s was trained with %s, and its %s do not carry over",
			o.Optimizer, filepath.Base(resume), h.Optimizer, state),
			fmt.Sprintf("to keep only its weights, start a new run with --init-from %s --optimizer %s", resume, o.Optimizer))
	}
	for _, f := range []struct{ name, why string }{
		{"val-split", "the training set would change"},
		{"freeze", "the checkpoint records its frozen layers"},
		{"init", "the weights are the checkpoint's"},
		{"init-from", "the weights are the checkpoint's"},
		{"reset-head", "the weights are the checkpoint's"},
	} {
		if set(f.name) {
			return usageErr("--%s cannot be used with --resume: %s", f.name, f.why)
		}
	}
	if set("weight-decay") {
		h.WeightDecay = o.WeightDecay
	}
	if set("beta1") {
		h.Beta1 = o.Beta1
	}
	if set("beta2") {
		h.Beta2 = o.Beta2
	}
	if set("eps") {
		h.Eps = o.Eps
	}
	s := &h.Schedule
	if set("lr-schedule") {
		kind, err := schedule.ParseKind(o.LRSchedule)
		if err != nil {
			return usageErr("--lr-schedule: %q is not one of constant, step, exp, cosine, onecycle", o.LRSchedule)
		}
		if kind != s.Kind {
			*s = schedule.Params{Kind: kind, Warmup: s.Warmup, Min: s.Min, Decay: o.LRDecay, StepEpochs: o.LRStep, Gamma: o.LRGamma}
		}
	}
	if set("warmup") {
		s.Warmup = o.Warmup
	}
	if set("lr-min") {
		s.Min = o.LRMin
	}
	if set("lr-decay") {
		s.Decay = o.LRDecay
	}
	if set("lr-step") {
		s.StepEpochs = o.LRStep
	}
	if set("lr-gamma") {
		s.Gamma = o.LRGamma
	}
	if set("patience") {
		h.Patience = o.Patience
	}
	return o.checkCombinations(*h, set)
}

// describe is the training banner's optimizer part, e.g. "adamw lr 0.001 (cosine to 0), weight decay 0.01".
func describe(h model.Hyper) string {
	s := fmt.Sprintf("%s lr %g", h.Optimizer, h.LR)
	if h.Schedule.Kind != schedule.Constant || h.Schedule.Warmup > 0 {
		s += " (" + h.Schedule.String() + ")"
	}
	if !h.Optimizer.IsAdam() {
		s += fmt.Sprintf(", momentum %g", h.Momentum)
	}
	if h.WeightDecay != 0 {
		s += fmt.Sprintf(", weight decay %g", h.WeightDecay)
	}
	if !h.Freeze.Empty() {
		s += ", frozen " + h.Freeze.String()
	}
	if h.Augment.Mode != augment.None {
		s += ", augment " + describeAugment(h.Augment)
	}
	if h.Adversarial.On() {
		s += ", adversarial " + h.Adversarial.String()
	}
	return s
}
