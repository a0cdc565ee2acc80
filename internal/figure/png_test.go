// Helpers the picture tests share: decode a PNG and check its size, measure how far it is from blank,
// and count the pixels that differ between two pictures or that have one exact colour.
package figure

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minVariance is the least luminance variance (luminance in 0..1) of a picture that is not blank. A
// white page with a few thin black lines is already above 1e-3; a blank one is 0.
const minVariance = 1e-3

// decode decodes a PNG and checks that it is w×h pixels. With FIGURE_DUMP=DIR in the environment it
// also writes the PNG to DIR, named after what, to be looked at.
func decode(t *testing.T, what string, b []byte, w, h int) image.Image {
	t.Helper()
	if dir := os.Getenv("FIGURE_DUMP"); dir != "" {
		name := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(t.Name()+"-"+what))
		if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: png.Decode = %v, want a PNG", what, err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("%s: size %dx%d, want %dx%d", what, got.X, got.Y, w, h)
	}
	return img
}

// variance is the variance of the pixels' luminance, in 0..1 units.
func variance(img image.Image) float64 {
	var s, s2, n float64
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			l := float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y) / 255
			s += l
			s2 += l * l
			n++
		}
	}
	m := s / n
	return s2/n - m*m
}

// checkNotBlank fails unless the picture's luminance variance is above minVariance.
func checkNotBlank(t *testing.T, what string, img image.Image) {
	t.Helper()
	v := variance(img)
	t.Logf("%s: luminance variance %.4f", what, v)
	if v <= minVariance {
		t.Errorf("%s: luminance variance %g, want more than %g (the picture is blank)", what, v, minVariance)
	}
}

// differing counts the pixels that differ between two pictures of the same size.
func differing(a, b image.Image) int {
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				n++
			}
		}
	}
	return n
}

// countColor counts the pixels of exactly colour c (opaque) in img.
func countColor(img image.Image, c color.RGBA) int {
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			if uint8(r1>>8) == c.R && uint8(g1>>8) == c.G && uint8(b1>>8) == c.B {
				n++
			}
		}
	}
	return n
}

// decodeAny decodes a PNG of any size.
func decodeAny(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
