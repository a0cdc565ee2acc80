package ops

import (
	"strings"
	"testing"
)

func TestCheckOrder(t *testing.T) {
	for _, c := range []struct {
		order []int32
		n     int
		err   string // "" for no error
	}{
		{[]int32{2, 0, 1}, 3, ""},
		{nil, 0, ""},
		{[]int32{0, 1}, 3, "2 entries for 3 samples"},
		{[]int32{0, 1, 3}, 3, "order[2] = 3, out of range 0..2"},
		{[]int32{0, -1, 2}, 3, "order[1] = -1, out of range 0..2"},
	} {
		err := CheckOrder(c.order, c.n)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("CheckOrder(%v, %d) = %v, want %q", c.order, c.n, err, c.err)
		}
	}
}

func TestParseActivation(t *testing.T) {
	for _, a := range []Activation{ReLU, Sigmoid, Tanh} {
		got, err := ParseActivation(strings.ToUpper(a.String()))
		if err != nil || got != a || !a.Hidden() {
			t.Errorf("ParseActivation(%q) = %v, %v; want %v", strings.ToUpper(a.String()), got, err, a)
		}
	}
	if _, err := ParseActivation("identity"); err == nil {
		t.Error("ParseActivation(identity) succeeded; identity is not a hidden activation")
	}
	if Identity.Hidden() {
		t.Error("Identity.Hidden() = true")
	}
}
