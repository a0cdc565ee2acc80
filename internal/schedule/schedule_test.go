package schedule

import (
	"math"
	"testing"
)

// The want values below were printed by PyTorch 1.13's own schedulers, driving a dummy SGD
// optimizer with lr 0.1 through 5 epochs of 7 steps and reading param_groups[0]["lr"] before each
// step (per-epoch schedulers stepped after every 7th step, the others after every step):
//
//	StepLR(o, step_size=2, gamma=0.5)                           stepP
//	ExponentialLR(o, gamma=0.97)                                expP
//	CosineAnnealingLR(o, T_max=35, eta_min=0.001)               cosineP
//	OneCycleLR(o, max_lr=0.1, total_steps=35, cycle_momentum=False)   onecycleP
//	OneCycleLR(…, pct_start=2/5, final_div_factor=(0.1/25)/1e-5, cycle_momentum=False)   onecycleWarmP
//	LinearLR(o, start_factor=1/7, end_factor=1.0, total_iters=6)  warmP
//	SequentialLR(o, [LinearLR(o, 1/7, 1.0, 6), CosineAnnealingLR(o, T_max=28, eta_min=0)], milestones=[7])   warmCosineP
//
// The script is internal/schedule/testdata/torch_schedules.py; run it with /usr/bin/python3 (Debian's
// python3-torch) to reprint the table.
var (
	stepP         = Params{Kind: Step, StepEpochs: 2, Gamma: 0.5}
	expP          = Params{Kind: Exp, Decay: 0.97}
	cosineP       = Params{Kind: Cosine, Min: 0.001}
	onecycleP     = Params{Kind: OneCycle}
	onecycleWarmP = Params{Kind: OneCycle, Warmup: 2, Min: 1e-5}
	warmP         = Params{Kind: Constant, Warmup: 1}
	warmCosineP   = Params{Kind: Cosine, Warmup: 1}
)

var torchTable = []struct {
	p    Params
	t    int
	want float64
}{
	// stepP
	{stepP, 0, 0.1},
	{stepP, 1, 0.1},
	{stepP, 6, 0.1},
	{stepP, 7, 0.1},
	{stepP, 10, 0.1},
	{stepP, 13, 0.1},
	{stepP, 14, 0.05},
	{stepP, 20, 0.05},
	{stepP, 21, 0.05},
	{stepP, 27, 0.05},
	{stepP, 28, 0.025},
	{stepP, 34, 0.025},
	// expP
	{expP, 0, 0.1},
	{expP, 1, 0.1},
	{expP, 6, 0.1},
	{expP, 7, 0.097},
	{expP, 10, 0.097},
	{expP, 13, 0.097},
	{expP, 14, 0.09409000000000001},
	{expP, 20, 0.09409000000000001},
	{expP, 21, 0.09126730000000001},
	{expP, 27, 0.09126730000000001},
	{expP, 28, 0.088529281},
	{expP, 34, 0.088529281},
	// cosineP
	{cosineP, 0, 0.1},
	{cosineP, 1, 0.09980072755276434},
	{cosineP, 6, 0.09299321528329238},
	{cosineP, 7, 0.09054634122155991},
	{cosineP, 10, 0.08136274519200733},
	{cosineP, 13, 0.06995473906686923},
	{cosineP, 14, 0.0657963412215599},
	{cosineP, 20, 0.03948521376916245},
	{cosineP, 21, 0.03520365877844011},
	{cosineP, 27, 0.013222962432821263},
	{cosineP, 28, 0.010453658778440105},
	{cosineP, 34, 0.0011992724472356662},
	// onecycleP
	{onecycleP, 0, 0.0040000000000000036},
	{onecycleP, 1, 0.00660077239836955},
	{onecycleP, 6, 0.07128138038334253},
	{onecycleP, 7, 0.08450951543803556},
	{onecycleP, 10, 0.09989727004843828},
	{onecycleP, 13, 0.09504846320134738},
	{onecycleP, 14, 0.09190443762697105},
	{onecycleP, 20, 0.06112620219362893},
	{onecycleP, 21, 0.054801332090778906},
	{onecycleP, 27, 0.0188258346050237},
	{onecycleP, 28, 0.014082876164983646},
	{onecycleP, 34, 4e-07},
	// onecycleWarmP
	{onecycleWarmP, 0, 0.0040000000000000036},
	{onecycleWarmP, 1, 0.005394792763549511},
	{onecycleWarmP, 6, 0.046214239347744504},
	{onecycleWarmP, 7, 0.057785760652255505},
	{onecycleWarmP, 10, 0.08792851591221286},
	{onecycleWarmP, 13, 0.1},
	{onecycleWarmP, 14, 0.0994415971571253},
	{onecycleWarmP, 20, 0.0750025},
	{onecycleWarmP, 21, 0.06827022451319793},
	{onecycleWarmP, 27, 0.025007500000000012},
	{onecycleWarmP, 28, 0.01883362735607262},
	{onecycleWarmP, 34, 1e-05},
	// warmP
	{warmP, 0, 0.014285714285714285},
	{warmP, 1, 0.02857142857142857},
	{warmP, 6, 0.09999999999999999},
	{warmP, 7, 0.09999999999999999},
	{warmP, 10, 0.09999999999999999},
	{warmP, 13, 0.09999999999999999},
	{warmP, 14, 0.09999999999999999},
	{warmP, 20, 0.09999999999999999},
	{warmP, 21, 0.09999999999999999},
	{warmP, 27, 0.09999999999999999},
	{warmP, 28, 0.09999999999999999},
	{warmP, 34, 0.09999999999999999},
	// warmCosineP
	{warmCosineP, 0, 0.014285714285714285},
	{warmCosineP, 1, 0.02857142857142857},
	{warmCosineP, 6, 0.09999999999999999},
	{warmCosineP, 7, 0.1},
	{warmCosineP, 10, 0.09719416651541839},
	{warmCosineP, 13, 0.0890915741234015},
	{warmCosineP, 14, 0.08535533905932738},
	{warmCosineP, 20, 0.055598223805165395},
	{warmCosineP, 21, 0.05000000000000002},
	{warmCosineP, 27, 0.01882550990706333},
	{warmCosineP, 28, 0.01464466094067263},
	{warmCosineP, 34, 0.00031438950533786984},
}

func TestLRMatchesPyTorch(t *testing.T) {
	const base, spe, epochs = 0.1, 7, 5
	for _, c := range torchTable {
		got := c.p.LR(base, c.t, spe, epochs)
		if math.Abs(got-c.want) > 1e-12*c.want {
			t.Errorf("%v.LR(step %d) = %.17g, PyTorch %.17g", c.p, c.t, got, c.want)
		}
	}
}

// TestLRHandFormulas: the cases PyTorch cannot express as one scheduler (a warmup in front of a
// per-epoch schedule), the floor, and the constant schedule, against the formulas in the docs.
func TestLRHandFormulas(t *testing.T) {
	const base, spe, epochs = 0.1, 10, 6
	for _, c := range []struct {
		p    Params
		t    int
		want float64
	}{
		{Params{}, 0, base},
		{Params{}, 59, base},
		{Params{Kind: Exp, Decay: 0.5, Warmup: 1}, 0, base / 10},
		{Params{Kind: Exp, Decay: 0.5, Warmup: 1}, 9, base},
		{Params{Kind: Exp, Decay: 0.5, Warmup: 1}, 10, base},
		{Params{Kind: Exp, Decay: 0.5, Warmup: 1}, 20, base * 0.5},
		{Params{Kind: Exp, Decay: 0.5, Warmup: 1}, 59, base * 0.5 * 0.5 * 0.5 * 0.5},
		{Params{Kind: Exp, Decay: 0.5, Min: 0.02}, 59, 0.02},
		{Params{Kind: Step, StepEpochs: 3, Gamma: 0.1, Warmup: 0.5}, 2, base * 3 / 5},
		{Params{Kind: Step, StepEpochs: 3, Gamma: 0.1, Warmup: 0.5}, 34, base},
		{Params{Kind: Step, StepEpochs: 3, Gamma: 0.1, Warmup: 0.5}, 35, base * 0.1},
		{Params{Kind: Cosine, Min: 0.01}, 0, base},
		{Params{Kind: Cosine, Min: 0.01}, 30, 0.01 + (base-0.01)/2},
	} {
		if got := c.p.LR(base, c.t, spe, epochs); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%v.LR(step %d) = %.17g, want %.17g", c.p, c.t, got, c.want)
		}
	}
}

// TestLRStaysInRange: every schedule's rate is positive, finite, at most the base rate, and at least
// its floor, at every step of runs of several shapes.
func TestLRStaysInRange(t *testing.T) {
	const base = 0.05
	for _, p := range []Params{stepP, expP, cosineP, onecycleP, onecycleWarmP, warmP, warmCosineP,
		{Kind: Exp, Decay: 0.97, Min: 1e-4, Warmup: 0.3}, {Kind: Cosine, Warmup: 10}, {Kind: OneCycle, Warmup: 0.01}} {
		for _, shape := range [][2]int{{1, 1}, {1, 50}, {600, 3}, {3, 1}} {
			spe, epochs := shape[0], shape[1]
			for step := range spe * epochs {
				lr := p.LR(base, step, spe, epochs)
				if !(lr > 0) || lr > base*(1+1e-15) || math.IsInf(lr, 0) || (p.Kind != OneCycle && lr < p.Min) {
					t.Fatalf("%v.LR(step %d of %d×%d) = %v, want in (0, %v]", p, step, epochs, spe, lr, base)
				}
			}
		}
	}
}

func TestParseKind(t *testing.T) {
	for i, n := range []string{"constant", "step", "exp", "cosine", "onecycle"} {
		if k, err := ParseKind(n); err != nil || k != Kind(i) || k.String() != n {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", n, k, err, Kind(i))
		}
	}
	if _, err := ParseKind("linear"); err == nil || err.Error() != `schedule: "linear" is not one of constant, step, exp, cosine, onecycle` {
		t.Errorf("ParseKind(linear) = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		p  Params
		ok bool
	}{
		{Params{}, true},
		{stepP, true},
		{Params{Kind: Step}, false},
		{Params{Kind: Step, StepEpochs: 1, Gamma: 1.5}, false},
		{Params{Kind: Exp}, false},
		{Params{Kind: Exp, Decay: 0.97}, true},
		{Params{Kind: Cosine, Min: 0.2}, false},
		{Params{Warmup: -1}, false},
		{Params{Warmup: math.NaN()}, false},
		{Params{Kind: 9}, false},
	} {
		if err := c.p.Validate(0.1); (err == nil) != c.ok {
			t.Errorf("%+v.Validate(0.1) = %v, want ok=%v", c.p, err, c.ok)
		}
	}
}
