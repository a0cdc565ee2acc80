package model

// This file is the optimizer's side of training: which optimizer, which layers it leaves alone
// (--freeze), and the per-step scalars it hands the backend's optimizer ops through the hyper tensor
// (ops.Hyper*). The arithmetic of the updates is the ops' (internal/ref/optim.go).

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ref"
)

// Optimizer names an update rule. Each follows its PyTorch namesake (torch.optim) exactly.
type Optimizer int

// The optimizers. SGD's weight decay is coupled (added to the gradient), as is Adam's; AdamW's is
// decoupled (the weights shrink by lr·λ before the Adam step).
const (
	SGD      Optimizer = iota // SGD with momentum (dampening 0)
	Nesterov                  // SGD with Nesterov momentum
	Adam                      // Adam (amsgrad off)
	AdamW                     // AdamW
)

var optimizerNames = []string{"sgd", "nesterov", "adam", "adamw"}

func (o Optimizer) String() string {
	if o < 0 || int(o) >= len(optimizerNames) {
		return fmt.Sprintf("optimizer(%d)", int(o))
	}
	return optimizerNames[o]
}

// ParseOptimizer maps sgd, nesterov, adam or adamw to an Optimizer.
func ParseOptimizer(s string) (Optimizer, error) {
	for i, n := range optimizerNames {
		if strings.EqualFold(s, n) {
			return Optimizer(i), nil
		}
	}
	return 0, fmt.Errorf("model: %q is not one of %s", s, strings.Join(optimizerNames, ", "))
}

// IsAdam reports whether o keeps Adam's two moments (Adam, AdamW) rather than SGD's momentum.
func (o Optimizer) IsAdam() bool { return o == Adam || o == AdamW }

// PyTorch's defaults for Adam and AdamW.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// LayerSet is a set of layers by index (0 is fc1), such as the layers --freeze keeps fixed. The zero
// value is the empty set. It holds up to 128 layers (a Config has at most 65).
type LayerSet struct{ bits [2]uint64 }

const maxLayerSet = 128

// Has reports whether layer l is in the set.
func (s LayerSet) Has(l int) bool {
	return l >= 0 && l < maxLayerSet && s.bits[l/64]&(1<<(l%64)) != 0
}

// Add puts layer l (0 ≤ l < 128) in the set.
func (s *LayerSet) Add(l int) { s.bits[l/64] |= 1 << (l % 64) }

// Empty reports whether the set has no layer.
func (s LayerSet) Empty() bool { return s.bits == [2]uint64{} }

// String lists the layers by their checkpoint names, "fc1,fc3"; "" for none.
func (s LayerSet) String() string {
	var names []string
	for l := range maxLayerSet {
		if s.Has(l) {
			names = append(names, "fc"+strconv.Itoa(l+1))
		}
	}
	return strings.Join(names, ",")
}

// ParseLayerSet reads a comma-separated list of layer names, "fc1,fc2" (fc1 is the first layer);
// "" is the empty set. Whether the layers exist is Hyper.Check's concern.
func ParseLayerSet(s string) (LayerSet, error) {
	var set LayerSet
	if strings.TrimSpace(s) == "" {
		return set, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(strings.TrimPrefix(f, "fc"))
		if !strings.HasPrefix(f, "fc") || err != nil || n < 1 || n > maxLayerSet {
			return set, fmt.Errorf("model: bad layer name %q (want fc1, fc2, …, comma-separated)", f)
		}
		set.Add(n - 1)
	}
	return set, nil
}

// constScalars fills the scalars of h that stay fixed for a run, in the ops.Hyper* layout: each
// computed in float64 as PyTorch does and rounded once.
func (h Hyper) constScalars(dst []float32) {
	dst[ops.HyperMomentum] = float32(h.Momentum)
	dst[ops.HyperWeightDecay] = float32(h.WeightDecay)
	dst[ops.HyperBeta1], dst[ops.HyperOneMinusBeta1] = float32(h.Beta1), float32(1-h.Beta1)
	dst[ops.HyperBeta2], dst[ops.HyperOneMinusBeta2] = float32(h.Beta2), float32(1-h.Beta2)
	dst[ops.HyperEps] = float32(h.Eps)
}

// stepScalars fills the scalars of one update at learning rate lr, Adam's t-th (t from 1): the rate,
// Adam's step size and bias correction, and AdamW's decay factor (ref.AdamScalars).
func (h Hyper) stepScalars(dst []float32, lr float64, t int) {
	s, bc2, decay := ref.AdamScalars(lr, h.Beta1, h.Beta2, h.WeightDecay, t)
	dst[ops.HyperLR], dst[ops.HyperStepSize], dst[ops.HyperBias2Sqrt], dst[ops.HyperDecay] = float32(lr), float32(s), float32(bc2), float32(decay)
}

// finite32 reports whether x is finite as a float32 too.
func finite32(x float64) bool { return !math.IsNaN(x) && math.Abs(x) <= math.MaxFloat32 }
