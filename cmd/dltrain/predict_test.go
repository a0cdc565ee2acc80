package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/mnist"
)

// TestPredict: real test digits written as PNG are read as their labels (at the accuracy the model has
// on them), inverted copies give the same answers with --invert auto, enlarged off-centre "photos" of
// the same digits are read as well as the originals, and a digit drawn here dark-on-light is read.
func TestPredict(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "10", "--device", "cpu", "-o", ckpt, "-q"); code != 0 {
		t.Fatal(e)
	}
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	const n = 40
	args := []string{"predict", ckpt, "--json"}
	for i := range n {
		for _, inv := range []bool{false, true} {
			p := filepath.Join(dir, fmt.Sprintf("digit%02d%s.png", i, map[bool]string{false: "", true: "-inverted"}[inv]))
			os.WriteFile(p, digitPNG(test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels], inv), 0o644)
			args = append(args, p)
		}
	}
	// The same digits as "photos": dark ink on a light 300×200 canvas, six times larger and off-centre.
	photos := len(args)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("photo%02d.png", i))
		os.WriteFile(p, photoPNG(test.Images[i*mnist.Pixels:(i+1)*mnist.Pixels], 6, 40+3*i, 20), 0o644)
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
	right := 0
	for i := range n {
		plain, inv := preds[2*i], preds[2*i+1]
		if plain.Digit == int(test.Labels[i]) {
			right++
		}
		if plain.Inverted || inv.Digit != plain.Digit || !inv.Inverted {
			t.Errorf("%s: digit %d (inverted %v), and %s: %d (inverted %v); want the same digit, inverted only the second",
				plain.File, plain.Digit, plain.Inverted, inv.File, inv.Digit, inv.Inverted)
		}
		if len(plain.Top3) != 3 || plain.Top3[0].Digit != plain.Digit || plain.Top3[0].Probability < plain.Top3[1].Probability {
			t.Errorf("%s: top3 %v", plain.File, plain.Top3)
		}
	}
	// The model scores about 88 % on the subset's test images.
	t.Logf("test digits as PNG: %d of %d read as their label", right, n)
	if right < n*8/10 {
		t.Errorf("test digits as PNG: %d of %d read as their label, want at least %d", right, n, n*8/10)
	}
	photoRight := 0
	for i := range n {
		p := preds[photos-3+i] // after the command name, the model and --json
		if p.Digit == int(test.Labels[i]) && p.Inverted {
			photoRight++
		}
	}
	t.Logf("enlarged off-centre photos: %d of %d read as their label", photoRight, n)
	// Cropping to the ink and rescaling a 6× enlargement cannot give back MNIST's exact pixels: a few
	// more errors than on the originals, not many.
	if photoRight < n*3/4 {
		t.Errorf("enlarged off-centre photos: %d of %d read as their label (the originals: %d), want at least %d", photoRight, n, right, n*3/4)
	}
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
