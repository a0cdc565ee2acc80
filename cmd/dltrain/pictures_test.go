package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
)

// minVariance is the least luminance variance (0..1 units) of a picture that is not blank: a white
// page with a few thin lines is already above it, a blank one is 0.
const minVariance = 1e-3

// readPNG decodes the PNG at path and returns it with its luminance variance; with want sizes not 0
// it also checks them. With DLTRAIN_PICTURES=DIR it copies the file there, to be looked at.
func readPNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if dir := os.Getenv("DLTRAIN_PICTURES"); dir != "" {
		os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-")+"-"+filepath.Base(path)), b, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: png.Decode = %v, want a PNG", filepath.Base(path), err)
	}
	if got := img.Bounds().Size(); (w != 0 && got.X != w) || (h != 0 && got.Y != h) {
		t.Fatalf("%s: size %dx%d, want %dx%d", filepath.Base(path), got.X, got.Y, w, h)
	}
	if v := variance(img); v <= minVariance {
		t.Errorf("%s: luminance variance %g, want more than %g (the picture is blank)", filepath.Base(path), v, minVariance)
	} else {
		t.Logf("%s: %dx%d, luminance variance %.4f", filepath.Base(path), img.Bounds().Dx(), img.Bounds().Dy(), v)
	}
	return img
}

func variance(img image.Image) float64 {
	var s, s2, n float64
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			l := float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y) / 255
			s, s2, n = s+l, s2+l*l, n+1
		}
	}
	m := s / n
	return s2/n - m*m
}

// differing counts the pixels that differ between two pictures (all of them when the sizes differ).
func differing(a, b image.Image) int {
	if a.Bounds() != b.Bounds() {
		return a.Bounds().Dx() * a.Bounds().Dy()
	}
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				n++
			}
		}
	}
	return n
}

// writeMetrics writes a metrics file of epochs 1..n whose accuracy grows by step per epoch.
func writeMetrics(t *testing.T, path string, n int, step float64, extra ...string) {
	t.Helper()
	var b strings.Builder
	for e := 1; e <= n; e++ {
		acc := math.Min(0.99, 0.8+step*float64(e))
		fmt.Fprintf(&b, `{"epoch":%d,"train_loss":%g,"train_accuracy":%g,"test_loss":%g,"test_accuracy":%g,"seconds":0.3,"samples_per_second":190000}`+"\n",
			e, 0.5/float64(e), acc, 0.6/float64(e), acc-0.01)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	writeMetrics(t, a, 6, 0.02)
	writeMetrics(t, b, 4, 0.03, `{"epoch":2,"train_loss":0.3,"train_accuracy":0.9}`)
	out := filepath.Join(dir, "curves.png")
	code, stdout, stderr := run(t, "plot", a, b, "-o", out)
	if code != 0 || stdout != "wrote "+out+" (2 runs, up to epoch 6)\n" ||
		!strings.Contains(stderr, "b.jsonl: 1 epoch lines were repeated (a resumed run); the last line of each epoch counts") {
		t.Fatalf("plot: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	first := readPNG(t, out, 1200, 500)

	// The picture follows the data: one accuracy changed in a, another picture.
	writeMetrics(t, a, 6, 0.025)
	if code, _, e := run(t, "plot", a, b, "-o", out); code != 0 {
		t.Fatal(e)
	}
	if n := differing(first, readPNG(t, out, 1200, 500)); n < 100 {
		t.Errorf("plot after changing a run's numbers: %d pixels differ, want a visibly different picture", n)
	}
	if code, _, e := run(t, "plot", a, "-o", out, "--width", "800", "--height", "400", "--title", "one run"); code != 0 {
		t.Fatal(e)
	}
	readPNG(t, out, 800, 400)

	before, _ := os.ReadFile(a)
	notMetrics := filepath.Join(dir, "notes.txt")
	os.WriteFile(notMetrics, []byte("hello\n"), 0o644)
	many := []string{"plot", "-o", out}
	for range 11 {
		many = append(many, a)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plot", a, b, "-o", a}, exitUsage, "-o " + a + " is the same file as metrics file " + a + ": writing it would destroy the input"},
		{[]string{"plot", a, "-o", "./" + filepath.Join(filepath.Base(dir), "..", filepath.Base(dir), "a.jsonl")}, exitUsage, "writing it would destroy the input"},
		{[]string{"plot", a}, exitUsage, "plot needs -o FILE.png"},
		{[]string{"plot", "-o", out}, exitUsage, "plot needs METRICS.jsonl..."},
		{many, exitUsage, "11 metrics files; plot draws at most 10"},
		{[]string{"plot", notMetrics, "-o", out}, exitData, "dltrain: notes.txt: line 1: not a JSON object"},
		{[]string{"plot", dir, "-o", out}, exitData, "not a regular file"},
		{[]string{"plot", filepath.Join(dir, "missing.jsonl"), "-o", out}, exitData, "missing.jsonl: no such file"},
		{[]string{"plot", a, "-o", dir}, exitModel, "not a regular file (a directory)"},
	} {
		code, _, e := runIn(t, dir, c.args...)
		if code != c.code || !strings.Contains(e, c.want) {
			t.Errorf("dltrain %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, e, c.code, c.want)
		}
	}
	if after, _ := os.ReadFile(a); !bytes.Equal(after, before) {
		t.Errorf("a refused plot changed its input a.jsonl")
	}
}

// runIn is run with the working directory set to dir (for relative paths), restored afterwards.
func runIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(filepath.Dir(dir))
	return run(t, args...)
}

func TestRunLabels(t *testing.T) {
	for _, c := range []struct{ files, want string }{
		{"a.jsonl", "a.jsonl"},
		{"runs/x/a.jsonl runs/y/b.jsonl", "a.jsonl b.jsonl"},
		{"runs/x/m.jsonl runs/y/m.jsonl other.jsonl", "runs/x/m.jsonl runs/y/m.jsonl other.jsonl"},
	} {
		if got := strings.Join(runLabels(strings.Fields(c.files)), " "); got != c.want {
			t.Errorf("runLabels(%s) = %q, want %q", c.files, got, c.want)
		}
	}
}

// TestEvalPictures: eval's confusion matrix and misclassified images decode at their sizes, are not
// blank, follow the test data, and are never written over the model; the text and JSON reports stay
// what they were.
func TestEvalPictures(t *testing.T) {
	dir := t.TempDir()
	m := smallModel(t, dir, "m.bin", "")
	cm, wrong := filepath.Join(dir, "cm.png"), filepath.Join(dir, "wrong.png")
	code, out, e := run(t, "eval", m, "--confusion-png", cm, "--errors-png", wrong, "--errors-max", "16")
	if code != 0 {
		t.Fatalf("eval with pictures: exit %d: %s", code, e)
	}
	ck, _ := checkpoint.Load(m, nil)
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	ev, pred, err := model.Classify(&cpu.Backend{}, ck.Model, test)
	if err != nil {
		t.Fatal(err)
	}
	nWrong := ev.N - correct(ev)
	if !strings.Contains(out, "confusion matrix drawn to "+cm+"\n") || !strings.Contains(out, fmt.Sprintf("16 of %d misclassified images drawn to %s\n", nWrong, wrong)) {
		t.Errorf("eval text does not say what it drew:\n%s", out)
	}
	cm1 := readPNG(t, cm, 630, 670) // figure's size for 10 classes
	// 16 tiles make a 4×4 grid of cells at least 84 pixels (28 at zoom 3) wide and tall, plus captions.
	w1 := readPNG(t, wrong, 0, 0)
	if s := w1.Bounds().Size(); s.X < 4*84 || s.X > 4*200 || s.Y < 4*(84+10) || s.Y > 4*200 {
		t.Errorf("errors grid of 16 tiles is %dx%d, want a 4x4 grid of 84-pixel tiles with captions", s.X, s.Y)
	}
	if code, _, _ := run(t, "eval", m, "--errors-png", wrong, "--errors-max", "4"); code != 0 {
		t.Fatal("eval --errors-max 4 failed")
	}
	if s := readPNG(t, wrong, 0, 0).Bounds().Size(); s.X >= w1.Bounds().Dx() || s.Y >= w1.Bounds().Dy() {
		t.Errorf("errors grid of 4 tiles is %v, not smaller than 16 tiles' %v", s, w1.Bounds().Size())
	}

	// Other test data, other pictures: the test set in reverse order and without its last 100 images.
	f, _, errb := testFactory()
	f.LoadData = func(ds mnist.Dataset, _ string) (*mnist.Set, *mnist.Set, error) {
		tr, te, err := ds.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
		if err != nil {
			return nil, nil, err
		}
		n := te.N - 100
		rev := &mnist.Set{Images: make([]uint8, n*mnist.Pixels), Labels: make([]uint8, n), N: n}
		for i := range n {
			copy(rev.Images[i*mnist.Pixels:], te.Images[(n-1-i)*mnist.Pixels:(n-i)*mnist.Pixels])
			rev.Labels[i] = te.Labels[n-1-i]
		}
		return tr, rev, nil
	}
	if code := Main([]string{"eval", m, "--confusion-png", cm, "--errors-png", wrong, "--errors-max", "16", "--json"}, f); code != 0 {
		t.Fatalf("eval on other data: exit %d: %s", code, errb.String())
	}
	if n := differing(cm1, readPNG(t, cm, 630, 670)); n < 50 {
		t.Errorf("confusion picture of other data: %d pixels differ, want a visibly different picture", n)
	}
	if n := differing(w1, readPNG(t, wrong, 0, 0)); n < 500 {
		t.Errorf("errors picture of other data: %d pixels differ, want other images", n)
	}
	var js evalJSON
	if out := f.IO.Out.(*bytes.Buffer).String(); json.Unmarshal([]byte(out), &js) != nil || js.N != 900 {
		t.Errorf("eval --json with pictures printed %q, want the JSON object alone", out)
	}

	// A test set the model gets all right: no errors picture, and eval says so.
	f, stdout, _ := testFactory()
	f.LoadData = func(ds mnist.Dataset, _ string) (*mnist.Set, *mnist.Set, error) {
		right := &mnist.Set{}
		for i, p := range pred {
			if p == test.Labels[i] && right.N < 50 {
				right.Images = append(right.Images, test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels]...)
				right.Labels = append(right.Labels, p)
				right.N++
			}
		}
		return test, right, nil
	}
	none := filepath.Join(dir, "none.png")
	if code := Main([]string{"eval", m, "--errors-png", none}, f); code != 0 || !strings.Contains(stdout.String(), "no misclassified test images: "+none+" not written") {
		t.Errorf("eval with no errors: exit %d: %s", code, stdout.String())
	}
	if _, err := os.Stat(none); err == nil {
		t.Errorf("eval with no errors wrote %s", none)
	}

	model0, _ := os.ReadFile(m)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", m, "--confusion-png", m}, "--confusion-png " + m + " is the same file as MODEL " + m + ": writing it would destroy the input"},
		{[]string{"eval", m, "--errors-png", m}, "writing it would destroy the input"},
		{[]string{"eval", m, "--confusion-png", cm, "--errors-png", cm}, "--confusion-png " + cm + " is the same file as --errors-png " + cm + ": both would be written to the same file"},
		{[]string{"eval", m, "--errors-png", wrong, "--errors-max", "0"}, "--errors-max 0: want 1..256"},
		{[]string{"eval", m, "--errors-png", wrong, "--errors-max", "257"}, "--errors-max 257: want 1..256"},
	} {
		if code, _, e := run(t, c.args...); code != exitUsage || !strings.Contains(e, c.want) {
			t.Errorf("dltrain %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, e, exitUsage, c.want)
		}
	}
	if after, _ := os.ReadFile(m); !bytes.Equal(after, model0) {
		t.Fatal("a refused eval changed the model file")
	}
}

// TestInspect: inspect's text and JSON say what the checkpoint holds, keys it does not interpret are
// listed, an encrypted file is described without its key and read in full with it.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	fash := smallModel(t, dir, "fashion.bin", "fashion-mnist")
	ck, _ := checkpoint.Load(fash, nil)
	code, out, e := run(t, "inspect", fash)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, e)
	}
	st, _ := os.Stat(fash)
	for _, want := range []string{
		fmt.Sprintf("file        %s (%s bytes)\n", fash, thousands(int(st.Size()))),
		"encryption  none\n",
		"format      dltrain.mlp v1 (safetensors), written by dltrain " + ck.Version + ", read by dltrain ",
		"arch        784-16-10, relu hidden activation, ce loss\n",
		"parameters  12,730 (fc1 16×784+16, fc2 10×16+10), and as many momentum values (sgd)\n",
		"data set    Fashion-MNIST (--dataset fashion-mnist): T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot\n",
		"training    epoch 1 of 1, step 30\n",
		"sgd lr 0.01, momentum 0.9, batch 100, seed 1; inputs (x/255 − 0.5)/0.5\n",
		fmt.Sprintf("accuracy    %.2f %% on the test set after epoch 1\n", 100*ck.TestAccuracy),
		"tensors     SHA-256 " + ck.Keys["tensors_sha256"] + " (checked)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "inspect", fash, "--json")
	var js inspectJSON
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Encrypted || js.Envelope != nil || js.Model == nil {
		t.Fatalf("inspect --json: exit %d: %s", code, out)
	}
	mj := js.Model
	if mj.Arch != "784-16-10" || mj.Parameters != 12730 || len(mj.Layers) != 2 || mj.Layers[0].Parameters != 12560 ||
		mj.Dataset != "fashion-mnist" || mj.Classes[9] != "Ankle boot" || mj.Epoch != 1 || mj.Step != 30 || mj.LR != 0.01 ||
		mj.Momentum != 0.9 || mj.Seed != 1 || mj.TestAccuracy == nil || *mj.TestAccuracy != ck.TestAccuracy ||
		mj.DltrainVersion != ck.Version || mj.Metadata["dataset"] != "fashion-mnist" || js.Size != st.Size() {
		t.Errorf("inspect --json = %s, disagrees with the checkpoint", out)
	}

	// A key this dltrain does not interpret (a newer writer's, say) is listed as it is.
	hdr, data, _ := validCheckpoint(t)
	hdr["__metadata__"].(map[string]any)["a_future_key"] = "adam"
	odd := filepath.Join(dir, "odd.bin")
	os.WriteFile(odd, craft(t, hdr, data, false), 0o644)
	if code, out, e := run(t, "inspect", odd); code != 0 || !strings.Contains(out, "other       a_future_key = \"adam\"\n") ||
		!strings.Contains(out, "written by not recorded, read by dltrain ") {
		t.Errorf("inspect of a file with an extra key: exit %d, %s%s", code, out, e)
	}

	// Encrypted: without the key, the envelope; with it, everything.
	key := filepath.Join(dir, "k.key")
	if code, _, e := run(t, "keygen", "-o", key); code != 0 {
		t.Fatal(e)
	}
	enc := filepath.Join(dir, "enc.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "--device", "cpu", "-q", "--key-file", key, "-o", enc); code != 0 {
		t.Fatal(e)
	}
	raw, _ := os.ReadFile(enc)
	code, out, _ = run(t, "inspect", enc)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("encryption  AES-256-GCM envelope v1, nonce %x\n", raw[10:22])) ||
		!strings.Contains(out, "pass --key-file FILE or set DLTRAIN_KEY_FILE to see it") || strings.Contains(out, "arch") {
		t.Errorf("inspect of an encrypted file without its key: exit %d:\n%s", code, out)
	}
	code, out, _ = run(t, "inspect", enc, "--json")
	js = inspectJSON{}
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || !js.Encrypted || js.Envelope == nil || js.Envelope.Algorithm != "AES-256-GCM" || js.Model != nil {
		t.Errorf("inspect --json of an encrypted file without its key: %s", out)
	}
	code, out, _ = run(t, "inspect", enc, "--json", "--key-file", key)
	js = inspectJSON{}
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || !js.Encrypted || js.Model == nil || js.Model.Arch != "784-8-10" {
		t.Errorf("inspect --json of an encrypted file with its key: %s", out)
	}
	if code, _, e := run(t, "inspect", enc, "--weights-png", filepath.Join(dir, "w.png")); code != exitModel || !strings.Contains(e, "hint: pass --key-file FILE") {
		t.Errorf("inspect --weights-png of an encrypted file without its key: exit %d, %s", code, e)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect", filepath.Join(dir, "missing.bin")}, exitModel, "missing.bin: no such file"},
		{[]string{"inspect", dir}, exitModel, "not a regular file"},
		{[]string{"inspect", writeFile(t, dir, "junk.bin", "not a model at all")}, exitModel, "junk.bin: "},
		{[]string{"inspect", writeFile(t, dir, "short.bin", "DLTRAINE\x01\x01abc")}, exitModel, "dltrain: short.bin: encrypted file truncated (13 bytes)\n"},
		{[]string{"inspect", writeFile(t, dir, "short.bin", "DLTRAINE\x01\x01abc"), "--json"}, exitModel, "encrypted file truncated"},
		{[]string{"inspect", fash, "--weights-png", fash}, exitUsage, "writing it would destroy the input"},
		{[]string{"inspect", fash, "--weights-png", "w.png", "--weights-max", "0"}, exitUsage, "--weights-max 0: want 1..1024"},
	} {
		if code, _, e := run(t, c.args...); code != c.code || !strings.Contains(e, c.want) {
			t.Errorf("dltrain %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, e, c.code, c.want)
		}
	}
}

// TestInspectWeights: the first layer's weights as tiles on one scale: the picture decodes, is not
// blank, changes with the weights, and shrinks with --weights-max.
func TestInspectWeights(t *testing.T) {
	dir := t.TempDir()
	a := smallModel(t, dir, "a.bin", "")
	w := filepath.Join(dir, "w.png")
	if code, out, e := run(t, "inspect", a, "--weights-png", w); code != 0 || !strings.Contains(out, "first-layer weights drawn to "+w) {
		t.Fatalf("inspect --weights-png: exit %d: %s%s", code, out, e)
	}
	wa := readPNG(t, w, 0, 0)
	// 16 units in ceil(sqrt(16·1.6)) = 6 columns and 3 rows of 84-pixel tiles.
	if s := wa.Bounds().Size(); s.X < 6*84 || s.X > 6*200 || s.Y < 3*84 || s.Y > 3*200 {
		t.Errorf("16 receptive fields drawn as %dx%d, want 6 columns and 3 rows of 84-pixel tiles", s.X, s.Y)
	}
	// One weight changed a lot: another picture.
	ck, _ := checkpoint.Load(a, nil)
	for i := range 28 {
		ck.Weight(0)[14*28+i] = 1 // unit 0's middle row at full red
	}
	b := filepath.Join(dir, "b.bin")
	if err := checkpoint.Save(b, ck, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, e := run(t, "inspect", b, "--weights-png", w); code != 0 {
		t.Fatal(e)
	}
	if n := differing(wa, readPNG(t, w, 0, 0)); n < 28*3*3 {
		t.Errorf("weights picture after changing unit 0's middle row: %d pixels differ, want at least that row (%d)", n, 28*3*3)
	}
	if code, _, e := run(t, "inspect", a, "--weights-png", w, "--weights-max", "4"); code != 0 {
		t.Fatal(e)
	}
	// 4 units in 3 columns and 2 rows (the title may keep the picture as wide).
	if s := readPNG(t, w, 0, 0).Bounds().Size(); s.Y >= wa.Bounds().Dy() {
		t.Errorf("4 receptive fields drawn %v, not lower than 16's %v", s, wa.Bounds().Size())
	}
}

func TestPercentileAbs(t *testing.T) {
	for _, c := range []struct {
		v    []float32
		q    float64
		want float32
	}{
		{nil, 0.5, 0},
		{[]float32{-3, 1, 2}, 0.995, 3},
		{[]float32{-3, 1, 2}, 0, 1},
		{[]float32{0, 0, 0, 0, 0, 0, 0, 0, 0, -100}, 0.5, 0},
	} {
		if got := percentileAbs(c.v, c.q); got != c.want {
			t.Errorf("percentileAbs(%v, %v) = %v, want %v", c.v, c.q, got, c.want)
		}
	}
}

func TestSampleName(t *testing.T) {
	digits, fash := mustDataset(t, "mnist"), mustDataset(t, "fashion-mnist")
	for _, c := range []struct {
		ds   mnist.Dataset
		i, n int
		y    uint8
		want string
	}{
		{digits, 3, 10000, 7, "0003-label7.png"},
		{fash, 3, 10000, 5, "0003-sandal.png"},
		{fash, 9999, 10000, 0, "9999-t-shirt-top.png"},
		{fash, 12, 10000, 9, "0012-ankle-boot.png"},
		{digits, 12345, 60000, 0, "12345-label0.png"},
	} {
		if got := sampleName(c.ds, c.i, c.n, c.y); got != c.want {
			t.Errorf("sampleName(%s, %d, %d, %d) = %q, want %q", c.ds.Name, c.i, c.n, c.y, got, c.want)
		}
	}
}

// TestDataSample: the sampled PNGs hold the test images exactly, named by index and label; nothing is
// overwritten; predict reads them as the model classifies the same test images.
func TestDataSample(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "digits")
	code, out, e := run(t, "data", "sample", "-n", "12", "--start", "5", "-o", dir)
	if code != 0 {
		t.Fatalf("data sample: exit %d: %s", code, e)
	}
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	ents, _ := os.ReadDir(dir)
	if len(ents) != 12 || !strings.HasPrefix(out, "wrote 12 MNIST test images to "+dir+": 0005-label") || !strings.Contains(out, "try them: dltrain predict MODEL "+dir+"/*.png") {
		t.Fatalf("data sample wrote %d files and said %q", len(ents), out)
	}
	var files []string
	for k, ent := range ents {
		i := 5 + k
		if want := fmt.Sprintf("%04d-label%d.png", i, test.Labels[i]); ent.Name() != want {
			t.Errorf("file %d is %s, want %s", k, ent.Name(), want)
		}
		p := filepath.Join(dir, ent.Name())
		files = append(files, p)
		img := readPNG(t, p, 28, 28)
		g, ok := img.(*image.Gray)
		if !ok || !bytes.Equal(g.Pix, test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels]) {
			t.Errorf("%s does not hold test image %d's pixels", ent.Name(), i)
		}
	}
	// Again into the same directory: refused, nothing written or changed.
	before, _ := os.ReadFile(files[0])
	if code, _, e := run(t, "data", "sample", "-n", "20", "-o", dir); code != exitError || !strings.Contains(e, "0005-label") || !strings.Contains(e, "already exists; nothing was written") {
		t.Errorf("data sample over existing files: exit %d, stderr %q", code, e)
	}
	if ents2, _ := os.ReadDir(dir); len(ents2) != 12 {
		t.Errorf("a refused data sample left %d files, want the 12 there were", len(ents2))
	}
	if after, _ := os.ReadFile(files[0]); !bytes.Equal(after, before) {
		t.Error("a refused data sample changed an existing file")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "sample", "-n", "3"}, "data sample needs -o DIR"},
		{[]string{"data", "sample", "-n", "0", "-o", dir}, "-n must be 1 or more"},
		{[]string{"data", "sample", "-n", "5", "--start", "998", "-o", t.TempDir()}, "the MNIST test set has 1000 images; --start 998 -n 5 asks for images up to 1002"},
		{[]string{"data", "sample", "-o", files[0]}, "is not a directory"},
		{[]string{"data", "sample", "--dataset", "cifar", "-o", dir}, `unknown data set "cifar"`},
		{[]string{"data", "frobnicate"}, `unknown command "frobnicate" for 'dltrain data'`},
	} {
		if code, _, e := run(t, c.args...); code != exitUsage || !strings.Contains(e, c.want) {
			t.Errorf("dltrain %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, e, exitUsage, c.want)
		}
	}

	// predict reads each file as the model classifies that test image.
	m := smallModel(t, t.TempDir(), "m.bin", "")
	ck, _ := checkpoint.Load(m, nil)
	_, pred, err := model.Classify(&cpu.Backend{}, ck.Model, test)
	if err != nil {
		t.Fatal(err)
	}
	code, out, e = run(t, append([]string{"predict", m, "--json"}, files...)...)
	var preds []prediction
	if code != 0 || json.Unmarshal([]byte(out), &preds) != nil || len(preds) != len(files) {
		t.Fatalf("predict on sampled files: exit %d: %s%s", code, out, e)
	}
	for k, p := range preds {
		if p.Digit != int(pred[5+k]) || p.Inverted {
			t.Errorf("predict %s = %d (inverted %v), the model classifies test image %d as %d", filepath.Base(p.File), p.Digit, p.Inverted, 5+k, pred[5+k])
		}
	}

	// Fashion-MNIST names (the subset stands in for its images here).
	fdir := t.TempDir()
	if code, _, e := run(t, "data", "sample", "--dataset", "fashion-mnist", "-n", "2", "-o", fdir); code != 0 {
		t.Fatal(e)
	}
	ents, _ = os.ReadDir(fdir)
	if len(ents) != 2 || ents[0].Name() != "0000-"+sampleName(mustDataset(t, "fashion-mnist"), 0, 1000, test.Labels[0])[5:] {
		t.Errorf("Fashion-MNIST sample files: %v", ents)
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
