// curves.go draws training curves: loss and accuracy per epoch for one or more runs, side by side.
// It draws what the Runs hold and nothing else: it does not smooth, resample or read files.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// MaxRuns is the most runs one Curves picture takes: each run has its own colour, and past ten
// colours they can no longer be told apart.
const MaxRuns = 10

// runColors are the ten colours of runs, in order (the "category10" set: distinct, none pale).
var runColors = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// split is one data split of a run (train, val, test, robust): its name, its dash pattern, and how to
// read its loss and accuracy from an Epoch (nil where the split has no such number).
type split struct {
	name     string
	dashes   []vg.Length
	loss     func(e *Epoch) float64
	accuracy func(e *Epoch) float64
}

var splits = []split{
	{"train", []vg.Length{px(7), px(4)},
		func(e *Epoch) float64 { return e.TrainLoss }, func(e *Epoch) float64 { return e.TrainAccuracy }},
	{"validation", []vg.Length{px(2), px(3)},
		func(e *Epoch) float64 { return e.ValLoss }, func(e *Epoch) float64 { return e.ValAccuracy }},
	{"test", nil,
		func(e *Epoch) float64 { return e.TestLoss }, func(e *Epoch) float64 { return e.TestAccuracy }},
	{"test, adversarial", []vg.Length{px(9), px(3), px(2), px(3)},
		nil, func(e *Epoch) float64 { return e.RobustAccuracy }},
}

// CurvesOptions are the optional settings of Curves.
type CurvesOptions struct {
	// Width and Height are the picture's size in pixels; 0 means 1200×500.
	Width, Height int
	// Title is drawn above both panels when not empty.
	Title string
}

// Curves writes a PNG with two panels, loss (left) and accuracy in % (right), against the epoch. Each
// run has its own colour and each split its own dash pattern: train dashed, validation dotted, test
// solid, adversarial test accuracy (robust_accuracy) dash-dotted. A split that a run lacks is not
// drawn; lr, seconds and samples_per_second are not drawn at all. Points get a marker while a run has
// at most 30 epochs, so a single epoch still shows. The legend under the panels names the runs by their
// labels (shortened from the left past 60 characters) and the splits by their dash patterns. It takes
// 1..MaxRuns runs, each with epochs in strictly ascending order, as ReadRun returns them.
func Curves(w io.Writer, runs []Run, opt CurvesOptions) (err error) {
	defer guard("curves", &err)
	if opt.Width == 0 && opt.Height == 0 {
		opt.Width, opt.Height = 1200, 500
	}
	if err := checkSize("curves", opt.Width, opt.Height, 300); err != nil {
		return err
	}
	if err := checkRuns(runs); err != nil {
		return err
	}

	loss, acc := newPlot("loss"), newPlot("accuracy (%)")
	present := make([]bool, len(splits)) // splits drawn for at least one run, for the legend
	for i, run := range runs {
		col := runColors[i]
		for s, sp := range splits {
			if sp.loss != nil && addSeries(loss, run.Epochs, sp.loss, 1, col, sp.dashes) {
				present[s] = true
			}
			if sp.accuracy != nil && addSeries(acc, run.Epochs, sp.accuracy, 100, col, sp.dashes) {
				present[s] = true
			}
		}
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.X.Label.Text = "epoch"
		p.X.Tick.Marker = plot.TickerFunc(epochTicks)
		p.Y.Tick.Marker = plot.TickerFunc(valueTicks)
		g := plotter.NewGrid()
		g.Vertical.Color, g.Horizontal.Color = color.Gray{0xd8}, color.Gray{0xd8}
		p.Add(g)
		padRange(&p.Y.Min, &p.Y.Max)
		p.X.Min -= math.Max(0.25, (p.X.Max-p.X.Min)*0.02) // keep the first and last points off the frame
		p.X.Max += math.Max(0.25, (p.X.Max-p.X.Min)*0.02)
	}
	loss.Y.Min = math.Max(loss.Y.Min, 0)
	acc.Y.Max = math.Min(acc.Y.Max, 100.5)

	cv, dc := newCanvas(opt.Width, opt.Height)
	if opt.Title != "" {
		st := textStyle(13, color.Black, draw.XCenter, draw.YTop)
		dc.FillText(st, vg.Point{X: dc.Center().X, Y: dc.Max.Y - px(6)}, opt.Title)
		dc.Max.Y -= st.Height(opt.Title) + px(10)
	}
	dc.Min.Y += drawCurvesLegend(dc, runs, present)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadTop: px(8), PadBottom: px(4), PadLeft: px(8), PadRight: px(16), PadX: px(36)}
	plots := [][]*plot.Plot{{loss, acc}}
	for j, row := range plot.Align(plots, tiles, dc) {
		for i, c := range row {
			plots[j][i].Draw(c)
		}
	}
	return writePNG(w, cv)
}

// checkRuns validates what Curves draws: the count of runs, and per run 1..MaxLines epochs in strictly
// ascending order whose numbers are finite or NaN (absent) and whose accuracies lie in 0..1.
func checkRuns(runs []Run) error {
	if len(runs) == 0 || len(runs) > MaxRuns {
		return fmt.Errorf("figure: curves: %d runs, want 1..%d", len(runs), MaxRuns)
	}
	for i, run := range runs {
		name := run.Label
		if name == "" {
			name = "run " + strconv.Itoa(i+1)
		}
		if len(run.Epochs) == 0 || len(run.Epochs) > MaxLines {
			return fmt.Errorf("figure: curves: %s: %d epochs, want 1..%d", name, len(run.Epochs), MaxLines)
		}
		drawn := false
		for k := range run.Epochs {
			e := &run.Epochs[k]
			if k > 0 && e.Epoch <= run.Epochs[k-1].Epoch {
				return fmt.Errorf("figure: curves: %s: epoch %d follows epoch %d; epochs must ascend", name, e.Epoch, run.Epochs[k-1].Epoch)
			}
			for _, sp := range splits {
				if sp.loss != nil {
					if v := sp.loss(e); math.IsInf(v, 0) || v < 0 {
						return fmt.Errorf("figure: curves: %s: epoch %d: %s loss %g out of range", name, e.Epoch, sp.name, v)
					}
				}
				if v := sp.accuracy(e); math.IsInf(v, 0) || v < 0 || v > 1 {
					return fmt.Errorf("figure: curves: %s: epoch %d: %s accuracy %g, want a fraction in 0..1", name, e.Epoch, sp.name, v)
				}
				drawn = drawn || !math.IsNaN(sp.accuracy(e)) || (sp.loss != nil && !math.IsNaN(sp.loss(e)))
			}
		}
		if !drawn {
			return fmt.Errorf("figure: curves: %s: no loss or accuracy to draw", name)
		}
	}
	return nil
}

// addSeries adds one split of one run to p: a line through the epochs where get is not NaN, values
// multiplied by scale, with markers while there are at most 30 points. It reports whether it drew any.
func addSeries(p *plot.Plot, epochs []Epoch, get func(*Epoch) float64, scale float64, col color.Color, dashes []vg.Length) bool {
	var xys plotter.XYs
	for k := range epochs {
		if v := get(&epochs[k]); !math.IsNaN(v) {
			xys = append(xys, plotter.XY{X: float64(epochs[k].Epoch), Y: v * scale})
		}
	}
	if len(xys) == 0 {
		return false
	}
	l, err := plotter.NewLine(xys)
	if err != nil { // cannot happen: the values were checked finite
		panic(err)
	}
	l.LineStyle = draw.LineStyle{Color: col, Width: px(2), Dashes: dashes}
	p.Add(l)
	if len(xys) <= 30 {
		s, _ := plotter.NewScatter(xys)
		s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: px(2.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
	return true
}

// padRange widens [lo, hi] by 5 % on each side, and by a unit-sized margin when it is a single value,
// so no curve runs along the frame.
func padRange(lo, hi *float64) {
	if math.IsInf(*lo, 0) || math.IsInf(*hi, 0) { // nothing plotted
		*lo, *hi = 0, 1
		return
	}
	d := (*hi - *lo) * 0.05
	if d == 0 {
		d = math.Max(math.Abs(*hi)*0.05, 0.01)
	}
	*lo -= d
	*hi += d
}

// epochTicks puts labelled ticks on whole epochs only, at most twelve of them.
func epochTicks(min, max float64) []plot.Tick { return niceTicks(min, max, 8, 1) }

// valueTicks puts at most nine labelled ticks on round values.
func valueTicks(min, max float64) []plot.Tick { return niceTicks(min, max, 6, 0) }

// niceTicks returns ticks at the multiples of a round step (1, 2 or 5 times a power of ten, and
// at least minStep) that lie in [min, max]: the smallest such step that gives at most 1.5 × target
// ticks. Labels show as many decimals as the step needs.
func niceTicks(min, max float64, target int, minStep float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return nil
	}
	raw := (max - min) / (1.5 * float64(target))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = math.Max(step, minStep)
	decimals := int(math.Max(0, -math.Floor(math.Log10(step)+1e-9))) // 0.05 needs 2, 0.2 needs 1
	var ticks []plot.Tick
	for i := math.Ceil(min / step); i*step <= max+step*1e-9; i++ {
		v := i*step + 0 // + 0 turns -0 into 0
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// drawCurvesLegend draws the legend along the bottom of c, wrapping onto more rows when needed: one
// entry per run (its colour, solid, and its label), then one per split drawn (its dash pattern in
// grey). It returns the height it used.
func drawCurvesLegend(c draw.Canvas, runs []Run, present []bool) vg.Length {
	type entry struct {
		label  string
		col    color.Color
		dashes []vg.Length
	}
	var entries []entry
	for i, run := range runs {
		label := run.Label
		if label == "" {
			label = "run " + strconv.Itoa(i+1)
		}
		entries = append(entries, entry{shorten(label, 60), runColors[i], nil})
	}
	for s, sp := range splits {
		if present[s] {
			entries = append(entries, entry{sp.name, color.Gray{0x40}, sp.dashes})
		}
	}

	st := textStyle(10, color.Black, draw.XLeft, draw.YCenter)
	const swatch, gap, sep, margin = 34, 6, 22, 12 // pixels
	rowH := st.Height("Ag") + px(8)
	// Lay the entries out in rows, left to right, then centre each row.
	type placed struct {
		e     entry
		x     vg.Length // offset within its row
		width vg.Length
	}
	var rows [][]placed
	var rowW []vg.Length
	avail := c.Max.X - c.Min.X - 2*px(margin)
	for _, e := range entries {
		width := px(swatch+gap) + st.Width(e.label)
		if len(rows) == 0 || rowW[len(rows)-1]+px(sep)+width > avail {
			rows = append(rows, nil)
			rowW = append(rowW, -px(sep))
		}
		r := len(rows) - 1
		rows[r] = append(rows[r], placed{e, rowW[r] + px(sep), width})
		rowW[r] += px(sep) + width
	}
	height := vg.Length(len(rows))*rowH + px(10)
	for r, row := range rows {
		y := c.Min.Y + height - px(5) - (vg.Length(r)+0.5)*rowH
		x0 := c.Center().X - rowW[r]/2
		for _, p := range row {
			x := x0 + p.x
			c.StrokeLine2(draw.LineStyle{Color: p.e.col, Width: px(2.5), Dashes: p.e.dashes}, x, y, x+px(swatch), y)
			c.FillText(st, vg.Point{X: x + px(swatch+gap), Y: y}, p.e.label)
		}
	}
	return height
}

// shorten cuts s to at most n runes, keeping its end (the file name of a path) behind an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return "…" + string(r[len(r)-(n-1):])
}
