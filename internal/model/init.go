package model

// This file is the initialization schemes of New/NewInit: PyTorch's nn.Linear default and the three
// classic alternatives. It does not draw (params.go does, from the seed's PCG).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// InitKind names an initialization scheme.
type InitKind int

// The schemes. fan_in is a layer's input width C, fan_out its output width OC.
const (
	// InitPyTorch is nn.Linear's default: every weight and bias from U(−1/√fan_in, 1/√fan_in).
	// (PyTorch's kaiming_uniform_ with a = √5 gives gain √(1/3) and bound gain·√(3/fan_in) = 1/√fan_in.)
	InitPyTorch InitKind = iota
	// InitUniform draws every weight and bias from U(−A, A), as Cireşan et al. (2010) did with A = 0.05.
	InitUniform
	// InitXavier is Glorot & Bengio's uniform scheme (torch.nn.init.xavier_uniform_, gain 1): weights
	// from U(−√(6/(fan_in+fan_out)), +…), biases 0.
	InitXavier
	// InitKaiming is He et al.'s uniform scheme for ReLU (kaiming_uniform_ with a = 0, mode fan_in,
	// gain √2): weights from U(−√(6/fan_in), +…), biases 0.
	InitKaiming
)

var initNames = []string{"pytorch", "uniform", "xavier", "kaiming"}

// Init is an initialization scheme; A is InitUniform's bound. The zero value is InitPyTorch.
type Init struct {
	Kind InitKind
	A    float64
}

// ParseInit reads "pytorch", "uniform:A" (A > 0, e.g. uniform:0.05), "xavier" or "kaiming".
func ParseInit(s string) (Init, error) {
	name, arg, hasArg := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	for k, n := range initNames {
		if name != n {
			continue
		}
		if InitKind(k) != InitUniform {
			if hasArg {
				return Init{}, fmt.Errorf("model: init %q takes no parameter", n)
			}
			return Init{Kind: InitKind(k)}, nil
		}
		a, err := strconv.ParseFloat(arg, 64)
		in := Init{Kind: InitUniform, A: a}
		if err != nil || in.Validate() != nil {
			return Init{}, fmt.Errorf("model: init %q: want uniform:A with 0 < A ≤ 100, e.g. uniform:0.05", s)
		}
		return in, nil
	}
	return Init{}, fmt.Errorf("model: init %q is not one of pytorch, uniform:A, xavier, kaiming", s)
}

// Validate checks the scheme.
func (i Init) Validate() error {
	switch {
	case i.Kind < InitPyTorch || i.Kind > InitKaiming:
		return fmt.Errorf("model: unknown init %d", int(i.Kind))
	case i.Kind == InitUniform && !(i.A > 0 && i.A <= 100):
		return fmt.Errorf("model: uniform init bound %v, want 0 < A ≤ 100", i.A)
	}
	return nil
}

func (i Init) String() string {
	if i.Kind == InitUniform {
		return "uniform:" + strconv.FormatFloat(i.A, 'g', -1, 64)
	}
	if i.Kind < 0 || int(i.Kind) >= len(initNames) {
		return fmt.Sprintf("init(%d)", int(i.Kind))
	}
	return initNames[i.Kind]
}

// bounds returns the half-widths of the uniform draws of a layer's weights and biases (0: the
// biases are zeros and are not drawn).
func (i Init) bounds(fanIn, fanOut int) (weight, bias float64) {
	switch i.Kind {
	case InitUniform:
		return i.A, i.A
	case InitXavier:
		return math.Sqrt(6 / float64(fanIn+fanOut)), 0
	case InitKaiming:
		return math.Sqrt(6 / float64(fanIn)), 0
	}
	b := 1 / math.Sqrt(float64(fanIn))
	return b, b
}
