package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
)

// TestPredict: real test digits written as PNG get the label dltrain's own forward pass gives them,
// inverted copies get the same answer with --invert auto, and a digit drawn here dark-on-light is read.
func TestPredict(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "10", "--device", "cpu", "-o", ckpt, "-q"); code != 0 {
		t.Fatal(e)
	}
	ck, err := model.Load(ckpt, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	const n = 8
	logits, err := model.Predict(&cpu.Backend{}, ck.Model, test.Images[:n*mnist.Pixels], n)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"predict", ckpt, "--json"}
	var want []int
	for i := range n {
		row := logits[i*10 : i*10+10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		want = append(want, best)
		for _, inv := range []bool{false, true} {
			p := filepath.Join(dir, "digit"+string(rune('0'+i))+map[bool]string{false: "", true: "-inverted"}[inv]+".png")
			os.WriteFile(p, digitPNG(test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels], inv), 0o644)
			args = append(args, p)
		}
	}
	// The same digits as "photos": dark ink on a light 300×200 canvas, six times larger and off-centre.
	photos := len(args)
	for i := range n {
		p := filepath.Join(dir, "photo"+string(rune('0'+i))+".png")
		os.WriteFile(p, photoPNG(test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels], 6, 40+9*i, 20), 0o644)
		args = append(args, p)
	}
	drawn := filepath.Join(dir, "drawn-one.png")
	writeDrawnOne(t, drawn)
	args = append(args, drawn)

	code, out, e := run(t, args...)
	if code != 0 {
		t.Fatalf("predict: %d %s", code, e)
	}
	var preds []prediction
	if err := json.Unmarshal([]byte(out), &preds); err != nil {
		t.Fatalf("predict --json: %v: %s", err, out)
	}
	for i := range n {
		plain, inv := preds[2*i], preds[2*i+1]
		if plain.Digit != want[i] || plain.Inverted {
			t.Errorf("%s: digit %d (inverted %v), dltrain's forward says %d", plain.File, plain.Digit, plain.Inverted, want[i])
		}
		if inv.Digit != want[i] || !inv.Inverted {
			t.Errorf("%s: digit %d (inverted %v), want %d after auto inversion", inv.File, inv.Digit, inv.Inverted, want[i])
		}
		if len(plain.Top3) != 3 || plain.Top3[0].Digit != plain.Digit || plain.Top3[0].Probability < plain.Top3[1].Probability {
			t.Errorf("%s: top3 %v", plain.File, plain.Top3)
		}
	}
	agree := 0
	for i := range n {
		p := preds[photos-3+i] // after the command name, the model and --json
		if p.Digit == want[i] && p.Inverted {
			agree++
		}
	}
	if agree < n-1 {
		t.Errorf("enlarged off-centre photos: %d of %d agree with the forward pass on the originals", agree, n)
	}
	t.Logf("enlarged off-centre photos: %d of %d agree with the forward pass on the originals", agree, n)
	last := preds[len(preds)-1]
	if !last.Inverted || last.Digit != 1 {
		t.Errorf("drawn 1: got %d (inverted %v), top3 %v; want 1, inverted", last.Digit, last.Inverted, last.Top3)
	}

	code, out, _ = run(t, "predict", ckpt, drawn)
	if code != 0 || !strings.Contains(out, "drawn-one.png: 1   top 3: 1 ") || !strings.Contains(out, "(inverted)") {
		t.Errorf("predict text output: %q", out)
	}
}

// writeDrawnOne draws a dark "1" on a light 280×280 canvas, proportioned like an MNIST digit (about
// 20 of 28 pixels tall, centred).
func writeDrawnOne(t *testing.T, path string) {
	img := image.NewGray(image.Rect(0, 0, 280, 280))
	for i := range img.Pix {
		img.Pix[i] = 245
	}
	for y := 45; y < 235; y++ {
		for x := 128; x < 152; x++ {
			img.SetGray(x, y, color.Gray{Y: 20})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// photoPNG draws 28×28 MNIST pixels as dark ink on a light 300×200 canvas, scaled by k, at (x0, y0).
func photoPNG(pix []uint8, k, x0, y0 int) []byte {
	img := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = 240
	}
	for y := range 28 {
		for x := range 28 {
			v := 240 - int(pix[y*28+x])*230/255
			for dy := range k {
				for dx := range k {
					img.SetGray(x0+x*k+dx, y0+y*k+dy, color.Gray{Y: uint8(v)})
				}
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
