package kernels

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/augment"
)

// TestAugmentEntry checks augment.ptx as TestPTXMatchesEntries and TestPTXIsASCII check the entries
// of All (Augment joins All when the CUDA backend launches it): header, parameters, .reqntid, ASCII.
func TestAugmentEntry(t *testing.T) {
	e := Augment
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
		t.Fatalf("%s.ptx has no entry %s", e.Module, e.Name)
	}
	sig := src[i : i+strings.Index(src[i:], ")")]
	var got []string
	for _, m := range regexp.MustCompile(`\.param \.u64 (\w+)`).FindAllStringSubmatch(sig, -1) {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != strings.Join(e.Params, ",") || strings.Count(sig, ".param") != len(e.Params) {
		t.Errorf("%s params = %v, want %v, all .u64", e.Name, got, e.Params)
	}
	if !strings.Contains(src[i:], fmt.Sprintf(".reqntid %d\n", e.Block)) {
		t.Errorf("%s needs exactly %d threads per block but does not require them (.reqntid)", e.Name, e.Block)
	}
	for n, line := range strings.Split(src, "\n") {
		for _, r := range line {
			if r > 0x7F {
				t.Errorf("%s.ptx:%d: non-ASCII %q: the driver refuses the module", e.Module, n+1, r)
				break
			}
		}
	}
	for _, c := range []struct{ rows, want int }{{0, 0}, {1, 1}, {100, 100}, {1000, 1000}} {
		if g := e.Grid(c.rows); g != c.want {
			t.Errorf("Augment.Grid(%d) = %d, want %d (one block per image)", c.rows, g, c.want)
		}
	}
}

// TestAugmentConstants: the PTX carries the CPU twin's constants bit for bit: the sin and cos
// polynomial coefficients (augment.Coefficients, as 0fXXXXXXXX, in Horner order), the geometry and
// normalization constants, and the hash's multipliers.
func TestAugmentConstants(t *testing.T) {
	src, err := Source("augment")
	if err != nil {
		t.Fatal(err)
	}
	at := 0
	for _, c := range augment.Coefficients() {
		lit := fmt.Sprintf("0f%08X", math.Float32bits(c))
		j := strings.Index(src[at:], lit)
		if j < 0 {
			t.Errorf("augment.ptx lacks the coefficient %v (%s) after offset %d", c, lit, at)
			continue
		}
		at += j + len(lit)
	}
	for _, c := range []struct {
		what string
		v    float32
	}{{"the centre", 13.5}, {"-1", -1}, {"28", 28}, {"255", 255}, {"0.5", 0.5}, {"1", 1}, {"2^-23", 1.0 / (1 << 23)}} {
		if lit := fmt.Sprintf("0f%08X", math.Float32bits(c.v)); !strings.Contains(src, lit) {
			t.Errorf("augment.ptx lacks %s (%s)", c.what, lit)
		}
	}
	for _, lit := range []string{"0x9E3779B97F4A7C15", "0xBF58476D1CE4E5B9", "0x94D049BB133111EB"} {
		if !strings.Contains(src, lit) {
			t.Errorf("augment.ptx lacks the hash constant %s", lit)
		}
	}
}
