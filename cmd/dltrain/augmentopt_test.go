package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
)

// TestAugmentFlags: the augmentation flags become augment.Params: none by default, augment's defaults
// with --augment, each range flag where given, and no elastic σ or α in affine mode.
func TestAugmentFlags(t *testing.T) {
	elastic := augment.Default(augment.Elastic)
	affine := augment.Default(augment.Affine)
	affine.Sigma, affine.Alpha = 0, 0
	for _, c := range []struct {
		args string
		want augment.Params
	}{
		{"", augment.Params{}},
		{"--augment none", augment.Params{}},
		{"--augment elastic", elastic},
		{"--augment affine", affine},
		{"--augment AFFINE --rotate 10 --scale 0.2 --shear 0.3 --shift 1.5",
			augment.Params{Mode: augment.Affine, Rotation: 10, Scale: 0.2, Shear: 0.3, Translate: 1.5}},
		{"--augment elastic --elastic-sigma 4 --elastic-alpha 34 --rotate 0",
			augment.Params{Mode: augment.Elastic, Rotation: 0, Scale: 0.15, Shear: 0.15, Translate: 2, Sigma: 4, Alpha: 34}},
	} {
		f, _, _ := testFactory()
		var h model.Hyper
		cmd := NewCmdTrain(f, func(o *TrainOptions) error {
			var err error
			_, h, err = o.setup(nil, nil)
			return err
		})
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("train %s: %v", c.args, err)
		}
		if h.Augment != c.want {
			t.Errorf("train %s: Augment = %+v, want %+v", c.args, h.Augment, c.want)
		}
	}
}

func TestAugmentUsageErrors(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--augment elastik", `--augment: "elastik" is not one of none, affine, elastic`},
		{"--rotate 10", "--rotate applies only with --augment affine or elastic"},
		{"--augment none --shift 1", "--shift applies only with --augment affine or elastic"},
		{"--augment affine --elastic-sigma 4", "--elastic-sigma applies only with --augment elastic"},
		{"--augment elastic --rotate 100", "rotation 100° out of range"},
		{"--augment elastic --elastic-alpha 0", "alpha 0 makes the elastic field vanish"},
		{"--augment affine --scale 0.9", "scale 0.9 out of range"},
	} {
		f, _, errb := testFactory()
		code := Main(append([]string{"train", "--device", "cpu", "--epochs", "1", "-o", filepath.Join(t.TempDir(), "m.bin")}, strings.Fields(c.args)...), f)
		if code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("train %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), exitUsage, c.want)
		}
	}
}

// TestAugmentResumeCLI: a run with --augment elastic (non-default ranges) says so in its banner, and
// its checkpoint is format version 3 with the ranges; 1 epoch + --resume to 2 is byte-identical to 2
// epochs straight, with or without the augmentation flags repeated; a resume that changes the
// augmentation, or adds it to a run without, is refused with a hint.
func TestAugmentResumeCLI(t *testing.T) {
	dir := t.TempDir()
	straight, split, plain := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin"), filepath.Join(dir, "p.bin")
	aug := []string{"--augment", "elastic", "--rotate", "10", "--elastic-alpha", "30"}
	common := append([]string{"--device", "cpu", "--hidden", "16", "--seed", "5"}, aug...)
	code, _, e := run(t, append([]string{"train", "--epochs", "2", "-o", straight}, common...)...)
	if code != 0 || !strings.Contains(e, "augment elastic (±10°, scale ±0.15, shear ±0.15, shift ±2 px, σ 6, α 30)") {
		t.Fatalf("exit %d, %s", code, e)
	}
	ck, err := checkpoint.Load(straight, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (augment.Params{Mode: augment.Elastic, Rotation: 10, Scale: 0.15, Shear: 0.15, Translate: 2, Sigma: 6, Alpha: 30}); ck.Hyper.Augment != want {
		t.Fatalf("checkpoint augmentation %+v, want %+v", ck.Hyper.Augment, want)
	}
	if code, _, e := run(t, append([]string{"train", "--epochs", "1", "-o", split}, common...)...); code != 0 {
		t.Fatal(e)
	}
	// Resume once without the flags (the checkpoint's are kept); the same flags again are accepted.
	if code, _, e := run(t, "train", "--resume", split, "--epochs", "2", "-o", split, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	a, _ := os.ReadFile(straight)
	b, _ := os.ReadFile(split)
	if !bytes.Equal(a, b) {
		t.Fatal("1 epoch + resume to 2 differs from 2 epochs straight")
	}
	if code, _, e := run(t, append([]string{"train", "--resume", split, "--epochs", "3", "-o", split, "--device", "cpu"}, aug...)...); code != 0 {
		t.Fatalf("resume repeating the augmentation flags: %s", e)
	}

	for _, args := range [][]string{{"--rotate", "12"}, {"--augment", "affine"}, {"--augment", "none"}, {"--elastic-sigma", "4"}} {
		code, _, e := run(t, append([]string{"train", "--resume", straight, "--epochs", "4", "-o", straight, "--device", "cpu"}, args...)...)
		if code != exitUsage || !strings.Contains(e, "the augmentation cannot change on --resume: a.bin was trained with elastic") ||
			!strings.Contains(e, "--init-from "+straight) {
			t.Errorf("resume with %v: exit %d, %q", args, code, e)
		}
	}
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "16", "-o", plain, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	code, _, e = run(t, "train", "--resume", plain, "--epochs", "2", "-o", plain, "--device", "cpu", "--augment", "elastic")
	if code != exitUsage || !strings.Contains(e, "p.bin was trained with none, the flags ask for elastic") {
		t.Fatalf("adding --augment on resume: exit %d, %q", code, e)
	}
}
