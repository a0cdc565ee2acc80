// exact_test.go: checks in exact or 300-bit arithmetic, sharp enough to see one-ulp mistakes that
// random points in float64 cannot: the accuracy assumed of math.Exp and math.Tanh, the soundness of
// every relaxation at the points where it is tight, and IBP and CROWN bounds of relu nets with a wide
// range of weight magnitudes against big.Rat evaluation.

package verify

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

const bigPrec = 300

func bf(x float64) *big.Float { return new(big.Float).SetPrec(bigPrec).SetFloat64(x) }

// bigExp is e^x to about 290 bits: x/2^s is brought below 2^-8, summed by Taylor series, and squared
// back s times.
func bigExp(x float64) *big.Float {
	s := 8
	if ax := math.Abs(x); ax > 1 {
		s += int(math.Ceil(math.Log2(ax)))
	}
	r := new(big.Float).SetPrec(bigPrec).SetMantExp(bf(x), -s)
	sum, term := bf(1), bf(1)
	for k := 1; k < 60; k++ {
		term.Mul(term, r)
		term.Quo(term, bf(float64(k)))
		sum.Add(sum, term)
	}
	for range s {
		sum.Mul(sum, sum)
	}
	return sum
}

// bigAct is the activation at a float64 z, to about 290 bits.
func bigAct(a Activation, z float64) *big.Float {
	one := bf(1)
	switch a {
	case ReLU:
		return bf(max(z, 0))
	case Sigmoid:
		d := new(big.Float).SetPrec(bigPrec).Add(one, bigExp(-z))
		return new(big.Float).SetPrec(bigPrec).Quo(one, d)
	}
	e := bigExp(2 * z) // 2z is exact
	num := new(big.Float).SetPrec(bigPrec).Sub(e, one)
	den := new(big.Float).SetPrec(bigPrec).Add(e, one)
	return num.Quo(num, den)
}

func bigF64(x *big.Float) float64 { f, _ := x.Float64(); return f }

// TestActivationAccuracy checks the package's assumption that its sigmoid and tanh values are within
// 2^-40 of the true ones and their derivative enclosures contain the true derivatives.
func TestActivationAccuracy(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, a := range []Activation{Sigmoid, Tanh} {
		worst := 0.0
		for i := range 4000 {
			var z float64
			switch i % 4 {
			case 0:
				z = (2*rng.Float64() - 1) * 40
			case 1:
				z = (2*rng.Float64() - 1) * 2
			case 2:
				z = (2*rng.Float64() - 1) * 1e-6
			default:
				z = float64(i/4%81) - 40 // integers, and 0
			}
			want := bigAct(a, z)
			got := bf(a.val(z))
			diff := bigF64(new(big.Float).Sub(got, want))
			worst = max(worst, math.Abs(diff))
			lo, hi := a.enclose(z)
			if bf(lo).Cmp(want) > 0 || bf(hi).Cmp(want) < 0 {
				t.Fatalf("%v.enclose(%v) = [%v, %v], misses %v", a, z, lo, hi, want)
			}
			// act' from the exact value: s(1 − s) or 1 − t².
			one := bf(1)
			var d *big.Float
			if a == Sigmoid {
				d = new(big.Float).SetPrec(bigPrec).Sub(one, want)
				d.Mul(d, want)
			} else {
				d = new(big.Float).SetPrec(bigPrec).Mul(want, want)
				d.Sub(one, d)
			}
			dlo, dhi := a.deriv(z)
			if bf(dlo).Cmp(d) > 0 || bf(dhi).Cmp(d) < 0 {
				t.Fatalf("%v.deriv(%v) = [%v, %v], misses %v", a, z, dlo, dhi, d)
			}
		}
		if worst > actValErr {
			t.Errorf("%v: worst error %g, above the assumed %g", a, worst, actValErr)
		}
		t.Logf("%v: worst error of the float64 value %.3g (assumed ≤ %.3g)", a, worst, actValErr)
	}
}

// lineAt is a·z + b exactly (300 bits hold the 106-bit product and the sum of float64s in range).
func lineAt(a, b, z float64) *big.Float {
	p := new(big.Float).SetPrec(bigPrec).Mul(bf(a), bf(z))
	return p.Add(p, bf(b))
}

// randomInterval draws intervals of every kind: negative, positive, straddling 0, at 0, narrow, wide.
func randomInterval(rng *rand.Rand) (float64, float64) {
	w := []float64{1e-12, 1e-6, 1e-3, 0.1, 1, 5, 20, 60}[rng.IntN(8)]
	var l float64
	switch rng.IntN(5) {
	case 0:
		l = -w * (1 + rng.Float64()) // negative
	case 1:
		l = w * rng.Float64() // positive
	case 2:
		l = -w * rng.Float64() // straddles 0
	case 3:
		l = -w // ends at 0
	default:
		l = 0 // starts at 0
	}
	return l, l + w*rng.Float64()*2
}

// TestRelaxSound checks aL·z + bL ≤ act(z) ≤ aU·z + bU in 300-bit arithmetic on thousands of
// intervals, at the ends, at 0, at the points where CROWN's lines touch the function (tangent points
// and their neighbours) and at random points, for all three activations.
func TestRelaxSound(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, a := range []Activation{ReLU, Sigmoid, Tanh} {
		gap := 0.0
		for range 800 {
			l, u := randomInterval(rng)
			r := a.relax(l, u)
			pts := []float64{l, u, l/2 + u/2}
			if l < 0 && u > 0 {
				pts = append(pts, 0)
			}
			if a != ReLU {
				_, mU := a.upperSlope(l, u)
				_, mL := a.upperSlope(-u, -l)
				for _, m := range []float64{mU, -mL} {
					pts = append(pts, m, math.Nextafter(m, l), math.Nextafter(m, u), m*(1+1e-9), m*(1-1e-9))
				}
			}
			for range 20 {
				pts = append(pts, l+(u-l)*rng.Float64())
			}
			for _, z := range pts {
				if z < l || z > u {
					continue
				}
				f := bigAct(a, z)
				lo, hi := lineAt(r.aL, r.bL, z), lineAt(r.aU, r.bU, z)
				if lo.Cmp(f) > 0 || hi.Cmp(f) < 0 {
					t.Fatalf("%v.relax(%v, %v) = %+v: at z = %v the lines give [%v, %v] around act %v",
						a, l, u, r, z, bigF64(lo), bigF64(hi), bigF64(f))
				}
				gap = max(gap, bigF64(new(big.Float).Sub(hi, lo)))
			}
		}
		t.Logf("%v: largest gap between the lines at a test point %.3g", a, gap)
	}
}

// TestRelaxTight checks that the relaxations are not sound merely by being loose: on narrow intervals
// both lines stay within 1e-6 of the function, and in a region of fixed curvature the chord side
// touches the function at both ends.
func TestRelaxTight(t *testing.T) {
	for _, a := range []Activation{Sigmoid, Tanh} {
		for _, c := range []struct{ l, u float64 }{{-3, -3 + 1e-3}, {-0.5e-3, 0.5e-3}, {2, 2 + 1e-3}} {
			r := a.relax(c.l, c.u)
			for _, z := range []float64{c.l, c.u} {
				if d := (r.aU*z + r.bU) - (r.aL*z + r.bL); d > 1e-6 || d < 0 {
					t.Errorf("%v.relax(%v, %v): gap %g at %v, want within [0, 1e-6]", a, c.l, c.u, d, z)
				}
			}
		}
		// Convex region: the upper line is the chord, touching at both ends (up to the 2^-40 widening).
		r := a.relax(-4, -1)
		for _, z := range []float64{-4, -1} {
			if d := r.aU*z + r.bU - a.val(z); d > 1e-11 {
				t.Errorf("%v.relax(-4, -1): upper line %g above act at %v, want the chord", a, d, z)
			}
		}
		// Concave region: the lower line is the chord.
		r = a.relax(1, 4)
		for _, z := range []float64{1, 4} {
			if d := a.val(z) - (r.aL*z + r.bL); d > 1e-11 {
				t.Errorf("%v.relax(1, 4): lower line %g below act at %v, want the chord", a, d, z)
			}
		}
	}
}

// ratForward evaluates a relu net exactly on pixels x and returns every layer's pre-activations.
func ratForward(net *Net, x []float64) [][]*big.Rat {
	h := make([]*big.Rat, len(x))
	for i, v := range x {
		r := new(big.Rat).SetFloat64(v)
		r.Mul(r, big.NewRat(2, 1))
		h[i] = r.Sub(r, big.NewRat(1, 1))
	}
	var zs [][]*big.Rat
	for l := range len(net.W) {
		in, out := net.Sizes[l], net.Sizes[l+1]
		z := make([]*big.Rat, out)
		for i := range out {
			s := new(big.Rat).SetFloat64(float64(net.B[l][i]))
			for j := range in {
				p := new(big.Rat).SetFloat64(float64(net.W[l][i*in+j]))
				s.Add(s, p.Mul(p, h[j]))
			}
			z[i] = s
		}
		zs = append(zs, z)
		h = make([]*big.Rat, out)
		for i, v := range z {
			if v.Sign() > 0 {
				h[i] = v
			} else {
				h[i] = new(big.Rat)
			}
		}
	}
	return zs
}

// wideNet is a relu net whose weights span magnitudes 2^-20 … 2^20 with both signs, and whose last layer
// subtracts near-equal terms, so that float64 rounding is visible at the corners of the ball where IBP
// and CROWN are tight.
func wideNet(rng *rand.Rand, sizes []int) *Net {
	n := randomNet(rng, sizes, ReLU, 1)
	for l := range n.W {
		for i := range n.W[l] {
			e := rng.IntN(41) - 20
			n.W[l][i] = float32(math.Ldexp(1+rng.Float64(), e)) * float32(1-2*rng.IntN(2))
		}
		for i := range n.B[l] {
			n.B[l][i] = float32(math.Ldexp(1+rng.Float64(), rng.IntN(41)-20)) * float32(1-2*rng.IntN(2))
		}
	}
	return n
}

// TestBoundsExactRelu checks IBP and CROWN (Real semantics) against big.Rat evaluations of relu nets
// with wide-ranging weights at the centre and corners of the ball, and at a point ball (eps 0), where a
// bound that forgot its rounding margin would be on the wrong side about half the time.
func TestBoundsExactRelu(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	for ci, sizes := range [][]int{{5, 4}, {40, 2}, {30, 3, 2}, {6, 5, 3}, {4, 6, 5, 3}} {
		for rep := range 6 {
			net := wideNet(rng, sizes)
			v, err := New(*net, Options{Semantics: Real})
			if err != nil {
				t.Fatal(err)
			}
			for _, eps := range []float64{0, 1e-9, 0.05} {
				name := fmt.Sprintf("net %d.%d %v eps %v", ci, rep, sizes, eps)
				x := randomPixels(rng, sizes[0])
				y := rng.IntN(sizes[len(sizes)-1])
				in, _ := Ball(x, eps)
				ib, err1 := v.IBP(in, y)
				cr, err2 := v.CROWN(in, y)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: %v %v", name, err1, err2)
				}
				for p := range 60 {
					pt := ballPoint(rng, x, eps, p > 0)
					if p == 0 {
						pt = ballPoint(rng, x, 0, false)
					}
					zs := ratForward(net, pt)
					for _, b := range []*Bounds{ib, cr} {
						for l, z := range zs {
							for i, zi := range z {
								if !math.IsInf(b.Pre[l].Lo[i], 0) {
									lo := new(big.Rat).SetFloat64(b.Pre[l].Lo[i])
									if zi.Cmp(lo) < 0 {
										t.Fatalf("%s: point %d: layer %d neuron %d = %v below its bound %v", name, p, l, i, zi.FloatString(20), b.Pre[l].Lo[i])
									}
								}
								if !math.IsInf(b.Pre[l].Hi[i], 0) {
									hi := new(big.Rat).SetFloat64(b.Pre[l].Hi[i])
									if zi.Cmp(hi) > 0 {
										t.Fatalf("%s: point %d: layer %d neuron %d = %v above its bound %v", name, p, l, i, zi.FloatString(20), b.Pre[l].Hi[i])
									}
								}
							}
						}
						logits := zs[len(zs)-1]
						for j, m := range b.Margins {
							if j == y || math.IsInf(m, -1) {
								continue
							}
							d := new(big.Rat).Sub(logits[y], logits[j])
							if d.Cmp(new(big.Rat).SetFloat64(m)) < 0 {
								t.Fatalf("%s: point %d: margin %d = %v below its bound %v", name, p, j, d.FloatString(20), m)
							}
						}
					}
				}
			}
		}
	}
}

// rat is x as an exact rational.
func rat(x float64) *big.Rat { return new(big.Rat).SetFloat64(x) }

// minLinear is the exact min over v_j ∈ [lo_j, hi_j] of Σ_j d_j·v_j, for exact coefficients d.
func minLinear(d []*big.Rat, lo, hi []float64) *big.Rat {
	s := new(big.Rat)
	for j, dj := range d {
		end := hi[j]
		if dj.Sign() > 0 {
			end = lo[j]
		}
		s.Add(s, new(big.Rat).Mul(dj, rat(end)))
	}
	return s
}

// TestStepsExact checks each backward step of CROWN on its own, in exact arithmetic, at the worst
// point of its box, with rows of wide-ranging magnitudes and cancellation, so that each step's own
// rounding margin must cover its own rounding (the steps' margins can hide each other in whole nets):
//
//	throughLinear: Σ_i λ_i·z_i(h) + c ≥ Σ_j λ'_j·h_j + c'  for all h in h[l]'s box,
//	throughAct:    Σ_j λ_j·relu(z_j) + c ≥ Σ_j λ'_j·z_j + c'  for all z in z[l]'s box,
//	concretize:    Σ_j λ_j·h_j + c ≥ bound  for all h in h[0]'s box.
func TestStepsExact(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	wideVal := func() float64 {
		return math.Ldexp(1+rng.Float64(), rng.IntN(61)-30) * float64(1-2*rng.IntN(2))
	}
	for rep := range 60 {
		sizes := []int{30 + rng.IntN(20), 3 + rng.IntN(20), 2 + rng.IntN(5)}
		net := wideNet(rng, sizes)
		net.Act = Activation(rep % 3)
		v, err := New(*net, Options{Semantics: Real})
		if err != nil {
			t.Fatal(err)
		}
		w := v.newWork()
		x := randomPixels(rng, sizes[0])
		in, _ := Ball(x, []float64{0, 1e-6, 0.1}[rep%3])
		if err := w.ibp(in, 0); err != nil {
			t.Fatal(err)
		}
		w.relax(0)
		K := 4
		fill := func(n int) {
			for k := range K {
				for j := range n {
					w.lamA[k*n+j] = wideVal()
					if rng.IntN(4) == 0 {
						w.lamA[k*n+j] = 0
					}
				}
				w.cst[k] = wideVal()
			}
		}
		// throughLinear at layer 1 (z[1] over h[1]) and layer 0 (z[0] over the input).
		for _, l := range []int{1, 0} {
			ly := &v.layers[l]
			fill(ly.out)
			src := append([]float64(nil), w.lamA[:K*ly.out]...)
			c0 := append([]float64(nil), w.cst[:K]...)
			w.throughLinear(l, K, w.lamA, w.lamB)
			for k := range K {
				// Σ_i λ_i z_i + c − Σ_j λ'_j h_j − c' = Σ_j (Σ_i λ_i W_ij − λ'_j)·h_j + Σ_i λ_i b_i + c − c'.
				d := make([]*big.Rat, ly.in)
				for j := range ly.in {
					s := new(big.Rat).Neg(rat(w.lamB[k*ly.in+j]))
					for i := range ly.out {
						s.Add(s, new(big.Rat).Mul(rat(src[k*ly.out+i]), rat(ly.w[i*ly.in+j])))
					}
					d[j] = s
				}
				slack := minLinear(d, w.h[l].Lo, w.h[l].Hi)
				for i := range ly.out {
					slack.Add(slack, new(big.Rat).Mul(rat(src[k*ly.out+i]), rat(ly.b[i])))
				}
				slack.Add(slack, rat(c0[k]))
				slack.Sub(slack, rat(w.cst[k]))
				if slack.Sign() < 0 {
					t.Fatalf("rep %d: throughLinear(%d) row %d: the new row exceeds the old by %v", rep, l, k, slack.FloatString(30))
				}
			}
		}
		// throughAct at hidden layer 0, given its lines (TestRelaxSound checks the lines):
		// Σ_j λ_j·(s_j·z_j + t_j) + c − Σ_j λ'_j·z_j − c' ≥ 0 for every z in the box, where (s_j, t_j)
		// is the lower line for λ_j > 0 and the upper one otherwise.
		n := v.layers[0].out
		fill(n)
		src := append([]float64(nil), w.lamA[:K*n]...)
		c0 := append([]float64(nil), w.cst[:K]...)
		w.throughAct(0, K, w.lamA)
		for k := range K {
			slack := new(big.Rat).Sub(rat(c0[k]), rat(w.cst[k]))
			d := make([]*big.Rat, n)
			for j := range n {
				a, r := src[k*n+j], w.rel[0][j]
				s, tt := r.aU, r.bU
				if a > 0 {
					s, tt = r.aL, r.bL
				}
				if a != 0 && math.IsInf(tt, 0) {
					t.Fatalf("rep %d: infinite intercept", rep)
				}
				d[j] = new(big.Rat).Mul(rat(a), rat(s))
				d[j].Sub(d[j], rat(w.lamA[k*n+j]))
				if a != 0 {
					slack.Add(slack, new(big.Rat).Mul(rat(a), rat(tt)))
				}
			}
			slack.Add(slack, minLinear(d, w.z[0].Lo, w.z[0].Hi))
			if slack.Sign() < 0 {
				t.Fatalf("rep %d (%v): throughAct row %d: the new row exceeds the old by %v", rep, net.Act, k, slack.FloatString(30))
			}
		}
		// concretize over the input box.
		n = sizes[0]
		fill(n)
		w.concretize(0, K, w.lamA, w.bnd)
		for k := range K {
			d := make([]*big.Rat, n)
			for j := range n {
				d[j] = rat(w.lamA[k*n+j])
			}
			m := minLinear(d, w.h[0].Lo, w.h[0].Hi)
			m.Add(m, rat(w.cst[k]))
			if m.Cmp(rat(w.bnd[k])) < 0 {
				t.Fatalf("rep %d: concretize row %d = %v, above the exact minimum %v", rep, k, w.bnd[k], m.FloatString(30))
			}
		}
	}
}
