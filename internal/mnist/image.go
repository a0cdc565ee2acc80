package mnist

// This file turns an ordinary image (a scan, a photo, a drawing saved from an HTML canvas) into
// MNIST's pixels for predict. It is not the data set: IDX files are idx.go's.

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

// MaxImageBytes bounds the memory decoding an image may take (width × height × the bytes per pixel
// of its color model, and more for progressive JPEGs and interlaced PNGs), checked from the header
// before decoding: a 12-megapixel phone photo (baseline JPEG) fits, a 40-megapixel RGBA one does not.
const MaxImageBytes = 48 << 20

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

// ErrNotImage is returned (wrapped) when a file is not a PNG, JPEG or GIF image.
var ErrNotImage = errors.New("not a PNG, JPEG or GIF image")

// Digit is an image prepared as MNIST's digits were.
type Digit struct {
	Pix      []uint8 // (28, 28): 0 background, 255 ink
	Inverted bool    // the gray levels were inverted
	// Blank is set when the image holds no ink: it is (nearly) one gray level throughout, so any
	// prediction made from it means nothing.
	Blank bool
	// Orientation is the EXIF orientation (1…8) that was applied; 0 when the file has none.
	Orientation int
}

// Framing is how an image that is not already 28×28 is fitted into the 28×28 frame: the way the
// data set's own images were made.
type Framing int

const (
	// FrameDigit is MNIST's: the ink cropped, scaled so its longer side is 20 pixels, and placed with
	// its centre of mass at the centre of the frame.
	FrameDigit Framing = iota
	// FrameWhole is Fashion-MNIST's: the content cropped, scaled so its longer side is 28 pixels (the
	// whole frame), and centred.
	FrameWhole
)

// FromImage decodes a PNG, JPEG or GIF and returns MNIST pixels (28×28, 0 background, 255 ink),
// reporting whether it inverted the gray levels. It is Prepare without the rest of Digit.
func FromImage(r io.ReadSeeker, mode Invert) (pix []uint8, inverted bool, err error) {
	d, err := Prepare(r, mode)
	return d.Pix, d.Inverted, err
}

// Prepare decodes a PNG, JPEG or GIF and prepares it as MNIST's digits were.
//
// The image is composited over white (a drawing on a transparent canvas is dark ink on white, as it
// is displayed), turned as its EXIF orientation says (JPEG), and converted to gray at most workSide
// pixels on its longer side by averaging the pixels each gray pixel covers (the work is bounded by
// the pixel count, and the memory by workSide², whatever the aspect ratio). It is inverted to light
// on dark if needed. An image that is then 28×28 is taken to be in MNIST's format as it is; any other
// is cropped to the ink, scaled so the longer side is 20 pixels, and placed in the 28×28 frame with
// its centre of mass at the centre.
func Prepare(r io.ReadSeeker, mode Invert) (Digit, error) {
	return PrepareFramed(r, mode, FrameDigit)
}

// PrepareFramed is Prepare with the framing of a data set whose images are not digits (FrameWhole for
// Fashion-MNIST's garments, which fill the frame).
func PrepareFramed(r io.ReadSeeker, mode Invert, framing Framing) (Digit, error) {
	var d Digit
	info := scanJPEG(io.LimitReader(r, maxScan))
	d.Orientation = info.orientation
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return d, err
	}
	var ihdr [29]byte
	io.ReadFull(r, ihdr[:])
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return d, err
	}
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return d, ErrNotImage
		}
		return d, fmt.Errorf("bad image header: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return d, fmt.Errorf("%s image has size %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return d, fmt.Errorf("%s image is %dx%d, more than %d pixels", format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	if n := decodedBytes(cfg, format, info, ihdr[28] == 1); n > MaxImageBytes {
		return d, fmt.Errorf("%s image is %dx%d and takes %d MB to decode, more than the %d MB limit; scale it down", format, cfg.Width, cfg.Height, n>>20, MaxImageBytes>>20)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return d, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return d, fmt.Errorf("bad %s image: %v", format, err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return d, fmt.Errorf("%s image has size %dx%d", format, b.Dx(), b.Dy())
	}

	const workSide = 280
	w, h := b.Dx(), b.Dy()
	if s := max(w, h); s > workSide {
		w, h = max(1, int(int64(w)*workSide/int64(s))), max(1, int(int64(h)*workSide/int64(s)))
	}
	gray := orient(toGray(img, w, h), info.orientation)
	lo, hi := uint8(255), uint8(0)
	for _, p := range gray.Pix {
		lo, hi = min(lo, p), max(hi, p)
	}
	d.Blank = hi-lo < blankContrast
	switch mode {
	case InvertYes:
		d.Inverted = true
	case InvertAuto:
		d.Inverted = borderGray(gray) >= 128
	}
	if d.Inverted {
		for i, p := range gray.Pix {
			gray.Pix[i] = 255 - p
		}
	}
	if gray.Rect.Dx() == Cols && gray.Rect.Dy() == Rows {
		d.Pix = gray.Pix
		return d, nil
	}
	if framing == FrameWhole {
		d.Pix = fill(gray)
	} else {
		d.Pix = centre(gray)
	}
	return d, nil
}

// blankContrast is the least difference between the darkest and the lightest gray level for an image
// to count as holding ink.
const blankContrast = 24

// decodedBytes estimates what the standard decoders allocate for an image of cfg: its pixels at the
// color model's size, plus the coefficients a progressive JPEG keeps (an int32 per sample of each
// component), and a PNG's two row buffers (which matter for a very wide image) and the pass images
// of an interlaced one.
func decodedBytes(cfg image.Config, format string, jp jpegInfo, interlaced bool) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var per int64
	switch cfg.ColorModel {
	case color.GrayModel:
		per = 1
	case color.Gray16Model:
		per = 2
	case color.RGBAModel, color.NRGBAModel:
		per = 4
	case color.YCbCrModel:
		per = 3 // 4:4:4 at most
	case color.CMYKModel:
		per = 8 // the components, then the CMYK image
	default:
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			per = 1
		} else {
			per = 8
		}
	}
	n := px * per
	switch {
	case format == "jpeg" && jp.progressive:
		n += px * 4 * int64(max(jp.components, 1))
	case format == "png":
		n += 2 * int64(cfg.Width) * per // the current and previous row, unfiltered
		if interlaced {
			n *= 2
		}
	}
	return n
}

// toGray converts img to a w×h gray image, w and h at most its own size: each gray pixel is the mean
// of the source pixels it covers, each composited over white first (transparent is white, as an
// image viewer shows it). The memory is the w×h result and its sums.
func toGray(img image.Image, w, h int) *image.Gray {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	sum := make([]uint64, w)
	rgba64, _ := img.(image.RGBA64Image)
	gray, _ := img.(*image.Gray)
	level := func(x, y int) uint64 {
		if gray != nil {
			return uint64(gray.Pix[gray.PixOffset(x, y)])
		}
		var r, g, bl, a uint32
		if rgba64 != nil {
			c := rgba64.RGBA64At(x, y)
			r, g, bl, a = uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		} else {
			r, g, bl, a = img.At(x, y).RGBA()
		}
		// Premultiplied colour over white: c + (1 − α)·white.
		r, g, bl = r+0xffff-a, g+0xffff-a, bl+0xffff-a
		return uint64((19595*r + 38470*g + 7471*bl + 1<<15) >> 24) // color.GrayModel's weights
	}
	for dy := range h {
		y0, y1 := int(int64(dy)*int64(H)/int64(h)), int(int64(dy+1)*int64(H)/int64(h))
		clear(sum)
		for y := y0; y < y1; y++ {
			for dx := range w {
				x0, x1 := int(int64(dx)*int64(W)/int64(w)), int(int64(dx+1)*int64(W)/int64(w))
				for x := x0; x < x1; x++ {
					sum[dx] += level(b.Min.X+x, b.Min.Y+y)
				}
			}
		}
		for dx := range w {
			x0, x1 := int(int64(dx)*int64(W)/int64(w)), int(int64(dx+1)*int64(W)/int64(w))
			n := uint64(x1-x0) * uint64(y1-y0)
			out.Pix[dy*out.Stride+dx] = uint8((sum[dx] + n/2) / n)
		}
	}
	return out
}

// orient turns src as EXIF orientation o says (1 or 0: as it is; 2…8: the mirrorings and quarter
// turns that put the picture upright).
func orient(src *image.Gray, o int) *image.Gray {
	if o < 2 || o > 8 {
		return src
	}
	W, H := src.Rect.Dx(), src.Rect.Dy()
	w, h := W, H
	if o >= 5 {
		w, h = H, W
	}
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var sx, sy int
			switch o {
			case 2: // mirrored left-right
				sx, sy = W-1-x, y
			case 3: // turned 180°
				sx, sy = W-1-x, H-1-y
			case 4: // mirrored top-bottom
				sx, sy = x, H-1-y
			case 5: // mirrored along the main diagonal
				sx, sy = y, x
			case 6: // needs a quarter turn clockwise
				sx, sy = y, H-1-x
			case 7: // mirrored along the other diagonal
				sx, sy = W-1-y, H-1-x
			case 8: // needs a quarter turn counter-clockwise
				sx, sy = W-1-y, x
			}
			dst.Pix[y*dst.Stride+x] = src.Pix[sy*src.Stride+sx]
		}
	}
	return dst
}

// inkLevel is the gray level above which a pixel counts as ink when cropping a digit; contentLevel,
// as content when cropping a garment, whose faint texture is part of the picture (on 300 Fashion-MNIST
// test images padded to 29×29, predict was right on 261 with 8 and 252 with 64, against 265 for the
// images as they are).
const (
	inkLevel     = 64
	contentLevel = 8
)

// inkBounds is the smallest rectangle holding every pixel above level; ok is false when there is
// none.
func inkBounds(src *image.Gray, level uint8) (r image.Rectangle, ok bool) {
	b := src.Bounds()
	x0, y0, x1, y1 := b.Max.X, b.Max.Y, b.Min.X-1, b.Min.Y-1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if src.GrayAt(x, y).Y > level {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	return image.Rect(x0, y0, x1+1, y1+1), x1 >= x0
}

// centre crops a light-on-dark image to its ink, scales it so the longer side is 20 pixels and places
// it in a 28×28 frame with its centre of mass at the middle, as MNIST's digits were prepared.
func centre(src *image.Gray) []uint8 {
	crop, ok := inkBounds(src, inkLevel)
	out := image.NewGray(image.Rect(0, 0, Cols, Rows))
	if !ok { // no ink at all
		return out.Pix
	}
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

// fill crops a light-on-dark image to its content, scales it so the longer side is 28 pixels and
// centres it in the 28×28 frame, as Fashion-MNIST's images were prepared.
func fill(src *image.Gray) []uint8 {
	crop, ok := inkBounds(src, contentLevel)
	out := image.NewGray(image.Rect(0, 0, Cols, Rows))
	if !ok {
		return out.Pix
	}
	w, h := Cols, Rows
	if crop.Dx() > crop.Dy() {
		h = max(1, Rows*crop.Dy()/crop.Dx())
	} else if crop.Dy() > crop.Dx() {
		w = max(1, Cols*crop.Dx()/crop.Dy())
	}
	ox, oy := (Cols-w)/2, (Rows-h)/2
	draw.CatmullRom.Scale(out, image.Rect(ox, oy, ox+w, oy+h), src, crop, draw.Src, nil)
	return out.Pix
}

// borderGray is the mean gray level of the image's outermost pixels.
func borderGray(img *image.Gray) uint8 {
	b := img.Bounds()
	var sum, n uint64
	add := func(x, y int) {
		sum += uint64(img.GrayAt(x, y).Y)
		n++
	}
	for x := b.Min.X; x < b.Max.X; x++ {
		add(x, b.Min.Y)
		add(x, b.Max.Y-1)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		add(b.Min.X, y)
		add(b.Max.X-1, y)
	}
	return uint8(sum / n)
}
