package mnist

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register GIF for image.Decode
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"

	"golang.org/x/image/draw"
)

// MaxImagePixels bounds the width·height of an image FromImage decodes, so that a hostile file cannot
// make it allocate gigabytes: the header is read first and checked against this.
const MaxImagePixels = 40_000_000

// Invert says whether FromImage inverts the gray levels.
type Invert int

// The invert modes: InvertAuto inverts when the image's border is light (a dark digit on a light
// background, the opposite of MNIST's convention).
const (
	InvertAuto Invert = iota
	InvertYes
	InvertNo
)

// ParseInvert maps "auto", "yes" or "no" to an Invert.
func ParseInvert(s string) (Invert, error) {
	switch s {
	case "auto":
		return InvertAuto, nil
	case "yes":
		return InvertYes, nil
	case "no":
		return InvertNo, nil
	}
	return 0, fmt.Errorf("mnist: invert %q, want auto, yes or no", s)
}

// FromImage decodes a PNG, JPEG or GIF and returns MNIST pixels (28×28, 0 background, 255 ink),
// reporting whether it inverted the gray levels.
//
// An image that is already 28×28 is only converted to gray (and inverted if needed): it is taken to
// be in MNIST's format. Any other image is prepared the way MNIST's digits were: converted to gray,
// inverted to light-on-dark if needed, cropped to the ink, scaled so the longer side is 20 pixels,
// and placed in the 28×28 frame with its centre of mass at the centre.
func FromImage(r io.ReadSeeker, mode Invert) (pix []uint8, inverted bool, err error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, false, errors.New("not a PNG, JPEG or GIF image")
		}
		return nil, false, fmt.Errorf("bad image header: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, false, fmt.Errorf("%s image has size %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, false, fmt.Errorf("%s image is %dx%d, more than %d pixels", format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, false, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, false, fmt.Errorf("bad %s image: %v", format, err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, false, fmt.Errorf("%s image has size %dx%d", format, b.Dx(), b.Dy())
	}
	switch mode {
	case InvertYes:
		inverted = true
	case InvertAuto:
		inverted = borderGray(img) >= 128
	}

	// Gray, light on dark, at most workSide pixels on a side (bounded work for big photos).
	const workSide = 280
	w, h := b.Dx(), b.Dy()
	if s := max(w, h); s > workSide {
		w, h = max(1, w*workSide/s), max(1, h*workSide/s)
	}
	gray := image.NewGray(image.Rect(0, 0, w, h))
	if w == b.Dx() && h == b.Dy() {
		draw.Draw(gray, gray.Bounds(), img, b.Min, draw.Src)
	} else {
		draw.CatmullRom.Scale(gray, gray.Bounds(), img, b, draw.Src, nil)
	}
	if inverted {
		for i, p := range gray.Pix {
			gray.Pix[i] = 255 - p
		}
	}
	if w == Cols && h == Rows {
		return gray.Pix, inverted, nil
	}
	return centre(gray), inverted, nil
}

// inkLevel is the gray level above which a pixel counts as ink when cropping.
const inkLevel = 64

// centre crops a light-on-dark image to its ink, scales it so the longer side is 20 pixels and places
// it in a 28×28 frame with its centre of mass at the middle, as MNIST's digits were prepared.
func centre(src *image.Gray) []uint8 {
	b := src.Bounds()
	x0, y0, x1, y1 := b.Max.X, b.Max.Y, b.Min.X-1, b.Min.Y-1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if src.GrayAt(x, y).Y > inkLevel {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	out := image.NewGray(image.Rect(0, 0, Cols, Rows))
	if x1 < x0 { // no ink at all
		return out.Pix
	}
	crop := image.Rect(x0, y0, x1+1, y1+1)
	const box = 20
	w, h := box, box
	if crop.Dx() > crop.Dy() {
		h = max(1, box*crop.Dy()/crop.Dx())
	} else if crop.Dy() > crop.Dx() {
		w = max(1, box*crop.Dx()/crop.Dy())
	}
	digit := image.NewGray(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(digit, digit.Bounds(), src, crop, draw.Src, nil)
	// Centre of mass of the scaled digit, then the offset that puts it at (14, 14).
	var mass, mx, my float64
	for y := range h {
		for x := range w {
			v := float64(digit.GrayAt(x, y).Y)
			mass += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
		}
	}
	ox, oy := (Cols-w)/2, (Rows-h)/2
	if mass > 0 {
		ox = int(math.Round(float64(Cols)/2 - mx/mass))
		oy = int(math.Round(float64(Rows)/2 - my/mass))
	}
	ox, oy = min(max(ox, 0), Cols-w), min(max(oy, 0), Rows-h)
	draw.Draw(out, image.Rect(ox, oy, ox+w, oy+h), digit, image.Point{}, draw.Src)
	return out.Pix
}

// borderGray is the mean gray level of the image's outermost pixels.
func borderGray(img image.Image) uint8 {
	b := img.Bounds()
	var sum, n uint64
	add := func(x, y int) {
		sum += uint64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		n++
	}
	step := max(1, max(b.Dx(), b.Dy())/256) // sample long borders
	for x := b.Min.X; x < b.Max.X; x += step {
		add(x, b.Min.Y)
		add(x, b.Max.Y-1)
	}
	for y := b.Min.Y; y < b.Max.Y; y += step {
		add(b.Min.X, y)
		add(b.Max.X-1, y)
	}
	return uint8(sum / n)
}
