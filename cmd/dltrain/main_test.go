package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
)

// subsetDir is the committed real-MNIST subset, as an absolute path (tests may change directory); a
// child process started in another directory is told where it is by $DLTRAIN_TEST_SUBSET.
var subsetDir = func() string {
	if d := os.Getenv("DLTRAIN_TEST_SUBSET"); d != "" {
		return d
	}
	d, _ := filepath.Abs("../../testdata/mnist-subset")
	return d
}()

// testFactory returns a Factory with buffer IO and the committed real-MNIST subset as its data.
func testFactory() (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	f := &Factory{IO: &IO{In: strings.NewReader(""), Out: &out, Err: &errb},
		LoadData: func(ds mnist.Dataset, _ string) (*mnist.Set, *mnist.Set, error) {
			return ds.Load(mnist.SubsetFiles(subsetDir)) // any set: structure checks only
		}}
	return f, &out, &errb
}

func TestTrainFlags(t *testing.T) {
	cases := []struct {
		args  string
		check func(o *TrainOptions) bool
	}{
		{"", func(o *TrainOptions) bool {
			return o.Epochs == 10 && o.BatchSize == 100 && o.LR == 0.01 && o.Momentum == 0.9 && o.Hidden == "128" &&
				o.Activation == "relu" && o.Loss == "ce" && o.Seed == 1 && o.Out == "model.bin" && o.Device == "auto" && !o.Quiet
		}},
		{"--epochs 3 --batch-size 64 --lr 0.1 --momentum 0.5", func(o *TrainOptions) bool {
			return o.Epochs == 3 && o.BatchSize == 64 && o.LR == 0.1 && o.Momentum == 0.5
		}},
		{"--hidden 512,256 --activation tanh --loss mse --seed 7", func(o *TrainOptions) bool {
			return o.Hidden == "512,256" && o.Activation == "tanh" && o.Loss == "mse" && o.Seed == 7
		}},
		{"--data /d --out m2.bin --device cpu --metrics m.jsonl -q", func(o *TrainOptions) bool {
			return o.Data == "/d" && o.Out == "m2.bin" && o.Device == "cpu" && o.Metrics == "m.jsonl" && o.Quiet
		}},
	}
	for _, c := range cases {
		f, _, _ := testFactory()
		var got *TrainOptions
		cmd := NewCmdTrain(f, func(o *TrainOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("train %s: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("train %s parsed to %+v", c.args, *got)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args string
		code int
		want string
	}{
		{"train --epochs x", exitUsage, `dltrain: --epochs: "x" is not a whole number` + "\nhint: see 'dltrain train --help'\n"},
		{"train --lr abc", exitUsage, `dltrain: --lr: "abc" is not a number`},
		{"train --seed -1", exitUsage, `dltrain: --seed: "-1" is not a whole number of 0 or more`},
		{"train --epochs 99999999999999999999", exitUsage, `--epochs: "99999999999999999999" is out of range`},
		{"train --save-best=maybe", exitUsage, `--save-best: "maybe" is not true or false`},
		{"train --lr", exitUsage, "dltrain: --lr needs a value\n"},
		{"train --epoch 3", exitUsage, "dltrain: unknown flag --epoch\nhint: did you mean --epochs? see 'dltrain train --help'\n"},
		{"train -epochs 3", exitUsage, "hint: did you mean --epochs?"},
		{"eval --jsn", exitUsage, "hint: did you mean --json?"},
		{"train --epochs 0 --device cpu", exitUsage, "epochs 0"},
		{"train --hidden 12,x --device cpu", exitUsage, "bad hidden width"},
		{"train --activation gelu --device cpu", exitUsage, "unknown activation"},
		{"train --loss hinge --device cpu", exitUsage, "unknown loss"},
		{"train --device tpu", exitUsage, `dltrain: --device: "tpu" is not one of auto, cpu, cuda` + "\n"},
		{"train --threads -1", exitUsage, "dltrain: --threads -1: want 0 (all cores) to 1024\n"},
		{"eval --threads 100000", exitUsage, "dltrain: --threads 100000: want 0 (all cores) to 1024\n"},
		{"train --lr -1 --device cpu", exitUsage, "learning rate"},
		{"train extra", exitUsage, "dltrain: train takes no arguments, got extra\nhint: usage: dltrain train [flags]; see 'dltrain train --help'\n"},
		{"eval a.bin b.bin", exitUsage, "dltrain: eval takes at most 1 argument, got 2: a.bin b.bin\nhint: usage: dltrain eval [MODEL] [flags]; see 'dltrain eval --help'\n"},
		{"inspect a.bin b.bin", exitUsage, "see 'dltrain inspect --help'"},
		{"export", exitUsage, "dltrain: export needs MODEL\nhint: usage: dltrain export MODEL [flags]; see 'dltrain export --help'\n"},
		{"plot", exitUsage, "dltrain: plot needs METRICS.jsonl... -o FILE.png\n"},
		{"predict", exitUsage, "dltrain: predict needs [MODEL] IMAGE...\nhint: usage: dltrain predict [MODEL] IMAGE... [flags]; see 'dltrain predict --help'\n"},
		{"data sample x", exitUsage, "dltrain: data sample takes no arguments, got x\nhint: usage: dltrain data sample -o DIR [flags]; see 'dltrain data sample --help'\n"},
		{"frobnicate", exitUsage, "dltrain: unknown command \"frobnicate\" for 'dltrain'\nhint: see 'dltrain --help'\n"},
		{"trian", exitUsage, "dltrain: unknown command \"trian\" for 'dltrain'\nhint: did you mean 'dltrain train'? see 'dltrain --help'\n"},
		{"data smaple", exitUsage, "see 'dltrain data --help'"},
		{"train --device cuda", exitError, "dltrain: built without CUDA: make build-cuda\n"},
		{"train --hidden= --activation tanh --device cpu", exitUsage, "dltrain: --activation tanh: a model without hidden layers (--hidden '') has no activation to choose\n"},
		{"train --device cpu --lr-schedule cosine --warmup 5 --epochs 2", exitUsage, "dltrain: --warmup 5: longer than the run's 2 epochs\n"},
		{"plot a.jsonl -o a.png --width 0", exitUsage, "dltrain: --width 0: want 300..4096 pixels\n"},
		{"plot a.jsonl -o a.png --height 100000", exitUsage, "dltrain: --height 100000: want 300..4096 pixels\n"},
		{"attack m.bin --examples 5", exitUsage, "dltrain: --examples applies only with --examples-png FILE\n"},
	} {
		f, _, errb := testFactory()
		code := Main(strings.Fields(c.args), f)
		if code != c.code || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), "strconv") {
			t.Errorf("dltrain %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}

// TestTrainSetUsageErrors: settings refused once the data is known, before training.
func TestTrainSetUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "never.bin")
	for _, c := range []struct {
		args string
		want string
	}{
		{"--adversarial fgsm --robust-eval 5000", "dltrain: --robust-eval 5000: the test set has 1000 images\n"},
		{"--adversarial fgsm --adv-ratio 0.001", "dltrain: adversarial ratio 0.001 attacks no image of a batch of 100; want at least 0.01 (one image a batch)\n"},
	} {
		f, _, errb := testFactory()
		code := Main(append([]string{"train", "--device", "cpu", "-o", out}, strings.Fields(c.args)...), f)
		if code != exitUsage || errb.String() != c.want {
			t.Errorf("train %s: exit %d, %q; want %d, %q", c.args, code, errb.String(), exitUsage, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("train %s wrote %s", c.args, out)
		}
	}
}

// TestMissingDataHint: missing data is named by the absolute directory searched, with the command
// that fetches the files into it for those without a checkout (run here offline, from the module
// cache, when the module is there), besides 'make data'.
func TestMissingDataHint(t *testing.T) {
	f, _, errb := testFactory()
	f.LoadData = loadData
	empty := filepath.Join(t.TempDir(), "data")
	t.Chdir(filepath.Dir(empty))
	code := Main([]string{"train", "--device", "cpu"}, f)
	e := errb.String()
	const prefix = "hint: to fetch MNIST into " // … DIR through the Go module proxy: COMMAND
	if code != exitData || !strings.Contains(e, "dltrain: mnist: data not found in "+empty+": no such directory\n") ||
		!strings.Contains(e, prefix+empty) || !strings.Contains(e, "'make data'") {
		t.Fatalf("train with no ./data: exit %d, stderr %q; want %d, the directory searched and how to fetch the files", code, e, exitData)
	}
	line := e[strings.Index(e, prefix):]
	line = line[:strings.IndexByte(line, '\n')]
	_, command, _ := strings.Cut(line, "proxy: ")
	offline := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod") // the module cache only: tests fetch nothing
	probe := exec.Command("go", "mod", "download", "-json", mnist.MNISTModule)
	probe.Env = offline
	if out, err := probe.CombinedOutput(); err != nil {
		// A fresh machine (CI) has an empty module cache, and a test may not fetch: the command's
		// form is checked above, and it runs where the module is cached.
		t.Logf("MNIST's module is not in the module cache (%v: %s); the hint's command is not run", err, bytes.TrimSpace(out))
		return
	}
	sh := exec.Command("sh", "-c", command)
	sh.Env = offline
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the hint's command, offline with MNIST's module cached: %v: %s\n%s", err, out, command)
	} else {
		ds, _ := mnist.Lookup("mnist")
		if train, test, err := loadData(ds, ""); err != nil || train.N != 60000 || test.N != 10000 {
			t.Fatalf("after the hint's command, MNIST does not load from ./data: %v", err)
		}
	}
	// With a model file missing as well as the data damaged, the model is what eval reports: it checks
	// the model file before it reads any data.
	dir := t.TempDir()
	for _, n := range []string{mnist.TrainImagesName, mnist.TrainLabelsName, mnist.TestImagesName, mnist.TestLabelsName} {
		os.WriteFile(filepath.Join(dir, n+".gz"), []byte("junk"), 0o644)
	}
	errb.Reset()
	code = Main([]string{"eval", "model.bin", "--data", dir}, f)
	if code != exitModel { // the model file is checked first
		t.Fatalf("eval of a missing model: exit %d, want %d (%s)", code, exitModel, errb.String())
	}
}

// TestTrainEvalExport runs the verbs end to end on the real-MNIST subset: train writes a checkpoint and
// metrics, eval reproduces the last epoch's accuracy exactly, export writes PyTorch-named weights.
func TestTrainEvalExport(t *testing.T) {
	dir := t.TempDir()
	ckpt, metrics := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
	f, out, errb := testFactory()
	code := Main([]string{"train", "--epochs", "3", "--device", "auto", "--out", ckpt, "--metrics", metrics}, f)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errb.String())
	}
	// A build without CUDA on a machine without a GPU uses the CPU without a word about CUDA.
	if !strings.Contains(out.String(), "model written to "+ckpt) || !strings.Contains(out.String(), "epoch 3/3") ||
		!nvidiaPresent() && strings.Contains(errb.String(), "CUDA") {
		t.Fatalf("train output:\n%s\n%s", out.String(), errb.String())
	}
	mf, err := os.Open(metrics)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]float64
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		var m map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	mf.Close()
	if len(lines) != 3 {
		t.Fatalf("metrics has %d lines, want 3", len(lines))
	}
	for _, k := range []string{"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "samples_per_second"} {
		if _, ok := lines[2][k]; !ok {
			t.Fatalf("metrics line lacks %q: %v", k, lines[2])
		}
	}
	if a := lines[2]["test_accuracy"]; a <= 0.5 || a > 1 {
		t.Fatalf("test_accuracy %v, want a fraction above 0.5", a)
	}

	f, out, errb = testFactory()
	if code := Main([]string{"eval", ckpt, "--json"}, f); code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errb.String())
	}
	var ev evalJSON
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatalf("eval --json: %v: %s", err, out.String())
	}
	if ev.Accuracy != lines[2]["test_accuracy"] || ev.N != 1000 {
		t.Fatalf("eval accuracy %v on %d, training's last epoch reported %v", ev.Accuracy, ev.N, lines[2]["test_accuracy"])
	}
	support := 0
	for c := range ev.PerClassSupport {
		support += ev.PerClassSupport[c]
		if ev.PerClassRecall[c] != ev.PerClassAccuracy[c] || ev.PerClassPrecision[c] <= 0 || ev.PerClassF1[c] <= 0 {
			t.Errorf("eval --json class %d: precision %v, recall %v (accuracy %v), f1 %v", c, ev.PerClassPrecision[c], ev.PerClassRecall[c], ev.PerClassAccuracy[c], ev.PerClassF1[c])
		}
	}
	if support != ev.N || ev.MacroF1 <= 0 || ev.MacroF1 > 1 {
		t.Errorf("eval --json: support %d of %d, macro F1 %v", support, ev.N, ev.MacroF1)
	}

	f, out, _ = testFactory()
	if code := Main([]string{"eval", ckpt}, f); code != 0 || !strings.Contains(out.String(), "confusion") || !strings.Contains(out.String(), "accuracy  ") ||
		!strings.Contains(out.String(), "class  precision   recall       f1  support") || !strings.Contains(out.String(), "\nmacro  ") {
		t.Fatalf("eval text: exit %d: %s", code, out.String())
	}

	f, out, errb = testFactory()
	exp := filepath.Join(dir, "w.safetensors")
	if code := Main([]string{"export", ckpt, "--format", "safetensors", "-o", exp}, f); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(exp)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := checkpoint.Load(ckpt, nil)
	if st.Len() != 4 {
		t.Fatalf("export holds %v, want fc1/fc2 weight and bias", st.Names())
	}
	for l := range 2 {
		for _, bias := range []bool{false, true} {
			tv, ok := st.Tensor(checkpoint.TensorName(l, bias))
			want := ck.Weight(l)
			if bias {
				want = ck.Bias(l)
			}
			if !ok || !bytes.Equal(tv.Data(), f32le(want)) {
				t.Fatalf("export %s differs from the checkpoint", checkpoint.TensorName(l, bias))
			}
		}
	}
}

func f32le(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestBadModelFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.bin")
	os.WriteFile(p, []byte("not a model at all"), 0o644)
	for _, args := range [][]string{{"eval", p}, {"export", p, "-o", filepath.Join(dir, "x.onnx")}} {
		verb := args[0]
		f, _, errb := testFactory()
		code := Main(args, f)
		if code != exitModel || !strings.Contains(errb.String(), "bad.bin") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%s of a junk file: exit %d, stderr %q; want %d and one line naming the file", verb, code, errb.String(), exitModel)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	f, out, _ := testFactory()
	if code := Main([]string{"version"}, f); code != 0 || !strings.Contains(out.String(), "backends: cpu") || !strings.Contains(out.String(), "cuda: not built") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	for _, verb := range []string{"train", "eval", "export", "version", "predict", "plot", "inspect", "data", "data sample"} {
		f, out, _ := testFactory()
		if code := Main(append(strings.Fields(verb), "--help"), f); code != 0 || !strings.Contains(out.String(), "Examples:") {
			t.Errorf("%s --help: exit %d, no Examples section:\n%s", verb, code, out.String())
		}
	}
}
