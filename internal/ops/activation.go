package ops

import (
	"fmt"
	"strings"
)

// Activation is a layer's nonlinearity, applied by MatmulForward after the bias and undone by
// ActivationBackward. Its numeric value is what the PTX kernels receive, so the order is fixed.
type Activation int

// The activations. Identity is the output layer's; it is not offered for hidden layers.
const (
	ReLU Activation = iota
	Sigmoid
	Tanh
	Identity
)

var activationNames = []string{"relu", "sigmoid", "tanh"}

func (a Activation) String() string {
	if a == Identity {
		return "identity"
	}
	if a < 0 || int(a) >= len(activationNames) {
		return fmt.Sprintf("activation(%d)", int(a))
	}
	return activationNames[a]
}

// ParseActivation maps "relu", "sigmoid" or "tanh" to an Activation.
func ParseActivation(s string) (Activation, error) {
	for i, n := range activationNames {
		if strings.EqualFold(s, n) {
			return Activation(i), nil
		}
	}
	return 0, fmt.Errorf("ops: unknown activation %q (want relu, sigmoid or tanh)", s)
}

// Hidden reports whether a is an activation for hidden layers (relu, sigmoid or tanh).
func (a Activation) Hidden() bool { return a >= ReLU && a <= Tanh }
