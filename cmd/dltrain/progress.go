package main

// This file is train's display. Results go to stdout, where `dltrain train > train.log` captures
// them: one line per epoch (on stderr with --json, whose stdout is one object) and the final summary.
// Progress goes to stderr: the banner and notes, and, when stderr is a terminal, one progress line
// that is redrawn in place. The progress line is fitted to the terminal's width, asked again at every
// draw, so that it never wraps (a wrapped line cannot be redrawn in place and leaves stray lines): it
// shows the epoch, a bar (drawn by schollz/progressbar), the running loss and accuracy, samples/s and
// the time left for the whole run, dropping words before numbers as the terminal narrows. During an
// epoch's test pass it says "testing". Anything else written to stderr while a progress line is shown
// (a note, the interrupt message) clears that line first. Lines of results are broken between fields,
// never inside one, to fit a terminal.
//
// It does not decide what is printed when: train.go calls it.

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"

	"github.com/dltrain/dltrain/internal/model"
)

// redraw is the shortest time between two draws of the progress line.
const redraw = 100 * time.Millisecond

// display is train's output. Its methods may be called from the training goroutine and the signal
// watcher at once.
type display struct {
	out, err io.Writer // stdout and stderr
	// epochs is where the epoch lines go: out, or err with --json; nil with -q.
	epochs io.Writer
	// bars: stderr is a terminal (and not -q): draw the progress line.
	bars bool
	// width is the terminal's width (0: unknown); outTerm: stdout is a terminal too.
	width   func() int
	outTerm bool
	showLR  bool // the rate changes over the run: print it on each epoch's line

	mu     sync.Mutex
	shown  bool      // a progress line is on the screen now
	frozen bool      // interrupted: draw no more
	last   time.Time // of the last draw

	// For the time left: when the run started, what it has done and has left.
	start     time.Time
	doneRun   int // samples trained in this run's completed epochs
	epochFrom int // samples of the current epoch done before this run (a mid-epoch resume)
}

// newDisplay makes train's display. With quiet, only the summary is printed (by train.go).
func newDisplay(io *IO, quiet, json, showLR bool, batch, resumedSteps int) *display {
	d := &display{out: io.Out, err: io.Err, width: io.Width, outTerm: io.OutIsTerminal, showLR: showLR,
		bars: io.ErrIsTerminal && !quiet, start: time.Now(), epochFrom: resumedSteps * batch}
	if d.width == nil {
		d.width = func() int { return 0 }
	}
	switch {
	case quiet:
	case json:
		d.epochs = d // stderr, clearing the progress line first
	default:
		d.epochs = io.Out
	}
	return d
}

// Write writes p to stderr, clearing the progress line first if one is shown, and on a terminal
// breaking its lines between words to fit. Everything train writes to stderr while it trains goes
// through here, one whole line per call.
func (d *display) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clearLocked()
	if d.bars {
		// The line is cleared even with no progress line on it: the cursor is then at the start of
		// an empty line, but for what the terminal echoed there, as "^C" when Ctrl-C was typed.
		if _, err := io.WriteString(d.err, "\r\x1b[K"+wrapText(string(p), d.width()-1)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return d.err.Write(p)
}

// wrapText breaks each line of s between words wherever it would grow wider than width (≤ 0: no
// limit), indenting the continuation lines by two spaces; a word wider than the line stays whole.
func wrapText(s string, width int) string {
	if width <= 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if cols(l) > width {
			lines[i] = fitJoin(strings.Fields(l), " ", width)
		}
	}
	return strings.Join(lines, "\n")
}

// clearLocked removes the progress line from the screen.
func (d *display) clearLocked() {
	if d.shown {
		io.WriteString(d.err, "\r\x1b[K")
		d.shown = false
	}
}

// clear removes the progress line, if any; it is drawn again at the next progress.
func (d *display) clear() {
	d.mu.Lock()
	d.clearLocked()
	d.mu.Unlock()
}

// freeze clears the progress line for good: the run is stopping.
func (d *display) freeze() {
	d.mu.Lock()
	d.clearLocked()
	d.frozen = true
	d.mu.Unlock()
}

// progress is the Trainer's OnProgress: it redraws the progress line, at most every redraw, and
// always at the end of an epoch's steps, when the test pass starts.
func (d *display) progress(p model.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	testing := p.Done >= p.Total
	if !d.bars || d.frozen || !testing && time.Since(d.last) < redraw && d.shown {
		return
	}
	width := d.width()
	if width <= 0 {
		width = 80
	}
	// Three columns are left free: the terminal echoes a Ctrl-C as "^C" after the line, and a line
	// that the echo wraps could no longer be cleared.
	line := progressLine(p, d.eta(p), testing, width-3)
	io.WriteString(d.err, "\r"+line+"\x1b[K")
	d.shown, d.last = true, time.Now()
}

// eta estimates the time left in the run from its pace so far (test passes included), or -1 before
// there is a pace to go by.
func (d *display) eta(p model.Progress) time.Duration {
	done := d.doneRun + p.Done - d.epochFrom
	left := (p.Epochs-p.Epoch)*p.Total + p.Total - p.Done
	el := time.Since(d.start)
	if done <= 0 || el < 200*time.Millisecond {
		return -1
	}
	return time.Duration(float64(el) / float64(done) * float64(left))
}

// epoch ends an epoch: it clears the progress line and prints the epoch's results.
func (d *display) epoch(r model.EpochResult, epochs, total int) {
	d.mu.Lock()
	d.doneRun += total - d.epochFrom
	d.epochFrom = 0
	d.mu.Unlock()
	if d.epochs == nil {
		d.clear()
		return
	}
	fields := []string{fmt.Sprintf("epoch %d/%d", r.Epoch, epochs),
		fmt.Sprintf("train loss %.4f acc %.2f%%", r.TrainLoss, 100*r.TrainAccuracy)}
	if r.Validated {
		v := fmt.Sprintf("val loss %.4f acc %.2f%%", r.ValLoss, 100*r.ValAccuracy)
		if r.Best {
			v += " (best)"
		}
		fields = append(fields, v)
	}
	fields = append(fields, fmt.Sprintf("test loss %.4f acc %.2f%%", r.TestLoss, 100*r.TestAccuracy))
	if r.RobustAccuracy != nil {
		fields = append(fields, fmt.Sprintf("robust acc %.2f%%", 100**r.RobustAccuracy))
	}
	if d.showLR {
		fields = append(fields, fmt.Sprintf("lr %.3g", r.LR))
	}
	fields = append(fields, fmt.Sprintf("%.2fs", r.Seconds), fmt.Sprintf("%.0f samples/s", r.SamplesPerSecond))
	width := 0
	if d.epochs == io.Writer(d) && d.bars || d.epochs == d.out && d.outTerm {
		width = d.width() - 1
	}
	d.clear()
	fmt.Fprintln(d.epochs, fitJoin(fields, "  ", width))
}

// fitJoin joins items with sep, breaking the line between two items (never inside one) wherever it
// would grow wider than width; continuation lines are indented by two spaces. width ≤ 0 means no
// limit. The epoch lines join their fields with two spaces, the banner and wrapped text their words
// with one.
func fitJoin(items []string, sep string, width int) string {
	var b strings.Builder
	col := 0
	for i, f := range items {
		w := cols(f)
		switch {
		case i == 0:
		case width > 0 && col+len(sep)+w > width:
			b.WriteString("\n  ")
			col = 2
		default:
			b.WriteString(sep)
			col += len(sep)
		}
		b.WriteString(f)
		col += w
	}
	return b.String()
}

// progressLine is the progress line of p within width columns: the epoch, a bar, the running loss and
// accuracy, samples/s and the time left in the run (or "testing" while the epoch's test pass runs).
// It tries shorter spellings of the same figures, then fewer figures, until it fits with a bar of at
// least minBar columns; below that it leaves out the bar, then cuts the line.
func progressLine(p model.Progress, eta time.Duration, testing bool, width int) string {
	left := "ETA " + shortDuration(eta)
	if eta < 0 {
		left = "ETA -"
	}
	if testing {
		left = "testing..."
	}
	rate := fmt.Sprintf("%.0f samples/s", p.SamplesPerSecond)
	k := kilo(p.SamplesPerSecond)
	type form struct{ head, tail string }
	forms := []form{
		{fmt.Sprintf("epoch %d/%d", p.Epoch, p.Epochs), fmt.Sprintf("loss %.4f  acc %.2f%%  %s  %s", p.Loss, 100*p.Accuracy, rate, left)},
		{fmt.Sprintf("epoch %d/%d", p.Epoch, p.Epochs), fmt.Sprintf("loss %.4f acc %.2f%% %s samples/s %s", p.Loss, 100*p.Accuracy, k, left)},
		{fmt.Sprintf("%d/%d", p.Epoch, p.Epochs), fmt.Sprintf("loss %.4f acc %.1f%% %s/s %s", p.Loss, 100*p.Accuracy, k, left)},
		{fmt.Sprintf("%d/%d", p.Epoch, p.Epochs), fmt.Sprintf("loss %.3f acc %.1f%% %s", p.Loss, 100*p.Accuracy, left)},
		{fmt.Sprintf("%d/%d", p.Epoch, p.Epochs), left},
	}
	const minBar, maxBar = 6, 40
	for _, f := range forms {
		text := cols(f.head) + cols(f.tail) + 2 // a space around the bar
		if bar := barText(p, 1); text+cols(bar)-1+minBar <= width {
			w := min(maxBar, width-text-cols(bar)+1)
			return f.head + " " + barText(p, w) + " " + f.tail
		}
	}
	for _, f := range forms {
		if s := f.head + " " + f.tail; cols(s) <= width {
			return s
		}
	}
	return truncate(forms[len(forms)-1].head+" "+left, width)
}

// barText is the bar of p, w columns inside its brackets, drawn by progressbar: "45% [====>.....]".
func barText(p model.Progress, w int) string {
	total := max(p.Total, 1)
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(w),
		progressbar.OptionSetTheme(progressbar.ThemeASCII), progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false))
	bar.Set(min(p.Done, total))
	bar.RenderBlank()
	return strings.TrimSpace(strings.TrimLeft(bar.String(), "\r"))
}

// truncate cuts s to at most width columns.
func truncate(s string, width int) string {
	for cols(s) > width && s != "" {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// cols is the width of s on a terminal. The display writes ASCII only (file names are in the results
// and the notes, never in the progress line), so that is its length in runes: no character of
// ambiguous width, which East Asian terminals draw two columns wide, gets in.
func cols(s string) int { return utf8.RuneCountInString(s) }

// kilo writes a rate briefly: 950, 52.3k, 1.2M.
func kilo(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// shortDuration writes d briefly: 42s, 3m05s, 2h07m.
func shortDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}
