// grid.go draws a grid of small images with captions: test digits, misclassified digits, a layer's
// receptive fields, adversarial perturbations, augmented samples. It shows values it is given and does
// not compute them: no model, no data set, no augmentation here.
package figure

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Mapping says how a tile's values become colours.
type Mapping int

const (
	// Gray maps 0 to black and 1 to white, as MNIST's pixels are (ink is 1); values outside 0..1 are
	// clamped.
	Gray Mapping = iota
	// Signed maps values symmetrically around 0 with a diverging colour map: negative blue, zero
	// light grey, positive red, full colour at ±Tile.Limit. For weights and perturbations.
	Signed
)

// Limits of Grid.
const (
	// MaxTileSide is the most pixels on one side of a tile.
	MaxTileSide = 1024
	// DefaultMaxTiles is how many tiles Grid draws when GridOptions.MaxTiles is 0.
	DefaultMaxTiles = 256
)

// nanColor is the colour of NaN and ±Inf values in any mapping: magenta, which neither map uses.
var nanColor = color.RGBA{0xff, 0x00, 0xff, 0xff}

// Tile is one small image of a Grid.
type Tile struct {
	Pix     []float32 // (H, W) row-major: row 0 is the top
	H, W    int
	Caption string  // drawn under the image, centred; "\n" starts a new line
	Mapping Mapping // Gray or Signed
	// Limit is, for Signed, the magnitude drawn at full colour; larger ones are clamped. 0 takes this
	// tile's largest finite |value|, so each tile uses its full range; give several tiles the same
	// Limit to compare them (a perturbation beside another).
	Limit float32
	// Highlight draws the caption in red, for a wrong prediction say.
	Highlight bool
}

// GridOptions are the optional settings of Grid.
type GridOptions struct {
	// Title is drawn above the grid when not empty.
	Title string
	// Zoom is how many screen pixels show one tile pixel (nearest neighbour, so edges stay sharp);
	// 0 makes the largest tile about 84 pixels (3 for 28×28).
	Zoom int
	// MaxTiles caps the tiles drawn: past it only the first MaxTiles are drawn (and checked), and the
	// title says "first N of M". 0 means DefaultMaxTiles (256), so the 800 receptive fields of a
	// 784-800-10 net give a 16×16 grid of the first 256; pass a larger cap to get them all.
	MaxTiles int
}

// Grid writes a PNG of tiles in rows of cols (0 picks a near-square grid), each with its caption
// under it; tiles of different sizes are centred in cells of the largest size. Non-finite values are
// drawn magenta. The picture's size follows from the tiles, Zoom and the captions, and is widened (up
// to 4096 pixels) for a title wider than the tiles, which then stay centred; one over 4096 pixels a
// side or MaxPixels in all is refused (lower Zoom, MaxTiles or cols).
func Grid(w io.Writer, tiles []Tile, cols int, opt GridOptions) (err error) {
	defer guard("grid", &err)
	if len(tiles) == 0 {
		return fmt.Errorf("figure: grid: no tiles")
	}
	if opt.MaxTiles < 0 || opt.Zoom < 0 || cols < 0 {
		return fmt.Errorf("figure: grid: negative MaxTiles %d, Zoom %d or cols %d", opt.MaxTiles, opt.Zoom, cols)
	}
	limit := opt.MaxTiles
	if limit == 0 {
		limit = DefaultMaxTiles
	}
	title := opt.Title
	if len(tiles) > limit {
		note := fmt.Sprintf("first %d of %d", limit, len(tiles))
		if title == "" {
			title = note
		} else {
			title += " (" + note + ")"
		}
		tiles = tiles[:limit]
	}
	maxH, maxW := 0, 0
	for i, t := range tiles {
		if t.H < 1 || t.W < 1 || t.H > MaxTileSide || t.W > MaxTileSide {
			return fmt.Errorf("figure: grid: tile %d is %dx%d, want sides of 1..%d", i, t.H, t.W, MaxTileSide)
		}
		if len(t.Pix) != t.H*t.W {
			return fmt.Errorf("figure: grid: tile %d has %d values, want %dx%d = %d", i, len(t.Pix), t.H, t.W, t.H*t.W)
		}
		if t.Mapping != Gray && t.Mapping != Signed {
			return fmt.Errorf("figure: grid: tile %d has mapping %d, want Gray or Signed", i, t.Mapping)
		}
		if !(t.Limit >= 0) || math.IsInf(float64(t.Limit), 0) {
			return fmt.Errorf("figure: grid: tile %d has limit %g, want a finite 0 or more", i, t.Limit)
		}
		maxH, maxW = max(maxH, t.H), max(maxW, t.W)
	}
	zoom := opt.Zoom
	if zoom == 0 {
		zoom = max(1, int(math.Round(84/float64(max(maxH, maxW)))))
	}
	if cols == 0 {
		cols = int(math.Ceil(math.Sqrt(float64(len(tiles)))))
	}
	cols = min(cols, len(tiles))
	rows := (len(tiles) + cols - 1) / cols

	// Layout in whole pixels, so each tile pixel covers exactly zoom×zoom screen pixels.
	capStyle := textStyle(9, color.Black, draw.XCenter, draw.YTop)
	titleStyle := textStyle(12, color.Black, draw.XCenter, draw.YTop)
	const margin, gutter = 10, 8
	capW, capLines := 0.0, 0
	for _, t := range tiles {
		if t.Caption != "" {
			capW = math.Max(capW, capStyle.Width(t.Caption).Dots(dpi))
			capLines = max(capLines, strings.Count(strings.TrimRight(t.Caption, "\n"), "\n")+1)
		}
	}
	if maxW*zoom > 4096 || maxH*zoom > 4096 { // bound the products below before they can overflow
		return fmt.Errorf("figure: grid: %dx%d tiles at zoom %d are over 4096 pixels", maxH, maxW, zoom)
	}
	lineH := int(math.Ceil(capStyle.Height("Ag").Dots(dpi)))
	cellW := max(maxW*zoom, int(math.Ceil(capW))+4)
	capH := 0
	if capLines > 0 {
		capH = 3 + capLines*lineH
	}
	cellH := maxH*zoom + capH
	titleH := 0
	if title != "" {
		titleH = int(math.Ceil(titleStyle.Height(title).Dots(dpi))) + 8
	}
	gridW := cols*cellW + (cols-1)*gutter
	width := 2*margin + gridW
	if title != "" { // a title wider than the tiles widens the picture; the tiles stay centred under it
		width = max(width, min(4096, 2*margin+int(math.Ceil(titleStyle.Width(title).Dots(dpi)))))
	}
	left := (width - gridW) / 2
	height := 2*margin + titleH + rows*cellH + (rows-1)*gutter
	if cols > 4096 || rows > 4096 || checkSize("grid", width, height, 1) != nil {
		return fmt.Errorf("figure: grid: %d tiles in %d columns at zoom %d make %dx%d pixels, over 4096 a side or %d in all; lower Zoom, MaxTiles or cols",
			len(tiles), cols, zoom, width, height, MaxPixels)
	}

	cv, dc := newCanvas(width, height)
	if title != "" {
		dc.FillText(titleStyle, vg.Point{X: px(float64(width) / 2), Y: px(float64(height - margin))}, title)
	}
	signed := signedPalette()
	frame := draw.LineStyle{Color: color.Gray{0xc0}, Width: px(1)}
	for i, t := range tiles {
		r, c := i/cols, i%cols
		// The cell's top-left corner in pixels from the top-left of the picture.
		x0 := left + c*(cellW+gutter)
		y0 := margin + titleH + r*(cellH+gutter)
		ix := x0 + (cellW-t.W*zoom)/2
		iy := y0 + (maxH-t.H)*zoom/2
		rect := vg.Rectangle{
			Min: vg.Point{X: px(float64(ix)), Y: px(float64(height - iy - t.H*zoom))},
			Max: vg.Point{X: px(float64(ix + t.W*zoom)), Y: px(float64(height - iy))},
		}
		dc.DrawImage(rect, tileImage(t, signed))
		// A one-pixel frame on the ring of pixels just outside the image (a line is centred on its path).
		half := vg.Point{X: px(0.5), Y: px(0.5)}
		dc.SetLineStyle(frame)
		dc.Stroke(vg.Rectangle{Min: rect.Min.Sub(half), Max: rect.Max.Add(half)}.Path())
		if t.Caption != "" {
			st := capStyle
			if t.Highlight {
				st.Color = color.RGBA{0xc0, 0x10, 0x10, 0xff}
			}
			top := px(float64(height - (y0 + maxH*zoom + 3)))
			dc.FillText(st, vg.Point{X: px(float64(x0) + float64(cellW)/2), Y: top}, t.Caption)
		}
	}
	return writePNG(w, cv)
}

// tileImage maps a tile's values to an image of its own size (one image pixel per value).
func tileImage(t Tile, signed []color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, t.W, t.H))
	lim := float64(t.Limit)
	if t.Mapping == Signed && lim == 0 {
		for _, v := range t.Pix {
			if a := math.Abs(float64(v)); !math.IsInf(a, 0) && a > lim {
				lim = a
			}
		}
	}
	for y := range t.H {
		for x := range t.W {
			v := float64(t.Pix[y*t.W+x])
			var c color.RGBA
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				c = nanColor
			case t.Mapping == Gray:
				g := uint8(math.Round(255 * math.Min(1, math.Max(0, v))))
				c = color.RGBA{g, g, g, 0xff}
			case lim == 0: // an all-zero signed tile
				c = signed[len(signed)/2]
			default:
				f := math.Min(1, math.Max(-1, v/lim)) // -1..1
				c = signed[int(math.Round((f+1)/2*float64(len(signed)-1)))]
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// signedPalette is moreland's smooth blue-red diverging map in 101 steps (2 % of the range each, finer
// than the eye tells apart, and few enough for a paletted PNG); the middle one, 0, is a light grey.
func signedPalette() []color.RGBA {
	cols := moreland.SmoothBlueRed().Palette(101).Colors()
	out := make([]color.RGBA, len(cols))
	for i, c := range cols {
		r, g, b, _ := c.RGBA()
		out[i] = color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
	}
	return out
}
