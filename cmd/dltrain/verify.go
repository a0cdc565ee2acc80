package main

// This file is 'dltrain verify': a checkpoint's certified robust accuracy on its test set at one or
// more radii ε, proven by interval bound propagation or CROWN (internal/verify), with PGD
// (internal/attack through model.Attack) run on the same images so that each image gets a verdict:
// certified (no input in the ball changes the prediction: proven), attacked (the image itself or a
// point of the ball that PGD found is misclassified) or unknown (neither). An image both certified
// and attacked would mean the verifier is wrong: the command then fails loudly and prints no
// verdicts. This file converts the model, runs and prints; it does not bound or attack anything
// itself.

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/verify"
)

// VerifyOptions are the inputs of 'dltrain verify'.
type VerifyOptions struct {
	IO       *IO
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
	// Set reports whether a flag was given on the command line.
	Set func(name string) bool
	// Attack runs the attacks that look for counterexamples: model.Attack (tests replace it).
	Attack func(be ops.Backend, m *model.Model, s *mnist.Set, cs []attack.Config, opt attack.Options) ([]attack.Report, error)

	Model         string
	KeyFile       string
	Dataset       string
	AllowMismatch bool
	Data          string
	Device        string
	Method        string
	Eps           string
	Steps         int
	StepSize      float64
	RandomStarts  int
	Seed          uint64
	N             int
	Threads       int
	JSON          bool
	Quiet         bool
	PerImage      bool
}

// NewCmdVerify builds 'dltrain verify'; runF, when not nil, replaces verifyRun (for flag tests).
func NewCmdVerify(f *Factory, runF func(*VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IO, LoadData: f.LoadData, Attack: model.Attack}
	cmd := &cobra.Command{
		Use:   "verify [MODEL]",
		Short: "Prove a checkpoint robust (IBP, CROWN) and report its certified accuracy",
		Long: `Prove, image by image, that no perturbation in the L-infinity ball of radius --eps (pixel units,
0..1, intersected with [0, 1]) changes the checkpoint's prediction from the true label, on the test
images of its data set (the first -n of them; --dataset as for eval), and report the certified
accuracy: the share of images proven.

  ibp    interval bound propagation (Gowal et al. 2018): fast, loose
  crown  CROWN's backward linear relaxation (Zhang et al. 2018): tighter, slower; never looser
         than ibp (its bounds are intersected with ibp's)
  both   (the default) both, side by side

A certificate is a proof, not an estimate. It holds for the exact network with the stored
float32 weights and for every float32 evaluation of it as dltrain computes one: inputs normalized in
float32, each layer's sums in any order with or without fused multiply-adds (the CPU's GEMM, cuBLAS
in fp32), relu exact, sigmoid and tanh within 2^-22 (the CPU's), the argmax of the float32 logits.
For a sigmoid or tanh model it covers the CPU's inference only: the GPU's sigmoid and tanh are
approximate with no error bound established, so the attack of such a model runs on the CPU
(--device cuda is refused, auto uses the CPU). Floating point never makes a certificate unsound:
the bounds are computed in float64 and every result is widened by a rigorous bound of its rounding
error (a dot product of n terms by n*2^-53/(1 - n*2^-53) times the sum of its terms' magnitudes,
single operations by one ulp outward), and the ball verified has radius
max(eps, float32(eps)) + 2^-24, so that it holds every float32 point the attack can reach.

To give every image a verdict, each image is also attacked with PGD: --steps steps (20) of
--step-size (eps/4), from the image itself and from --random-starts random points of the ball (1;
seed --seed), on --device, in fp32. An image is attacked when the image itself or a point PGD found
is misclassified, and unknown when it is neither certified nor attacked: certified accuracy is a
lower bound of the true robust accuracy, 1 - attacked an upper one. An image both certified and
attacked is an internal error (exit 1, no verdicts printed): please report it with the model.

--eps takes a comma-separated list (one row per radius). --threads sets how many CPU threads
run the proofs (default: all).

--json prints one object: model, arch, activation, dataset, n, methods, semantics, covers, attack
{method, steps, step_size ("eps/4" or a number), random_starts, seed, device}, clean_accuracy, and
results, one per radius with eps, verified_eps, certified_accuracy {ibp, crown},
per_class_certified_accuracy {ibp, crown} (10 fractions each), certified, attacked and unknown
(shares of the n images that add up to 1), per_class_attacked, seconds {ibp, crown, attack}; with
--per-image also images, one {index, label, verdict, margin {ibp, crown}} per image, where margin is
the proven lower bound of the true logit minus the largest other (certified when > 0; null when
no finite bound was found).`,
		Example: `  # IBP and CROWN at eps 0.01 on all 10,000 test images
  dltrain verify model.bin --eps 0.01

  # CROWN at four radii, as JSON
  dltrain verify model.bin --method crown --eps 0.001,0.005,0.01,0.02 --json

  # every image's verdict, on the first 1000 images, with a stronger attack
  dltrain verify model.bin --eps 0.05 -n 1000 --steps 100 --random-starts 5 --json --per-image`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = modelArg(args)
			opts.Set = func(name string) bool { return cmd.Flags().Changed(name) }
			if runF != nil {
				return runF(opts)
			}
			return verifyRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	fl.StringVar(&opts.Data, "data", "", "data directory (default $DLTRAIN_DATA, else ./data; see --dataset)")
	fl.StringVar(&opts.Method, "method", "both", "ibp, crown, or both")
	fl.StringVar(&opts.Eps, "eps", "0.01", "L-infinity radius in pixel units (0..1], or a comma-separated list")
	fl.IntVar(&opts.Steps, "steps", 20, "PGD steps per attack")
	fl.Float64Var(&opts.StepSize, "step-size", 0, "PGD step size (default eps/4)")
	fl.IntVar(&opts.RandomStarts, "random-starts", 1, "PGD random starts per image, besides the start at the image")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed of PGD's random starts")
	fl.IntVarP(&opts.N, "n", "n", 0, "verify the first N test images (default all)")
	fl.BoolVar(&opts.PerImage, "per-image", false, "with --json: every image's verdict and margins")
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet, Device: &opts.Device, Threads: &opts.Threads})
	enumFlag(cmd, "method", "ibp", "crown", "both")
	dirFlag(cmd, "data")
	fileFlag(cmd, "key-file")
	return cmd
}

// verifyJSON is the stable --json format.
type verifyJSON struct {
	Model         string             `json:"model"`
	Arch          string             `json:"arch"`
	Activation    string             `json:"activation"`
	Dataset       string             `json:"dataset"`
	N             int                `json:"n"`
	Methods       []string           `json:"methods"`
	Semantics     string             `json:"semantics"`
	Covers        []string           `json:"covers"`
	Attack        verifyAttackJSON   `json:"attack"`
	CleanAccuracy float64            `json:"clean_accuracy"`
	Results       []verifyResultJSON `json:"results"`
}

type verifyAttackJSON struct {
	Method       string `json:"method"`
	Steps        int    `json:"steps"`
	StepSize     any    `json:"step_size"` // "eps/4" or a number
	RandomStarts int    `json:"random_starts"`
	Seed         uint64 `json:"seed"`
	Device       string `json:"device"`
}

type verifyResultJSON struct {
	Eps                       float64                         `json:"eps"`
	VerifiedEps               float64                         `json:"verified_eps"`
	CertifiedAccuracy         map[string]float64              `json:"certified_accuracy"`
	PerClassCertifiedAccuracy map[string][ops.Classes]float64 `json:"per_class_certified_accuracy"`
	Certified                 float64                         `json:"certified"`
	Attacked                  float64                         `json:"attacked"`
	Unknown                   float64                         `json:"unknown"`
	PerClassAttacked          [ops.Classes]float64            `json:"per_class_attacked"`
	Seconds                   map[string]float64              `json:"seconds"`
	Images                    []verifyImageJSON               `json:"images,omitempty"`
}

type verifyImageJSON struct {
	Index   int                 `json:"index"`
	Label   int                 `json:"label"`
	Verdict string              `json:"verdict"`
	Margin  map[string]*float64 `json:"margin"`
}

// The verdicts of an image.
const (
	verdictCertified = "certified"
	verdictAttacked  = "attacked"
	verdictUnknown   = "unknown"
)

// parseMethods reads --method.
func parseMethods(s string) ([]verify.Method, error) {
	if strings.EqualFold(s, "both") {
		return []verify.Method{verify.IBP, verify.CROWN}, nil
	}
	m, err := verify.ParseMethod(s)
	if err != nil {
		return nil, usageErr("--method: %q is not ibp, crown or both", s)
	}
	return []verify.Method{m}, nil
}

// verifiedRadius is the radius of the ball proven for --eps eps. The attack works in float32: it
// starts from x0 = float32(p/255), within 2^-25 of p/255, and keeps its points within float32(eps) of
// x0 up to one rounding of x0 ± float32(eps), at most 2^-25 for a result inside [0, 1] (beyond it the
// clamp to [0, 1] decides). So every point it reaches is within float32(eps) + 2^-24 of p/255, and
// proving the ball of radius max(eps, float32(eps)) + 2^-24 (one ulp up for the addition) proves
// the ball of radius eps and also holds every attack point: a certified image that the attack fools
// is then a contradiction, never a rounding artefact. The difference is below 10^-7.
func verifiedRadius(eps float64) float64 {
	return min(1, math.Nextafter(max(eps, float64(float32(eps)))+0x1p-24, 2))
}

// verifyNet converts a model into the verifier's net: the same layer sizes, every layer's weight
// (m.Weight(l), (Sizes[l+1], Sizes[l]) row-major, verify.Net's layout) and bias, and the hidden
// activation mapped by name (the two packages number theirs independently).
func verifyNet(m *model.Model) (verify.Net, error) {
	acts := map[ops.Activation]verify.Activation{ops.ReLU: verify.ReLU, ops.Sigmoid: verify.Sigmoid, ops.Tanh: verify.Tanh}
	act, ok := acts[m.Config.Activation]
	if !ok {
		return verify.Net{}, fmt.Errorf("cannot verify a model with activation %v", m.Config.Activation)
	}
	net := verify.Net{Sizes: append([]int(nil), m.Config.Sizes...), Act: act}
	for l := range len(net.Sizes) - 1 {
		net.W = append(net.W, m.Weight(l))
		net.B = append(net.B, m.Bias(l))
	}
	return net, net.Validate()
}

// attackConfigs turns the flags into the attacks of each radius: PGD from the image, then PGD from
// --random-starts random points (one config with restarts) when there are any.
func (opts *VerifyOptions) attackConfigs(eps []float64) ([][]attack.Config, error) {
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	switch {
	case opts.Steps < 1 || opts.Steps > attack.MaxSteps:
		return nil, usageErr("--steps %d, want 1..%d", opts.Steps, attack.MaxSteps)
	case set("step-size") && !(opts.StepSize > 0 && opts.StepSize <= 1):
		return nil, usageErr("--step-size %v, want 0 < alpha ≤ 1", opts.StepSize)
	case opts.RandomStarts < 0 || opts.RandomStarts > attack.MaxRestarts:
		return nil, usageErr("--random-starts %d, want 0..%d", opts.RandomStarts, attack.MaxRestarts)
	}
	var out [][]attack.Config
	for _, e := range eps {
		c := attack.Config{Method: attack.PGD, Eps: e, Steps: opts.Steps, StepSize: opts.StepSize, Seed: opts.Seed}
		cs := []attack.Config{c}
		if opts.RandomStarts > 0 {
			c.RandomStart, c.Restarts = true, opts.RandomStarts
			cs = append(cs, c)
		}
		for _, c := range cs {
			if err := c.Validate(); err != nil {
				return nil, usageErr("%v", err)
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

// backend picks where PGD runs. The certificate of a sigmoid or tanh model covers the CPU's float32
// inference only (the GPU's sigmoid and tanh use ex2.approx, whose error internal/verify has no bound
// for), so a point the GPU misclassifies could contradict it without any bug: such a model is
// attacked on the CPU, and --device cuda is refused rather than silently ignored.
func (opts *VerifyOptions) backend(act ops.Activation) (ops.Backend, error) {
	if act != ops.ReLU {
		switch opts.Device {
		case "cuda":
			return nil, &exitErr{code: exitUsage,
				err:  fmt.Errorf("--device cuda: the certificate of a %v model covers float32 inference on the CPU only (the GPU's %v is approximate, with no proven error bound), so its attack runs on the CPU", act, act),
				hint: "use --device cpu"}
		case "auto":
			note(opts.IO, opts.Quiet || opts.JSON, "a %v model is attacked on the CPU: its certificate covers the CPU's inference only", act)
			return &cpu.Backend{}, nil
		}
	}
	be, devNote, err := pickBackend(opts.Device)
	if err == nil && devNote != "" {
		note(opts.IO, opts.Quiet || opts.JSON, "%s", devNote)
	}
	return be, err
}

// epsResult is what one radius gave: each method's certificates and time, and which images the
// attacks fooled.
type epsResult struct {
	eps, radius float64
	methods     []verify.Method
	cert        [][]verify.Result // (len(methods), N)
	seconds     []float64         // per method
	attacked    []bool            // (N): the image or an attack point misclassified
	attackSecs  float64
	step        float64 // PGD's step size
}

// certified reports whether image i is certified by any method.
func (r *epsResult) certified(i int) bool {
	for k := range r.methods {
		if r.cert[k][i].Certified {
			return true
		}
	}
	return false
}

func (r *epsResult) verdict(i int) string {
	switch {
	case r.certified(i):
		return verdictCertified
	case r.attacked[i]:
		return verdictAttacked
	}
	return verdictUnknown
}

// soundness is the internal error for images both certified and attacked: a certificate says no
// point of the ball is misclassified, and the attack (or the image itself) shows one that is.
func (r *epsResult) soundness(labels []uint8) error {
	var bad []string
	n := 0
	for i, a := range r.attacked {
		if !a {
			continue
		}
		for k, m := range r.methods {
			if c := r.cert[k][i]; c.Certified {
				n++
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("image %d (label %d) by %v with margin %g", i, labels[i], m, c.Margin))
				}
				break
			}
		}
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > len(bad) {
		more = fmt.Sprintf(" and %d more", n-len(bad))
	}
	return withCode(exitError,
		fmt.Errorf("internal error: unsound certificate at eps %g: %d image(s) certified although the image or a point of the ball the attack reached is misclassified: %s%s",
			r.eps, n, strings.Join(bad, "; "), more),
		"this is a bug in dltrain's verifier, not a property of the model; no verdicts were printed: please report it with the model and the command")
}

// epsStats are the counts of one radius.
type epsStats struct {
	total              [ops.Classes]int
	cert               [][ops.Classes]int // (len(methods), classes)
	certN              []int              // per method
	any, attacked, unk int
	attackedClass      [ops.Classes]int
}

func (r *epsResult) stats(labels []uint8) epsStats {
	s := epsStats{cert: make([][ops.Classes]int, len(r.methods)), certN: make([]int, len(r.methods))}
	for i, y := range labels {
		s.total[y]++
		for k := range r.methods {
			if r.cert[k][i].Certified {
				s.cert[k][y]++
				s.certN[k]++
			}
		}
		switch r.verdict(i) {
		case verdictCertified:
			s.any++
		case verdictAttacked:
			s.attacked++
			s.attackedClass[y]++
		default:
			s.unk++
		}
	}
	return s
}

// perClass is counts over the class totals (0 for a class with no image).
func perClass(counts, total [ops.Classes]int) (out [ops.Classes]float64) {
	for c := range out {
		if total[c] > 0 {
			out[c] = float64(counts[c]) / float64(total[c])
		}
	}
	return out
}

func verifyRun(opts *VerifyOptions) error {
	methods, err := parseMethods(opts.Method)
	if err != nil {
		return err
	}
	epss, err := parseEps(opts.Eps)
	if err != nil {
		return err
	}
	attacks, err := opts.attackConfigs(epss)
	if err != nil {
		return err
	}
	switch {
	case opts.N < 0:
		return usageErr("-n %d: want a number of test images ≥ 1 (0 for all)", opts.N)
	case opts.Threads < 0:
		return usageErr("--threads %d: want a number of threads ≥ 1 (0 for all)", opts.Threads)
	case opts.PerImage && !opts.JSON:
		return usageErr("--per-image needs --json")
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	if err := fs.check(nil); err != nil {
		return err
	}
	ck, err := loadModel("verify", opts.Model, opts.KeyFile)
	if err != nil {
		return err
	}
	net, err := verifyNet(ck.Model)
	if err != nil {
		return withCode(exitModel, fmt.Errorf("%s: %v", opts.Model, err), "")
	}
	v, err := verify.New(net, verify.Options{Semantics: verify.Float32})
	if err != nil {
		return withCode(exitModel, fmt.Errorf("%s: %v", opts.Model, err), "")
	}
	ds, err := modelDataset(opts.IO, opts.Quiet, ck, opts.Model, opts.Dataset, opts.AllowMismatch)
	if err != nil {
		return err
	}
	be, err := opts.backend(ck.Config.Activation)
	if err != nil {
		return err
	}
	_, test, err := opts.LoadData(ds, opts.Data)
	if err != nil {
		return err
	}
	if opts.N > test.N {
		return usageErr("-n %d: the test set has %d images", opts.N, test.N)
	}
	if opts.N > 0 {
		test = &mnist.Set{Images: test.Images[:opts.N*mnist.Pixels], Labels: test.Labels[:opts.N], N: opts.N}
	}
	pix, labels := test.Images[:test.N*mnist.Pixels], test.Labels[:test.N]

	var flat []attack.Config
	for _, cs := range attacks {
		flat = append(flat, cs...)
	}
	reps, err := opts.Attack(be, ck.Model, test, flat, attack.Options{})
	if err != nil {
		return err
	}
	if len(reps) != len(flat) {
		return withCode(exitError, fmt.Errorf("internal error: %d attack reports for %d attacks", len(reps), len(flat)), "")
	}
	clean := reps[0].Clean
	var results []*epsResult
	for i, eps := range epss {
		r := &epsResult{eps: eps, radius: verifiedRadius(eps), methods: methods, attacked: make([]bool, test.N), step: attacks[i][0].Alpha()}
		for _, rep := range reps[:len(attacks[i])] {
			if len(rep.Survived) != test.N {
				return withCode(exitError, fmt.Errorf("internal error: the attack reported on %d images, not %d", len(rep.Survived), test.N), "")
			}
			for j, s := range rep.Survived {
				r.attacked[j] = r.attacked[j] || !s
			}
			r.attackSecs += rep.Seconds
		}
		reps = reps[len(attacks[i]):]
		for _, m := range methods {
			t0 := time.Now()
			res, err := v.CertifyPixels(pix, labels, r.radius, m, opts.Threads)
			if err != nil {
				return err
			}
			r.cert = append(r.cert, res)
			r.seconds = append(r.seconds, time.Since(t0).Seconds())
		}
		if err := r.soundness(labels); err != nil {
			return err
		}
		results = append(results, r)
	}
	if opts.JSON {
		return printJSON(opts.IO, opts.json(ck, ds, be, labels, methods, attacks[0], clean, results))
	}
	opts.printText(ck, ds, be, labels, methods, attacks[0], clean, results)
	return nil
}

// covers says whose float32 inference a certificate of a model with activation act speaks for.
func covers(act ops.Activation) []string {
	if act == ops.ReLU {
		return []string{"cpu", "cuda"}
	}
	return []string{"cpu"}
}

// stepJSON is a PGD step size for --json: "eps/4" by default, else the number.
func (opts *VerifyOptions) stepJSON() any {
	if opts.Set != nil && opts.Set("step-size") {
		return opts.StepSize
	}
	return "eps/4"
}

func (opts *VerifyOptions) json(ck checkpoint.Checkpoint, ds mnist.Dataset, be ops.Backend, labels []uint8, methods []verify.Method,
	cs []attack.Config, clean float64, results []*epsResult) verifyJSON {
	j := verifyJSON{Model: opts.Model, Arch: ck.Config.Arch(), Activation: ck.Config.Activation.String(), Dataset: ds.Name, N: len(labels),
		Semantics: verify.Float32.String(), Covers: covers(ck.Config.Activation), CleanAccuracy: clean,
		Attack: verifyAttackJSON{Method: "pgd", Steps: cs[0].Steps, StepSize: opts.stepJSON(), RandomStarts: opts.RandomStarts,
			Seed: opts.Seed, Device: be.Name()}}
	for _, m := range methods {
		j.Methods = append(j.Methods, m.String())
	}
	n := float64(len(labels))
	for _, r := range results {
		s := r.stats(labels)
		rj := verifyResultJSON{Eps: r.eps, VerifiedEps: r.radius, CertifiedAccuracy: map[string]float64{},
			PerClassCertifiedAccuracy: map[string][ops.Classes]float64{}, Certified: float64(s.any) / n,
			Attacked: float64(s.attacked) / n, Unknown: float64(s.unk) / n, PerClassAttacked: perClass(s.attackedClass, s.total),
			Seconds: map[string]float64{"attack": r.attackSecs}}
		for k, m := range methods {
			rj.CertifiedAccuracy[m.String()] = float64(s.certN[k]) / n
			rj.PerClassCertifiedAccuracy[m.String()] = perClass(s.cert[k], s.total)
			rj.Seconds[m.String()] = r.seconds[k]
		}
		if opts.PerImage {
			rj.Images = make([]verifyImageJSON, len(labels))
			for i, y := range labels {
				im := verifyImageJSON{Index: i, Label: int(y), Verdict: r.verdict(i), Margin: map[string]*float64{}}
				for k, m := range methods {
					var p *float64
					if g := r.cert[k][i].Margin; !math.IsInf(g, 0) && !math.IsNaN(g) {
						p = &g
					}
					im.Margin[m.String()] = p
				}
				rj.Images[i] = im
			}
		}
		j.Results = append(j.Results, rj)
	}
	return j
}

func (opts *VerifyOptions) printText(ck checkpoint.Checkpoint, ds mnist.Dataset, be ops.Backend, labels []uint8, methods []verify.Method,
	cs []attack.Config, clean float64, results []*epsResult) {
	out := opts.IO.Out
	n := len(labels)
	var names []string
	for _, m := range methods {
		names = append(names, m.String())
	}
	act := ck.Config.Activation
	fmt.Fprintf(out, "model     %s (%s %s/%s, epoch %d), %s\n", printable(opts.Model), ck.Config.Arch(), act, ck.Config.Loss, ck.Epoch, plural(n, ds.Title+" test image"))
	scope := "on the CPU and the GPU (fp32 sums in any order, with or without FMA)"
	if act != ops.ReLU {
		scope = fmt.Sprintf("on the CPU only (%v within 2^-22; the GPU's %v is not covered)", act, act)
	}
	fmt.Fprintf(out, "proof     %s; covers float32 inference %s; bounds rounded outward\n", strings.Join(names, " and "), scope)
	starts := "from the image"
	switch {
	case opts.RandomStarts == 1:
		starts += fmt.Sprintf(" and from a random start (seed %d)", opts.Seed)
	case opts.RandomStarts > 1:
		starts += fmt.Sprintf(" and from %d random starts (seed %d)", opts.RandomStarts, opts.Seed)
	}
	step := "eps/4"
	if s := opts.stepJSON(); s != "eps/4" {
		step = fmt.Sprintf("%g", s)
	}
	fmt.Fprintf(out, "attack    pgd, %d steps of %s, %s, on %s\n", cs[0].Steps, step, starts, be.Name())
	fmt.Fprintf(out, "clean     %.2f%% (%d/%d)\n\n", 100*clean, int(clean*float64(n)+0.5), n)

	fmt.Fprintf(out, "certified accuracy by %s; attacked: misclassified as it is or at a point PGD found; unknown: neither\n", strings.Join(names, " and "))
	var hdr strings.Builder
	hdr.WriteString("      eps")
	for _, nm := range names {
		fmt.Fprintf(&hdr, "%10s", nm)
	}
	fmt.Fprintf(&hdr, "%10s%10s   time (%s, pgd)", "attacked", "unknown", strings.Join(names, ", "))
	fmt.Fprintln(out, hdr.String())
	for _, r := range results {
		s := r.stats(labels)
		fmt.Fprintf(out, "%9g", r.eps)
		for k := range methods {
			fmt.Fprintf(out, "%9.2f%%", 100*float64(s.certN[k])/float64(n))
		}
		fmt.Fprintf(out, "%9.2f%%%9.2f%%   ", 100*float64(s.attacked)/float64(n), 100*float64(s.unk)/float64(n))
		for k := range methods {
			fmt.Fprintf(out, "%.1fs, ", r.seconds[k])
		}
		fmt.Fprintf(out, "%.1fs\n", r.attackSecs)
	}
	best := len(methods) - 1 // crown when it ran: never looser than ibp
	fmt.Fprintf(out, "\ncertified accuracy per class (%%, %v)\n", methods[best])
	hdr.Reset()
	for c := range ops.Classes {
		fmt.Fprintf(&hdr, "%7d", c)
	}
	fmt.Fprintf(out, "      eps%s\n", hdr.String())
	for _, r := range results {
		s := r.stats(labels)
		fmt.Fprintf(out, "%9g", r.eps)
		for _, v := range perClass(s.cert[best], s.total) {
			fmt.Fprintf(out, "%7.2f", 100*v)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\nsoundness checked: no image is both certified and attacked (each ball proven with radius eps + %.0e at most, to hold every float32 point of the attack)\n",
		maxWidening(results))
}

// maxWidening is the largest verifiedRadius(eps) − eps of the run.
func maxWidening(results []*epsResult) float64 {
	w := 0.0
	for _, r := range results {
		w = max(w, r.radius-r.eps)
	}
	return w
}
