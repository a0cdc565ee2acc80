package mnist

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) *bytes.Reader {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b.Bytes())
}

// TestFromImageCentres: a dark blob drawn off-centre on a big light canvas comes out inverted, at most
// 20 pixels on its longer side, with its centre of mass in the middle of the 28×28 frame.
func TestFromImageCentres(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 400, 300))
	for i := range img.Pix {
		img.Pix[i] = 250
	}
	for y := 30; y < 130; y++ { // a 40×100 dark bar near the top left
		for x := 20; x < 60; x++ {
			img.SetGray(x, y, color.Gray{Y: 10})
		}
	}
	pix, inv, err := FromImage(encodePNG(t, img), InvertAuto)
	if err != nil || !inv || len(pix) != Pixels {
		t.Fatalf("FromImage = %d pixels, inverted %v, %v", len(pix), inv, err)
	}
	var mass, mx, my float64
	x0, x1, y0, y1 := Cols, -1, Rows, -1
	for y := range Rows {
		for x := range Cols {
			v := float64(pix[y*Cols+x])
			mass += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
			if v > inkLevel {
				x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
			}
		}
	}
	if cx, cy := mx/mass, my/mass; cx < 13 || cx > 15 || cy < 13 || cy > 15 {
		t.Errorf("centre of mass (%.1f, %.1f), want (14, 14) ± 1", cx, cy)
	}
	if h := y1 - y0 + 1; h < 19 || h > 20 {
		t.Errorf("digit is %d pixels tall, want 20", h)
	}
}

// TestFromImage28IsUntouched: a 28×28 image is taken as MNIST-formatted and only converted to gray.
func TestFromImage28IsUntouched(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 97)
	}
	pix, inv, err := FromImage(encodePNG(t, img), InvertAuto)
	if err != nil || inv || !bytes.Equal(pix, img.Pix) {
		t.Fatalf("FromImage(28×28) changed the pixels (inverted %v, %v)", inv, err)
	}
	pix, inv, _ = FromImage(encodePNG(t, img), InvertYes)
	if !inv || pix[5] != 255-img.Pix[5] {
		t.Fatalf("FromImage(InvertYes) did not invert")
	}
}

func TestFromImageBlank(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 50, 50))
	pix, _, err := FromImage(encodePNG(t, img), InvertNo)
	if err != nil || len(pix) != Pixels || bytes.Count(pix, []byte{0}) != Pixels {
		t.Fatalf("blank image: %v, %d pixels", err, len(pix))
	}
}
