// Tests of ReadRun: good files (appended, resumed, new and unknown keys), each kind of bad line, and
// bounded reading of endless input.
package figure

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
)

// line1..line3 are real lines as `dltrain train --metrics` writes them.
const (
	line1 = `{"epoch":1,"train_loss":0.4388,"train_accuracy":0.8698,"test_loss":0.2567,"test_accuracy":0.9243,"seconds":0.62,"samples_per_second":96026.9}`
	line2 = `{"epoch":2,"train_loss":0.2265,"train_accuracy":0.9329,"test_loss":0.1886,"test_accuracy":0.943,"seconds":0.53,"samples_per_second":113041.4}`
	line3 = `{"epoch":3,"train_loss":0.1619,"train_accuracy":0.9518,"test_loss":0.1459,"test_accuracy":0.9548,"seconds":0.66,"samples_per_second":90421.4}`
)

func TestReadRun(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		epochs   []int
		test     []float64 // TestAccuracy per epoch
		replaced int
	}{
		{"one run", line1 + "\n" + line2 + "\n" + line3 + "\n", []int{1, 2, 3}, []float64{0.9243, 0.943, 0.9548}, 0},
		{"no final newline, CRLF, blank lines", line1 + "\r\n\r\n" + line2 + "\n  \n" + line3, []int{1, 2, 3}, []float64{0.9243, 0.943, 0.9548}, 0},
		{"resumed run appended", line1 + "\n" + line2 + "\n" + line3 + "\n" +
			`{"epoch":4,"train_loss":0.1,"train_accuracy":0.96,"test_loss":0.12,"test_accuracy":0.961}` + "\n",
			[]int{1, 2, 3, 4}, []float64{0.9243, 0.943, 0.9548, 0.961}, 0},
		{"resumed from an earlier checkpoint: the last line for an epoch wins", line1 + "\n" + line2 + "\n" + line3 + "\n" +
			`{"epoch":2,"train_loss":0.2,"train_accuracy":0.94,"test_accuracy":0.95}` + "\n" +
			`{"epoch":3,"train_loss":0.15,"train_accuracy":0.955,"test_accuracy":0.96}` + "\n",
			[]int{1, 2, 3}, []float64{0.9243, 0.95, 0.96}, 2},
		{"epochs out of order are sorted", line3 + "\n" + line1 + "\n" + line2, []int{1, 2, 3}, []float64{0.9243, 0.943, 0.9548}, 0},
		{"unknown keys ignored", `{"epoch":1,"train_loss":0.4,"train_accuracy":0.8,"test_accuracy":0.9,"grad_norm":[1,2],"note":{"a":1}}`,
			[]int{1}, []float64{0.9}, 0},
	}
	for _, tt := range tests {
		run, err := ReadRun(strings.NewReader(tt.in), "run.jsonl")
		if err != nil {
			t.Errorf("%s: ReadRun = %v, want no error", tt.name, err)
			continue
		}
		var epochs []int
		var test []float64
		for _, e := range run.Epochs {
			epochs = append(epochs, e.Epoch)
			test = append(test, e.TestAccuracy)
		}
		if !equalInts(epochs, tt.epochs) || !equalFloats(test, tt.test) || run.Replaced != tt.replaced || run.Label != "run.jsonl" {
			t.Errorf("%s: ReadRun = epochs %v, test accuracy %v, replaced %d, label %q; want %v, %v, %d, %q",
				tt.name, epochs, test, run.Replaced, run.Label, tt.epochs, tt.test, tt.replaced, "run.jsonl")
		}
	}
}

// TestReadRunOptional checks that keys the line lacks are NaN, and keys it has (zero included) are not.
func TestReadRunOptional(t *testing.T) {
	in := `{"epoch":0,"train_loss":0,"train_accuracy":0,"val_loss":0.3,"val_accuracy":0.91,"lr":0,"robust_accuracy":0.4}`
	run, err := ReadRun(strings.NewReader(in), "new.jsonl")
	if err != nil {
		t.Fatalf("ReadRun = %v, want no error", err)
	}
	e := run.Epochs[0]
	got := []float64{e.TrainLoss, e.TrainAccuracy, e.ValLoss, e.ValAccuracy, e.LR, e.RobustAccuracy,
		e.TestLoss, e.TestAccuracy, e.Seconds, e.SamplesPerSecond}
	want := []float64{0, 0, 0.3, 0.91, 0, 0.4, math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	if !equalFloats(got, want) || e.Epoch != 0 {
		t.Errorf("ReadRun(%s) = epoch %d, values %v; want 0, %v", in, e.Epoch, got, want)
	}
	// An explicit null is absent too.
	run, err = ReadRun(strings.NewReader(`{"epoch":1,"train_loss":1,"train_accuracy":0.5,"test_loss":null}`), "null.jsonl")
	if err != nil || !math.IsNaN(run.Epochs[0].TestLoss) {
		t.Errorf(`ReadRun("test_loss":null) = %v, %v; want NaN, no error`, run.Epochs, err)
	}
}

func TestReadRunErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "figure: bad.jsonl: no epochs"},
		{"\n\n  \n", "figure: bad.jsonl: no epochs"},
		{line1 + "\nnot json\n", "figure: bad.jsonl: line 2: not a JSON object"},
		{line1 + "\n" + line2 + "\n[1,2]", "figure: bad.jsonl: line 3: not a JSON object"},
		{`{"epoch":1,"train_loss":0.4`, "figure: bad.jsonl: line 1: bad JSON: unexpected end of JSON input"},
		{`{"epoch":1,"train_loss":0.4,"train_accuracy":0.8} trailing`, "figure: bad.jsonl: line 1: bad JSON: invalid character 't' after top-level value"},
		{`{"train_loss":0.4,"train_accuracy":0.8}`, `figure: bad.jsonl: line 1: missing key "epoch"`},
		{`{"epoch":1,"train_accuracy":0.8}`, `figure: bad.jsonl: line 1: missing key "train_loss"`},
		{`{"epoch":1,"train_loss":0.4}`, `figure: bad.jsonl: line 1: missing key "train_accuracy"`},
		{`{"epoch":1.5,"train_loss":0.4,"train_accuracy":0.8}`, "figure: bad.jsonl: line 1: bad JSON: json: cannot unmarshal number 1.5 into Go struct field line.epoch of type int"},
		{`{"epoch":"1","train_loss":0.4,"train_accuracy":0.8}`, "figure: bad.jsonl: line 1: bad JSON: json: cannot unmarshal string into Go struct field line.epoch of type int"},
		{`{"epoch":-1,"train_loss":0.4,"train_accuracy":0.8}`, "figure: bad.jsonl: line 1: epoch -1 is negative"},
		{`{"epoch":1,"train_loss":-0.4,"train_accuracy":0.8}`, "figure: bad.jsonl: line 1: train_loss is -0.4, want 0 or more"},
		{`{"epoch":1,"train_loss":0.4,"train_accuracy":97.5}`, "figure: bad.jsonl: line 1: train_accuracy is 97.5, want a fraction in 0..1"},
		{`{"epoch":1,"train_loss":0.4,"train_accuracy":0.8,"val_accuracy":1.01}`, "figure: bad.jsonl: line 1: val_accuracy is 1.01, want a fraction in 0..1"},
		{`{"epoch":1,"train_loss":0.4,"train_accuracy":0.8,"lr":-1}`, "figure: bad.jsonl: line 1: lr is -1, want 0 or more"},
		{`{"epoch":1,"train_loss":1e999,"train_accuracy":0.8}`, "figure: bad.jsonl: line 1: bad JSON: json: cannot unmarshal number 1e999 into Go struct field line.train_loss of type float64"},
		{line1 + "\n" + `{"epoch":2,"train_loss":"NaN","train_accuracy":0.8}`, "figure: bad.jsonl: line 2: bad JSON: json: cannot unmarshal string into Go struct field line.train_loss of type float64"},
		{line1 + "\n" + strings.Repeat(" ", MaxLineBytes) + line2, "figure: bad.jsonl: line 2: longer than 65536 bytes; not a metrics line"},
		{strings.Repeat(line1+"\n", MaxLines) + line2, "figure: bad.jsonl: more than 100000 lines; not a metrics file"},
	}
	for _, tt := range tests {
		_, err := ReadRun(strings.NewReader(tt.in), "bad.jsonl")
		if err == nil || err.Error() != tt.want {
			t.Errorf("ReadRun(%.60q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

// endless is a reader that never ends: pattern, over and over.
type endless struct {
	pattern string
	off     int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.pattern[e.off]
		e.off = (e.off + 1) % len(e.pattern)
	}
	return len(p), nil
}

// epochs is a reader that never ends: valid metrics lines for epochs 1, 2, 3...
type epochs struct {
	n   int
	buf []byte
}

func (e *epochs) Read(p []byte) (int, error) {
	if len(e.buf) == 0 {
		e.n++
		e.buf = fmt.Appendf(nil, `{"epoch":%d,"train_loss":0.1,"train_accuracy":0.9,"test_loss":0.1,"test_accuracy":0.9}`+"\n", e.n)
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

// TestReadRunEndless feeds ReadRun input that never ends: one endless line, endless blank lines, and
// endless valid lines of one epoch or of ever new epochs. Each must be refused having allocated a
// bounded amount, garbage included: one line buffer, the JSON decoding of at most MaxLines lines, and
// at most MaxLines Epochs.
func TestReadRunEndless(t *testing.T) {
	tests := []struct {
		name     string
		r        io.Reader
		want     string
		maxAlloc uint64 // bytes
	}{
		{"one endless line", &endless{pattern: "x"}, "figure: big: line 1: longer than 65536 bytes; not a metrics line", 1 << 20},
		{"endless blank lines", &endless{pattern: "\n"}, "figure: big: more than 100000 lines; not a metrics file", 1 << 20},
		{"endless repeats of one epoch", &endless{pattern: line1 + "\n"}, "figure: big: more than 100000 lines; not a metrics file", 200 << 20},
		{"endless new epochs", &epochs{}, "figure: big: more than 100000 lines; not a metrics file", 200 << 20},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadRun(tt.r, "big")
		runtime.ReadMemStats(&after)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: ReadRun = %v, want %s", tt.name, err, tt.want)
		}
		t.Logf("%s: %d bytes allocated", tt.name, after.TotalAlloc-before.TotalAlloc)
		if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
			t.Errorf("%s: ReadRun allocated %d bytes, want at most %d", tt.name, got, tt.maxAlloc)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// equalFloats compares exactly, with NaN equal to NaN (NaN marks an absent value).
func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}
