package cpu

import "math"

// This file is the float32 sigmoid and tanh of the CPU backend's fast path. The reference
// (internal/ref) computes them in float64 with math.Exp and math.Tanh, one element at a time, and
// that cost a tanh or sigmoid net more than half its epoch; these run eight lanes at a time in AVX2
// (fastmath_amd64.s) with the same steps as the scalar Go below, which is the portable path and the
// readable statement of the algorithm. It is not a general math library: inputs are float32, NaN
// passes through, and accuracy is what training needs, measured below.
//
// exp(t), for t clamped to [−87.33, 88.37] (so that 2^n below is a normal float32):
//
//	n = round(t·log2 e)                      to nearest, ties to even
//	r = (t − n·C1) − n·C2                    C1 + C2 = ln 2, C1 = 0.693359375 exact in 9 bits, so
//	                                         n·C1 is exact and r is t − n·ln 2 to within an ulp
//	e^r ≈ (P(r)·r² + r) + 1                  P of degree 5 (Cephes expf), |r| ≤ ln2/2
//	exp(t) = e^r · 2^n                       2^n assembled from its exponent bits
//
// sigmoid(x) = 1/(1 + exp(−x)), the argument of exp clamped as above: for x > 87.33 the result is
// 1 (exact: the true value rounds to 1 from x > 17.3), and for x < −88.37 it is sigmoid(−88.37) ≈
// 4e-39 instead of a smaller subnormal or 0.
//
// tanh(x): for |x| < 0.625, x + x·z·Q(z) with z = x² and Q of degree 4 (Cephes tanhf); otherwise
// sign(x)·(1 − 2/(exp(2|x|) + 1)) with 2|x| clamped to 20 (tanh(x) rounds to ±1 in float32 for
// |x| > 9.01, and so does this). Either way the result takes the sign bit of x, so tanh(−0) = −0.
//
// Every multiply-add above is one fused operation (VFMADD in the assembly, math.FMA here), and the
// assembly and Go perform the same operations in the same order.
//
// Error against float64 math.Tanh and 1/(1+math.Exp(−x)) rounded to float32, in units in the last
// place of the float32 result, over all 2^32 float32 inputs (TestFastMathExhaustive with
// DLTRAIN_EXHAUSTIVE=1, 6 minutes of CPU time; bench/NOTES.md records the run; make test runs
// TestFastMathSweep, 5 million of them):
//
//	tanh:    at most 1 ulp (0 ulp below |x| = 2^-12 and above 9.01); the tests allow 2
//	sigmoid: at most 2 ulp where the result is a normal float32 (x ≥ −87.3); below, where the
//	         true result is subnormal, the absolute error is under 4.2e-39; the tests allow 3
//
// The assembly and the Go gave the same bits for every input. The conformance suite's tolerance for
// both is 2e-6 absolute and relative, about 17 ulp at 1.

// Constants of the algorithm above; fastmath_amd64.s holds the same bits.
const (
	expLog2e = float32(1.44269504088896341)
	expC1    = float32(0.693359375)
	expC2    = float32(-2.12194440e-4)
	expHi    = float32(88.37)
	expLo    = float32(-87.33)
	tanhTo   = float32(20) // clamp of 2|x|
	tanhPoly = float32(0.625)
)

var (
	expP  = [6]float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}
	tanhQ = [5]float32{-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1}
)

// fma32 is a·b + c with one rounding to float32 (up to the rare double rounding of going through
// float64; the assembly rounds once).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// expClamped is exp(t) for t already clamped to [expLo, expHi], or NaN.
func expClamped(t float32) float32 {
	n := float32(math.RoundToEven(float64(t * expLog2e)))
	r := fma32(-n, expC1, t)
	r = fma32(-n, expC2, r)
	z := r * r
	p := expP[0]
	for _, c := range expP[1:] {
		p = fma32(p, r, c)
	}
	y := fma32(p, z, r) + 1
	if n != n { // NaN: the assembly's conversion gives 2^0 here, and y is NaN anyway
		return y
	}
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// minNaN and maxNaN are MINPS and MAXPS with x as the second source: x when x is NaN.
func minNaN(c, x float32) float32 {
	if c < x {
		return c
	}
	return x
}

func maxNaN(c, x float32) float32 {
	if c > x {
		return c
	}
	return x
}

// sigmoidGo is 1/(1 + e^(−x)) by the algorithm above.
func sigmoidGo(x float32) float32 {
	t := maxNaN(expLo, minNaN(expHi, -x))
	return 1 / (expClamped(t) + 1)
}

// tanhGo is tanh(x) by the algorithm above.
func tanhGo(x float32) float32 {
	a := float32(math.Abs(float64(x)))
	if a < tanhPoly {
		z := x * x
		q := tanhQ[0]
		for _, c := range tanhQ[1:] {
			q = fma32(q, z, c)
		}
		// The sign of x is set on the result: a no-op but at −0, where this rounds to +0.
		return float32(math.Copysign(float64(fma32(q*z, x, x)), float64(x)))
	}
	e := expClamped(minNaN(tanhTo, a+a))
	y := 1 - 2/(e+1)
	return float32(math.Copysign(float64(y), float64(x)))
}
