//go:build linux || darwin || freebsd

// pty_test.go checks train's display as a user sees it in a terminal: the binary runs under a
// pseudo-terminal and its output goes through a small terminal model (screen). It does not check
// colours or cursor movement beyond what the display uses (CR, LF, erase-line).

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/dltrain/dltrain/internal/model"
)

// screen is a terminal of a fixed width, enough of one to see train's display as a user would: it
// prints characters, wraps at the right margin as xterm does (a character written in the last column
// leaves the cursor there until the next one, which goes to the next line), and obeys carriage
// return, line feed, backspace and the erase-in-line sequence (CSI n K). Other escape sequences are
// skipped. Its lines are unbounded downwards (a scrollback with no top).
type screen struct {
	width    int
	rows     [][]rune
	row, col int
	pending  bool // the last column was written: the next character wraps
	wraps    []string
}

func newScreen(width int) *screen { return &screen{width: width, rows: [][]rune{nil}} }

func (s *screen) line() []rune {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	for len(s.rows[s.row]) < s.width {
		s.rows[s.row] = append(s.rows[s.row], ' ')
	}
	return s.rows[s.row]
}

// write interprets b, which must hold whole escape sequences and UTF-8 characters.
func (s *screen) write(b []byte) {
	for len(b) > 0 {
		switch c := b[0]; {
		case c == '\r':
			s.col, s.pending = 0, false
			b = b[1:]
		case c == '\n':
			s.row++
			s.pending = false
			s.line()
			b = b[1:]
		case c == '\b':
			if s.col > 0 {
				s.col--
			}
			s.pending = false
			b = b[1:]
		case c == 0x1b:
			n := 1
			if len(b) > 1 && b[1] == '[' {
				n = 2
				for n < len(b) && (b[n] < 0x40 || b[n] > 0x7e) {
					n++
				}
				if n < len(b) && b[n] == 'K' {
					s.eraseLine(string(b[2:n]))
				}
				n++
			}
			b = b[min(n, len(b)):]
		case c < 0x20:
			b = b[1:]
		default:
			r, n := utf8.DecodeRune(b)
			b = b[n:]
			if s.pending {
				s.wraps = append(s.wraps, strings.TrimRight(string(s.line()), " "))
				s.row++
				s.col, s.pending = 0, false
			}
			s.line()[s.col] = r
			if s.col == s.width-1 {
				s.pending = true
			} else {
				s.col++
			}
		}
	}
}

// eraseLine is CSI n K: 0 (or nothing) from the cursor to the end, 1 from the start to the cursor, 2
// the whole line.
func (s *screen) eraseLine(n string) {
	l := s.line()
	from, to := s.col, s.width
	switch n {
	case "1":
		from, to = 0, s.col+1
	case "2":
		from = 0
	}
	for i := from; i < to && i < len(l); i++ {
		l[i] = ' '
	}
}

// text is the screen's lines, trailing blanks and empty last lines dropped.
func (s *screen) text() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// ptyRun starts dltrain (this test binary, see TestMain) with args under a pseudo-terminal of the
// given width, in dir, and collects everything it writes; stdout and stderr are both the terminal.
type ptyRun struct {
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startPTY(t *testing.T, dir string, width int, args ...string) *ptyRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DLTRAIN_TEST_MAIN=1", "DLTRAIN_TEST_SUBSET="+subsetDir, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(width), Rows: 50})
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	p := &ptyRun{cmd: cmd, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil { // EIO once the child has closed the terminal's other end
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); tty.Close() })
	return p
}

// waitFor waits until the output holds s; the limit only keeps a broken run from hanging the suite.
func (p *ptyRun) waitFor(t *testing.T, s string) {
	t.Helper()
	for limit := time.Now().Add(60 * time.Second); time.Now().Before(limit); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		ok := bytes.Contains(p.out.Bytes(), []byte(s))
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("dltrain ended before writing %q:\n%s", s, p.output())
		default:
		}
	}
	t.Fatalf("no %q within a minute:\n%s", s, p.output())
}

// wait waits for the process to end and for its output to be read, and returns its exit code.
func (p *ptyRun) wait(t *testing.T) int {
	t.Helper()
	err := p.cmd.Wait()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the terminal was not closed after the process ended")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// progressRemnant reports whether a screen line holds a piece of a progress line.
func progressRemnant(l string) bool {
	return strings.Contains(l, "ETA") || strings.Contains(l, "testing...") || strings.Contains(l, "%] ") || strings.Contains(l, "=>")
}

// TestTrainDisplayPTY drives 'dltrain train' under a pseudo-terminal at 60, 80 and 120 columns and
// reads the screen as a user would see it: no line ever wrapped (the progress line fits, and so do
// the banner and the results, broken between fields), a progress line was drawn (with its bar, the
// time left, and "testing..." during the test passes), and the final screen holds the banner, every
// epoch's results and the summary, with nothing left of the progress line.
func TestTrainDisplayPTY(t *testing.T) {
	for _, width := range []int{60, 80, 120} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			dir := t.TempDir()
			p := startPTY(t, dir, width, "train", "--epochs", "3", "--hidden", "16", "--device", "cpu", "-o", "m.bin", "--metrics", "m.jsonl")
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, p.output())
			}
			raw := p.output()
			sc := newScreen(width)
			sc.write([]byte(raw))
			lines := sc.text()
			t.Logf("the screen at %d columns:\n%s", width, strings.Join(lines, "\n"))
			if len(sc.wraps) > 0 {
				t.Errorf("%d lines wrapped at %d columns, the first: %q", len(sc.wraps), width, sc.wraps[0])
			}
			if !strings.Contains(raw, "ETA ") || !strings.Contains(raw, "testing...") || !strings.Contains(raw, "[") {
				t.Errorf("no progress line with a bar, the time left and the test pass was drawn: %q", raw)
			}
			screenText := strings.Join(lines, "\n")
			for _, want := range []string{"training 784-16-10", "epoch 1/3  train loss", "epoch 3/3", "test accuracy ",
				"best epoch ", "model written to m.bin (not encrypted)", "metrics written to m.jsonl"} {
				if !strings.Contains(screenText, want) {
					t.Errorf("the final screen lacks %q", want)
				}
			}
			for _, l := range lines {
				if progressRemnant(l) {
					t.Errorf("a piece of the progress line is left on the screen: %q", l)
				}
			}
		})
	}
}

// TestInterruptPTY: Ctrl-C typed at the terminal during training clears the progress line before the
// message, which starts its own line; nothing of the progress line is left on the screen.
func TestInterruptPTY(t *testing.T) {
	dir := t.TempDir()
	const width = 80
	p := startPTY(t, dir, width, "train", "--epochs", "100000", "--hidden", "16", "--device", "cpu", "-o", "m.bin")
	p.waitFor(t, "epoch 2/100000")
	p.waitFor(t, "ETA ")
	if _, err := p.tty.Write([]byte{3}); err != nil { // Ctrl-C: the terminal sends SIGINT
		t.Fatal(err)
	}
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInterrupted, p.output())
	}
	sc := newScreen(width)
	sc.write([]byte(p.output()))
	lines := sc.text()
	t.Logf("the last lines of the screen:\n%s", strings.Join(lines[max(0, len(lines)-6):], "\n"))
	found := false
	for _, l := range lines {
		if progressRemnant(l) {
			t.Errorf("a piece of the progress line is left on the screen: %q", l)
		}
		if strings.Contains(l, "SIGINT: finishing this step") {
			found = true
			if !strings.HasPrefix(l, "dltrain: SIGINT: finishing this step and saving m.bin") {
				t.Errorf("the interrupt message does not start its line: %q", l)
			}
		}
	}
	if !found || !strings.Contains(strings.Join(lines, "\n"), "hint: resume with: dltrain train --resume m.bin --epochs 100000") {
		t.Errorf("no interrupt message and resume hint on the screen")
	}
}

// TestScreen checks the terminal model the two tests above read the screen with.
func TestScreen(t *testing.T) {
	for _, c := range []struct {
		in        string
		width     int
		want      []string
		wraps     int
		wrapFirst string
	}{
		{"abc\r\nde", 10, []string{"abc", "de"}, 0, ""},
		{"progress 50%\r\x1b[Kdone\r\n", 20, []string{"done"}, 0, ""},
		{"abcdef\rxy", 10, []string{"xycdef"}, 0, ""},
		{"abcdef\r\x1b[2K", 10, nil, 0, ""},
		{"abcdef\b\b\x1b[K", 10, []string{"abcd"}, 0, ""},
		{"0123456789\r\n", 10, []string{"0123456789"}, 0, ""},                         // the last column, then a new line: no wrap
		{"0123456789x", 10, []string{"0123456789", "x"}, 1, "0123456789"},             // one more: a wrap
		{"0123456789ab\r\x1b[Kcd", 10, []string{"0123456789", "cd"}, 1, "0123456789"}, // a redraw after a wrap leaves a stray line
	} {
		s := newScreen(c.width)
		s.write([]byte(c.in))
		got := s.text()
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(s.wraps) != c.wraps || c.wraps > 0 && s.wraps[0] != c.wrapFirst {
			t.Errorf("screen(%d) of %q = %q with wraps %q, want %q with %d", c.width, c.in, got, s.wraps, c.want, c.wraps)
		}
	}
}

// TestProgressLineFits: the progress line is never wider than it may be, from 10 to 200 columns, and
// from the 57 that a 60-column terminal leaves it, it shows the epoch, a bar, the loss, the accuracy,
// samples/s and the time left (or "testing..."), for a classic run and for a long fast one.
func TestProgressLineFits(t *testing.T) {
	for _, p := range []model.Progress{
		{Epoch: 3, Epochs: 10, Done: 27000, Total: 60000, Loss: 0.23456, Accuracy: 0.93123, SamplesPerSecond: 52310},
		{Epoch: 7, Epochs: 20, Done: 0, Total: 55000, Loss: 2.3, Accuracy: 0.1, SamplesPerSecond: 999},
		{Epoch: 120, Epochs: 800, Done: 60000, Total: 60000, Loss: 0.0123, Accuracy: 0.9987, SamplesPerSecond: 1.2e6},
	} {
		for width := 10; width <= 200; width++ {
			for _, testing := range []bool{false, true} {
				l := progressLine(p, 95*time.Minute, testing, width)
				if cols(l) > width || !utf8.ValidString(l) || strings.ContainsAny(l, "\r\n\x1b") {
					t.Fatalf("progressLine(%+v, %d) = %q (%d columns)", p, width, l, cols(l))
				}
				if width < 57 || p.Epochs > 100 {
					continue
				}
				want := []string{fmt.Sprintf("%d/%d", p.Epoch, p.Epochs), "% [", "loss ", "acc ", "/s", "ETA 1h35m"}
				if testing {
					want[len(want)-1] = "testing..."
				}
				for _, w := range want {
					if !strings.Contains(l, w) {
						t.Errorf("progressLine(%+v, %d, testing %v) = %q, lacks %q", p, width, testing, l, w)
					}
				}
			}
		}
	}
}

var _ io.Writer = (*display)(nil)
