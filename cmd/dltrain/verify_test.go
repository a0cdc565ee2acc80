package main

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/verify"
)

func TestVerifyFlags(t *testing.T) {
	for _, c := range []struct {
		args  string
		check func(o *VerifyOptions) bool
	}{
		{"m.bin", func(o *VerifyOptions) bool {
			return o.Model == "m.bin" && o.Method == "both" && o.Eps == "0.01" && o.Steps == 20 && o.StepSize == 0 && o.RandomStarts == 1 &&
				o.Seed == 1 && o.N == 0 && o.Threads == 0 && !o.JSON && !o.PerImage && o.Device == "auto" && o.Data == "" && o.KeyFile == "" &&
				o.Dataset == "" && !o.AllowMismatch && o.Attack != nil
		}},
		{"m.bin --method crown --eps 0.001,0.01 -n 500 --json --per-image --device auto --data /d --threads 3", func(o *VerifyOptions) bool {
			return o.Method == "crown" && o.Eps == "0.001,0.01" && o.N == 500 && o.JSON && o.PerImage && o.Device == "auto" && o.Data == "/d" && o.Threads == 3
		}},
		{"m.bin --steps 40 --step-size 0.01 --random-starts 0 --seed 9 --key-file k --dataset fashion-mnist --allow-dataset-mismatch", func(o *VerifyOptions) bool {
			return o.Steps == 40 && o.StepSize == 0.01 && o.RandomStarts == 0 && o.Seed == 9 && o.KeyFile == "k" && o.Dataset == "fashion-mnist" &&
				o.AllowMismatch && o.Set("step-size") && !o.Set("eps")
		}},
	} {
		f, _, _ := testFactory()
		var got *VerifyOptions
		cmd := NewCmdVerify(f, func(o *VerifyOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("verify %s: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("verify %s parsed to %+v", c.args, *got)
		}
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	m := trainAttackable(t)
	sig := trainAttackable(t, "--activation", "sigmoid")
	for _, c := range []struct {
		args string
		code int
		want string
	}{
		{m + " --eps 0", exitUsage, `--eps: "0" is not a radius in (0, 1]`},
		{m + " --eps 0.01,x", exitUsage, `"x" is not a radius`},
		{m + " --method pgd", exitUsage, `--method: "pgd" is not ibp, crown or both`},
		{m + " --steps 0", exitUsage, "--steps 0, want 1..10000"},
		{m + " --step-size 0", exitUsage, "--step-size 0, want 0 < alpha ≤ 1"},
		{m + " --random-starts -1", exitUsage, "--random-starts -1, want 0..1000"},
		{m + " -n -1", exitUsage, "-n -1"},
		{m + " -n 1001", exitUsage, "-n 1001: the test set has 1000 images"},
		{m + " --threads -2", exitUsage, "--threads -2"},
		{m + " --per-image", exitUsage, "--per-image needs --json"},
		{m + " --device tpu", exitUsage, `--device: "tpu" is not one of auto, cpu, cuda`},
		{m + " --dataset fashion-mnist", exitUsage, "was trained on MNIST, not Fashion-MNIST"},
		{sig + " --device cuda", exitUsage, "--device cuda: the certificate of a sigmoid model covers float32 inference on the CPU only"},
		{"", exitModel, "model.bin: no such file"}, // MODEL defaults to model.bin, as for eval
		{t.TempDir() + "/missing.bin", exitModel, "missing.bin"},
		{m + " --key-file " + t.TempDir() + "/nokey", exitUsage, "nokey"},
	} {
		code, out, errb := run(t, append([]string{"verify"}, strings.Fields(c.args)...)...)
		if code != c.code || !strings.Contains(errb, c.want) || out != "" {
			t.Errorf("verify %s: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errb, c.code, c.want)
		}
	}
}

// TestVerifyCommand: verify on the subset's test images as JSON with every image's verdict
// (consistent with its margins and with the shares, CROWN never below IBP, verdicts adding up,
// certified never above the clean accuracy, which is eval's), and as text.
func TestVerifyCommand(t *testing.T) {
	m := trainAttackable(t)
	code, out, errb := run(t, "verify", m, "--eps", "0.005,0.05", "-n", "300", "--steps", "5", "--json", "--per-image")
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, errb)
	}
	var j verifyJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("verify --json: %v: %s", err, out)
	}
	if j.N != 300 || j.Arch != "784-32-10" || j.Activation != "relu" || j.Dataset != "mnist" || strings.Join(j.Methods, ",") != "ibp,crown" ||
		j.Semantics != "float32" || strings.Join(j.Covers, ",") != "cpu,cuda" || len(j.Results) != 2 || j.Attack.Steps != 5 ||
		j.Attack.StepSize != "eps/4" || j.Attack.RandomStarts != 1 || j.Attack.Device != "cpu" {
		t.Fatalf("verify --json = %s", out)
	}
	code, ev, _ := run(t, "eval", m, "--json")
	var e evalJSON
	if code != 0 || json.Unmarshal([]byte(ev), &e) != nil {
		t.Fatalf("eval: %d %s", code, ev)
	}
	var all verifyJSON
	code, full, errb := run(t, "verify", m, "--method", "ibp", "--eps", "0.001", "--steps", "1", "--random-starts", "0", "--json")
	if err := json.Unmarshal([]byte(full), &all); code != 0 || err != nil || all.N != 1000 || all.CleanAccuracy != e.Accuracy {
		t.Fatalf("verify on all 1000 images: clean accuracy %v, eval's %v (%s%s)", all.CleanAccuracy, e.Accuracy, full, errb)
	}
	for _, r := range j.Results {
		ibp, crown := r.CertifiedAccuracy["ibp"], r.CertifiedAccuracy["crown"]
		if !(r.VerifiedEps > r.Eps && r.VerifiedEps < r.Eps+1e-7) || crown < ibp || r.Certified != crown ||
			math.Abs(r.Certified+r.Attacked+r.Unknown-1) > 1e-12 || r.Certified > j.CleanAccuracy || r.Attacked < 1-j.CleanAccuracy-1e-12 ||
			len(r.Images) != 300 || r.Seconds["ibp"] <= 0 || r.Seconds["crown"] <= 0 || r.Seconds["attack"] <= 0 {
			t.Fatalf("verify --json result at eps %v: %+v", r.Eps, r)
		}
		count := map[string]int{}
		for i, im := range r.Images {
			count[im.Verdict]++
			mi, mc := im.Margin["ibp"], im.Margin["crown"]
			if im.Index != i || mi == nil || mc == nil {
				t.Fatalf("eps %v image %d: %+v", r.Eps, i, im)
			}
			if cert := *mi > 0 || *mc > 0; cert != (im.Verdict == verdictCertified) || *mc < *mi {
				t.Fatalf("eps %v image %d: verdict %s with margins ibp %v crown %v", r.Eps, i, im.Verdict, *mi, *mc)
			}
		}
		if float64(count[verdictCertified])/300 != r.Certified || float64(count[verdictAttacked])/300 != r.Attacked ||
			float64(count[verdictUnknown])/300 != r.Unknown {
			t.Fatalf("eps %v: verdicts %v, shares %v %v %v", r.Eps, count, r.Certified, r.Attacked, r.Unknown)
		}
	}
	if a, b := j.Results[0], j.Results[1]; !(b.Certified < a.Certified) || !(b.Attacked > a.Attacked) {
		t.Fatalf("a larger eps certifies more or is attacked less: %+v then %+v", a, b)
	}

	code, out, errb = run(t, "verify", m, "--eps", "0.01", "-n", "200", "--method", "ibp", "--steps", "3", "--random-starts", "2", "--seed", "7")
	if code != 0 {
		t.Fatalf("verify text: exit %d: %s", code, errb)
	}
	for _, want := range []string{
		"model     " + m + " (784-32-10 relu/ce, epoch 2), 200 MNIST test images\n",
		"proof     ibp; covers float32 inference on the CPU and the GPU",
		"attack    pgd, 3 steps of eps/4, from the image and from 2 random starts (seed 7), on cpu\n",
		"clean     ",
		"      eps       ibp  attacked   unknown   time (ibp, pgd)\n",
		"\n     0.01 ",
		"certified accuracy per class (%, ibp)\n",
		"soundness checked: no image is both certified and attacked",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify text output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "crown") {
		t.Fatalf("verify --method ibp mentions crown:\n%s", out)
	}
}

// TestVerifySound is the acceptance check on small models: at several radii, from the smallest
// (nearly everything certified) to the largest (nearly everything attacked), no image is both
// certified and attacked, for relu and tanh nets (the command fails if one is).
func TestVerifySound(t *testing.T) {
	for _, act := range []string{"relu", "tanh"} {
		m := trainAttackable(t, "--activation", act)
		code, out, errb := run(t, "verify", m, "--eps", "0.002,0.01,0.03,0.1", "-n", "200", "--steps", "10", "--json")
		var j verifyJSON
		if code != 0 || json.Unmarshal([]byte(out), &j) != nil {
			t.Fatalf("%s: verify: exit %d: %s%s", act, code, out, errb)
		}
		first, last := j.Results[0], j.Results[len(j.Results)-1]
		if first.Certified < 0.5 || last.Attacked < 0.5 {
			t.Errorf("%s: certified %v at eps %v, attacked %v at eps %v: the check decided too little", act, first.Certified, first.Eps, last.Attacked, last.Eps)
		}
		t.Logf("%s: clean %.3f; certified/attacked/unknown per eps: %v", act, j.CleanAccuracy, func() (s []string) {
			for _, r := range j.Results {
				s = append(s, strings.TrimSpace(strings.Join([]string{ftoa(r.Eps), ftoa(r.Certified), ftoa(r.Attacked), ftoa(r.Unknown)}, "/")))
			}
			return s
		}())
	}
}

func ftoa(v float64) string { b, _ := json.Marshal(v); return string(b) }

// TestVerifyActivationsAndKey: a sigmoid model's certificate covers the CPU's inference only, and the
// output says so; --device auto attacks it on the CPU, with a note. An encrypted checkpoint is
// verified with its key and refused without it.
func TestVerifyActivationsAndKey(t *testing.T) {
	sig := trainAttackable(t, "--activation", "sigmoid")
	code, out, errb := run(t, "verify", sig, "--device", "auto", "-n", "50", "--steps", "2")
	if code != 0 || !strings.Contains(errb, "a sigmoid model is attacked on the CPU: its certificate covers the CPU's inference only") ||
		!strings.Contains(out, "covers float32 inference on the CPU only (sigmoid within 2^-22; the GPU's sigmoid is not covered)") ||
		!strings.Contains(out, ", on cpu\n") {
		t.Fatalf("verify of a sigmoid model with --device auto: exit %d\n%s%s", code, out, errb)
	}
	code, out, _ = run(t, "verify", sig, "-n", "50", "--steps", "2", "--json")
	var j verifyJSON
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || strings.Join(j.Covers, ",") != "cpu" || j.Activation != "sigmoid" {
		t.Fatalf("verify --json of a sigmoid model: exit %d: %s", code, out)
	}

	key := t.TempDir() + "/k.key"
	if code, _, e := run(t, "keygen", "-o", key); code != 0 {
		t.Fatal(e)
	}
	enc := trainAttackable(t, "--key-file", key)
	if code, out, e := run(t, "verify", enc, "--key-file", key, "-n", "20", "--steps", "1"); code != 0 || !strings.Contains(out, "soundness checked") {
		t.Fatalf("verify --key-file: exit %d: %s%s", code, out, e)
	}
	if code, _, e := run(t, "verify", enc, "-n", "20"); code != exitModel || !strings.Contains(e, "--key-file") {
		t.Fatalf("verify of an encrypted model without its key: exit %d: %s", code, e)
	}
}

// TestVerifyUnsound: an attack report that contradicts a certificate (a certified image marked as
// fooled) is an internal error: exit 1, a message naming the image and the method, nothing on stdout.
// So is a report about the wrong number of images.
func TestVerifyUnsound(t *testing.T) {
	m := trainAttackable(t)
	for _, c := range []struct {
		name  string
		tweak func(reps []attack.Report)
		want  string
	}{
		{"contradiction", func(reps []attack.Report) {
			for i := range reps[2].Survived { // eps 0.001: image 0 is certified
				reps[2].Survived[i] = i != 0
			}
		}, "internal error: unsound certificate at eps 0.001: 1 image(s) certified although the image or a point of the ball the attack reached is misclassified: image 0 (label 7) by ibp with margin"},
		{"short report", func(reps []attack.Report) { reps[1].Survived = reps[1].Survived[:5] }, "internal error: the attack reported on 5 images, not 100"},
	} {
		f, out, _ := testFactory()
		cmd := NewCmdVerify(f, func(o *VerifyOptions) error {
			o.Attack = func(be ops.Backend, m *model.Model, s *mnist.Set, cs []attack.Config, opt attack.Options) ([]attack.Report, error) {
				reps, err := model.Attack(be, m, s, cs, opt)
				if err == nil {
					c.tweak(reps)
				}
				return reps, err
			}
			return verifyRun(o)
		})
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetArgs([]string{m, "--eps", "0.1,0.001", "-n", "100", "--steps", "2", "--json"})
		err := cmd.Execute()
		var ee *exitErr
		if !errors.As(err, &ee) || ee.code != exitError || !strings.Contains(err.Error(), c.want) || out.Len() != 0 {
			t.Errorf("%s: error %v, stdout %q; want exit %d and %q", c.name, err, out.String(), exitError, c.want)
		}
	}
}

// TestVerifyNet: the model's conversion for the verifier. At eps 0 the proven bounds of the logits
// contain the CPU's float32 logits of the same images, and are narrow (only the float32 rounding
// allowance, γ32 of the layer width times the sums of magnitudes, makes them wider than a point), for
// each activation: a wrong activation mapping or weight layout would put them elsewhere.
func TestVerifyNet(t *testing.T) {
	f, _, _ := testFactory()
	ds, _ := mnist.Lookup("mnist")
	_, test, err := f.LoadData(ds, "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for _, act := range []string{"relu", "sigmoid", "tanh"} {
		ck, err := checkpoint.Load(trainAttackable(t, "--activation", act, "--hidden", "24,16"), nil)
		if err != nil {
			t.Fatal(err)
		}
		net, err := verifyNet(ck.Model)
		if err != nil {
			t.Fatal(err)
		}
		v, err := verify.New(net, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		logits, err := model.Predict(&cpu.Backend{}, ck.Model, test.Images[:n*mnist.Pixels], n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			box, err := verify.PixelBall(test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels], 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := v.IBP(box, int(test.Labels[i]))
			if err != nil {
				t.Fatal(err)
			}
			z := b.Pre[len(b.Pre)-1]
			for k := range ops.Classes {
				got := float64(logits[i*ops.Classes+k])
				if !(z.Lo[k] <= got && got <= z.Hi[k]) || z.Hi[k]-z.Lo[k] > 0.05 {
					t.Fatalf("%s: image %d logit %d = %v, proven in [%v, %v]", act, i, k, got, z.Lo[k], z.Hi[k])
				}
			}
		}
	}
}

// TestVerifiedRadius: the ball proven for eps holds every point the float32 attack can reach, x0 =
// float32(p)/255 moved by ±float32(eps) in float32 and clamped to [0, 1], for every pixel value, and
// is wider than eps by less than 1e-7.
func TestVerifiedRadius(t *testing.T) {
	for _, eps := range []float64{1e-6, 0.001, 0.003, 0.01, 0.1, 1.0 / 3, 8.0 / 255, 0.7, 0.99999999, 1} {
		r := verifiedRadius(eps)
		if !(r >= eps && r-eps < 1e-7 && r <= 1) {
			t.Fatalf("verifiedRadius(%v) = %v", eps, r)
		}
		e32 := float32(eps)
		for p := range 256 {
			box, err := verify.PixelBall([]uint8{uint8(p)}, r)
			if err != nil {
				t.Fatal(err)
			}
			x0 := float32(p) / 255
			for _, a := range []float32{x0, min(max(x0+e32, 0), 1), min(max(x0-e32, 0), 1)} {
				if !(box.Lo[0] <= float64(a) && float64(a) <= box.Hi[0]) {
					t.Fatalf("eps %v pixel %d: attack point %v outside the proven box [%v, %v]", eps, p, a, box.Lo[0], box.Hi[0])
				}
			}
		}
	}
}

// TestVerifyJSONNonFinite: a margin that is not finite (no bound found) is written as null, without
// the warning about non-finite values, and the verdict stays what the margins say.
func TestVerifyJSONNonFinite(t *testing.T) {
	f, out, errb := testFactory()
	opts := &VerifyOptions{IO: f.IO, Model: "m.bin", PerImage: true, RandomStarts: 1, Seed: 1}
	r := &epsResult{eps: 0.1, radius: verifiedRadius(0.1), methods: []verify.Method{verify.IBP, verify.CROWN},
		cert: [][]verify.Result{
			{{Margin: math.Inf(-1)}, {Margin: -1}, {Margin: 0.5, Certified: true}},
			{{Margin: math.NaN()}, {Margin: -0.5}, {Margin: 0.75, Certified: true}},
		},
		seconds: []float64{1, 2}, attacked: []bool{true, false, false}, attackSecs: 3}
	ck := checkpoint.Checkpoint{Model: &model.Model{Config: model.NewConfig([]int{8}, ops.ReLU, model.CrossEntropy)}}
	cs := []attack.Config{{Method: attack.PGD, Eps: 0.1, Steps: 20}}
	ds, _ := mnist.Lookup("mnist")
	if err := printJSON(f.IO, opts.json(ck, ds, &cpu.Backend{}, []uint8{3, 4, 3}, r.methods, cs, 2.0/3, []*epsResult{r})); err != nil {
		t.Fatal(err)
	}
	want := `"images":[{"index":0,"label":3,"verdict":"attacked","margin":{"crown":null,"ibp":null}},` +
		`{"index":1,"label":4,"verdict":"unknown","margin":{"crown":-0.5,"ibp":-1}},` +
		`{"index":2,"label":3,"verdict":"certified","margin":{"crown":0.75,"ibp":0.5}}]`
	if !strings.Contains(out.String(), want) || errb.Len() != 0 {
		t.Fatalf("json = %s (stderr %q), want it to contain %s", out.String(), errb.String(), want)
	}
	for _, k := range []string{`"certified_accuracy":{"crown":0.3333333333333333,"ibp":0.3333333333333333}`, `"attacked":0.3333333333333333`,
		`"unknown":0.3333333333333333`, `"per_class_attacked":[0,0,0,0.5,0,0,0,0,0,0]`, `"seconds":{"attack":3,"crown":2,"ibp":1}`,
		`"per_class_certified_accuracy":{"crown":[0,0,0,0.5,0,0,0,0,0,0,`} {
		if !strings.Contains(out.String(), k) && !strings.Contains(out.String(), strings.TrimSuffix(k, ",")) {
			t.Fatalf("json lacks %s: %s", k, out.String())
		}
	}
}

func TestVerifyHelp(t *testing.T) {
	code, out, _ := run(t, "verify", "--help")
	for _, want := range []string{"Examples:", "dltrain verify model.bin --eps 0.01", "ibp", "crown", "outward", "2^-24", "--per-image"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("verify --help: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	if code, out, _ := run(t, "--help"); code != 0 || !strings.Contains(out, "verify") {
		t.Fatalf("dltrain --help does not list verify:\n%s", out)
	}
}
