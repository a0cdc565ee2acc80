// bounds_test.go: IBP and CROWN bounds against a net whose bounds are worked out by hand, and against
// the outputs of random points of the ball on random nets.

package verify

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// handNet: pixels x ∈ [0.25, 0.75]² (x = 0.5, eps 0.25), so h₀ = (a, b) ∈ [−0.5, 0.5]².
//
//	z₀ = (a + b + 2, a − b + 2, a) ∈ [1, 3] × [1, 3] × [−0.5, 0.5]  (exact: an affine image of a box)
//	logit₀ = h₁ − h₂ − h₃ + 1.75,  logit₁ = 0
//
// The first two hidden neurons are always active, so h₁ − h₂ = 2b; the third is unstable.
//   - IBP: logit₀ ∈ [1 − 3 − 0.5 + 1.75, 3 − 1 − 0 + 1.75] = [−0.75, 3.75]; margin ≥ −0.75.
//   - CROWN, lower: h₃ ≤ chord 0.5·(a + 0.5), so logit₀ ≥ 2b − a/2 − 0.25 + 1.75 ≥ −1 − 0.25 + 1.5 = 0.25.
//     Upper: h₃ ≥ a (adaptive slope 1, since u = −l), so logit₀ ≤ 2b − a + 1.75 ≤ 1 + 0.5 + 1.75 = 3.25.
//   - Exact: logit₀ = 2b − relu(a) + 1.75 ranges over [0.25, 2.75]: CROWN's lower bound is exact, and
//     the image is certified by CROWN but not by IBP.
func handNet() *Net {
	return &Net{
		Sizes: []int{2, 3, 2},
		Act:   ReLU,
		W:     [][]float32{{1, 1, 1, -1, 1, 0}, {1, -1, -1, 0, 0, 0}},
		B:     [][]float32{{2, 2, 0}, {1.75, 0}},
	}
}

func TestHandNet(t *testing.T) {
	v, err := New(*handNet(), Options{Semantics: Real})
	if err != nil {
		t.Fatal(err)
	}
	in, err := Ball([]float32{0.5, 0.5}, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	ibp, err := v.IBP(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	crown, err := v.CROWN(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each bound must be on the sound side of the hand value and within rounding of it.
	cases := []struct {
		name      string
		got, want float64
		lower     bool
	}{
		{"IBP z0[0] lo", ibp.Pre[0].Lo[0], 1, true},
		{"IBP z0[0] hi", ibp.Pre[0].Hi[0], 3, false},
		{"IBP z0[2] lo", ibp.Pre[0].Lo[2], -0.5, true},
		{"IBP z0[2] hi", ibp.Pre[0].Hi[2], 0.5, false},
		{"IBP logit0 lo", ibp.Pre[1].Lo[0], -0.75, true},
		{"IBP logit0 hi", ibp.Pre[1].Hi[0], 3.75, false},
		{"IBP logit1 lo", ibp.Pre[1].Lo[1], 0, true},
		{"IBP logit1 hi", ibp.Pre[1].Hi[1], 0, false},
		{"IBP margin", ibp.Margins[1], -0.75, true},
		{"CROWN logit0 lo", crown.Pre[1].Lo[0], 0.25, true},
		{"CROWN logit0 hi", crown.Pre[1].Hi[0], 3.25, false},
		{"CROWN margin", crown.Margins[1], 0.25, true},
	}
	for _, c := range cases {
		sound := c.got <= c.want
		if !c.lower {
			sound = c.got >= c.want
		}
		if !sound || math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %.17g, want %v (sound side, within 1e-12)", c.name, c.got, c.want)
		}
	}
	if !math.IsInf(ibp.Margins[0], 1) || !math.IsInf(crown.Margins[0], 1) {
		t.Errorf("Margins[label] = %v, %v, want +Inf", ibp.Margins[0], crown.Margins[0])
	}
	for _, m := range []struct {
		m    Method
		want bool
	}{{IBP, false}, {CROWN, true}} {
		r, err := v.Certify(in, 0, m.m)
		if err != nil {
			t.Fatal(err)
		}
		if r.Certified != m.want {
			t.Errorf("Certify(%v).Certified = %v (margin %v), want %v", m.m, r.Certified, r.Margin, m.want)
		}
	}
}

// netCase is one random net for the property tests.
type netCase struct {
	sizes []int
	act   Activation
	scale float64
}

func randomCases() []netCase {
	var cs []netCase
	for _, act := range []Activation{ReLU, Sigmoid, Tanh} {
		for _, sizes := range [][]int{{6, 3}, {12, 8, 4}, {10, 16, 12, 5}, {8, 5, 7, 6, 3}, {20, 1, 4}} {
			scale := 2.0
			if act != ReLU {
				scale = 4 // so that sigmoid and tanh leave their linear part
			}
			cs = append(cs, netCase{sizes, act, scale})
		}
	}
	return cs
}

// within reports whether v lies in [lo, hi].
func within(v, lo, hi float64) bool { return lo <= v && v <= hi }

// TestBoundsContainPoints draws random nets of several depths and widths for every activation and
// both semantics, and checks that the outputs of 1,000 points of each ball (a third of them corners,
// the centre first) lie within the IBP and CROWN bounds of every layer, and their margins above the
// margin bounds. Under Float32 it also runs dltrain's float32 inference in three summation orders.
// It checks on the way that CROWN's bounds lie inside IBP's and that CROWN is strictly tighter
// somewhere.
func TestBoundsContainPoints(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	const points = 1000
	tighter := 0
	for ci, c := range randomCases() {
		for _, sem := range []Semantics{Real, Float32} {
			net := randomNet(rng, c.sizes, c.act, c.scale)
			v, err := New(*net, Options{Semantics: sem})
			if err != nil {
				t.Fatal(err)
			}
			for _, eps := range []float64{0, 0.01, 0.1, 0.5} {
				name := fmt.Sprintf("case %d %v %v %v eps %v", ci, c.sizes, c.act, sem, eps)
				x := randomPixels(rng, c.sizes[0])
				y := rng.IntN(c.sizes[len(c.sizes)-1])
				in, err := Ball(x, eps)
				if err != nil {
					t.Fatal(err)
				}
				ib, err := v.IBP(in, y)
				if err != nil {
					t.Fatalf("%s: IBP: %v", name, err)
				}
				cr, err := v.CROWN(in, y)
				if err != nil {
					t.Fatalf("%s: CROWN: %v", name, err)
				}
				for l := range ib.Pre {
					for i := range ib.Pre[l].Lo {
						if cr.Pre[l].Lo[i] < ib.Pre[l].Lo[i] || cr.Pre[l].Hi[i] > ib.Pre[l].Hi[i] {
							t.Fatalf("%s: layer %d neuron %d: CROWN [%v, %v] not inside IBP [%v, %v]", name, l, i,
								cr.Pre[l].Lo[i], cr.Pre[l].Hi[i], ib.Pre[l].Lo[i], ib.Pre[l].Hi[i])
						}
					}
				}
				for j := range ib.Margins {
					if cr.Margins[j] < ib.Margins[j] {
						t.Fatalf("%s: CROWN margin %d = %v below IBP's %v", name, j, cr.Margins[j], ib.Margins[j])
					}
					if cr.Margins[j] > ib.Margins[j]+1e-9 {
						tighter++
					}
				}
				for p := range points {
					var pt []float64
					if p == 0 {
						pt = ballPoint(rng, x, 0, false)
					} else {
						pt = ballPoint(rng, x, eps, p%3 == 0)
					}
					outs := [][][]float64{forward64(net, pt)}
					if sem == Float32 {
						for order := range 3 {
							outs = append(outs, forward32(net, pt, order, 0, nil))
						}
					}
					for oi, zs := range outs {
						for _, b := range []*Bounds{ib, cr} {
							for l, z := range zs {
								for i, zi := range z {
									if !within(zi, b.Pre[l].Lo[i], b.Pre[l].Hi[i]) {
										t.Fatalf("%s: point %d (eval %d): layer %d neuron %d = %.17g outside [%.17g, %.17g]",
											name, p, oi, l, i, zi, b.Pre[l].Lo[i], b.Pre[l].Hi[i])
									}
								}
							}
							logits := zs[len(zs)-1]
							for j, m := range b.Margins {
								if j != y && logits[y]-logits[j] < m {
									t.Fatalf("%s: point %d (eval %d): margin %d = %.17g below its bound %.17g",
										name, p, oi, j, logits[y]-logits[j], m)
								}
							}
						}
					}
				}
			}
		}
	}
	if tighter == 0 {
		t.Errorf("CROWN was never tighter than IBP on any margin")
	}
	t.Logf("CROWN margins strictly tighter than IBP's: %d", tighter)
}

// TestActErr: with Options.ActErr set, the bounds hold for float32 evaluations whose sigmoid and tanh
// are off by up to that much (the float32 rounding of that perturbed value adds at most 2^-25, which the
// test leaves inside by perturbing by ActErr − 2^-24).
func TestActErr(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	const actErr = 1e-3
	for _, act := range []Activation{Sigmoid, Tanh} {
		net := randomNet(rng, []int{10, 12, 8, 4}, act, 4)
		v, err := New(*net, Options{ActErr: actErr})
		if err != nil {
			t.Fatal(err)
		}
		for _, eps := range []float64{0, 0.05} {
			x := randomPixels(rng, 10)
			in, _ := Ball(x, eps)
			for _, meth := range []Method{IBP, CROWN} {
				var b *Bounds
				if meth == IBP {
					b, err = v.IBP(in, 0)
				} else {
					b, err = v.CROWN(in, 0)
				}
				if err != nil {
					t.Fatal(err)
				}
				for p := range 300 {
					zs := forward32(net, ballPoint(rng, x, eps, p%2 == 0), p%3, actErr-0x1p-24, rng)
					for l, z := range zs {
						for i, zi := range z {
							if !within(zi, b.Pre[l].Lo[i], b.Pre[l].Hi[i]) {
								t.Fatalf("%v %v eps %v: point %d: layer %d neuron %d = %v outside [%v, %v]",
									act, meth, eps, p, l, i, zi, b.Pre[l].Lo[i], b.Pre[l].Hi[i])
							}
						}
					}
				}
			}
		}
	}
}
