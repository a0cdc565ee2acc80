// round.go: directed rounding by one ulp and the a-priori error bounds of floating-point dot products
// that keep every bound of this package rigorous (the argument is in the package comment).
//
// It is not interval arithmetic: the hot loops run in plain float64 and only their results are widened
// here, by bounds computed once per dot product.

package verify

import "math"

// Unit roundoffs and underflow thresholds.
const (
	u64 = 0x1p-53 // float64 unit roundoff
	u32 = 0x1p-24 // float32 unit roundoff
	// tau64 bounds the absolute error that underflow adds to one float64 operation: gradual underflow
	// loses at most 2^-1075 per multiplication, and flush-to-zero at most 2^-1022.
	tau64 = 0x1p-1022
	// tau32 does the same for float32 with flush-to-zero (GPUs): a result or an operand below 2^-126 in
	// magnitude may become 0.
	tau32 = 0x1p-126
)

// up is the smallest float64 above x, and down the largest below: for finite x and any real r that a
// single round-to-nearest operation returned as x, up(x) ≥ r ≥ down(x), because x is one of the two
// floats that bracket r. Infinities and NaN are returned as they are, except that up(−Inf) and
// down(+Inf) step to the largest finite magnitude, which still bounds any overflowed result.
func up(x float64) float64 {
	switch {
	case x != x || x == math.Inf(1):
		return x
	case x == 0:
		return 0x1p-1074
	}
	b := math.Float64bits(x)
	if x > 0 {
		b++
	} else {
		b--
	}
	return math.Float64frombits(b)
}

func down(x float64) float64 { return -up(-x) }

// Directed operations: each rounds one operation and then steps outward one ulp.
func addUp(a, b float64) float64   { return up(a + b) }
func addDown(a, b float64) float64 { return down(a + b) }
func subUp(a, b float64) float64   { return up(a - b) }
func subDown(a, b float64) float64 { return down(a - b) }
func mulUp(a, b float64) float64   { return up(a * b) }
func mulDown(a, b float64) float64 { return down(a * b) }

// gamma is an upper bound of γ_n = n·u/(1 − n·u), and +Inf when n·u ≥ 1/2.
func gamma(n int, u float64) float64 {
	nu := float64(n) * u // exact: u is a power of two and n < 2^53
	if nu >= 0.5 {
		return math.Inf(1)
	}
	return up(up(nu) / down(1-nu))
}

// dotFactor is an upper bound of γ_n·(1 + 2γ_n). For a sum of n products Σ a_i·b_i computed in any
// order, with or without fused multiply-adds, the error is at most γ_n·Σ|a_i·b_i| (Higham, Accuracy
// and Stability of Numerical Algorithms, §3.1, where the order only changes the constant downward);
// when Σ|a_i·b_i| itself is only known as a floating-point sum S̃ of n non-negative terms, the true
// value is at most S̃/(1 − γ_n) ≤ S̃·(1 + 2γ_n). So error ≤ dotFactor(n, u)·S̃.
func dotFactor(n int, u float64) float64 {
	g := gamma(n, u)
	return up(g * up(1+up(2*g)))
}

// absSumUp turns a floating-point sum S̃ of n non-negative terms into an upper bound of the exact sum.
func absSumUp(s float64, n int) float64 {
	return mulUp(s, up(1+up(2*gamma(n, u64))))
}

// finiteOr replaces NaN by alt: a NaN lower (upper) bound becomes −Inf (+Inf), which is always sound.
func finiteOr(x, alt float64) float64 {
	if x != x {
		return alt
	}
	return x
}
