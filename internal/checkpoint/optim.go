package checkpoint

// This file is the checkpoint's record of how a model trains beyond the first release's SGD: the
// optimizer and its state tensors, the schedule, the validation split with the best epoch so far, the
// frozen layers, and how the weights were initialized. It is what --resume reads to continue a run
// bit for bit.
//
// Format versions. A checkpoint that uses none of these features (SGD with momentum, no weight decay,
// a constant rate, no validation split, nothing frozen: the default run) is written exactly as the
// first release wrote it, format_version "1", so its bytes do not change. One that uses any of them is
// format_version "2", so that a build that knows only version 1 refuses it instead of resuming it
// with the wrong optimizer. This build reads both (and version 3, augment.go); in a version 1 file the
// version 2 keys must be absent, and their absence means the defaults.

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/schedule"
)

// FormatVersion2 is the format version of checkpoints that use any feature of this file.
const FormatVersion2 = "2"

// The state tensors' name suffixes: SGD's momentum buffer, and Adam's moments under PyTorch's names.
const (
	expAvgSuffix   = ".exp_avg"
	expAvgSqSuffix = ".exp_avg_sq"
)

// The tensors a spec can point into.
const (
	inParams = iota
	inVelocity
	inExpAvg
	inExpAvgSq
)

// vector returns the model's vector that a tensor of kind in lives in.
func vector(m *model.Model, in int) []float32 {
	switch in {
	case inVelocity:
		return m.Velocity
	case inExpAvg:
		return m.ExpAvg
	case inExpAvgSq:
		return m.ExpAvgSq
	}
	return m.Params
}

// needsV2 reports whether h uses anything a version 1 checkpoint cannot record.
func needsV2(h model.Hyper) bool {
	return h.Optimizer != model.SGD || h.WeightDecay != 0 || h.Schedule != (schedule.Params{}) ||
		h.ValSplit != 0 || !h.Freeze.Empty() || h.Adversarial.On() ||
		h.Augment.Mode != augment.None // version 3 (augment.go) includes 2
}

// v2Keys are the metadata keys only a version 2 checkpoint may hold.
var v2Keys = []string{"optimizer", "weight_decay", "beta1", "beta2", "eps", "lr_schedule", "warmup", "lr_min",
	"lr_decay", "lr_step", "lr_gamma", "val_split", "patience", "best_epoch", "best_val_accuracy", "best_val_loss", "freeze",
	"adversarial", "adv_eps", "adv_steps", "adv_step_size", "adv_ratio"}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// putTraining adds the version 2 keys of c to meta (and the informational init keys), and returns
// the format version the checkpoint needs.
func putTraining(meta map[string]string, c Checkpoint) string {
	if c.Init != (model.Init{}) {
		meta["init"] = c.Init.String()
	}
	if c.InitFrom != "" {
		meta["init_from"] = c.InitFrom
	}
	h := c.Hyper
	if !needsV2(h) {
		return FormatVersion
	}
	meta["optimizer"] = h.Optimizer.String()
	meta["weight_decay"] = ftoa(h.WeightDecay)
	if h.Optimizer.IsAdam() {
		meta["beta1"], meta["beta2"], meta["eps"] = ftoa(h.Beta1), ftoa(h.Beta2), ftoa(h.Eps)
	}
	s := h.Schedule
	meta["lr_schedule"] = s.Kind.String()
	meta["warmup"], meta["lr_min"] = ftoa(s.Warmup), ftoa(s.Min)
	switch s.Kind {
	case schedule.Exp:
		meta["lr_decay"] = ftoa(s.Decay)
	case schedule.Step:
		meta["lr_step"], meta["lr_gamma"] = strconv.Itoa(s.StepEpochs), ftoa(s.Gamma)
	}
	meta["val_split"], meta["patience"] = strconv.Itoa(h.ValSplit), strconv.Itoa(h.Patience)
	if h.ValSplit > 0 {
		b := c.Model.Best
		meta["best_epoch"] = strconv.Itoa(b.Epoch)
		meta["best_val_accuracy"], meta["best_val_loss"] = ftoa(b.Accuracy), ftoa(b.Loss)
	}
	meta["freeze"] = h.Freeze.String()
	putAdversarial(meta, h.Adversarial)
	return FormatVersion2
}

// getTraining reads the version 2 keys (and the init keys) of md into h, best and c's init fields.
// In a version 1 checkpoint the version 2 keys must be absent.
func getTraining(md map[string]string, version string, h *model.Hyper, best *model.Best, c *Checkpoint) error {
	if s, ok := md["init"]; ok {
		in, err := model.ParseInit(s)
		if err != nil {
			return fmt.Errorf("metadata: %v", err)
		}
		c.Init = in
	}
	c.InitFrom = md["init_from"]
	if version == FormatVersion {
		for _, k := range append(v2Keys, augmentKeys...) {
			if _, ok := md[k]; ok {
				return fmt.Errorf("metadata: %s in a format version %s checkpoint (it needs version %s)", k, FormatVersion, FormatVersion2)
			}
		}
		return nil
	}
	var err error
	num := func(k string, lo, hi float64) float64 {
		v, e := strconv.ParseFloat(md[k], 64)
		if err == nil && (e != nil || !(v >= lo && v <= hi)) {
			err = fmt.Errorf("metadata: bad %s %q", k, md[k])
		}
		return v
	}
	integer := func(k string) int {
		v, e := strconv.ParseInt(md[k], 10, 64)
		if err == nil && (e != nil || v < 0 || v > math.MaxInt32) {
			err = fmt.Errorf("metadata: bad %s %q", k, md[k])
		}
		return int(v)
	}
	if h.Optimizer, err = model.ParseOptimizer(md["optimizer"]); err != nil {
		return fmt.Errorf("metadata: %v", err)
	}
	h.WeightDecay = num("weight_decay", 0, math.MaxFloat32)
	if h.Optimizer.IsAdam() {
		h.Beta1, h.Beta2, h.Eps = num("beta1", 0, 1), num("beta2", 0, 1), num("eps", 0, math.MaxFloat32)
	}
	kind, kerr := schedule.ParseKind(md["lr_schedule"])
	if kerr != nil {
		return fmt.Errorf("metadata: %v", kerr)
	}
	h.Schedule = schedule.Params{Kind: kind, Warmup: num("warmup", 0, 1e6), Min: num("lr_min", 0, math.MaxFloat32)}
	switch kind {
	case schedule.Exp:
		h.Schedule.Decay = num("lr_decay", 0, 1)
	case schedule.Step:
		h.Schedule.StepEpochs, h.Schedule.Gamma = integer("lr_step"), num("lr_gamma", 0, 1)
	}
	h.ValSplit, h.Patience = integer("val_split"), integer("patience")
	if h.ValSplit > 0 {
		best.Epoch = integer("best_epoch")
		best.Accuracy, best.Loss = num("best_val_accuracy", 0, 1), num("best_val_loss", 0, math.MaxFloat64)
	}
	if err != nil {
		return err
	}
	if h.Freeze, err = model.ParseLayerSet(md["freeze"]); err != nil {
		return fmt.Errorf("metadata: %v", err)
	}
	h.Adversarial, err = getAdversarial(md)
	return err
}
