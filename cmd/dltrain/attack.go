package main

// This file is 'dltrain attack': a checkpoint's robust accuracy on the test set under FGSM or PGD at
// one or more radii ε, with per-class figures, the size of the perturbations, --json, and a picture of
// attacked digits. The attacks are internal/attack's; this file parses, runs and prints.

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/figure"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// AttackOptions are the inputs of 'dltrain attack'.
type AttackOptions struct {
	IO       *IO
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
	// Set reports whether a flag was given on the command line.
	Set func(name string) bool

	Model         string
	KeyFile       string
	Dataset       string
	AllowMismatch bool
	Data          string
	Device        string
	Precision     string
	Method        string
	Eps           string
	Steps         int
	StepSize      float64
	RandomStart   bool
	Restarts      int
	Seed          uint64
	N             int
	JSON          bool
	Quiet         bool
	Threads       int
	ExamplesPNG   string
	Examples      int
}

// NewCmdAttack builds 'dltrain attack'; runF, when not nil, replaces attackRun (for flag tests).
func NewCmdAttack(f *Factory, runF func(*AttackOptions) error) *cobra.Command {
	opts := &AttackOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "attack [MODEL]",
		Short: "Attack a checkpoint with FGSM or PGD and report its robust accuracy",
		Long: `Attack a checkpoint on the test images of its data set (the first -n of them; --dataset as
for eval) and report its clean accuracy, its robust accuracy (images classified correctly both as
they are and after the attack), per class, and the mean L-infinity and L2 norms of the
perturbations.

The attacks work in raw pixel units (0..1) in the L-infinity ball of radius --eps around each image,
and adversarial images are clamped to [0, 1]; the model's normalization is differentiated through,
so the gradient is with respect to the pixels. The loss maximized is the model's own (cross-entropy
against the true label, or MSE for an MSE model).

  fgsm  one step: x + eps*sign(grad), clamped (Goodfellow et al. 2015)
  pgd   --steps steps of --step-size (default eps/4), each projected back into the ball and
        [0, 1] (Madry et al. 2018); --random-start starts from a uniform point of the ball,
        --restarts N tries N random starts and an image counts as fooled if any fools it

--eps takes a comma-separated list for a curve in one call (one row per radius). The run is
deterministic given --seed. --examples-png FILE draws --examples attacked digits of the last radius
(those the attack fooled first): the original, the perturbation (blue down, red up, full colour at
eps) and the adversarial image, each with its prediction.

--json prints one object: model, arch, dataset, n, method, steps, random_start, restarts, seed,
clean_accuracy, and results, one per radius with eps, step_size, robust_accuracy,
per_class_robust_accuracy (10 fractions), mean_linf, mean_l2 and seconds.`,
		Example: `  # FGSM at eps 0.1 on all 10,000 test images
  dltrain attack model.bin --method fgsm --eps 0.1

  # PGD-20 at three radii, as JSON
  dltrain attack model.bin --method pgd --steps 20 --eps 0.05,0.1,0.2 --json

  # PGD-40 with 5 random restarts on the first 1000 images, and a picture of fooled digits
  dltrain attack model.bin --method pgd --steps 40 --step-size 0.01 --eps 0.3 \
      --random-start --restarts 5 -n 1000 --examples-png adv.png`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = modelArg(args)
			opts.Set = func(name string) bool { return cmd.Flags().Changed(name) }
			if runF != nil {
				return runF(opts)
			}
			return attackRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	fl.StringVar(&opts.Data, "data", "", "data directory (default $DLTRAIN_DATA, else ./data; see --dataset)")
	fl.StringVar(&opts.Precision, "precision", "fp32", precisionHelp)
	fl.StringVar(&opts.Method, "method", "pgd", "fgsm or pgd")
	fl.StringVar(&opts.Eps, "eps", "0.1", "L-infinity radius in pixel units (0..1], or a comma-separated list")
	fl.IntVar(&opts.Steps, "steps", 20, "pgd: number of steps")
	fl.Float64Var(&opts.StepSize, "step-size", 0, "pgd: step size alpha (default eps/4)")
	fl.BoolVar(&opts.RandomStart, "random-start", false, "pgd: start from a uniform random point of the ball")
	fl.IntVar(&opts.Restarts, "restarts", 1, "pgd: random starts per image (needs --random-start)")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed of the random starts")
	fl.IntVarP(&opts.N, "n", "n", 0, "attack the first N test images (default all)")
	fl.StringVar(&opts.ExamplesPNG, "examples-png", "", "write a PNG of attacked digits (originals, perturbations, adversarial images)")
	fl.IntVar(&opts.Examples, "examples", 8, "how many digits --examples-png shows")
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet, Device: &opts.Device, Threads: &opts.Threads})
	enumFlag(cmd, "method", "fgsm", "pgd")
	enumFlag(cmd, "precision", "fp32", "tf32")
	dirFlag(cmd, "data")
	fileFlag(cmd, "key-file")
	fileFlag(cmd, "examples-png", "png")
	return cmd
}

// attackJSON is the stable --json format.
type attackJSON struct {
	Model         string             `json:"model"`
	Arch          string             `json:"arch"`
	Dataset       string             `json:"dataset"`
	N             int                `json:"n"`
	Method        string             `json:"method"`
	Steps         int                `json:"steps,omitempty"`
	RandomStart   bool               `json:"random_start"`
	Restarts      int                `json:"restarts"`
	Seed          uint64             `json:"seed"`
	CleanAccuracy float64            `json:"clean_accuracy"`
	Results       []attackResultJSON `json:"results"`
}

type attackResultJSON struct {
	Eps                    float64              `json:"eps"`
	StepSize               float64              `json:"step_size"`
	RobustAccuracy         float64              `json:"robust_accuracy"`
	PerClassRobustAccuracy [ops.Classes]float64 `json:"per_class_robust_accuracy"`
	MeanLinf               float64              `json:"mean_linf"`
	MeanL2                 float64              `json:"mean_l2"`
	Seconds                float64              `json:"seconds"`
}

// parseEps reads --eps: radii in (0, 1], comma-separated.
func parseEps(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0 && v <= 1) {
			return nil, usageErr("--eps: %q is not a radius in (0, 1] (pixels are 0..1; 8/255 is about 0.031)", strings.TrimSpace(f))
		}
		out = append(out, v)
	}
	return out, nil
}

// configs turns the flags into one attack per radius, refusing flags the method would ignore.
func (opts *AttackOptions) configs() ([]attack.Config, error) {
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	method, err := attack.ParseMethod(opts.Method)
	if err != nil {
		return nil, usageErr("--method: %q is not fgsm or pgd", opts.Method)
	}
	if set("examples") && opts.ExamplesPNG == "" {
		return nil, usageErr("--examples applies only with --examples-png FILE")
	}
	eps, err := parseEps(opts.Eps)
	if err != nil {
		return nil, err
	}
	if method == attack.FGSM {
		for _, name := range []string{"steps", "step-size", "random-start", "restarts"} {
			if set(name) {
				return nil, usageErr("--%s applies only to --method pgd (fgsm takes one step of eps)", name)
			}
		}
	}
	if method == attack.PGD {
		switch {
		case opts.Steps < 1 || opts.Steps > attack.MaxSteps:
			return nil, usageErr("--steps %d, want 1..%d", opts.Steps, attack.MaxSteps)
		case set("step-size") && !(opts.StepSize > 0 && opts.StepSize <= 1):
			return nil, usageErr("--step-size %v, want 0 < alpha ≤ 1", opts.StepSize)
		case opts.Restarts < 1 || opts.Restarts > attack.MaxRestarts:
			return nil, usageErr("--restarts %d, want 1..%d", opts.Restarts, attack.MaxRestarts)
		case opts.Restarts > 1 && !opts.RandomStart:
			return nil, usageErr("--restarts %d needs --random-start: restarts from the image itself all find the same point", opts.Restarts)
		}
	}
	var cs []attack.Config
	for _, e := range eps {
		c := attack.Config{Method: method, Eps: e, Seed: opts.Seed}
		if method == attack.PGD {
			c.Steps, c.StepSize, c.RandomStart, c.Restarts = opts.Steps, opts.StepSize, opts.RandomStart, opts.Restarts
		}
		if err := c.Validate(); err != nil {
			return nil, usageErr("%v", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func attackRun(opts *AttackOptions) error {
	cs, err := opts.configs()
	if err != nil {
		return err
	}
	if opts.N < 0 {
		return usageErr("-n %d: want a number of test images ≥ 1 (0 for all)", opts.N)
	}
	if opts.ExamplesPNG != "" && (opts.Examples < 1 || opts.Examples > 256) {
		return usageErr("--examples %d, want 1..256", opts.Examples)
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	if opts.ExamplesPNG != "" {
		fs.picture("--examples-png", opts.ExamplesPNG)
	}
	if err := fs.check(nil); err != nil {
		return err
	}
	ck, ds, be, test, err := testRun{verb: "attack", io: opts.IO, quiet: opts.Quiet, loadData: opts.LoadData,
		model: opts.Model, keyFile: opts.KeyFile, dataset: opts.Dataset, allowMismatch: opts.AllowMismatch,
		data: opts.Data, device: opts.Device, precision: opts.Precision}.open()
	if err != nil {
		return err
	}
	if opts.N > test.N {
		return usageErr("-n %d: the test set has %d images", opts.N, test.N)
	}
	if opts.N > 0 {
		test = &mnist.Set{Images: test.Images[:opts.N*mnist.Pixels], Labels: test.Labels[:opts.N], N: opts.N}
	}
	o := attack.Options{}
	if opts.ExamplesPNG != "" {
		o.Examples = opts.Examples
	}
	reps, err := model.Attack(be, ck.Model, test, cs, o)
	if err != nil {
		return err
	}
	if opts.ExamplesPNG != "" {
		if err := writeExamples(opts.ExamplesPNG, opts.Model, ds.Classes, reps[len(reps)-1]); err != nil {
			return err
		}
	}
	out := opts.IO.Out
	c0 := cs[0]
	if opts.JSON {
		j := attackJSON{Model: opts.Model, Arch: ck.Config.Arch(), Dataset: ds.Name, N: test.N, Method: c0.Method.String(),
			RandomStart: c0.RandomStart, Restarts: max(c0.Restarts, 1), Seed: c0.Seed, CleanAccuracy: reps[0].Clean}
		if c0.Method == attack.PGD {
			j.Steps = c0.Steps
		}
		for _, r := range reps {
			j.Results = append(j.Results, attackResultJSON{Eps: r.Config.Eps, StepSize: r.Config.Alpha(), RobustAccuracy: r.Robust,
				PerClassRobustAccuracy: r.PerClass, MeanLinf: r.MeanLinf, MeanL2: r.MeanL2, Seconds: r.Seconds})
		}
		return printJSON(opts.IO, j)
	}
	fmt.Fprintf(out, "model   %s (%s %s/%s, epoch %d), %s, %s\n", printable(opts.Model), ck.Config.Arch(), ck.Config.Activation, ck.Config.Loss, ck.Epoch, plural(test.N, ds.Title+" test image"), be.Name())
	fmt.Fprintf(out, "attack  %s\n", describeAttack(c0, opts.Set != nil && opts.Set("step-size")))
	fmt.Fprintf(out, "clean   %.2f%% (%d/%d)\n\n", 100*reps[0].Clean, int(reps[0].Clean*float64(test.N)+0.5), test.N)
	fmt.Fprintln(out, "      eps    robust   mean L∞   mean L2     time")
	for _, r := range reps {
		fmt.Fprintf(out, "%9g  %7.2f%%  %8.4f  %8.4f  %6.1fs\n", r.Config.Eps, 100*r.Robust, r.MeanLinf, r.MeanL2, r.Seconds)
	}
	fmt.Fprintln(out, "\nrobust accuracy per class (%)")
	var hdr strings.Builder
	for c := range ops.Classes {
		fmt.Fprintf(&hdr, "%7d", c)
	}
	fmt.Fprintf(out, "      eps%s\n", hdr.String())
	if ds.Classes[1] != "1" { // a set whose classes are not the digits: say what the numbers are
		var names []string
		for c, n := range ds.Classes {
			names = append(names, fmt.Sprintf("%d %s", c, n))
		}
		fmt.Fprintf(out, "      (%s)\n", strings.Join(names, ", "))
	}
	for _, r := range reps {
		fmt.Fprintf(out, "%9g", r.Config.Eps)
		for _, v := range r.PerClass {
			fmt.Fprintf(out, "%7.2f", 100*v)
		}
		fmt.Fprintln(out)
	}
	if opts.ExamplesPNG != "" && !opts.Quiet {
		fmt.Fprintf(out, "\nwrote %s (%s at eps %g)\n", opts.ExamplesPNG, plural(len(reps[len(reps)-1].Examples), "image"), cs[len(cs)-1].Eps)
	}
	return nil
}

// describeAttack is the attack line of the report: "pgd, 20 steps of eps/4, no random start".
func describeAttack(c attack.Config, stepSet bool) string {
	if c.Method == attack.FGSM {
		return "fgsm (one step of eps)"
	}
	step := "eps/4"
	if stepSet {
		step = fmt.Sprintf("%g", c.StepSize)
	}
	s := fmt.Sprintf("pgd, %d steps of %s, ", c.Steps, step)
	switch {
	case !c.RandomStart:
		s += "no random start"
	case c.Restarts > 1:
		s += fmt.Sprintf("%d random starts (seed %d)", c.Restarts, c.Seed)
	default:
		s += fmt.Sprintf("random start (seed %d)", c.Seed)
	}
	return s
}

// writeExamples draws the report's examples, two a row, each as three tiles: the original with its true class and
// prediction, the perturbation on a shared scale of ±eps, and the adversarial image with its
// prediction (red when wrong).
func writeExamples(path, modelName string, classes [ops.Classes]string, rep attack.Report) error {
	if len(rep.Examples) == 0 {
		return fmt.Errorf("--examples-png: no images to draw")
	}
	var tiles []figure.Tile
	eps := float32(rep.Config.Eps)
	for _, e := range rep.Examples {
		delta := make([]float32, attack.P)
		for i := range delta {
			delta[i] = e.Adv[i] - e.X0[i]
		}
		tiles = append(tiles,
			figure.Tile{Pix: e.X0, H: 28, W: 28, Mapping: figure.Gray, Caption: fmt.Sprintf("#%d: %s\npred %s", e.Index, classes[e.Label], classes[e.Clean]), Highlight: e.Clean != e.Label},
			figure.Tile{Pix: delta, H: 28, W: 28, Mapping: figure.Signed, Limit: eps, Caption: fmt.Sprintf("perturbation\n±%g", rep.Config.Eps)},
			figure.Tile{Pix: e.Adv, H: 28, W: 28, Mapping: figure.Gray, Caption: fmt.Sprintf("attacked\npred %s", classes[e.Attacked]), Highlight: e.Attacked != e.Label})
	}
	title := fmt.Sprintf("%s: %s, robust %.2f%%", filepath.Base(modelName), rep.Config, 100*rep.Robust)
	cols := 3 * min(2, len(rep.Examples)) // two digits a row
	return writePicture(path, func(w *bytes.Buffer) error {
		return figure.Grid(w, tiles, cols, figure.GridOptions{Title: title})
	})
}
