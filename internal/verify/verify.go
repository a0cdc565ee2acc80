// Package verify certifies the robustness of dltrain's MLPs: it proves that no input in an L∞ ball
// around an image (intersected with the pixel range [0, 1]) changes the predicted class, by interval
// bound propagation (IBP, Gowal et al. 2018) or by CROWN's backward linear relaxation (Zhang et al.
// 2018), which is tighter. It is a pure library that imports nothing of dltrain's: the caller converts
// a model into a Net.
//
// # The network
//
// A Net maps pixels x ∈ [0, 1]^Sizes[0] to Sizes[L] logits. Like dltrain's model it normalizes inside,
// h₀ = (x − 0.5)/0.5 = 2x − 1, then applies L linear layers z_l = W_l·h_l + b_l, with h_{l+1} = act(z_l)
// between them (relu, sigmoid or tanh) and raw logits z_{L−1} at the end. W_l is (Sizes[l+1], Sizes[l])
// row-major float32, b_l is (Sizes[l+1]) float32. An image with label y is certified when a lower
// bound of every margin z_y − z_j, j ≠ y, is strictly positive over the whole input domain.
//
// # What a certificate covers
//
// Under Real semantics, a certificate is a statement about the exact real-valued network whose
// weights are the stored float32 values, for every real input in the domain.
//
// Under Float32 semantics (the default) it also covers every float32 evaluation of that network that
// rounds the way dltrain's inference does: the input normalized in float32 (within 2^-23 of 2x − 1,
// for a uint8 image p/255 through dltrain's table or a float32 pixel); every pre-activation computed
// as a float32 sum of its Sizes[l] products and the bias in any order, with or without fused
// multiply-adds, with or without flush-to-zero (dltrain's CPU GEMM, cuBLAS SGEMM as long as TF32 is not
// enabled); relu exact; sigmoid and tanh within Options.ActErr of the true value and inside their
// ranges [0, 1] and [−1, 1]; the argmax taken on the float32 logits. The default ActErr, 2^-22, covers
// dltrain's CPU backend, which evaluates them in float32 (internal/cpu/fastmath.go: at most 2 ulp
// from the rounded value for sigmoid and 1 for tanh, so under 2.5·2^-24 absolute for results of
// magnitude ≤ 1; its tests check every sampled input against this constant, and the largest errors
// over all 2^32 float32 inputs are 1.5·2^-24 for sigmoid and 1.33·2^-24 for tanh, bench/NOTES.md). It does not cover the CUDA backend's sigmoid
// and tanh, which use ex2.approx: their error has not been bounded here, and a caller who wants that
// must pass a bound it has established. Relu nets are covered on both backends.
//
// Float32 semantics model each float32 evaluation as the exact network plus bounded perturbations:
// z_l = W_l·h_l + b_l + e_l with |e_l,i| ≤ γ32_{C+1}·(Σ_j |W_l,ij|·|h_l,j| + |b_l,i|) + (underflow),
// γ32_n = n·2^-24/(1 − n·2^-24), and h_{l+1} = act(z_l) + d_l with |d_l| ≤ ActErr. IBP bounds the
// magnitudes, so e_l is bounded per neuron; both IBP and CROWN then carry e and d as extra bounded
// inputs (Σ|λ_i|·E_i and Σ|λ_j|·ActErr are subtracted from a row's lower bound). The exact network is
// the case e = d = 0, so a Float32 certificate implies a Real one. The bound on e_l holds while no
// float32 product or partial sum overflows; a neuron for which IBP cannot rule that out (its magnitude
// bound plus error reaches math.MaxFloat32) gets E = +Inf, so no bound through it is finite and a
// model whose float32 logits may be ±Inf is never certified.
//
// # Why floating point never makes a certificate unsound
//
// Everything runs in float64 (u = 2^-53). Each bound is either an inequality that holds exactly for
// the float64 numbers at hand, or is widened by a rigorous bound of the rounding error made computing
// it, in one of two ways:
//
//   - Dot products in the hot loops (IBP's W·c and |W|·r, CROWN's λ·W, the final λ·x) run in plain
//     float64. A sum of n products computed in any order, with or without FMA, is within
//     γ_n·Σ|a_i·b_i| of the exact sum, γ_n = n·u/(1 − n·u) (Higham 2002, §3.1). Σ|a_i·b_i| is
//     computed alongside as a float sum S̃ of non-negative terms; the exact value is at most
//     S̃/(1 − γ_n) ≤ S̃·(1 + 2γ_n). So the error is at most γ_n·(1 + 2γ_n)·S̃ (dotFactor). Where a
//     product's magnitude is not at hand (the entries of λ·W multiply an unknown h), IBP's magnitude
//     bounds |h_j| ≤ m_j stand in: the error of Σ_j (λW)_j·h_j is at most γ_n·Σ_i |λ_i|·A_i with
//     A_i ≥ Σ_j |W_ij|·m_j + |b_i|, one vector product per row instead of a second matrix product.
//     Underflow adds at most 2^-1022 per operation (gradual underflow: 2^-1075 per product, sums of
//     subnormals are exact); a term (4n + 4)·2^-1022·(1 + Σ_j m_j), generous by a factor of two,
//     covers both the products' own loss and their effect through |h_j| ≤ m_j.
//   - The few scalar operations that combine these (centres, radii, intercepts, the accumulated
//     constant of each CROWN row, the final subtraction of the error terms) are rounded outward by one
//     ulp: IEEE round-to-nearest returns one of the two floats that bracket the exact result, so the
//     next float in the wanted direction (up, down in round.go) bounds it.
//
// The widened lower bound of a quantity is therefore a lower bound of the exact real quantity. NaN
// (only reachable with absurd weights) turns a lower bound into −Inf, so it never certifies.
//
// Sigmoid and tanh values come from math.Exp and math.Tanh. Go does not document their accuracy for
// every platform (the pure-Go Exp states an error below 1 ulp, Cephes' tanh measured 2.5e-16 peak; the
// amd64 Exp is SLEEF assembly with no stated bound), so this package assumes their results are within
// 2^-40 of the true values, a factor of more than 1000 above those figures; TestActivationAccuracy
// checks the assumption against a big.Float series at many points. Every sigmoid or tanh value is
// widened by 2^-40 and every derivative s(1 − s) or 1 − t² by 2^-38.
//
// # CROWN
//
// CROWN (crown.go) bounds each margin row backward through the network: a linear layer maps a row λ
// over z_l to λ·W_l over h_l; an activation is replaced by a linear lower or upper bound on the
// interval of its input, chosen by the sign of λ_j. Relu uses the chord above an unstable neuron and
// the adaptive slope below it (1 when u ≥ −l, else 0). Sigmoid and tanh use chords and tangents chosen
// as in CROWN (tangents found by bisection), but the intercepts are not taken from the tangency
// conditions: they are computed as rigorous bounds of max/min (act(z) − a·z) over the interval, using
// convexity on z ≤ 0 and concavity on z ≥ 0, so a slope that is slightly off costs tightness, never
// soundness. Intermediate pre-activation bounds of layers 1 … L−1 are computed by CROWN too (for relu
// only for the unstable neurons, the only ones whose relaxation depends on them; for sigmoid and tanh
// for all), the first layer's by IBP, which is exact there up to rounding. Every CROWN bound is
// intersected with IBP's, so CROWN is never looser than IBP.
//
// This package does not attack: attacks (and the certified/attacked/unknown verdict) belong to the
// caller; the tests carry a float64 PGD oracle used to check soundness.
package verify

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Activation is a hidden-layer nonlinearity.
type Activation int

// The activations dltrain uses. All are monotone; sigmoid and tanh are convex on z ≤ 0 and concave on
// z ≥ 0, which the CROWN relaxations rely on.
const (
	ReLU Activation = iota
	Sigmoid
	Tanh
)

var activationNames = []string{"relu", "sigmoid", "tanh"}

func (a Activation) String() string {
	if a < 0 || int(a) >= len(activationNames) {
		return fmt.Sprintf("activation(%d)", int(a))
	}
	return activationNames[a]
}

// Net is an MLP to verify: Sizes are the layer widths from input to logits (e.g. 784, 128, 10); W[l]
// is layer l's weight (Sizes[l+1], Sizes[l]) row-major and B[l] its bias (Sizes[l+1]). Act is applied
// after every layer but the last. Inputs are pixels in [0, 1], normalized inside as 2x − 1.
type Net struct {
	Sizes []int
	Act   Activation
	W, B  [][]float32
}

// maxWidth bounds every layer width, as dltrain's model does.
const maxWidth = 1 << 16

// Validate checks the shapes, the activation and that every parameter is finite.
func (n *Net) Validate() error {
	if len(n.Sizes) < 2 {
		return fmt.Errorf("verify: need at least 2 layer sizes, have %d", len(n.Sizes))
	}
	for _, s := range n.Sizes {
		if s < 1 || s > maxWidth {
			return fmt.Errorf("verify: layer width %d out of range 1..%d", s, maxWidth)
		}
	}
	if n.Sizes[len(n.Sizes)-1] < 2 {
		return errors.New("verify: need at least 2 classes")
	}
	if n.Act < ReLU || n.Act > Tanh {
		return fmt.Errorf("verify: bad activation %v", n.Act)
	}
	L := len(n.Sizes) - 1
	if len(n.W) != L || len(n.B) != L {
		return fmt.Errorf("verify: %d layers need %d weights and biases, have %d and %d", L, L, len(n.W), len(n.B))
	}
	for l := range L {
		in, out := n.Sizes[l], n.Sizes[l+1]
		if len(n.W[l]) != out*in || len(n.B[l]) != out {
			return fmt.Errorf("verify: layer %d: weight has %d values and bias %d, want %d×%d and %d",
				l, len(n.W[l]), len(n.B[l]), out, in, out)
		}
		for i, v := range n.W[l] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("verify: layer %d: weight %d is %v", l, i, v)
			}
		}
		for i, v := range n.B[l] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("verify: layer %d: bias %d is %v", l, i, v)
			}
		}
	}
	return nil
}

// Semantics says which computations a certificate speaks for (see the package comment).
type Semantics int

const (
	// Float32 covers the exact network and every float32 evaluation of it that rounds as dltrain's
	// inference does. It is the default.
	Float32 Semantics = iota
	// Real covers only the exact real-valued network with the stored float32 weights.
	Real
)

func (s Semantics) String() string {
	switch s {
	case Float32:
		return "float32"
	case Real:
		return "real"
	}
	return fmt.Sprintf("semantics(%d)", int(s))
}

// DefaultActErr is the default bound, under Float32 semantics, on |act_f32(z) − act(z)| for sigmoid
// and tanh: dltrain's CPU backend evaluates them in float32 to within 2.5·2^-24 (internal/cpu's
// TestFastMathSweep checks it against this constant), and the bound leaves room above that.
const DefaultActErr = 0x1p-22

// Options tune what a certificate covers.
type Options struct {
	Semantics Semantics
	// ActErr is, under Float32 semantics, a bound on the absolute error of a float32 evaluation's
	// sigmoid or tanh; 0 means DefaultActErr. Relu is exact and ignores it.
	ActErr float64
}

// Method is the bounding method.
type Method int

// The methods: IBP is fast and loose; CROWN is tighter and costs a backward pass per image.
const (
	IBP Method = iota
	CROWN
)

func (m Method) String() string {
	switch m {
	case IBP:
		return "ibp"
	case CROWN:
		return "crown"
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// ParseMethod maps "ibp" or "crown" to a Method.
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(s) {
	case "ibp":
		return IBP, nil
	case "crown":
		return CROWN, nil
	}
	return 0, fmt.Errorf("verify: unknown method %q (want ibp or crown)", s)
}

// Box is an axis-aligned box: Lo[i] ≤ v[i] ≤ Hi[i].
type Box struct {
	Lo, Hi []float64
}

func newBox(n int) Box { return Box{Lo: make([]float64, n), Hi: make([]float64, n)} }

func (b Box) clone() Box {
	return Box{Lo: append([]float64(nil), b.Lo...), Hi: append([]float64(nil), b.Hi...)}
}

// Ball is the input domain {v : |v − x|∞ ≤ eps, 0 ≤ v ≤ 1} around pixels x in [0, 1], rounded outward.
func Ball(x []float32, eps float64) (Box, error) {
	if err := checkEps(eps); err != nil {
		return Box{}, err
	}
	b := newBox(len(x))
	for i, v := range x {
		f := float64(v)
		if !(f >= 0 && f <= 1) {
			return Box{}, fmt.Errorf("verify: pixel %d is %v, outside [0, 1]", i, v)
		}
		b.Lo[i] = max(0, subDown(f, eps))
		b.Hi[i] = min(1, addUp(f, eps))
	}
	return b, nil
}

// PixelBall is Ball around the exact values p/255 of uint8 pixels, as stored in MNIST.
func PixelBall(p []uint8, eps float64) (Box, error) {
	if err := checkEps(eps); err != nil {
		return Box{}, err
	}
	b := newBox(len(p))
	pixelBall(b, p, eps)
	return b, nil
}

// pixelBall fills b; fl(p/255) is within half an ulp of p/255, so down and up of it bracket it.
func pixelBall(b Box, p []uint8, eps float64) {
	for i, v := range p {
		f := float64(v) / 255
		b.Lo[i] = max(0, subDown(down(f), eps))
		b.Hi[i] = min(1, addUp(up(f), eps))
	}
}

func checkEps(eps float64) error {
	if !(eps >= 0 && eps <= 1) {
		return fmt.Errorf("verify: eps %v, want a number in [0, 1]", eps)
	}
	return nil
}

// Bounds are the bounds that IBP or CROWN proved on one input domain.
type Bounds struct {
	// Pre[l] bounds the pre-activations z_l of linear layer l (Sizes[l+1] values); Pre[L−1] bounds the
	// logits. Under Float32 semantics they also bound the float32 evaluations' values.
	Pre []Box
	// Margins[j] is a lower bound of z_y − z_j over the domain for the label y and j ≠ y;
	// Margins[y] is +Inf.
	Margins []float64
}

// Result is one image's certificate.
type Result struct {
	// Margin is a lower bound of min_{j≠y} (z_y − z_j) over the domain.
	Margin float64
	// Certified is Margin > 0: no input in the domain changes the prediction from the label.
	Certified bool
}
