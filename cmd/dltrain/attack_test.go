package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
)

func TestAttackFlags(t *testing.T) {
	for _, c := range []struct {
		args  string
		check func(o *AttackOptions) bool
	}{
		{"m.bin", func(o *AttackOptions) bool {
			return o.Model == "m.bin" && o.Method == "pgd" && o.Eps == "0.1" && o.Steps == 20 && o.StepSize == 0 && !o.RandomStart &&
				o.Restarts == 1 && o.Seed == 1 && o.N == 0 && !o.JSON && o.ExamplesPNG == "" && o.Examples == 8 && o.Device == "auto"
		}},
		{"m.bin --method fgsm --eps 0.05,0.1 -n 500 --json --examples-png a.png --examples 4 --device auto --data /d", func(o *AttackOptions) bool {
			return o.Method == "fgsm" && o.Eps == "0.05,0.1" && o.N == 500 && o.JSON && o.ExamplesPNG == "a.png" && o.Examples == 4 &&
				o.Device == "auto" && o.Data == "/d"
		}},
		{"m.bin --steps 40 --step-size 0.01 --random-start --restarts 5 --seed 9", func(o *AttackOptions) bool {
			return o.Steps == 40 && o.StepSize == 0.01 && o.RandomStart && o.Restarts == 5 && o.Seed == 9
		}},
	} {
		f, _, _ := testFactory()
		var got *AttackOptions
		cmd := NewCmdAttack(f, func(o *AttackOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("attack %s: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("attack %s parsed to %+v", c.args, *got)
		}
	}
}

// trainSmall trains a 784-32-10 net for 2 epochs on the subset, with extra flags, and returns its path.
func trainAttackable(t *testing.T, extra ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.bin")
	args := append([]string{"train", "--device", "cpu", "--epochs", "2", "--hidden", "32", "--lr", "0.05", "-q", "-o", p}, extra...)
	if code, _, e := run(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	return p
}

func TestAttackUsageErrors(t *testing.T) {
	m := trainAttackable(t)
	for _, c := range []struct {
		args string
		code int
		want string
	}{
		{"--eps 0", exitUsage, `--eps: "0" is not a radius in (0, 1]`},
		{"--eps 1.5", exitUsage, `"1.5" is not a radius`},
		{"--eps 0.1,x", exitUsage, `"x" is not a radius`},
		{"--eps -0.1", exitUsage, `"-0.1" is not a radius`},
		{"--method cw", exitUsage, `--method: "cw" is not fgsm or pgd`},
		{"--method fgsm --steps 5", exitUsage, "--steps applies only to --method pgd"},
		{"--method fgsm --random-start", exitUsage, "--random-start applies only to --method pgd"},
		{"--steps 0", exitUsage, "--steps 0, want 1..10000"},
		{"--step-size 0", exitUsage, "--step-size 0, want 0 < alpha ≤ 1"},
		{"--restarts 3", exitUsage, "--restarts 3 needs --random-start"},
		{"--restarts 0 --random-start", exitUsage, "--restarts 0"},
		{"-n -1", exitUsage, "-n -1"},
		{"-n 1001", exitUsage, "-n 1001: the test set has 1000 images"},
		{"--examples-png x.png --examples 0", exitUsage, "--examples 0"},
		{"--device tpu", exitUsage, `--device: "tpu" is not one of auto, cpu, cuda`},
	} {
		code, _, errb := run(t, append([]string{"attack", m}, strings.Fields(c.args)...)...)
		if code != c.code || !strings.Contains(errb, c.want) {
			t.Errorf("attack %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb, c.code, c.want)
		}
	}
	if code, _, errb := run(t, "attack", filepath.Join(t.TempDir(), "missing.bin")); code != exitModel {
		t.Errorf("attack of a missing model: exit %d (%s), want %d", code, errb, exitModel)
	}
}

// TestAttackCommand: attack on the subset's test images, as JSON (one result per radius, robust
// accuracy falling with ε and never above the clean accuracy, which is eval's), as text, and with a
// picture of attacked digits written atomically.
func TestAttackCommand(t *testing.T) {
	m := trainAttackable(t)
	code, out, errb := run(t, "attack", m, "--method", "pgd", "--steps", "5", "--eps", "0.02,0.1", "-n", "300", "--json")
	if code != 0 {
		t.Fatalf("attack: exit %d: %s", code, errb)
	}
	var j attackJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("attack --json: %v: %s", err, out)
	}
	if j.N != 300 || j.Method != "pgd" || j.Steps != 5 || j.Restarts != 1 || len(j.Results) != 2 || j.Arch != "784-32-10" {
		t.Fatalf("attack --json = %s", out)
	}
	r0, r1 := j.Results[0], j.Results[1]
	if r0.Eps != 0.02 || r1.Eps != 0.1 || r1.StepSize != 0.025 || !(r1.RobustAccuracy < r0.RobustAccuracy) || !(r0.RobustAccuracy <= j.CleanAccuracy) ||
		r1.MeanLinf > 0.1+1e-7 || r1.MeanL2 <= 0 {
		t.Fatalf("attack --json results: %s", out)
	}
	for _, k := range []string{`"clean_accuracy":`, `"per_class_robust_accuracy":[`, `"mean_linf":`, `"mean_l2":`, `"robust_accuracy":`, `"random_start":false`, `"seed":1`} {
		if !strings.Contains(out, k) {
			t.Fatalf("attack --json lacks %s: %s", k, out)
		}
	}
	code, ev, _ := run(t, "eval", m, "--json")
	var e evalJSON
	if code != 0 || json.Unmarshal([]byte(ev), &e) != nil {
		t.Fatalf("eval: %d %s", code, ev)
	}
	code, full, errb := run(t, "attack", m, "--method", "fgsm", "--eps", "0.1", "--json")
	if err := json.Unmarshal([]byte(full), &j); code != 0 || err != nil || j.CleanAccuracy != e.Accuracy || j.N != 1000 {
		t.Fatalf("attack on all 1000 images: clean accuracy %v, eval's %v (%s%s)", j.CleanAccuracy, e.Accuracy, full, errb)
	}

	pic := filepath.Join(t.TempDir(), "adv.png")
	code, out, errb = run(t, "attack", m, "--method", "fgsm", "--eps", "0.05,0.2", "-n", "200", "--examples-png", pic, "--examples", "3")
	if code != 0 {
		t.Fatalf("attack --examples-png: exit %d: %s", code, errb)
	}
	for _, want := range []string{"attack  fgsm", "clean   ", "mean L∞", "     0.05", "      0.2", "robust accuracy per class", "wrote " + pic + " (3 images at eps 0.2)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("attack text output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", pic, err)
	}
	if b := img.Bounds(); b.Dx() < 6*28 || b.Dy() < 2*28 {
		t.Fatalf("%s is %v, too small for 2 rows of 6 tiles", pic, b)
	}
}

// TestAdversarialTrainCLI: train --adversarial records the recipe in the checkpoint, prints it, and
// with --robust-eval reports robust_accuracy per epoch on its line and in --metrics; the flags are
// checked, and refused on --resume (the checkpoint has the recipe), where --robust-eval still works.
func TestAdversarialTrainCLI(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "m.jsonl")
	p := filepath.Join(dir, "adv.bin")
	code, outb, errb := run(t, "train", "--device", "cpu", "--epochs", "1", "--hidden", "32", "-o", p, "--metrics", metrics,
		"--adversarial", "pgd", "--adv-eps", "0.2", "--adv-steps", "2", "--adv-ratio", "0.5", "--robust-eval", "100")
	if code != 0 {
		t.Fatalf("train --adversarial: exit %d: %s", code, errb)
	}
	// The settings are on stderr with the other notes, the epoch's results (robust accuracy too) on stdout.
	if !strings.Contains(errb, "adversarial pgd-2 ε=0.2 α=0.25, 0.5 of each batch") || !strings.Contains(outb, "robust acc ") {
		t.Fatalf("train --adversarial output: stdout %s, stderr %s", outb, errb)
	}
	ck, err := checkpoint.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := ck.Hyper.Adversarial; a.Method.String() != "pgd" || a.Eps != 0.2 || a.Steps != 2 || a.StepSize != 0 || a.Ratio != 0.5 {
		t.Fatalf("checkpoint records %+v", a)
	}
	b, _ := os.ReadFile(metrics)
	if !bytes.Contains(b, []byte(`"robust_accuracy":`)) {
		t.Fatalf("metrics: %s", b)
	}
	code, outb, errb = run(t, "train", "--device", "cpu", "--epochs", "2", "--resume", p, "-o", p, "--robust-eval", "50", "--robust-eps", "0.05")
	if code != 0 || !strings.Contains(outb, "epoch 2/2") || !strings.Contains(outb, "robust acc ") {
		t.Fatalf("resume with --robust-eval: exit %d: stdout %s, stderr %s", code, outb, errb)
	}
	for _, c := range []struct{ args, want string }{
		{"--adversarial cw", `--adversarial: "cw" is not fgsm or pgd`},
		{"--adversarial fgsm --adv-steps 3", "--adv-steps applies only to --adversarial pgd"},
		{"--adversarial pgd --adv-eps 1.5", "--adv-eps 1.5"},
		{"--adversarial pgd --adv-eps 0", "--adv-eps 0"},
		{"--adversarial pgd --adv-ratio 0", "adversarial ratio 0"},
		{"--adversarial pgd --adv-steps 0", "steps 0"},
		{"--adversarial pgd --adv-step-size 2", "--adv-step-size 2"},
		{"--adv-eps 0.2", "--adv-eps applies only with --adversarial"},
		{"--adv-ratio 0.5", "--adv-ratio applies only with --adversarial"},
		{"--robust-eps 0.2", "--robust-eps applies only with --robust-eval N"},
		{"--robust-eval 10 --robust-eps 3", "--robust-eps"},
		{"--robust-eval -1", "--robust-eval -1"},
		{"--adversarial pgd --eps 0.1", "--eps applies only with --optimizer adam or adamw (an adversarial radius is --adv-eps)"},
		{"--resume " + p + " --adversarial fgsm", "--adversarial cannot be used with --resume"},
		{"--resume " + p + " --adv-eps 0.3", "--adv-eps cannot be used with --resume"},
	} {
		code, _, errb := run(t, append([]string{"train", "--device", "cpu", "--epochs", "3", "-o", filepath.Join(dir, "x.bin")}, strings.Fields(c.args)...)...)
		if code != exitUsage || !strings.Contains(errb, c.want) {
			t.Errorf("train %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb, exitUsage, c.want)
		}
	}
}
