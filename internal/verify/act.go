// act.go: rigorous enclosures of relu, sigmoid and tanh and of their derivatives, and the linear
// relaxations CROWN uses: on an interval [l, u] of the pre-activation, lines a_L·z + b_L ≤ act(z) ≤
// a_U·z + b_U.
//
// It does not pick optimal slopes (α-CROWN's optimization is not done): the slopes are CROWN's
// heuristics; only the intercepts are computed rigorously.

package verify

import "math"

// Assumed accuracy of math.Exp and math.Tanh as used below, on values and on derivatives (see the
// package comment; TestActivationAccuracy checks it).
const (
	actValErr   = 0x1p-40
	actDerivErr = 0x1p-38
)

// val is the float64 value of a sigmoid or tanh (relu is not computed here).
func (a Activation) val(z float64) float64 {
	if a == Tanh {
		return math.Tanh(z)
	}
	return 1 / (1 + math.Exp(-z))
}

// rangeLo and rangeHi are the closed range of the activation.
func (a Activation) rangeLo() float64 {
	switch a {
	case ReLU, Sigmoid:
		return 0
	}
	return -1
}

func (a Activation) rangeHi() float64 {
	if a == ReLU {
		return math.Inf(1)
	}
	return 1
}

// enclose returns lo ≤ act(z) ≤ hi for a float z.
func (a Activation) enclose(z float64) (lo, hi float64) {
	if a == ReLU {
		return max(z, 0), max(z, 0)
	}
	v := a.val(z)
	return max(a.rangeLo(), subDown(v, actValErr)), min(a.rangeHi(), addUp(v, actValErr))
}

// deriv returns lo ≤ act'(z) ≤ hi for a float z: s(1 − s) for sigmoid, 1 − t² for tanh, each within
// 2·actValErr plus two roundings of the computed value, which actDerivErr covers.
func (a Activation) deriv(z float64) (lo, hi float64) {
	d, top := a.derivOf(a.val(z)), 0.25
	if a == Tanh {
		top = 1
	}
	return max(0, subDown(d, actDerivErr)), min(top, addUp(d, actDerivErr))
}

// derivMid is a plain estimate of act'(z), for choosing slopes.
func (a Activation) derivMid(z float64) float64 {
	lo, hi := a.deriv(z)
	return (lo + hi) / 2
}

// relaxation is a linear lower and upper bound of act(z) for z in an interval.
type relaxation struct {
	aL, bL, aU, bU float64
}

// relax returns lines with aL·z + bL ≤ act(z) ≤ aU·z + bU for every real z in [l, u] (l ≤ u).
func (a Activation) relax(l, u float64) relaxation {
	if a == ReLU {
		return reluRelax(l, u)
	}
	if math.IsInf(l, 0) || math.IsInf(u, 0) || l != l || u != u {
		return relaxation{0, a.rangeLo(), 0, a.rangeHi()}
	}
	aU, mU := a.upperSlope(l, u)
	// By symmetry (sigmoid(−z) = 1 − sigmoid(z), tanh(−z) = −tanh(z)), a good lower slope on [l, u] is a
	// good upper slope on [−u, −l], with the point mirrored.
	aL, mL := a.upperSlope(-u, -l)
	mL = -mL
	return relaxation{
		aL: aL, bL: finiteOr(a.lowerIntercept(aL, l, u, mL), math.Inf(-1)),
		aU: aU, bU: finiteOr(a.upperIntercept(aU, l, u, mU), math.Inf(1)),
	}
}

// reluRelax: stable neurons are exact; an unstable one gets the chord above and slope 1 or 0 below,
// whichever leaves the smaller area (CROWN-Ada). relu(z) ≥ α·z holds for any α in [0, 1] exactly. For
// the chord, relu(z) − a·z is convex, so its maximum over [l, u] is at an end: max(−a·l, u − a·u).
func reluRelax(l, u float64) relaxation {
	switch {
	case l >= 0:
		return relaxation{1, 0, 1, 0}
	case u <= 0:
		return relaxation{0, 0, 0, 0}
	}
	var r relaxation
	if u >= -l {
		r.aL = 1
	}
	if math.IsInf(u, 1) {
		r.aU, r.bU = 1, math.Inf(1)
		if !math.IsInf(l, -1) {
			r.bU = -l // relu(z) ≤ z − l for z ≥ l, l < 0: exact
		}
		return r
	}
	r.aU = u / (u - l)
	if math.IsInf(l, -1) || r.aU != r.aU {
		r.aU, r.bU = 0, u // relu(z) ≤ u
		return r
	}
	r.bU = max(mulUp(-r.aU, l), subUp(u, mulDown(r.aU, u)))
	return r
}

// upperSlope chooses CROWN's slope for an upper line on [l, u] and a point m where the line nearly
// touches the concave part (only used when u > 0): the chord where it lies above the function, else
// the tangent at the midpoint (concave interval) or the tangent through (l, act(l)) found by bisection.
func (a Activation) upperSlope(l, u float64) (slope, m float64) {
	mid := l/2 + u/2
	if u-l <= 1e-9*(1+math.Abs(mid)) {
		return a.derivMid(mid), mid
	}
	chord := (a.val(u) - a.val(l)) / (u - l)
	switch {
	case u <= 0:
		return chord, u
	case l >= 0:
		return a.derivMid(mid), mid
	case a.derivMid(u) >= chord:
		return chord, u
	}
	// The tangent at d ∈ [0, u] reaches at l the value act(d) + act'(d)·(l − d); it is below act(l) at
	// d = 0 and grows with d. Take the smallest d where it is above.
	lo, hi := 0.0, u
	fl := a.val(l)
	for range 24 {
		d := lo/2 + hi/2
		v := a.val(d)
		if v+a.derivOf(v)*(l-d) >= fl {
			hi = d
		} else {
			lo = d
		}
	}
	return a.derivMid(hi), hi
}

// derivOf is act' from the value v = act(z), unwidened.
func (a Activation) derivOf(v float64) float64 {
	if a == Tanh {
		return 1 - v*v
	}
	return v * (1 - v)
}

// gHi and gLo bound g(z) = act(z) − a·z at a float z.
func (a Activation) gHi(s, z float64) float64 {
	_, hi := a.enclose(z)
	return subUp(hi, mulDown(s, z))
}

func (a Activation) gLo(s, z float64) float64 {
	lo, _ := a.enclose(z)
	return subDown(lo, mulUp(s, z))
}

// tangentHi bounds max g over [p, q] where g is concave, from the tangent at m ∈ [p, q]:
// g(z) ≤ g(m) + g'(m)·(z − m), with g'(m) = act'(m) − s in an enclosure [dlo, dhi] and z − m in
// [p − m, q − m]; the maximum of the product is at a corner.
func (a Activation) tangentHi(s, p, q, m float64) float64 {
	m = min(max(m, p), q)
	d0, d1 := a.deriv(m)
	dlo, dhi := subDown(d0, s), subUp(d1, s)
	olo, ohi := subDown(p, m), subUp(q, m)
	return addUp(a.gHi(s, m), max(mulUp(dlo, olo), mulUp(dlo, ohi), mulUp(dhi, olo), mulUp(dhi, ohi)))
}

// tangentLo bounds min g over [p, q] where g is convex, the same way.
func (a Activation) tangentLo(s, p, q, m float64) float64 {
	m = min(max(m, p), q)
	d0, d1 := a.deriv(m)
	dlo, dhi := subDown(d0, s), subUp(d1, s)
	olo, ohi := subDown(p, m), subUp(q, m)
	return addDown(a.gLo(s, m), min(mulDown(dlo, olo), mulDown(dlo, ohi), mulDown(dhi, olo), mulDown(dhi, ohi)))
}

// upperIntercept is an upper bound of max (act(z) − s·z) over z in [l, u]. g = act − s·z is convex on
// z ≤ 0, where its maximum is at an end, and concave on z ≥ 0, where the tangent at m bounds it.
func (a Activation) upperIntercept(s, l, u, m float64) float64 {
	switch {
	case u <= 0:
		return max(a.gHi(s, l), a.gHi(s, u))
	case l >= 0:
		return a.tangentHi(s, l, u, m)
	}
	return max(a.gHi(s, l), a.gHi(s, 0), a.tangentHi(s, 0, u, m))
}

// lowerIntercept is a lower bound of min (act(z) − s·z) over z in [l, u], symmetrically.
func (a Activation) lowerIntercept(s, l, u, m float64) float64 {
	switch {
	case u <= 0:
		return a.tangentLo(s, l, u, m)
	case l >= 0:
		return min(a.gLo(s, l), a.gLo(s, u))
	}
	return min(a.tangentLo(s, l, 0, m), a.gLo(s, 0), a.gLo(s, u))
}
