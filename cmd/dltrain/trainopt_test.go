package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/schedule"
)

func TestOptimFlags(t *testing.T) {
	for _, c := range []struct {
		args  string
		check func(o *TrainOptions) bool
	}{
		{"", func(o *TrainOptions) bool {
			return o.Optimizer == "sgd" && o.WeightDecay == 0 && o.Beta1 == 0.9 && o.Beta2 == 0.999 && o.Eps == 1e-8 &&
				o.LRSchedule == "constant" && o.Warmup == 0 && o.LRMin == 0 && o.LRDecay == 0.97 && o.LRStep == 0 && o.LRGamma == 0.1 &&
				o.ValSplit == 0 && !o.SaveBest && o.Patience == 0 && o.Init == "pytorch" && o.InitFrom == "" && o.Freeze == "" && !o.ResetHead
		}},
		{"--optimizer adamw --weight-decay 0.01 --beta1 0.8 --beta2 0.99 --eps 1e-6", func(o *TrainOptions) bool {
			return o.Optimizer == "adamw" && o.WeightDecay == 0.01 && o.Beta1 == 0.8 && o.Beta2 == 0.99 && o.Eps == 1e-6
		}},
		{"--lr-schedule step --lr-step 3 --lr-gamma 0.5 --warmup 0.5 --lr-min 1e-5 --lr-decay 0.9", func(o *TrainOptions) bool {
			return o.LRSchedule == "step" && o.LRStep == 3 && o.LRGamma == 0.5 && o.Warmup == 0.5 && o.LRMin == 1e-5 && o.LRDecay == 0.9
		}},
		{"--val-split 5000 --save-best --patience 4 --init uniform:0.05 --init-from a.bin --freeze fc1,fc2 --reset-head", func(o *TrainOptions) bool {
			return o.ValSplit == 5000 && o.SaveBest && o.Patience == 4 && o.Init == "uniform:0.05" && o.InitFrom == "a.bin" &&
				o.Freeze == "fc1,fc2" && o.ResetHead
		}},
	} {
		f, _, _ := testFactory()
		var got *TrainOptions
		cmd := NewCmdTrain(f, func(o *TrainOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("train %s: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("train %s parsed to %+v", c.args, got.OptimOptions)
		}
	}
}

func TestOptimUsageErrors(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--optimizer adamx", `--optimizer: "adamx" is not one of sgd, nesterov, adam, adamw`},
		{"--lr-schedule linear", `--lr-schedule: "linear" is not one of constant, step, exp, cosine, onecycle`},
		{"--optimizer adam --momentum 0.5", "--momentum applies only with --optimizer sgd or nesterov"},
		{"--beta1 0.5", "--beta1 applies only with --optimizer adam or adamw"},
		{"--lr-decay 0.9", "--lr-decay applies only with --lr-schedule exp"},
		{"--lr-min 0.001", "--lr-min applies only with a --lr-schedule other than constant"},
		{"--lr-schedule step", "--lr-schedule step needs --lr-step N"},
		{"--lr-schedule exp --lr-decay 1.5", "exp decay 1.5 per epoch"},
		{"--lr-schedule cosine --lr-min 0.5", "minimum rate 0.5"},
		{"--optimizer nesterov --momentum 0", "nesterov needs a momentum > 0"},
		{"--weight-decay -1", "weight decay -1"},
		{"--patience 3", "--patience applies only with --val-split N"},
		{"--save-best", "--save-best applies only with --val-split N"},
		{"--val-split 3000", "--val-split 3000: the training set has only 3000 images"},
		{"--freeze fc3", "--freeze: cannot freeze fc3: 784-128-10 has 2 layers"},
		{"--freeze fc1,fc2", "every layer of 784-128-10 is frozen"},
		{"--freeze conv1", `bad layer name "conv1"`},
		{"--reset-head", "--reset-head needs --init-from"},
		{"--init he", `init "he" is not one of pytorch, uniform:A, xavier, kaiming`},
		{"--init-from missing.bin", "missing.bin"},
	} {
		f, _, errb := testFactory()
		code := Main(append([]string{"train", "--device", "cpu", "--epochs", "1", "-o", filepath.Join(t.TempDir(), "m.bin")}, strings.Fields(c.args)...), f)
		want := exitUsage
		if strings.HasPrefix(c.args, "--init-from") {
			want = exitModel
		}
		if code != want || !strings.Contains(errb.String(), c.want) {
			t.Errorf("train %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), want, c.want)
		}
	}
}

// TestAdamResumeCLI: an AdamW run with a schedule, a validation split and --save-best, interrupted
// by a signal after epoch 1 and resumed, writes a checkpoint byte-identical to the run that went straight to
// 3 (weights, Adam's moments, position, settings, best epoch); the metrics have the new keys; the
// best file is the best epoch's model. A resume that changes the optimizer is refused with a hint.
func TestAdamResumeCLI(t *testing.T) {
	dir := t.TempDir()
	straight, split := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	metrics := filepath.Join(dir, "m.jsonl")
	common := []string{"--device", "cpu", "--hidden", "32", "--seed", "5", "--optimizer", "adamw", "--weight-decay", "0.01",
		"--lr-schedule", "cosine", "--warmup", "0.5", "--val-split", "500", "--save-best"}
	if code, _, e := run(t, append([]string{"train", "--epochs", "3", "-o", straight, "--metrics", metrics}, common...)...); code != 0 {
		t.Fatal(e)
	}
	// Interrupted by an injected SIGINT once epoch 1 is done (the schedule spans the 3 epochs asked
	// for, so only an interruption, not a shorter run, continues it exactly).
	f, _, errb := testFactory()
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdTrain(f, func(o *TrainOptions) error {
		o.Signals = sigs
		o.IO = &IO{Out: &signalAfter{w: f.IO.Out, marker: "epoch 1/3", sig: sigs}, Err: f.IO.Err}
		return trainRun(o)
	})
	cmd.SetArgs(append([]string{"--epochs", "3", "-o", split}, common...))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted train = %v (%s)", err, errb.String())
	}
	if code, out, e := run(t, "train", "--resume", split, "--epochs", "3", "-o", split, "--device", "cpu", "--save-best"); code != 0 || !strings.Contains(out, "b-best.bin") {
		t.Fatal(out, e)
	}
	a, _ := os.ReadFile(straight)
	b, _ := os.ReadFile(split)
	if !bytes.Equal(a, b) {
		t.Fatal("1 epoch + resume to 3 differs from 3 epochs straight")
	}
	ck, err := checkpoint.Load(straight, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Hyper.Optimizer != model.AdamW || ck.Hyper.Schedule.Kind != schedule.Cosine || ck.Hyper.ValSplit != 500 || ck.Best.Epoch == 0 || ck.ExpAvg == nil {
		t.Fatalf("checkpoint %+v, best %+v", ck.Hyper, ck.Best)
	}
	best, err := checkpoint.Load(bestPath(straight), nil)
	if err != nil || best.Epoch != ck.Best.Epoch {
		t.Fatalf("best file: %v, epoch %d; want epoch %d", err, best.Epoch, ck.Best.Epoch)
	}
	mf, _ := os.Open(metrics)
	defer mf.Close()
	sc := bufio.NewScanner(mf)
	n := 0
	for sc.Scan() {
		var m map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"epoch", "train_loss", "test_accuracy", "samples_per_second", "lr", "val_loss", "val_accuracy"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("metrics line %s lacks %s", sc.Text(), k)
			}
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d metrics lines, want 3", n)
	}

	code, _, e := run(t, "train", "--resume", straight, "--epochs", "4", "--optimizer", "sgd", "-o", straight, "--device", "cpu")
	if code != exitUsage || !strings.Contains(e, "--optimizer sgd cannot change on --resume: a.bin was trained with adamw") ||
		!strings.Contains(e, "--init-from "+straight) {
		t.Fatalf("resume with another optimizer: exit %d, %q", code, e)
	}
	// (--init-from names another file: the same file as --out is refused before, by the path checks.)
	for _, args := range [][]string{{"--val-split", "100"}, {"--freeze", "fc1"}, {"--init-from", straight + ".other"}, {"--reset-head"}} {
		code, _, e := run(t, append([]string{"train", "--resume", straight, "--epochs", "4", "-o", straight, "--device", "cpu"}, args...)...)
		if code != exitUsage || !strings.Contains(e, "cannot be used with --resume") {
			t.Errorf("resume with %v: exit %d, %q", args, code, e)
		}
	}
}

// TestTransferCLI: --init-from takes a trained model's weights into a new run (its architecture when
// --hidden is not given); --freeze fc1 leaves fc1's bytes exactly as they were in that model while
// fc2 trains; --reset-head starts fc2 from a fresh initialization; a model of another shape is refused
// with both architectures named.
func TestTransferCLI(t *testing.T) {
	dir := t.TempDir()
	base, tuned, reset := filepath.Join(dir, "base.bin"), filepath.Join(dir, "tuned.bin"), filepath.Join(dir, "reset.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "48", "-o", base, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, "train", "--epochs", "1", "--init-from", base, "--freeze", "fc1", "--optimizer", "adam", "-o", tuned, "--device", "cpu"); code != 0 ||
		!strings.Contains(e, "weights from "+base) || !strings.Contains(e, "784-48-10") {
		t.Fatal(e)
	}
	b, _ := checkpoint.Load(base, nil)
	tu, err := checkpoint.Load(tuned, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !opstest.SameBits(tu.Weight(0), b.Weight(0)) || !opstest.SameBits(tu.Bias(0), b.Bias(0)) || opstest.SameBits(tu.Weight(1), b.Weight(1)) {
		t.Fatal("--freeze fc1: fc1 must be byte-identical to the source, fc2 must have trained")
	}
	if tu.Epoch != 1 || tu.Step != 30 || tu.InitFrom != "base.bin" || tu.Hyper.Freeze.String() != "fc1" {
		t.Fatalf("tuned checkpoint at epoch %d step %d, init_from %q, freeze %q; want a fresh run's position", tu.Epoch, tu.Step, tu.InitFrom, tu.Hyper.Freeze)
	}
	if code, _, e := run(t, "train", "--epochs", "1", "--init-from", base, "--reset-head", "--init", "xavier", "--freeze", "fc1", "--seed", "3", "-o", reset, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	rs, _ := checkpoint.Load(reset, nil)
	if !opstest.SameBits(rs.Weight(0), b.Weight(0)) || rs.Init.String() != "xavier" {
		t.Fatal("--reset-head changed fc1, or did not record the init")
	}
	code, _, e := run(t, "train", "--epochs", "1", "--init-from", base, "--hidden", "64", "-o", reset, "--device", "cpu")
	if code != exitUsage || !strings.Contains(e, "784-48-10") || !strings.Contains(e, "784-64-10") {
		t.Fatalf("--init-from a 784-48-10 model into --hidden 64: exit %d, %q; want both architectures", code, e)
	}
}

// TestAdamDefaults: adam and adamw take PyTorch's default rate (1e-3) and adamw its default weight
// decay (0.01) unless --lr or --weight-decay are given; sgd keeps 0.01 and no decay.
func TestAdamDefaults(t *testing.T) {
	for _, c := range []struct {
		args   string
		lr, wd float64
	}{
		{"", 0.01, 0},
		{"--optimizer adam", 1e-3, 0},
		{"--optimizer adamw", 1e-3, 0.01},
		{"--optimizer adamw --lr 0.01 --weight-decay 0", 0.01, 0},
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
		if h.LR != c.lr || h.WeightDecay != c.wd {
			t.Errorf("train %s: lr %v, weight decay %v; want %v, %v", c.args, h.LR, h.WeightDecay, c.lr, c.wd)
		}
	}
}
