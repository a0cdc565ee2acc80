// ibp.go: the Verifier (a Net prepared once), its per-call workspace, and interval bound propagation
// forward through the layers, with every bound widened by its rounding error (package comment).
//
// It is not CROWN (crown.go), and it does not decide certificates (certify.go).

package verify

import (
	"fmt"
	"math"
)

// Verifier is a Net prepared for verification: weights widened to float64 (exactly) and the error
// factors of every layer. It is immutable and safe for concurrent use.
type Verifier struct {
	act    Activation
	sizes  []int
	layers []layer
	sem    Semantics
	actErr float64 // δ: bound on a float32 evaluation's sigmoid/tanh error; 0 under Real and for relu
	inErr  float64 // bound on a float32 evaluation's normalized-input error; 0 under Real
}

// layer is linear layer l of the net: z (out) = w (out, in) · h (in) + b (out).
type layer struct {
	in, out int
	w       []float64 // (out, in), the float32 weights converted exactly
	b       []float64 // (out)
	rowAbs  []float64 // (out): upper bound of Σ_j |w_ij| (float32 flush-to-zero of weights)
	fac64   float64   // dotFactor(in+1, u64): float64 error of a row's dot product plus bias
	gam32   float64   // γ32_{in+1}: float32 error of the same, relative to the exact abs sum
}

// New prepares net for verification under opt.
func New(net Net, opt Options) (*Verifier, error) {
	if err := net.Validate(); err != nil {
		return nil, err
	}
	if opt.Semantics != Float32 && opt.Semantics != Real {
		return nil, fmt.Errorf("verify: bad semantics %v", opt.Semantics)
	}
	if !(opt.ActErr >= 0 && opt.ActErr < 1) {
		return nil, fmt.Errorf("verify: activation error bound %v, want a number in [0, 1)", opt.ActErr)
	}
	v := &Verifier{act: net.Act, sizes: append([]int(nil), net.Sizes...), sem: opt.Semantics}
	if opt.Semantics == Float32 {
		// (float32(x) − 0.5)/0.5, or (float32(p)/255 − 0.5)/0.5: at most two roundings of magnitude
		// ≤ 2^-25 and ≤ 2^-26 before an exact doubling, so within 2^-23 of 2x − 1.
		v.inErr = 0x1p-23
		if net.Act != ReLU {
			v.actErr = opt.ActErr
			if v.actErr == 0 {
				v.actErr = DefaultActErr
			}
		}
	}
	for l := range len(net.Sizes) - 1 {
		in, out := net.Sizes[l], net.Sizes[l+1]
		ly := layer{in: in, out: out, w: make([]float64, out*in), b: make([]float64, out), rowAbs: make([]float64, out)}
		for i := range out {
			s := 0.0
			for j, x := range net.W[l][i*in : (i+1)*in] {
				ly.w[i*in+j] = float64(x)
				s += math.Abs(float64(x))
			}
			ly.rowAbs[i] = absSumUp(s, in)
			ly.b[i] = float64(net.B[l][i])
		}
		ly.fac64 = dotFactor(in+1, u64)
		ly.gam32 = gamma(in+1, u32)
		v.layers = append(v.layers, ly)
	}
	return v, nil
}

// Sizes are the layer widths.
func (v *Verifier) Sizes() []int { return append([]int(nil), v.sizes...) }

// work is the state of one verification: boxes, magnitudes and relaxations of every layer, and CROWN's
// scratch rows. One goroutine owns it; it is reused across images.
type work struct {
	v *Verifier
	h []Box // h[l] (Sizes[l]): the input of linear layer l; h[0] is the normalized input
	z []Box // z[l] (Sizes[l+1]): the output of linear layer l; z[L−1] are the logits
	// mag[l] (Sizes[l]): upper bounds of |h[l]|, and magSum[l] of their sum.
	mag    [][]float64
	magSum []float64
	A      [][]float64 // A[l] (Sizes[l+1]): upper bound of Σ_j |w_ij|·mag[l][j] + |b_i|
	E      [][]float64 // E[l] (Sizes[l+1]): float32 rounding bound of z[l] (zero under Real)
	rel    [][]relaxation
	// scratch
	c, r             []float64 // (max width): centre and radius of a box
	lamA, lamB       []float64 // (rowsMax, max width): CROWN rows
	cst, bnd         []float64 // (rowsMax): CROWN rows' constants and results
	zlo, zhi         []float64 // (max width): a layer's bounds before intersection
	ibpMargin        []float64 // (classes)
	refineSel        []int
	nz               []int // (max width): indices of a CROWN row's non-zero entries
	rowsMax, widthMx int
}

// rowsChunk is how many neurons CROWN refines in one backward pass (two rows each).
const rowsChunk = 64

func (v *Verifier) newWork() *work {
	L := len(v.layers)
	w := &work{v: v}
	for _, s := range v.sizes {
		w.widthMx = max(w.widthMx, s)
	}
	classes := v.sizes[L]
	w.rowsMax = max(2*rowsChunk, 2*classes)
	for l, ly := range v.layers {
		w.h = append(w.h, newBox(ly.in))
		w.z = append(w.z, newBox(ly.out))
		w.mag = append(w.mag, make([]float64, ly.in))
		w.A = append(w.A, make([]float64, ly.out))
		w.E = append(w.E, make([]float64, ly.out))
		if l < L-1 {
			w.rel = append(w.rel, make([]relaxation, ly.out))
		}
	}
	w.magSum = make([]float64, L)
	w.c, w.r = make([]float64, w.widthMx), make([]float64, w.widthMx)
	w.zlo, w.zhi = make([]float64, w.widthMx), make([]float64, w.widthMx)
	w.lamA, w.lamB = make([]float64, w.rowsMax*w.widthMx), make([]float64, w.rowsMax*w.widthMx)
	w.cst, w.bnd = make([]float64, w.rowsMax), make([]float64, w.rowsMax)
	w.ibpMargin = make([]float64, classes)
	w.nz = make([]int, 0, w.widthMx)
	return w
}

// setInput normalizes the pixel box in into h[0]: 2x − 1 is one rounding after an exact doubling,
// widened by the float32 input error under Float32 semantics, and clipped to [−1, 1], which holds for
// the exact value and for dltrain's float32 one alike.
func (w *work) setInput(in Box) error {
	n := w.v.sizes[0]
	if len(in.Lo) != n || len(in.Hi) != n {
		return fmt.Errorf("verify: input box has %d and %d values, want %d", len(in.Lo), len(in.Hi), n)
	}
	e := w.v.inErr
	h := w.h[0]
	for i := range n {
		lo, hi := in.Lo[i], in.Hi[i]
		if !(0 <= lo && lo <= hi && hi <= 1) {
			return fmt.Errorf("verify: input %d: bounds [%v, %v] not within [0, 1]", i, lo, hi)
		}
		h.Lo[i] = max(-1, subDown(subDown(2*lo, 1), e))
		h.Hi[i] = min(1, addUp(subUp(2*hi, 1), e))
	}
	return nil
}

// forward runs IBP from linear layer `from` to the logits. With keep set, each new box is intersected
// with the box already there (both are sound, so the intersection is).
func (w *work) forward(from int, keep bool) error {
	L := len(w.v.layers)
	for l := from; l < L; l++ {
		w.linear(l)
		z := w.z[l]
		for i := range z.Lo {
			lo, hi := w.zlo[i], w.zhi[i]
			if keep {
				lo, hi = max(lo, z.Lo[i]), min(hi, z.Hi[i])
				if lo > hi {
					return fmt.Errorf("verify: internal error: layer %d neuron %d: bounds [%v, %v] and [%v, %v] are disjoint",
						l, i, w.zlo[i], w.zhi[i], z.Lo[i], z.Hi[i])
				}
			}
			z.Lo[i], z.Hi[i] = lo, hi
		}
		if l < L-1 {
			w.activate(l)
		}
	}
	return nil
}

// linear bounds z[l] = W·h[l] + b into zlo, zhi, in centre-radius form: z ∈ W·c + b ± |W|·r.
// The computed W·c + b and |W|·r are each within γ_{in+1}·(Σ|w|·(|c| + r) + |b|) of their exact values
// and m = up(|c| + r) bounds |h|, so one abs sum S̃ = Σ|w|·m + |b| serves both the float64 error
// (fac64·S̃) and, under Float32, the float32 evaluation's error E = γ32·A with A = absSumUp(S̃).
func (w *work) linear(l int) {
	ly := &w.v.layers[l]
	h, m := w.h[l], w.mag[l]
	c, r := w.c[:ly.in], w.r[:ly.in]
	msum := 0.0
	for j := range ly.in {
		lo, hi := h.Lo[j], h.Hi[j]
		c[j] = lo/2 + hi/2
		r[j] = max(subUp(hi, c[j]), subUp(c[j], lo))
		if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			c[j], r[j] = 0, math.Inf(1)
		}
		m[j] = addUp(math.Abs(c[j]), r[j])
		msum += m[j]
	}
	msum = absSumUp(msum, ly.in)
	w.magSum[l] = msum
	// Underflow: at most 2^-1022 per operation in float64, 2^-126 per operation or flushed operand in
	// float32 (a flushed weight loses |w|·|h| ≤ 2^-126·m, a flushed h loses ≤ 2^-126·|w|).
	tiny64 := mulUp(float64(4*ly.in+4)*tau64, addUp(1, msum))
	f32 := w.v.sem == Float32
	for i := range ly.out {
		row := ly.w[i*ly.in : (i+1)*ly.in]
		zc, zr, s := ly.b[i], 0.0, math.Abs(ly.b[i])
		for j, x := range row {
			zc += x * c[j]
			ax := math.Abs(x)
			zr += ax * r[j]
			s += ax * m[j]
		}
		err := addUp(mulUp(ly.fac64, s), tiny64)
		A := addUp(absSumUp(s, ly.in+1), tiny64)
		w.A[l][i] = A
		E := 0.0
		if f32 {
			tiny32 := mulUp(float64(2*ly.in+4)*tau32, addUp(addUp(1, msum), ly.rowAbs[i]))
			E = addUp(mulUp(ly.gam32, A), tiny32)
			// The error model holds while no float32 product or partial sum overflows; every one
			// is within A + E of 0. Where that may reach the float32 range, the float32 neuron
			// may be ±Inf (or NaN): nothing is claimed about it, and no bound through it is finite.
			if !(addUp(A, E) < math.MaxFloat32) {
				E = math.Inf(1)
			}
		}
		w.E[l][i] = E
		tot := addUp(err, E)
		w.zlo[i] = finiteOr(subDown(subDown(zc, zr), tot), math.Inf(-1))
		w.zhi[i] = finiteOr(addUp(addUp(zc, zr), tot), math.Inf(1))
	}
}

// activate bounds h[l+1] = act(z[l]) (plus the float32 activation error δ) by monotonicity.
func (w *work) activate(l int) {
	a, d := w.v.act, w.v.actErr
	z, h := w.z[l], w.h[l+1]
	for i := range z.Lo {
		if math.IsInf(w.E[l][i], 1) {
			// The float32 neuron may have overflowed: its sums can meet as +Inf + −Inf, and NaN
			// passes through every activation (sigmoid and tanh too), so its output has no bound.
			h.Lo[i], h.Hi[i] = math.Inf(-1), math.Inf(1)
			continue
		}
		lo, _ := a.enclose(z.Lo[i])
		_, hi := a.enclose(z.Hi[i])
		if d > 0 {
			lo, hi = max(a.rangeLo(), subDown(lo, d)), min(a.rangeHi(), addUp(hi, d))
		}
		h.Lo[i], h.Hi[i] = lo, hi
	}
}

// margins bounds z_y − z_j over the box of h[L−1] through the last layer directly: the row e_y − e_j
// taken through W_{L−1} is W_y − W_j, which the interval of h then bounds. This is tighter than
// subtracting the logits' intervals, because the two logits share h.
func (w *work) margins(y int, dst []float64) {
	L := len(w.v.layers)
	K := w.spec(y)
	w.throughLinear(L-1, K, w.lamA, w.lamB)
	w.concretize(L-1, K, w.lamB, w.bnd)
	w.scatterMargins(y, dst)
}

// spec fills lamA with the margin rows e_y − e_j over the logits (j ≠ y, in order) and zeroes their
// constants; it returns the row count.
func (w *work) spec(y int) int {
	classes := w.v.sizes[len(w.v.sizes)-1]
	K := 0
	for j := range classes {
		if j == y {
			continue
		}
		row := w.lamA[K*classes : (K+1)*classes]
		clear(row)
		row[y], row[j] = 1, -1
		w.cst[K] = 0
		K++
	}
	return K
}

// scatterMargins copies the K = classes − 1 row bounds in bnd to dst (classes), with +Inf at y.
func (w *work) scatterMargins(y int, dst []float64) {
	k := 0
	for j := range dst {
		if j == y {
			dst[j] = math.Inf(1)
			continue
		}
		dst[j] = finiteOr(w.bnd[k], math.Inf(-1))
		k++
	}
}

// ibp runs IBP on the input box and fills the logits' margins for label y.
func (w *work) ibp(in Box, y int) error {
	if err := w.setInput(in); err != nil {
		return err
	}
	if err := w.forward(0, false); err != nil {
		return err
	}
	w.margins(y, w.ibpMargin)
	return nil
}

func (v *Verifier) checkLabel(y int) error {
	if classes := v.sizes[len(v.sizes)-1]; y < 0 || y >= classes {
		return fmt.Errorf("verify: label %d out of range 0..%d", y, classes-1)
	}
	return nil
}

// bounds copies the workspace's layer boxes and the given margins out.
func (w *work) bounds(margins []float64) *Bounds {
	b := &Bounds{Margins: append([]float64(nil), margins...)}
	for _, z := range w.z {
		b.Pre = append(b.Pre, z.clone())
	}
	return b
}

// IBP bounds every layer's pre-activations and the margins of label y over the pixel box in by
// interval bound propagation.
func (v *Verifier) IBP(in Box, y int) (*Bounds, error) {
	if err := v.checkLabel(y); err != nil {
		return nil, err
	}
	w := v.newWork()
	if err := w.ibp(in, y); err != nil {
		return nil, err
	}
	return w.bounds(w.ibpMargin), nil
}
