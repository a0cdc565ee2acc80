// grammar_test.go checks the verbs' shared grammar in use: predict's partial failures and default
// model, export's format from the extension, keygen's directories, the one numbering of training
// steps, train's results on stdout and its summary, eval's per-class scores.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
)

// trainSmall trains a small model on the subset into dir/name and returns its path.
func trainSmall(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if code, _, e := run(t, append([]string{"train", "--epochs", "2", "--hidden", "16", "--device", "cpu", "-q", "-o", p}, args...)...); code != 0 {
		t.Fatal(e)
	}
	return p
}

// TestPredictEveryFile: one unreadable image among good ones is reported, the others are still
// classified, and the exit code says something failed; in --json the bad one is an entry with an
// error key. A lone image names model.bin as the model; eval and inspect take model.bin by default.
func TestPredictEveryFile(t *testing.T) {
	dir := t.TempDir()
	m := trainSmall(t, dir, "model.bin")
	if code, _, e := run(t, "data", "sample", "-n", "2", "-o", filepath.Join(dir, "d")); code != 0 {
		t.Fatal(e)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "d", "*.png"))
	bad := write(t, dir, "notes.png", []byte("not an image\n"), 0o644)
	missing := filepath.Join(dir, "gone.png")
	args := []string{"predict", m, imgs[0], bad, imgs[1], missing}

	code, out, e := run(t, args...)
	if code != exitData || strings.Count(out, "top 3:") != 2 || !strings.Contains(e, "notes.png: not a PNG, JPEG or GIF image") ||
		!strings.Contains(e, "gone.png: no such file or directory") || !strings.Contains(e, "2 of 4 images could not be read") {
		t.Errorf("predict with two bad files: exit %d\nstdout %s\nstderr %s\nwant exit 3, two predictions, both bad files named", code, out, e)
	}
	code, out, _ = run(t, append(args, "--json")...)
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != exitData || len(entries) != 4 {
		t.Fatalf("predict --json: exit %d, %v: %s", code, err, out)
	}
	for i, want := range []bool{false, true, false, true} {
		_, hasErr := entries[i]["error"]
		_, hasDigit := entries[i]["digit"]
		if hasErr != want || hasDigit == want || entries[i]["file"] != args[2+i] {
			t.Errorf("predict --json entry %d = %v; want file %s with an error: %v", i, entries[i], args[2+i], want)
		}
	}

	// Without MODEL: model.bin in the working directory.
	t.Chdir(dir)
	if code, out, e := run(t, "predict", imgs[0]); code != 0 || !strings.Contains(out, filepath.Base(imgs[0])) {
		t.Errorf("predict IMAGE with ./model.bin: exit %d, %s %s", code, out, e)
	}
	if code, out, e := run(t, "eval", "--json"); code != 0 || !strings.Contains(out, `"model":"model.bin"`) {
		t.Errorf("eval with ./model.bin: exit %d, %s %s", code, out, e)
	}
	if code, out, e := run(t, "inspect"); code != 0 || !strings.Contains(out, "model.bin") {
		t.Errorf("inspect with ./model.bin: exit %d, %s %s", code, out, e)
	}
}

// TestExportFormatFromExtension: the format is the output's extension; a contradicting --format is
// refused; an extension that names no format needs --format; -o - writes the bytes to stdout, but
// not to a terminal, nor together with --json.
func TestExportFormatFromExtension(t *testing.T) {
	dir := t.TempDir()
	m := trainSmall(t, dir, "m.bin")
	isONNX := func(b []byte) bool { return len(b) > 2 && b[0] == 0x08 } // field 1 (ir_version), varint
	isST := func(b []byte) bool { return len(b) > 9 && b[8] == '{' }    // 8-byte header length, then JSON
	for _, c := range []struct {
		args []string
		code int
		file string
		is   func([]byte) bool
		want string
	}{
		{[]string{"-o", "a.onnx"}, 0, "a.onnx", isONNX, "wrote"},
		{[]string{"-o", "b.safetensors"}, 0, "b.safetensors", isST, "wrote"},
		{[]string{"-o", "c.SAFETENSORS"}, 0, "c.SAFETENSORS", isST, "wrote"},
		{[]string{"-o", "d.weights", "--format", "safetensors"}, 0, "d.weights", isST, "wrote"},
		{[]string{"--format", "safetensors"}, 0, "m.safetensors", isST, "wrote"},
		{nil, 0, "m.onnx", isONNX, "wrote"},
		{[]string{"-o", "e.onnx", "--format", "safetensors"}, exitUsage, "", nil, "e.onnx names onnx by its extension, but --format is safetensors"},
		{[]string{"-o", "f.bin"}, exitUsage, "", nil, "the extension does not say the format"},
		{[]string{"--format", "tflite"}, exitUsage, "", nil, `--format: "tflite" is not one of onnx, safetensors`},
		{[]string{"-o", "-", "--json"}, exitUsage, "", nil, "both write to stdout"},
	} {
		args := []string{"export", m}
		for _, a := range c.args {
			if a != "-" && strings.Contains(a, ".") {
				a = filepath.Join(dir, a)
			}
			args = append(args, a)
		}
		code, out, e := run(t, args...)
		if code != c.code || !strings.Contains(out+e, c.want) {
			t.Errorf("export %v: exit %d, %q %q; want %d and %q", c.args, code, out, e, c.code, c.want)
			continue
		}
		if c.file != "" {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil || !c.is(b) {
				t.Errorf("export %v: %s is not the format asked for (%v)", c.args, c.file, err)
			}
		}
	}
	// To stdout: the same bytes as to a file.
	f, out, e := testFactory()
	if code := Main([]string{"export", m, "--format", "safetensors", "-o", "-"}, f); code != 0 {
		t.Fatalf("export -o -: exit %d, %s", code, e)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "b.safetensors"))
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("export -o - wrote %d bytes, want the %d of the file export", out.Len(), len(want))
	}
	f, out, e = testFactory()
	f.IO.OutIsTerminal = true
	if code := Main([]string{"export", m, "-o", "-"}, f); code != exitUsage || out.Len() != 0 || !strings.Contains(e.String(), "would write the onnx bytes to the terminal") {
		t.Errorf("export -o - to a terminal: exit %d, %d bytes, %q; want a refusal", code, out.Len(), e.String())
	}
}

// TestKeygenMakesItsDirectory: keygen creates the missing directories above the key, readable only
// by the user, and never overwrites a key.
func TestKeygenMakesItsDirectory(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "config", "dltrain", "model.key")
	if code, out, e := run(t, "keygen", "-o", key); code != 0 || !strings.Contains(out, key) {
		t.Fatalf("keygen into a missing directory: exit %d, %s %s", code, out, e)
	}
	for _, p := range []string{filepath.Join(dir, "config"), filepath.Join(dir, "config", "dltrain")} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v; want a directory of mode 0700", p, err, st.Mode().Perm())
		}
	}
	if _, err := checkpoint.ReadKeyFile(key); err != nil {
		t.Errorf("the new key: %v", err)
	}
	before, _ := os.ReadFile(key)
	if code, _, e := run(t, "keygen", "-o", key); code != exitUsage || !strings.Contains(e, "already exists") {
		t.Errorf("keygen over a key: exit %d, %q", code, e)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Error("keygen changed an existing key")
	}
}

// TestOneNumberingOfSteps: an interrupted run and the run that resumes it name the same point in the
// same words ("epoch 2, step 13 of 30").
func TestOneNumberingOfSteps(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	f, _, _ := testFactory()
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdTrain(f, func(o *TrainOptions) error {
		o.Signals = sigs
		o.IO = &IO{Out: &signalAfter{w: f.IO.Out, marker: "epoch 1/4", sig: sigs}, Err: f.IO.Err}
		return trainRun(o)
	})
	cmd.SetArgs([]string{"--epochs", "4", "--hidden", "16", "--device", "cpu", "-o", out})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	var ee *exitErr
	if !errors.As(err, &ee) {
		t.Fatalf("interrupted train = %v", err)
	}
	at := regexp.MustCompile(`at (epoch \d+, step \d+ of 30)`).FindStringSubmatch(ee.Error())
	if at == nil {
		t.Fatalf("interrupt message %q names no epoch and step", ee.Error())
	}
	code, _, e := run(t, "train", "--resume", out, "--epochs", "4", "--device", "cpu")
	if code != 0 || !strings.Contains(e, "resuming "+out+" at "+at[1]) {
		t.Errorf("resume: exit %d, stderr %q; want the banner to say %q", code, e, at[1])
	}
	for _, c := range []struct {
		epoch, step, steps int
		want               string
	}{
		{0, 0, 600, "epoch 1, step 0 of 600"},
		{0, 34, 600, "epoch 1, step 34 of 600"},
		{2, 0, 600, "epoch 2, step 600 of 600"},
		{2, 599, 600, "epoch 3, step 599 of 600"},
	} {
		if got := position(c.epoch, c.step, c.steps); got != c.want {
			t.Errorf("position(%d, %d, %d) = %q, want %q", c.epoch, c.step, c.steps, got, c.want)
		}
	}
}

// TestTrainResults: the epoch lines and the summary are results, on stdout; the banner is progress, on
// stderr; the summary names the best epoch, every file written and whether the model is encrypted;
// --json makes stdout one object with the same facts.
func TestTrainResults(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	if code, _, e := run(t, "keygen", "-o", key); code != 0 {
		t.Fatal(e)
	}
	out, metrics := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
	code, stdout, stderr := run(t, "train", "--epochs", "4", "--hidden", "16", "--device", "cpu", "-o", out, "--metrics", metrics,
		"--checkpoint-every", "1", "--keep", "2", "--key-file", key, "--val-split", "500", "--save-best")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"epoch 1/4  train loss", "epoch 4/4", "test accuracy ", "best epoch ",
		"model written to " + out + " (encrypted with " + key + ")", "best model written to " + filepath.Join(dir, "m-best.bin"),
		"periodic checkpoints: " + filepath.Join(dir, "m-epoch0002.bin") + " " + filepath.Join(dir, "m-epoch0003.bin"),
		"metrics written to " + metrics} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train's stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stderr, "epoch 1/4") || !strings.Contains(stderr, "training 784-16-10") {
		t.Errorf("train's stderr: %q; want the banner and no results", stderr)
	}

	code, stdout, stderr = run(t, "train", "--epochs", "2", "--hidden", "16", "--device", "cpu", "-o", filepath.Join(dir, "j.bin"), "--json")
	var sum trainSummary
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil || !oneJSONValue(stdout) {
		t.Fatalf("train --json: exit %d, %v: %q", code, err, stdout)
	}
	if sum.Epochs != 2 || sum.Model != filepath.Join(dir, "j.bin") || sum.Encrypted || sum.BestBy != "test_accuracy" || sum.BestEpoch < 1 ||
		sum.TestAccuracy <= 0 || len(sum.Checkpoints) != 0 {
		t.Errorf("train --json = %+v", sum)
	}
	if !strings.Contains(stderr, "epoch 2/2") {
		t.Errorf("train --json: the epoch lines belong on stderr, got %q", stderr)
	}
}

// TestClassScores: precision, recall and F1 of a hand-made confusion matrix, worked out by hand,
// with the zero-division cases (a class never predicted, a class absent) at 0 as scikit-learn's
// zero_division=0 gives them, and the macro averages over the classes present (0, 1, 2) as
// scikit-learn's classification_report takes them, not over all ten.
func TestClassScores(t *testing.T) {
	var conf [10][10]int
	// Class 0: 8 right, 2 taken for 1. Class 1: 5 right, 1 taken for 0. Class 2: 4 samples, all taken
	// for 1 (never predicted). Classes 3..9: absent.
	conf[0][0], conf[0][1] = 8, 2
	conf[1][1], conf[1][0] = 5, 1
	conf[2][1] = 4
	s := scores(conf)
	const eps = 1e-12
	near := func(a, b float64) bool { return a-b < eps && b-a < eps }
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"precision 0", s.Precision[0], 8.0 / 9},
		{"recall 0", s.Recall[0], 8.0 / 10},
		{"f1 0", s.F1[0], 2 * (8.0 / 9) * 0.8 / (8.0/9 + 0.8)},
		{"precision 1", s.Precision[1], 5.0 / 11},
		{"recall 1", s.Recall[1], 5.0 / 6},
		{"f1 1", s.F1[1], 2 * (5.0 / 11) * (5.0 / 6) / (5.0/11 + 5.0/6)},
		{"precision 2 (never predicted)", s.Precision[2], 0},
		{"recall 2", s.Recall[2], 0},
		{"f1 2", s.F1[2], 0},
		{"precision 5 (absent)", s.Precision[5], 0},
		{"macro precision", s.MacroPrecision, (8.0/9 + 5.0/11) / 3},
		{"macro recall", s.MacroRecall, (0.8 + 5.0/6) / 3},
		{"macro f1", s.MacroF1, (s.F1[0] + s.F1[1]) / 3},
	} {
		if !near(c.got, c.want) {
			t.Errorf("scores: %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Support != [10]int{10, 6, 4} {
		t.Errorf("scores: support = %v, want [10 6 4 0 …]", s.Support)
	}
}
