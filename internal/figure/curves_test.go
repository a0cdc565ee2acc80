// Tests of Curves: size, not blank, one colour per run, changes with the data, refused inputs; and the
// tick helper.
package figure

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// testRun returns a run of n epochs whose curves fall (loss) and rise (accuracy) smoothly; shift moves
// every value a little, so two runs with different shifts differ everywhere. val adds validation keys.
func testRun(label string, n int, shift float64, val bool) Run {
	run := Run{Label: label}
	for i := 1; i <= n; i++ {
		f := float64(i)
		e := Epoch{Epoch: i, TrainLoss: 0.5/f + shift, TrainAccuracy: 0.99 - 0.1/f - shift,
			TestLoss: 0.4/f + 0.05 + shift, TestAccuracy: 0.98 - 0.08/f - shift,
			ValLoss: math.NaN(), ValAccuracy: math.NaN(), RobustAccuracy: math.NaN(),
			LR: math.NaN(), Seconds: math.NaN(), SamplesPerSecond: math.NaN()}
		if val {
			e.ValLoss, e.ValAccuracy = 0.45/f+0.04+shift, 0.975-0.09/f-shift
		}
		run.Epochs = append(run.Epochs, e)
	}
	return run
}

func curvesPNG(t *testing.T, what string, runs []Run, opt CurvesOptions, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Curves(&b, runs, opt); err != nil {
		t.Fatalf("%s: Curves = %v, want no error", what, err)
	}
	decode(t, what, b.Bytes(), w, h)
	return b.Bytes()
}

func TestCurves(t *testing.T) {
	a, b := testRun("a.jsonl", 12, 0, false), testRun("b.jsonl", 12, 0.01, true)
	two := curvesPNG(t, "two runs", []Run{a, b}, CurvesOptions{}, 1200, 500)
	img := decode(t, "two runs", two, 1200, 500)
	checkNotBlank(t, "two runs", img)
	for i := range 2 {
		if n := countColor(img, runColors[i]); n < 200 {
			t.Errorf("two runs: %d pixels of run %d's colour %v, want at least 200 (its lines)", n, i, runColors[i])
		}
	}
	if n := countColor(img, runColors[2]); n != 0 {
		t.Errorf("two runs: %d pixels of a third run's colour, want 0", n)
	}

	// The picture changes when the data does: one run less, one value moved, a split added, a title.
	changes := []struct {
		what string
		runs []Run
		opt  CurvesOptions
	}{
		{"one run", []Run{a}, CurvesOptions{}},
		{"one value moved", []Run{a, func() Run {
			c := testRun("b.jsonl", 12, 0.01, true)
			c.Epochs[5].TestAccuracy -= 0.02
			return c
		}()}, CurvesOptions{}},
		{"no validation", []Run{a, testRun("b.jsonl", 12, 0.01, false)}, CurvesOptions{}},
		{"titled", []Run{a, b}, CurvesOptions{Title: "MNIST, two learning rates"}},
	}
	for _, c := range changes {
		other := decode(t, c.what, curvesPNG(t, c.what, c.runs, c.opt, 1200, 500), 1200, 500)
		if n := differing(img, other); n < 100 {
			t.Errorf("%s: %d pixels differ from the two-run picture, want at least 100", c.what, n)
		}
	}
	again := curvesPNG(t, "again", []Run{a, b}, CurvesOptions{}, 1200, 500)
	if !bytes.Equal(two, again) {
		t.Errorf("Curves twice on the same runs gave different bytes, want the same")
	}
}

func TestCurvesShapes(t *testing.T) {
	long := strings.Repeat("very/long/directory/", 10) + "run.jsonl"
	tests := []struct {
		what string
		runs []Run
		opt  CurvesOptions
		w, h int
	}{
		{"one epoch", []Run{testRun("a", 1, 0, true)}, CurvesOptions{}, 1200, 500},
		{"small", []Run{testRun("a", 5, 0, false)}, CurvesOptions{Width: 400, Height: 300}, 400, 300},
		{"ten runs, long labels", func() []Run {
			var rs []Run
			for i := range MaxRuns {
				rs = append(rs, testRun(long, 30, float64(i)*0.005, i%2 == 0))
			}
			return rs
		}(), CurvesOptions{Width: 900, Height: 700}, 900, 700},
		{"800 epochs, epoch 0, no test split", []Run{func() Run {
			r := testRun("", 800, 0, false)
			for i := range r.Epochs {
				r.Epochs[i].Epoch = i
				r.Epochs[i].TestLoss, r.Epochs[i].TestAccuracy = math.NaN(), math.NaN()
			}
			return r
		}()}, CurvesOptions{}, 1200, 500},
	}
	for _, tt := range tests {
		img := decode(t, tt.what, curvesPNG(t, tt.what, tt.runs, tt.opt, tt.w, tt.h), tt.w, tt.h)
		checkNotBlank(t, tt.what, img)
	}
}

func TestCurvesErrors(t *testing.T) {
	ok := testRun("a.jsonl", 3, 0, false)
	bad := func(f func(r *Run)) []Run {
		r := testRun("a.jsonl", 3, 0, false)
		f(&r)
		return []Run{r}
	}
	eleven := make([]Run, MaxRuns+1)
	for i := range eleven {
		eleven[i] = ok
	}
	tests := []struct {
		what string
		runs []Run
		opt  CurvesOptions
		want string
	}{
		{"no runs", nil, CurvesOptions{}, "figure: curves: 0 runs, want 1..10"},
		{"eleven runs", eleven, CurvesOptions{}, "figure: curves: 11 runs, want 1..10"},
		{"no epochs", []Run{{Label: "e.jsonl"}}, CurvesOptions{}, "figure: curves: e.jsonl: 0 epochs, want 1..100000"},
		{"unlabelled, no epochs", []Run{ok, {}}, CurvesOptions{}, "figure: curves: run 2: 0 epochs, want 1..100000"},
		{"descending", bad(func(r *Run) { r.Epochs[2].Epoch = 1 }), CurvesOptions{}, "figure: curves: a.jsonl: epoch 1 follows epoch 2; epochs must ascend"},
		{"repeated", bad(func(r *Run) { r.Epochs[1].Epoch = 1 }), CurvesOptions{}, "figure: curves: a.jsonl: epoch 1 follows epoch 1; epochs must ascend"},
		{"infinite loss", bad(func(r *Run) { r.Epochs[1].TestLoss = math.Inf(1) }), CurvesOptions{}, "figure: curves: a.jsonl: epoch 2: test loss +Inf out of range"},
		{"accuracy in %", bad(func(r *Run) { r.Epochs[0].TrainAccuracy = 97 }), CurvesOptions{}, "figure: curves: a.jsonl: epoch 1: train accuracy 97, want a fraction in 0..1"},
		{"nothing to draw", bad(func(r *Run) {
			for i := range r.Epochs {
				r.Epochs[i].TrainLoss, r.Epochs[i].TrainAccuracy = math.NaN(), math.NaN()
				r.Epochs[i].TestLoss, r.Epochs[i].TestAccuracy = math.NaN(), math.NaN()
			}
		}), CurvesOptions{}, "figure: curves: a.jsonl: no loss or accuracy to draw"},
		{"too small", []Run{ok}, CurvesOptions{Width: 100, Height: 500}, "figure: curves: 100x500 pixels, want each side in 300..4096 and at most 16777216 pixels"},
		{"too big", []Run{ok}, CurvesOptions{Width: 5000, Height: 500}, "figure: curves: 5000x500 pixels, want each side in 300..4096 and at most 16777216 pixels"},
		{"one side only", []Run{ok}, CurvesOptions{Width: 800}, "figure: curves: 800x0 pixels, want each side in 300..4096 and at most 16777216 pixels"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Curves(&b, tt.runs, tt.opt)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Curves = %v, want %s", tt.what, err, tt.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: Curves wrote %d bytes before failing, want none", tt.what, b.Len())
		}
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		min, max float64
		target   int
		minStep  float64
		want     string
	}{
		{0.03, 0.46, 6, 0, "0.05 0.10 0.15 0.20 0.25 0.30 0.35 0.40 0.45"},
		{86.9, 99.2, 6, 0, "88 90 92 94 96 98"},
		{0.75, 12.25, 8, 1, "1 2 3 4 5 6 7 8 9 10 11 12"},
		{-0.5, 800.5, 8, 1, "0 100 200 300 400 500 600 700 800"},
		{0.75, 1.25, 8, 1, "1"},
		{1, 1, 8, 1, ""},
		{0, math.Inf(1), 8, 1, ""},
	}
	for _, tt := range tests {
		var labels []string
		for _, tk := range niceTicks(tt.min, tt.max, tt.target, tt.minStep) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tt.want {
			t.Errorf("niceTicks(%g, %g, %d, %g) = %q, want %q", tt.min, tt.max, tt.target, tt.minStep, got, tt.want)
		}
	}
}
