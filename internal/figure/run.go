// Package figure draws dltrain's pictures as PNG files: training curves (Curves), confusion matrices
// (Confusion) and grids of small images such as digits, receptive fields or perturbations (Grid).
// All drawing goes through gonum.org/v1/plot (its plotters, vg canvases, text and palettes).
//
// This file reads the --metrics JSON-lines format into a Run. It is deliberately not a general JSON
// reader, and it does not know about models, checkpoints or data sets: figure imports nothing of
// dltrain's, and callers hand it plain numbers.
package figure

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Limits on a metrics file. A real file has one short line per epoch; anything past these is not one.
const (
	// MaxLineBytes is the longest metrics line ReadRun accepts (today's lines are about 200 bytes).
	MaxLineBytes = 64 << 10
	// MaxLines is the most lines, blank ones included, ReadRun reads from one metrics file.
	MaxLines = 100_000
)

// Epoch is one epoch's metrics. Accuracies are fractions in 0..1, as in the file. A key that the line
// did not have is NaN here: JSON cannot carry NaN, so NaN always means absent, never a value. The keys
// epoch, train_loss and train_accuracy are required; all others are optional.
type Epoch struct {
	Epoch            int     // "epoch", 0 or more (dltrain counts from 1)
	TrainLoss        float64 // "train_loss"
	TrainAccuracy    float64 // "train_accuracy"
	ValLoss          float64 // "val_loss", NaN when absent
	ValAccuracy      float64 // "val_accuracy", NaN when absent
	TestLoss         float64 // "test_loss", NaN when absent
	TestAccuracy     float64 // "test_accuracy", NaN when absent
	RobustAccuracy   float64 // "robust_accuracy", NaN when absent
	LR               float64 // "lr", NaN when absent
	Seconds          float64 // "seconds", NaN when absent
	SamplesPerSecond float64 // "samples_per_second", NaN when absent
}

// Run is one metrics file: its label (usually the file name) and its epochs in ascending order, one
// entry per epoch number.
type Run struct {
	Label  string
	Epochs []Epoch
	// Replaced counts the lines whose epoch number had already appeared earlier in the file. A resumed
	// run appends to its metrics file, and when it restarts from an earlier checkpoint it repeats
	// epochs; the last line for an epoch wins, because it belongs to the run that produced the final
	// weights.
	Replaced int
}

// line is the JSON form of one metrics line; pointers tell absent keys from zeros.
type line struct {
	Epoch            *int     `json:"epoch"`
	TrainLoss        *float64 `json:"train_loss"`
	TrainAccuracy    *float64 `json:"train_accuracy"`
	ValLoss          *float64 `json:"val_loss"`
	ValAccuracy      *float64 `json:"val_accuracy"`
	TestLoss         *float64 `json:"test_loss"`
	TestAccuracy     *float64 `json:"test_accuracy"`
	RobustAccuracy   *float64 `json:"robust_accuracy"`
	LR               *float64 `json:"lr"`
	Seconds          *float64 `json:"seconds"`
	SamplesPerSecond *float64 `json:"samples_per_second"`
}

// ReadRun reads a dltrain metrics file: one JSON object per line, as `dltrain train --metrics` writes.
// Unknown keys are ignored and blank lines skipped. Each line is checked: epoch is an integer of 0 or
// more, losses are 0 or more, accuracies lie in 0..1, lr, seconds and samples_per_second are 0 or more.
// When an epoch number appears again (a resumed run appended to the file, or restarted from an earlier
// checkpoint), the later line replaces the earlier one and Run.Replaced counts it; the result is sorted
// by epoch. Lines longer than MaxLineBytes, files of more than MaxLines lines and files with no epoch
// are refused. Errors read "figure: LABEL: line N: ...".
func ReadRun(r io.Reader, label string) (Run, error) {
	run := Run{Label: label}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	at := map[int]int{} // epoch number -> index in run.Epochs
	n := 0
	for sc.Scan() {
		n++
		if n > MaxLines {
			return Run{}, fmt.Errorf("figure: %s: more than %d lines; not a metrics file", label, MaxLines)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		e, err := parseLine([]byte(text))
		if err != nil {
			return Run{}, fmt.Errorf("figure: %s: line %d: %v", label, n, err)
		}
		if i, ok := at[e.Epoch]; ok {
			run.Epochs[i] = e
			run.Replaced++
			continue
		}
		at[e.Epoch] = len(run.Epochs)
		run.Epochs = append(run.Epochs, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Run{}, fmt.Errorf("figure: %s: line %d: longer than %d bytes; not a metrics line", label, n+1, MaxLineBytes)
		}
		return Run{}, fmt.Errorf("figure: %s: line %d: %v", label, n+1, err)
	}
	if len(run.Epochs) == 0 {
		return Run{}, fmt.Errorf("figure: %s: no epochs", label)
	}
	sort.Slice(run.Epochs, func(i, j int) bool { return run.Epochs[i].Epoch < run.Epochs[j].Epoch })
	return run, nil
}

// parseLine decodes and checks one non-blank metrics line.
func parseLine(b []byte) (Epoch, error) {
	if b[0] != '{' {
		return Epoch{}, errors.New("not a JSON object")
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return Epoch{}, fmt.Errorf("bad JSON: %v", err)
	}
	switch {
	case l.Epoch == nil:
		return Epoch{}, errors.New(`missing key "epoch"`)
	case l.TrainLoss == nil:
		return Epoch{}, errors.New(`missing key "train_loss"`)
	case l.TrainAccuracy == nil:
		return Epoch{}, errors.New(`missing key "train_accuracy"`)
	case *l.Epoch < 0:
		return Epoch{}, fmt.Errorf("epoch %d is negative", *l.Epoch)
	}
	e := Epoch{Epoch: *l.Epoch}
	fields := []struct {
		key      string
		src      *float64
		dst      *float64
		fraction bool // an accuracy: must lie in 0..1
	}{
		{"train_loss", l.TrainLoss, &e.TrainLoss, false},
		{"train_accuracy", l.TrainAccuracy, &e.TrainAccuracy, true},
		{"val_loss", l.ValLoss, &e.ValLoss, false},
		{"val_accuracy", l.ValAccuracy, &e.ValAccuracy, true},
		{"test_loss", l.TestLoss, &e.TestLoss, false},
		{"test_accuracy", l.TestAccuracy, &e.TestAccuracy, true},
		{"robust_accuracy", l.RobustAccuracy, &e.RobustAccuracy, true},
		{"lr", l.LR, &e.LR, false},
		{"seconds", l.Seconds, &e.Seconds, false},
		{"samples_per_second", l.SamplesPerSecond, &e.SamplesPerSecond, false},
	}
	for _, f := range fields {
		if f.src == nil {
			*f.dst = math.NaN()
			continue
		}
		v := *f.src // finite: encoding/json refuses NaN, Inf and out-of-range numbers
		if v < 0 || (f.fraction && v > 1) {
			want := "0 or more"
			if f.fraction {
				want = "a fraction in 0..1"
			}
			return Epoch{}, fmt.Errorf("%s is %g, want %s", f.key, v, want)
		}
		*f.dst = v
	}
	return e, nil
}
