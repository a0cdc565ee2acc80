// confusion.go draws a confusion matrix as a heat map with the count written in each cell. It takes
// the counts as they are; it does not evaluate a model or normalise rows.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Limits of Confusion: classes per side, and the largest count of one cell (a trillion: larger sums
// are no test set).
const (
	MaxClasses = 64
	maxCount   = 1_000_000_000_000
)

// ConfusionOptions are the optional settings of Confusion.
type ConfusionOptions struct {
	// Title is drawn above the matrix; "" gives "accuracy A % on N images", computed from the counts.
	Title string
	// Width and Height are the picture's size in pixels; 0 sizes it to the class count (630×670 for 10
	// classes).
	Width, Height int
}

// Confusion writes a PNG of the n×n confusion matrix cm, rows the true class and columns the predicted
// one (cm[true][pred]), class 0 at the top left. Cell colour grows with log(1 + count), so that the
// few errors still show beside a diagonal of thousands; each cell has its count written in it, in
// white on dark cells. classNames label both axes (nil numbers the classes from 0; names past 24
// characters are shortened); the column names are slanted when they are too wide to stand side by
// side. It takes 1..MaxClasses classes and counts of 0..10^12.
func Confusion(w io.Writer, cm [][]int, classNames []string, opt ConfusionOptions) (err error) {
	defer guard("confusion", &err)
	n := len(cm)
	if n == 0 || n > MaxClasses {
		return fmt.Errorf("figure: confusion: %d classes, want 1..%d", n, MaxClasses)
	}
	if classNames != nil && len(classNames) != n {
		return fmt.Errorf("figure: confusion: %d class names for %d classes", len(classNames), n)
	}
	var total, correct, most int
	for i, row := range cm {
		if len(row) != n {
			return fmt.Errorf("figure: confusion: row %d has %d counts, want %d", i, len(row), n)
		}
		for j, v := range row {
			if v < 0 || v > maxCount {
				return fmt.Errorf("figure: confusion: count [%d][%d] is %d, want 0..%d", i, j, v, maxCount)
			}
			total += v
			most = max(most, v)
			if i == j {
				correct += v
			}
		}
	}
	if opt.Width == 0 && opt.Height == 0 {
		opt.Width, opt.Height = confusionSize(n)
	}
	if err := checkSize("confusion", opt.Width, opt.Height, 200); err != nil {
		return err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
		if classNames != nil {
			names[i] = shorten(classNames[i], 24)
		}
	}
	title := opt.Title
	if title == "" {
		title = "no images"
		if total > 0 {
			title = fmt.Sprintf("accuracy %.2f %% on %d images", 100*float64(correct)/float64(total), total)
		}
	}

	p := newPlot(title)
	p.Title.TextStyle.Font = sans(13)
	p.X.Label.Text, p.Y.Label.Text = "predicted class", "true class"
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Length, p.Y.Tick.Length = px(4), px(4)
	var xt, yt []plot.Tick
	for i, name := range names {
		xt = append(xt, plot.Tick{Value: float64(i), Label: name})
		yt = append(yt, plot.Tick{Value: float64(n - 1 - i), Label: name}) // row 0 at the top
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.ConstantTicks(xt), plot.ConstantTicks(yt)

	// Colour: log(1+count) over a white-to-dark-blue ramp of rising darkness.
	ramp, err := moreland.NewLuminance([]color.Color{
		color.NRGBA{0x08, 0x30, 0x6b, 0xff}, color.NRGBA{0x42, 0x92, 0xc6, 0xff}, color.NRGBA{0xf7, 0xfb, 0xff, 0xff}})
	if err != nil {
		return fmt.Errorf("figure: confusion: colour ramp: %v", err)
	}
	pal := ramp.Palette(256).Colors()
	for i, j := 0, len(pal)-1; i < j; i, j = i+1, j-1 { // light for few, dark for many
		pal[i], pal[j] = pal[j], pal[i]
	}
	g := &countGrid{cm: cm}
	hm := plotter.NewHeatMap(g, paletteOf(pal))
	hm.Min, hm.Max = 0, math.Max(math.Log1p(float64(most)), 1)
	p.Add(hm)

	// The cell width decides whether the column names must slant; then the plot is cropped so that
	// the cells are square, and their size decides the font of the counts.
	cv, dc := newCanvas(opt.Width, opt.Height)
	dc = draw.Crop(dc, px(8), -px(12), px(8), -px(10))
	widestName := vg.Length(0)
	for _, name := range names {
		widestName = max(widestName, p.X.Tick.Label.Width(name))
	}
	if da := p.DataCanvas(dc); widestName > (da.Max.X-da.Min.X)/vg.Length(n)*0.95 {
		// Slanted names run in parallel bands cell·sin(angle) apart; keep that 1.4 lines at least.
		cellW := (da.Max.X - da.Min.X) / vg.Length(n)
		sin := math.Min(1, float64(1.4*p.X.Tick.Label.Height("Ag")/cellW))
		p.X.Tick.Label.Rotation = math.Max(math.Pi/6, math.Asin(sin))
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YTop
	}
	da := p.DataCanvas(dc)
	if d := (da.Max.X - da.Min.X) - (da.Max.Y - da.Min.Y); d > 0 {
		dc = draw.Crop(dc, d/2, -d/2, 0, 0)
	} else {
		dc = draw.Crop(dc, 0, 0, -d/2, d/2)
	}
	da = p.DataCanvas(dc)
	cell := min(da.Max.X-da.Min.X, da.Max.Y-da.Min.Y) / vg.Length(n)
	// The counts' font: 80 % of a cell wide for the largest count (the tick font is 10 points), at
	// most 11 points. Below 5 points they are not readable: then only the colours show.
	size := math.Min(11, 10*float64(cell*0.8/p.X.Tick.Label.Width(strconv.Itoa(most))))
	if size >= 5 {
		var labels plotter.XYLabels
		var styles []text.Style
		for r := range n {
			for c := range n {
				v := cm[r][c]
				labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(n - 1 - r)})
				labels.Labels = append(labels.Labels, strconv.Itoa(v))
				ink := color.Color(color.Black)
				switch {
				case v == 0:
					ink = color.Gray{0xb0}
				case luminance(pal[int(math.Log1p(float64(v))/hm.Max*float64(len(pal)-1)+0.5)]) < 0.45:
					ink = color.White
				}
				styles = append(styles, textStyle(size, ink, draw.XCenter, draw.YCenter))
			}
		}
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return fmt.Errorf("figure: confusion: %v", err)
		}
		l.TextStyle = styles
		p.Add(l)
	}
	p.Draw(dc)
	return writePNG(w, cv)
}

// confusionSize is the default picture size for n classes: about 48 pixels per cell plus room for the
// names and the title.
func confusionSize(n int) (w, h int) {
	cell := 48
	if n > 20 {
		cell = 28
	}
	w, h = max(150+n*cell, 400), max(190+n*cell, 440)
	return min(w, 4096), min(h, 4096)
}

// countGrid is a confusion matrix as a plotter.GridXYZ: column c, row r (counted from the bottom) is
// log(1 + cm[n-1-r][c]).
type countGrid struct{ cm [][]int }

func (g *countGrid) Dims() (c, r int)   { return len(g.cm), len(g.cm) }
func (g *countGrid) X(c int) float64    { return float64(c) }
func (g *countGrid) Y(r int) float64    { return float64(r) }
func (g *countGrid) Z(c, r int) float64 { return math.Log1p(float64(g.cm[len(g.cm)-1-r][c])) }

// paletteOf makes a palette.Palette of a colour slice.
type paletteOf []color.Color

func (p paletteOf) Colors() []color.Color { return p }

// luminance is the relative luminance of c in 0..1 (sRGB weights, no gamma).
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}
