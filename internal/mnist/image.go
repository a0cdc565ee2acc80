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

// FromImage decodes a PNG, JPEG or GIF, converts it to grayscale, scales it to 28×28 and returns MNIST
// pixels: 0 background, 255 ink. It reports whether it inverted the image.
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
	dst := image.NewGray(image.Rect(0, 0, Cols, Rows))
	// Scale into a square without distortion: fit the longer side, centre the shorter one on the
	// background, which is taken from the image's own border.
	bg := borderGray(img)
	for i := range dst.Pix {
		dst.Pix[i] = bg
	}
	w, h := Cols, Rows
	if b.Dx() > b.Dy() {
		h = max(1, Rows*b.Dy()/b.Dx())
	} else if b.Dy() > b.Dx() {
		w = max(1, Cols*b.Dx()/b.Dy())
	}
	x0, y0 := (Cols-w)/2, (Rows-h)/2
	draw.CatmullRom.Scale(dst, image.Rect(x0, y0, x0+w, y0+h), img, b, draw.Src, nil)
	switch mode {
	case InvertYes:
		inverted = true
	case InvertAuto:
		inverted = bg >= 128
	}
	pix = dst.Pix
	if inverted {
		for i, p := range pix {
			pix[i] = 255 - p
		}
	}
	return pix, inverted, nil
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
