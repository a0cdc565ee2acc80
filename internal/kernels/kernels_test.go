package kernels

import (
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestPTXMatchesEntries checks each module's header and that every described entry exists in its
// PTX with exactly the described 64-bit parameters, in order.
func TestPTXMatchesEntries(t *testing.T) {
	paramRe := regexp.MustCompile(`\.param \.u64 (\w+)`)
	for _, e := range All {
		src, err := Source(e.Module)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{".version 7.0\n", ".target sm_52\n", ".address_size 64\n"} {
			if !strings.Contains(src, want) {
				t.Errorf("%s.ptx lacks %q", e.Module, strings.TrimSpace(want))
			}
		}
		i := strings.Index(src, ".visible .entry "+e.Name+"(")
		if i < 0 {
			t.Errorf("%s.ptx has no entry %s", e.Module, e.Name)
			continue
		}
		sig := src[i : i+strings.Index(src[i:], ")")]
		var got []string
		for _, m := range paramRe.FindAllStringSubmatch(sig, -1) {
			got = append(got, m[1])
		}
		if strings.Join(got, ",") != strings.Join(e.Params, ",") {
			t.Errorf("%s params = %v, want %v", e.Name, got, e.Params)
		}
		if strings.Count(sig, ".param") != len(e.Params) {
			t.Errorf("%s has parameters that are not .u64: %q", e.Name, sig)
		}
		if want := fmt.Sprintf(".reqntid %d\n", e.Block); (e.Fixed || e.Per > 0) && e.Block > 1 && !strings.Contains(src[i:], want) {
			t.Errorf("%s relies on blocks of exactly %d threads but does not require them (.reqntid)", e.Name, e.Block)
		}
	}
}

// TestPTXIsASCII: CUDA 13's ptxas and the 580 driver's JIT reject a module with any byte above 0x7F,
// comments included ("Unexpected non-ASCII character", InvalidPtx at load). Seen on an H100.
func TestPTXIsASCII(t *testing.T) {
	for _, e := range All {
		src, err := Source(e.Module)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(src, "\n") {
			for _, r := range line {
				if r > 0x7F {
					t.Errorf("%s.ptx:%d: non-ASCII %q: the driver refuses the module", e.Module, i+1, r)
					break
				}
			}
		}
	}
}

func TestGrid(t *testing.T) {
	for _, c := range []struct {
		e    Entry
		n    int
		want int
	}{
		{GatherNormalize, 0, 0},
		{GatherNormalize, 1, 1},
		{GatherNormalize, 256, 1},
		{GatherNormalize, 257, 2},
		{GatherNormalize, 100 * 784, 307},
		{GradSums, 10, 1},
		{GradSums, 128, 4},
		{GradSums, 129, 5},
		{GradSums, 10 * 129, 41},
		{SoftmaxCE, 4096, 1},
		{Advance, 1, 1},
		{SGD, 101770, 398},
		{SGD, 1 << 30, 1024},
		{Adam, 636010, 1024},
	} {
		if got := c.e.Grid(c.n); got != c.want {
			t.Errorf("%s.Grid(%d) = %d, want %d", c.e.Name, c.n, got, c.want)
		}
	}
}

// TestEveryEntryHasATwin: each entry names its CPU twin as a function of internal/ref (or, for the
// augmentation kernel, of internal/augment, which keeps its own reference beside it).
func TestEveryEntryHasATwin(t *testing.T) {
	for _, e := range All {
		v := reflect.ValueOf(e.Twin)
		if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
			t.Errorf("%s: Twin = %T, want a function of internal/ref", e.Name, e.Twin)
			continue
		}
		if pkg := runtime.FuncForPC(v.Pointer()).Name(); !strings.HasPrefix(pkg, "github.com/dltrain/dltrain/internal/ref.") && !strings.HasPrefix(pkg, "github.com/dltrain/dltrain/internal/augment.") {
			t.Errorf("%s: Twin is %s, want a function of internal/ref", e.Name, pkg)
		}
	}
}
