// Package model holds dltrain's MLP: its configuration, parameters and PyTorch-equivalent
// initialization, the net placed on a backend (internal/ops's contract), the training loop and
// evaluation. It is not the checkpoint file (internal/checkpoint) and holds no backend: the command
// line wires one in.
//
// Progress leaves this package only through callbacks: it never prints.
package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dltrain/dltrain/internal/ops"
)

// Loss is the training objective.
type Loss int

// The losses dltrain supports. CrossEntropy fuses the softmax; MSE compares raw outputs to one-hot
// targets with PyTorch's mean reduction over all B·10 elements.
const (
	CrossEntropy Loss = iota
	MSE
)

var lossNames = []string{"ce", "mse"}

func (l Loss) String() string {
	if l < 0 || int(l) >= len(lossNames) {
		return fmt.Sprintf("loss(%d)", int(l))
	}
	return lossNames[l]
}

// ParseLoss maps "ce" (or "cross-entropy") and "mse" to a Loss.
func ParseLoss(s string) (Loss, error) {
	switch strings.ToLower(s) {
	case "ce", "cross-entropy", "crossentropy":
		return CrossEntropy, nil
	case "mse":
		return MSE, nil
	}
	return 0, fmt.Errorf("model: unknown loss %q (want ce or mse)", s)
}

// The limits every configuration, training run and checkpoint stays within. The training flags are
// checked against them before any work starts (Config.Validate, Hyper.Validate), the checkpoint
// writer refuses a file outside them and the reader rejects one (CheckPosition and the same two), so
// dltrain never writes a file it would then refuse to read.
const (
	// MaxWidth bounds every layer width, so that a hostile or mistyped configuration cannot ask for an
	// absurd allocation.
	MaxWidth = 1 << 16
	// MaxHidden bounds the number of hidden layers.
	MaxHidden = 64
	// MaxParams bounds the parameter count: 2^28 float32s are 1 GiB per copy (parameters, each
	// optimizer state), so the largest checkpoint stays far under internal/checkpoint's MaxFile.
	MaxParams = 1 << 28
	// MaxEpochs bounds --epochs and the epochs a checkpoint records.
	MaxEpochs = 1 << 20
	// MaxBatchSize bounds --batch-size.
	MaxBatchSize = 1 << 16
	// MaxValSplit bounds --val-split, and MaxPatience --patience: a checkpoint stores each as a
	// 32-bit count.
	MaxValSplit = 1<<31 - 1
	MaxPatience = 1<<31 - 1
	// MaxSteps bounds the step counters a checkpoint records: 2^53 is exact in a float64 (and so in
	// any JSON reader), and MaxEpochs epochs of at most 2^32 steps (an IDX file counts at most 2^32
	// samples) stay below it.
	MaxSteps = 1 << 53
)

// Config describes an MLP: Sizes are the layer widths from input to output, e.g. [784 128 10].
type Config struct {
	Sizes      []int
	Activation ops.Activation
	Loss       Loss
}

// NewConfig builds a Config for MNIST with the given hidden widths.
func NewConfig(hidden []int, act ops.Activation, loss Loss) Config {
	sizes := append([]int{ops.Input}, hidden...)
	return Config{Sizes: append(sizes, ops.Classes), Activation: act, Loss: loss}
}

// ParseHidden parses a comma-separated list of hidden widths such as "512,256". An empty string means
// no hidden layer (a linear classifier).
func ParseHidden(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > MaxWidth {
			return nil, fmt.Errorf("model: bad hidden width %q (want integers 1..%d, comma-separated)", f, MaxWidth)
		}
		out = append(out, n)
	}
	return out, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Sizes) < 2 {
		return fmt.Errorf("model: need at least 2 layer sizes, have %d", len(c.Sizes))
	}
	if len(c.Sizes) > MaxHidden+2 {
		return fmt.Errorf("model: %d hidden layers, at most %d", len(c.Sizes)-2, MaxHidden)
	}
	if c.Sizes[0] != ops.Input || c.Sizes[len(c.Sizes)-1] != ops.Classes {
		return fmt.Errorf("model: architecture %s must start at %d and end at %d", c.Arch(), ops.Input, ops.Classes)
	}
	for _, s := range c.Sizes {
		if s < 1 || s > MaxWidth {
			return fmt.Errorf("model: layer width %d out of range 1..%d", s, MaxWidth)
		}
	}
	if p := c.NumParams(); p > MaxParams {
		return fmt.Errorf("model: architecture %s has %d parameters, more than the %d (2^28) a checkpoint may hold", c.Arch(), p, MaxParams)
	}
	if !c.Activation.Hidden() {
		return fmt.Errorf("model: bad activation %v", c.Activation)
	}
	if c.Loss < CrossEntropy || c.Loss > MSE {
		return fmt.Errorf("model: bad loss %v", c.Loss)
	}
	return nil
}

// Arch writes the layer sizes as "784-128-10".
func (c Config) Arch() string {
	parts := make([]string, len(c.Sizes))
	for i, s := range c.Sizes {
		parts[i] = strconv.Itoa(s)
	}
	return strings.Join(parts, "-")
}

// ParseArch is the inverse of Arch.
func ParseArch(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, "-") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > MaxWidth {
			return nil, fmt.Errorf("model: bad architecture %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Layers is the number of linear layers.
func (c Config) Layers() int { return len(c.Sizes) - 1 }

// Layout gives the offsets of each layer's weight (OC, C) and bias (OC) in the flat parameter vector,
// and the total length. Weights come first in each layer, then the bias, layer after layer.
func (c Config) Layout() (wOff, bOff []int, total int) {
	for l := 0; l < c.Layers(); l++ {
		in, out := c.Sizes[l], c.Sizes[l+1]
		wOff = append(wOff, total)
		total += out * in
		bOff = append(bOff, total)
		total += out
	}
	return wOff, bOff, total
}

// NumParams is the total number of float32 parameters.
func (c Config) NumParams() int {
	_, _, n := c.Layout()
	return n
}

// CheckPosition checks a training position (epochs completed, optimizer steps taken, steps into the
// current epoch) against the limits a checkpoint may record.
func CheckPosition(epoch, step, epochStep int) error {
	switch {
	case epoch < 0 || epoch > MaxEpochs:
		return fmt.Errorf("model: epoch %d out of range 0..%d", epoch, MaxEpochs)
	case step < 0 || step > MaxSteps:
		return fmt.Errorf("model: step %d out of range 0..%d", step, int64(MaxSteps))
	case epochStep < 0 || epochStep > step:
		return fmt.Errorf("model: epoch step %d out of range 0..%d (the steps taken)", epochStep, step)
	}
	return nil
}
