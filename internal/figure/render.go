// render.go holds what the three pictures share: the canvas (a vgimg raster of a given pixel size),
// the PNG encoding, fonts and text styles, and the guard that turns a panic inside gonum/plot into an
// error. It is not a drawing toolkit of its own: the drawing is gonum/plot's.
package figure

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"slices"

	"git.sr.ht/~sbinet/gg"
	xdraw "golang.org/x/image/draw"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// dpi is the resolution of every canvas: sizes are given in pixels, fonts in points (1 pt = 4/3 px).
const dpi = 96

// MaxPixels bounds the area of any picture (width × height), 16 megapixels: a 4096×4096 canvas is 64
// MiB of RGBA. Options that would exceed it are refused, never clipped.
const MaxPixels = 1 << 24

// px converts pixels to vg lengths at dpi.
func px(n float64) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// newCanvas returns a white w×h-pixel raster canvas. Images are drawn with nearest-neighbour
// scaling, so a 28×28 tile blown up stays sharp; lines and text are anti-aliased as usual.
func newCanvas(w, h int) (*vgimg.Canvas, draw.Canvas) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	ctx := gg.NewContextForRGBA(img)
	ctx.SetLineCapButt()
	ctx.InvertY()
	ctx.SetInterpolator(xdraw.NearestNeighbor)
	c := vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(dpi))
	return c, draw.New(c)
}

// writePNG encodes the canvas with the best compression. A picture with few colours is written
// paletted, which is about a third of the size of RGBA: exactly when it has at most 256 colours;
// when only its greys (anti-aliased text on white) push it past 256, with the other colours exact
// and the greys rounded to the nearest of the levels left, an error of at most a level or two out of
// 255. Anything else is written as RGBA.
func writePNG(w io.Writer, c *vgimg.Canvas) error {
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	img := c.Image().(*image.RGBA) // newCanvas made it
	if p := paletted(img); p != nil {
		return enc.Encode(w, p)
	}
	return enc.Encode(w, img)
}

// paletted returns img as an image.Paletted as writePNG describes, or nil when it has too many
// colours. Pixels are opaque (the canvas starts white).
func paletted(img *image.RGBA) *image.Paletted {
	const maxColours = 192 // colours other than grey that may be kept exact beside the greys
	colours := map[[3]uint8]bool{}
	greys := [256]bool{}
	nGreys := 0
	b := img.Bounds()
	for y := range b.Dy() {
		row := img.Pix[y*img.Stride:]
		for x := range b.Dx() {
			p := [3]uint8{row[4*x], row[4*x+1], row[4*x+2]}
			switch {
			case p[0] == p[1] && p[1] == p[2]:
				if !greys[p[0]] {
					greys[p[0]] = true
					nGreys++
				}
			case !colours[p]:
				if len(colours) == maxColours {
					return nil
				}
				colours[p] = true
			}
		}
	}
	// Every grey level maps to itself when they fit, else to the nearest of 256-len(colours) levels
	// spread evenly over 0..255 (black and white among them).
	var pal color.Palette
	var greyIndex [256]uint8
	if nGreys+len(colours) <= 256 {
		for g := range 256 {
			if greys[g] {
				greyIndex[g] = uint8(len(pal))
				pal = append(pal, color.RGBA{uint8(g), uint8(g), uint8(g), 0xff})
			}
		}
	} else {
		levels := 256 - len(colours)
		for k := range levels {
			g := uint8((k*255 + (levels-1)/2) / (levels - 1))
			pal = append(pal, color.RGBA{g, g, g, 0xff})
		}
		for g := range 256 {
			greyIndex[g] = uint8((g*(levels-1) + 127) / 255)
		}
	}
	keys := make([][3]uint8, 0, len(colours))
	for p := range colours {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b [3]uint8) int { return bytes.Compare(a[:], b[:]) }) // same bytes every run
	colourIndex := map[[3]uint8]uint8{}
	for _, p := range keys {
		colourIndex[p] = uint8(len(pal))
		pal = append(pal, color.RGBA{p[0], p[1], p[2], 0xff})
	}
	out := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), pal)
	for y := range b.Dy() {
		row := img.Pix[y*img.Stride:]
		for x := range b.Dx() {
			p := [3]uint8{row[4*x], row[4*x+1], row[4*x+2]}
			if p[0] == p[1] && p[1] == p[2] {
				out.Pix[y*out.Stride+x] = greyIndex[p[0]]
			} else {
				out.Pix[y*out.Stride+x] = colourIndex[p]
			}
		}
	}
	return out
}

// sans is the typeface of every label: Liberation Sans, which gonum/plot embeds.
func sans(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Length(size)}
}

// textStyle returns a text style in Liberation Sans of size points, aligned as given.
func textStyle(size float64, c color.Color, xa text.XAlignment, ya text.YAlignment) text.Style {
	return text.Style{Color: c, Font: sans(size), XAlign: xa, YAlign: ya, Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot whose title, axis labels, tick labels and legend use Liberation Sans.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(12)
	p.Title.Padding = px(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(11)
		a.Tick.Label.Font = sans(10)
	}
	p.Legend.TextStyle.Font = sans(10)
	return p
}

// checkSize refuses pictures with a side outside [min, 4096] or an area over MaxPixels.
func checkSize(what string, w, h, min int) error {
	if w < min || h < min || w > 4096 || h > 4096 || w*h > MaxPixels {
		return fmt.Errorf("figure: %s: %dx%d pixels, want each side in %d..4096 and at most %d pixels", what, w, h, min, MaxPixels)
	}
	return nil
}

// guard turns a panic inside gonum/plot into an error, so that no input can crash the caller. The
// inputs are validated before drawing; this only catches what the validation missed.
func guard(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("figure: %s: drawing failed: %v", what, r)
	}
}
