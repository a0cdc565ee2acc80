// trig.go: sine and cosine as float32 polynomials that the PTX kernel evaluates with the same
// constants in the same order, so both sides rotate by exactly the same matrix. The GPU's sin.approx
// and cos.approx would differ from Go's math by several ulp; these do not differ at all.
//
// Taylor series on [−π/2, π/2] (Params.Validate caps rotation at 90°): the first omitted terms,
// x¹³/13! and x¹⁴/14!, are below 6e-8 there, under float32's half-ulp of 1. Not meant for wider angles.

package augment

// The coefficients, rounded to float32. The PTX spells them as hex bit patterns (0f...), and the
// kernels package's tests check that each appears there.
const (
	sin3  float32 = -1.0 / 6
	sin5  float32 = 1.0 / 120
	sin7  float32 = -1.0 / 5040
	sin9  float32 = 1.0 / 362880
	sin11 float32 = -1.0 / 39916800
	cos2  float32 = -1.0 / 2
	cos4  float32 = 1.0 / 24
	cos6  float32 = -1.0 / 720
	cos8  float32 = 1.0 / 40320
	cos10 float32 = -1.0 / 3628800
	cos12 float32 = 1.0 / 479001600
)

// sincos returns sin x and cos x for |x| ≤ π/2 by Horner's rule in x², each product and sum rounded
// to float32 on its own (the explicit conversions stop Go from fusing them into FMAs on any target):
//
//	x2 = x·x
//	ps = ((((s11·x2 + s9)·x2 + s7)·x2 + s5)·x2 + s3);  sin = x + (x2·x)·ps
//	pc = (((((c12·x2 + c10)·x2 + c8)·x2 + c6)·x2 + c4)·x2 + c2);  cos = 1 + x2·pc
func sincos(x float32) (sin, cos float32) {
	x2 := x * x
	ps := float32(sin11*x2) + sin9
	ps = float32(ps*x2) + sin7
	ps = float32(ps*x2) + sin5
	ps = float32(ps*x2) + sin3
	x3 := x2 * x
	sin = x + float32(x3*ps)
	pc := float32(cos12*x2) + cos10
	pc = float32(pc*x2) + cos8
	pc = float32(pc*x2) + cos6
	pc = float32(pc*x2) + cos4
	pc = float32(pc*x2) + cos2
	cos = 1 + float32(x2*pc)
	return sin, cos
}

// Coefficients lists the polynomial constants in the order the PTX uses them (sin11..sin3,
// cos12..cos2), for the kernels package's check that the GPU twin carries the same bits.
func Coefficients() []float32 {
	return []float32{sin11, sin9, sin7, sin5, sin3, cos12, cos10, cos8, cos6, cos4, cos2}
}
