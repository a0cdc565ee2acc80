package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// recordingFactory is testFactory whose loader also records the name of each data set asked for.
func recordingFactory() (*Factory, *[]string, func() (string, string)) {
	f, out, errb := testFactory()
	var asked []string
	load := f.LoadData
	f.LoadData = func(ds mnist.Dataset, dir string) (*mnist.Set, *mnist.Set, error) {
		asked = append(asked, ds.Name)
		return load(ds, dir)
	}
	return f, &asked, func() (string, string) { return out.String(), errb.String() }
}

// smallModel trains a 784-16-10 net for one epoch on the subset (as data set dataset) and returns its
// path.
func smallModel(t *testing.T, dir, name, dataset string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	args := []string{"train", "--epochs", "1", "--hidden", "16", "--device", "cpu", "-q", "-o", p}
	if dataset != "" {
		args = append(args, "--dataset", dataset)
	}
	if code, _, e := run(t, args...); code != 0 {
		t.Fatalf("train %v: exit %d: %s", args, code, e)
	}
	return p
}

// parseOnly parses args (verb first) into the verb's options without running it, and returns them.
func parseOnly(t *testing.T, args ...string) any {
	t.Helper()
	f, _, _ := testFactory()
	var got any
	keep := func(o any) error { got = o; return nil }
	cmd := map[string]*cobra.Command{
		"train":   NewCmdTrain(f, func(o *TrainOptions) error { return keep(o) }),
		"eval":    NewCmdEval(f, func(o *EvalOptions) error { return keep(o) }),
		"predict": NewCmdPredict(f, func(o *PredictOptions) error { return keep(o) }),
		"export":  NewCmdExport(f, func(o *ExportOptions) error { return keep(o) }),
		"plot":    NewCmdPlot(f, func(o *PlotOptions) error { return keep(o) }),
		"inspect": NewCmdInspect(f, func(o *InspectOptions) error { return keep(o) }),
		"sample":  NewCmdDataSample(f, func(o *DataSampleOptions) error { return keep(o) }),
	}[args[0]]
	cmd.SetArgs(args[1:])
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return got
}

// TestDatasetFlags parses the flags of every verb this work added or changed.
func TestDatasetFlags(t *testing.T) {
	cases := []struct {
		args  string
		check func(o any) bool
	}{
		{"train", func(o any) bool { return o.(*TrainOptions).Dataset == "mnist" }},
		{"train --dataset fashion-mnist", func(o any) bool { return o.(*TrainOptions).Dataset == "fashion-mnist" }},
		{"eval m.bin", func(o any) bool {
			e := o.(*EvalOptions)
			return e.Dataset == "" && !e.AllowMismatch && e.ErrorsMax == 64 && e.ConfusionPNG == "" && e.ErrorsPNG == ""
		}},
		{"eval m.bin --dataset idx --allow-dataset-mismatch --confusion-png c.png --errors-png e.png --errors-max 9", func(o any) bool {
			e := o.(*EvalOptions)
			return e.Dataset == "idx" && e.AllowMismatch && e.ConfusionPNG == "c.png" && e.ErrorsPNG == "e.png" && e.ErrorsMax == 9
		}},
		{"predict m.bin x.png --dataset fashion-mnist", func(o any) bool {
			p := o.(*PredictOptions)
			return p.Dataset == "fashion-mnist" && !p.AllowMismatch
		}},
		{"export m.bin --dataset mnist --allow-dataset-mismatch", func(o any) bool {
			e := o.(*ExportOptions)
			return e.Dataset == "mnist" && e.AllowMismatch
		}},
		{"plot a.jsonl b.jsonl -o c.png", func(o any) bool {
			p := o.(*PlotOptions)
			return strings.Join(p.Files, ",") == "a.jsonl,b.jsonl" && p.Out == "c.png" && p.Width == 1200 && p.Height == 500 && p.Title == ""
		}},
		{"plot a.jsonl --output c.png --width 800 --height 300 --title T", func(o any) bool {
			p := o.(*PlotOptions)
			return p.Out == "c.png" && p.Width == 800 && p.Height == 300 && p.Title == "T"
		}},
		{"inspect m.bin", func(o any) bool {
			i := o.(*InspectOptions)
			return i.Model == "m.bin" && !i.JSON && i.WeightsPNG == "" && i.WeightsMax == 256 && i.KeyFile == ""
		}},
		{"inspect m.bin --json --weights-png w.png --weights-max 9 --key-file k", func(o any) bool {
			i := o.(*InspectOptions)
			return i.JSON && i.WeightsPNG == "w.png" && i.WeightsMax == 9 && i.KeyFile == "k"
		}},
		{"sample -o d", func(o any) bool {
			d := o.(*DataSampleOptions)
			return d.Out == "d" && d.N == 10 && d.Start == 0 && d.Dataset == "mnist" && d.Data == ""
		}},
		{"sample -n 3 --start 7 --dataset fashion-mnist --data /x --output d", func(o any) bool {
			d := o.(*DataSampleOptions)
			return d.Out == "d" && d.N == 3 && d.Start == 7 && d.Dataset == "fashion-mnist" && d.Data == "/x"
		}},
	}
	for _, c := range cases {
		if o := parseOnly(t, strings.Fields(c.args)...); !c.check(o) {
			t.Errorf("%s parsed to %+v", c.args, o)
		}
	}
}

// TestDatasetRecorded: a model trained on Fashion-MNIST records it; eval, predict and export then use
// Fashion-MNIST (its test set, its class names) without being told, refuse another set unless told,
// and --resume keeps the set. An MNIST model's checkpoint has no dataset key at all.
func TestDatasetRecorded(t *testing.T) {
	dir := t.TempDir()
	fash := smallModel(t, dir, "fashion.bin", "fashion-mnist")
	digits := smallModel(t, dir, "mnist.bin", "")
	for p, want := range map[string]string{fash: "fashion-mnist", digits: "mnist"} {
		ck, err := checkpoint.Load(p, nil)
		if err != nil || ck.DatasetName() != want {
			t.Fatalf("%s records data set %q (%v), want %q", filepath.Base(p), ck.DatasetName(), err, want)
		}
		if _, has := ck.Keys["dataset"]; has != (want != "mnist") {
			t.Errorf("%s has a dataset key: %v, want %v", filepath.Base(p), has, want != "mnist")
		}
		if ck.Version == "" {
			t.Errorf("%s records no dltrain_version", filepath.Base(p))
		}
	}

	// eval: the model's set by default, with its class names in the table and in --json.
	f, asked, outs := recordingFactory()
	if code := Main([]string{"eval", fash}, f); code != 0 {
		_, e := outs()
		t.Fatalf("eval fashion.bin: exit %d: %s", code, e)
	}
	out, _ := outs()
	if strings.Join(*asked, ",") != "fashion-mnist" || !strings.Contains(out, "data      Fashion-MNIST test set\n") ||
		!strings.Contains(out, "    0 T-shirt/top ") || !strings.Contains(out, "    9 Ankle boot  ") {
		t.Errorf("eval fashion.bin read %v and printed:\n%s\nwant Fashion-MNIST's test set and class names", *asked, out)
	}
	f, asked, outs = recordingFactory()
	if code := Main([]string{"eval", fash, "--json"}, f); code != 0 {
		t.Fatalf("eval --json: exit %d", code)
	}
	out, _ = outs()
	var ev evalJSON
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Dataset != "fashion-mnist" || ev.Classes[5] != "Sandal" || ev.N != 1000 {
		t.Errorf("eval --json = %s (%v), want dataset fashion-mnist and classes[5] Sandal", out, err)
	}
	f, _, outs = recordingFactory()
	if code := Main([]string{"eval", digits}, f); code != 0 {
		t.Fatalf("eval mnist.bin: exit %d", code)
	}
	if out, _ = outs(); strings.Contains(out, "data ") || !strings.Contains(out, "\n    3   ") {
		t.Errorf("eval of an MNIST model printed:\n%s\nwant the table as before data sets (no data line, no names)", out)
	}

	// Another set than the model's: refused by every verb unless allowed.
	png := filepath.Join(dir, "x.png")
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	os.WriteFile(png, digitPNG(test.Images[:mnist.Pixels], false), 0o644)
	for _, args := range [][]string{
		{"eval", fash, "--dataset", "mnist"},
		{"predict", fash, png, "--dataset", "mnist"},
		{"export", fash, "--dataset", "mnist", "-o", filepath.Join(dir, "x.onnx")},
		{"eval", digits, "--dataset", "fashion-mnist"},
	} {
		code, _, e := run(t, args...)
		if code != exitUsage || !strings.Contains(e, "was trained on") || !strings.Contains(e, "hint: leave out --dataset") || !strings.Contains(e, "--allow-dataset-mismatch") {
			t.Errorf("%v: exit %d, stderr %q; want %d, the mismatch and a hint", args, code, e, exitUsage)
		}
		code, _, e = run(t, append(args, "--allow-dataset-mismatch")...)
		if code != 0 || !strings.Contains(e, "using "+map[bool]string{true: "MNIST", false: "Fashion-MNIST"}[args[1] == fash]+" as asked") {
			t.Errorf("%v --allow-dataset-mismatch: exit %d, stderr %q; want 0 and a note", args, code, e)
		}
	}
	if code, _, e := run(t, "eval", fash, "--dataset", "cifar"); code != exitUsage || !strings.Contains(e, `unknown data set "cifar" (want mnist, fashion-mnist, idx)`) {
		t.Errorf("eval --dataset cifar: exit %d, stderr %q", code, e)
	}

	// predict: class names in the text and in --json, next to the index.
	code, out, e := run(t, "predict", fash, png, "--json")
	var preds []prediction
	if code != 0 || json.Unmarshal([]byte(out), &preds) != nil || len(preds) != 1 || preds[0].Class == "" ||
		preds[0].Class != mnistClass(t, "fashion-mnist", preds[0].Digit) || preds[0].Top3[1].Class != mnistClass(t, "fashion-mnist", preds[0].Top3[1].Digit) {
		t.Fatalf("predict --json on a Fashion-MNIST model: exit %d %s %s", code, out, e)
	}
	code, out, _ = run(t, "predict", fash, png)
	if want := filepath.Base(png) + ": " + strings.TrimSpace(className(mustDataset(t, "fashion-mnist"), preds[0].Digit)) + "   top 3: " + preds[0].Class + " "; code != 0 || !strings.Contains(out, want) {
		t.Errorf("predict text = %q, want it to contain %q", out, want)
	}
	code, out, _ = run(t, "predict", digits, png, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &preds) != nil || preds[0].Class != mnistClass(t, "mnist", preds[0].Digit) {
		t.Errorf("predict --json on an MNIST model = %s, want class = the digit", out)
	}

	// export: the class names in the metadata.
	exp := filepath.Join(dir, "w.safetensors")
	if code, _, e := run(t, "export", fash, "--format", "safetensors", "-o", exp); code != 0 {
		t.Fatalf("export: %s", e)
	}
	b, _ := os.ReadFile(exp)
	_, md, err := safetensors.ReadMetadata(b)
	if err != nil || md.Metadata()["dataset"] != "fashion-mnist" || !strings.Contains(md.Metadata()["classes"], `"Ankle boot"`) {
		t.Errorf("export metadata = %v (%v), want fashion-mnist and its classes", md.Metadata(), err)
	}

	// --resume keeps the set, and refuses to change it.
	f, asked, outs = recordingFactory()
	if code := Main([]string{"train", "--resume", fash, "--epochs", "2", "--device", "cpu", "-q", "-o", fash}, f); code != 0 {
		_, e := outs()
		t.Fatalf("resume: exit %d: %s", code, e)
	}
	if ck, _ := checkpoint.Load(fash, nil); strings.Join(*asked, ",") != "fashion-mnist" || ck.DatasetName() != "fashion-mnist" || ck.Epoch != 2 {
		t.Errorf("resume read %v and wrote data set %q at epoch %d, want fashion-mnist at epoch 2", *asked, ck.DatasetName(), ck.Epoch)
	}
	if code, _, e := run(t, "train", "--resume", fash, "--epochs", "3", "--dataset", "mnist", "--device", "cpu", "-o", fash); code != exitUsage || !strings.Contains(e, "--dataset mnist cannot change on --resume") {
		t.Errorf("resume with another --dataset: exit %d, stderr %q", code, e)
	}
	if code, _, e := run(t, "train", "--dataset", "cifar", "--device", "cpu"); code != exitUsage || !strings.Contains(e, `unknown data set "cifar"`) {
		t.Errorf("train --dataset cifar: exit %d, stderr %q", code, e)
	}
}

// TestUnknownModelDataset: a checkpoint naming a set this build does not know is refused, with a hint
// that names the sets it does know.
func TestUnknownModelDataset(t *testing.T) {
	m, err := model.New(model.NewConfig(nil, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cifar.bin")
	ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}, Dataset: "cifar-10"}}
	if err := checkpoint.Save(p, ck, nil); err != nil {
		t.Fatal(err)
	}
	code, _, e := run(t, "eval", p)
	if code != exitModel || !strings.Contains(e, `trained on data set "cifar-10", which this dltrain does not know`) || !strings.Contains(e, "hint: name one with --dataset") {
		t.Errorf("eval of a cifar-10 model: exit %d, stderr %q", code, e)
	}
	if code, _, e := run(t, "eval", p, "--dataset", "mnist", "--allow-dataset-mismatch"); code != 0 {
		t.Errorf("eval of a cifar-10 model as MNIST, allowed: exit %d, stderr %q", code, e)
	}
}

// TestIdxDataset: --dataset idx reads any four IDX files under the official names from --data, with
// structure checks and no digests; without --data it says where to point it.
func TestIdxDataset(t *testing.T) {
	dir := t.TempDir()
	sub := mnist.SubsetFiles("../../testdata/mnist-subset")
	for _, r := range []mnist.Role{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
		copyFile(t, filepath.Join(dir, r.Base()+".gz"), sub.Path(r))
	}
	f, _, errb := testFactory()
	f.LoadData = loadData
	out := filepath.Join(t.TempDir(), "idx.bin")
	if code := Main([]string{"train", "--dataset", "idx", "--data", dir, "--epochs", "1", "--hidden", "8", "--device", "cpu", "-q", "-o", out}, f); code != 0 {
		t.Fatalf("train --dataset idx: exit %d: %s", code, errb.String())
	}
	if ck, err := checkpoint.Load(out, nil); err != nil || ck.DatasetName() != "idx" {
		t.Fatalf("idx model records %q (%v), want idx", ck.DatasetName(), err)
	}
	f, _, errb = testFactory()
	f.LoadData = loadData
	if code := Main([]string{"eval", out}, f); code != exitData || !strings.Contains(errb.String(), "no directory given") ||
		!strings.Contains(errb.String(), "hint: point --data at a directory holding the four IDX files") {
		t.Errorf("eval of an idx model without --data: exit %d, stderr %q", code, errb.String())
	}
	// A label out of 0..9 in the test labels: refused, naming the set and the file.
	lab := filepath.Join(dir, mnist.TestLabelsName+".gz")
	raw := gunzip(t, lab)
	raw[8+3] = 12
	os.Remove(lab)
	os.WriteFile(filepath.Join(dir, mnist.TestLabelsName), raw, 0o644)
	f, _, errb = testFactory()
	f.LoadData = loadData
	if code := Main([]string{"eval", out, "--data", dir}, f); code != exitData || !strings.Contains(errb.String(), "dltrain: idx: t10k-labels-idx1-ubyte: label 12 at index 3") {
		t.Errorf("eval with a bad idx label: exit %d, stderr %q", code, errb.String())
	}
}

// TestRealMNISTThroughCLI is issue 14's acceptance through the CLI, on the real MNIST files (skipped
// without them: run `make data`): a re-gzipped copy (`gzip -dc | gzip -9`) is accepted; a one-byte
// change in the content is refused, naming the file and the data set; Fashion-MNIST's files given as
// MNIST are refused with a hint to add --dataset fashion-mnist (when they are installed).
func TestRealMNISTThroughCLI(t *testing.T) {
	ds, _ := mnist.Lookup("mnist")
	real, err := ds.Find("../../data")
	if err != nil {
		t.Skipf("no real MNIST files (%v): run `make data` to run this test", err)
	}
	model := smallModel(t, t.TempDir(), "m.bin", "")
	dir := t.TempDir()
	// The training images by symlink (47 MB; its content is checked all the same); the others
	// re-gzipped: labels at level 9 as `gzip -9` does, the test images at level 1 (level 9 takes
	// seconds on 7.8 MB and proves nothing more: the content is what is checked).
	if err := os.Symlink(mustAbsPath(t, real.TrainImages), filepath.Join(dir, mnist.TrainImagesName+".gz")); err != nil {
		t.Fatal(err)
	}
	regzipFile(t, filepath.Join(dir, mnist.TrainLabelsName+".gz"), real.TrainLabels, gzip.BestCompression)
	regzipFile(t, filepath.Join(dir, mnist.TestImagesName+".gz"), real.TestImages, gzip.BestSpeed)
	regzipFile(t, filepath.Join(dir, mnist.TestLabelsName+".gz"), real.TestLabels, gzip.BestCompression)
	f, out, errb := testFactory()
	f.LoadData = loadData
	if code := Main([]string{"eval", model, "--data", dir}, f); code != 0 || !strings.Contains(out.String(), "/10000)") {
		t.Fatalf("eval on a re-gzipped copy of MNIST: exit %d: %s%s", code, out.String(), errb.String())
	}
	// One byte of content changed: label 7 of the first test image becomes 8, still a valid label.
	lab := filepath.Join(dir, mnist.TestLabelsName+".gz")
	raw := gunzip(t, lab)
	raw[8] = (raw[8] + 1) % 10
	writeGzip(t, lab, raw)
	f, _, errb = testFactory()
	f.LoadData = loadData
	code := Main([]string{"eval", model, "--data", dir}, f)
	e := errb.String()
	if code != exitData || !strings.Contains(e, "dltrain: mnist: t10k-labels-idx1-ubyte.gz: content SHA-256 ") ||
		!strings.Contains(e, "does not match MNIST's t10k-labels") || !strings.Contains(e, "hint: move "+lab+" out of the way") {
		t.Errorf("eval with one label changed: exit %d, stderr %q; want %d naming the file and MNIST", code, e, exitData)
	}

	fds, _ := mnist.Lookup("fashion-mnist")
	ff, err := fds.Find("")
	if err != nil {
		t.Logf("no Fashion-MNIST files (%v): the cross-set hint is not checked", err)
		return
	}
	f, _, errb = testFactory()
	f.LoadData = loadData
	code = Main([]string{"eval", model, "--data", filepath.Dir(ff.TestImages)}, f)
	if e := errb.String(); code != exitData || !strings.Contains(e, "this is Fashion-MNIST's train-images, not MNIST's") ||
		!strings.Contains(e, "hint: these files are Fashion-MNIST's: add --dataset fashion-mnist") {
		t.Errorf("eval of an MNIST model on Fashion-MNIST's files: exit %d, stderr %q", code, e)
	}
}

func mnistClass(t *testing.T, set string, c int) string { return mustDataset(t, set).Classes[c] }

func mustDataset(t *testing.T, set string) mnist.Dataset {
	t.Helper()
	ds, err := mnist.Lookup(set)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAbsPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func gunzip(t *testing.T, p string) []byte {
	t.Helper()
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeGzip(t *testing.T, p string, b []byte) {
	t.Helper()
	writeGzipLevel(t, p, b, gzip.BestCompression)
}

func writeGzipLevel(t *testing.T, p string, b []byte, level int) {
	t.Helper()
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(fh, level)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// regzipFile writes gunzip(src) to dst gzipped at level: `gzip -dc src | gzip -LEVEL > dst`.
func regzipFile(t *testing.T, dst, src string, level int) {
	t.Helper()
	writeGzipLevel(t, dst, gunzip(t, src), level)
}
