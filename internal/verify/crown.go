// crown.go: CROWN's backward pass. A set of K rows, each a linear lower bound
//
//	spec_k ≥ Σ_j λ_kj·v_j + c_k   for every v the network can produce at that layer,
//
// is taken backward through linear layers and activations to the input box, where it is minimized in
// closed form. Rows start as the margins e_y − e_j over the logits, or as ±e_i over one layer's
// pre-activations to tighten intermediate bounds. Each step subtracts from c_k a rigorous bound of the
// rounding error it made (package comment), so the final value is a lower bound of the exact spec.
//
// It does not optimize the relaxations' slopes (α-CROWN) and does no branch and bound.

package verify

import "math"

// throughLinear rewrites K rows over z[l] (src, K×out) as rows over h[l] (dst, K×in), using
// z = W·h + b + e with |e_i| ≤ E_i (e = 0 under Real):
//
//	λ·z = (λW)·h + λ·b + λ·e ≥ (λW)~·h + (λ·b)~ − err − Σ|λ_i|·E_i,
//
// where ~ marks the computed values. Both (λW)~·h and (λ·b)~ are sums of `out` products, so
//
//	err ≤ γ_out·(Σ_i |λ_i|·Σ_j |W_ij|·|h_j| + Σ_i |λ_i|·|b_i|) ≤ γ_out·Σ_i |λ_i|·A_i
//
// plus underflow, with A_i ≥ Σ_j |W_ij|·mag_j + |b_i| from IBP.
func (w *work) throughLinear(l, K int, src, dst []float64) {
	ly := &w.v.layers[l]
	in, out := ly.in, ly.out
	A, E := w.A[l], w.E[l]
	g := gamma(out, u64)
	tiny := mulUp(float64(4*out+4)*tau64, addUp(1, w.magSum[l]))
	nz := w.nz[:0]
	for k := range K {
		s := src[k*out : (k+1)*out]
		d := dst[k*in : (k+1)*in]
		clear(d)
		cb, errA, errE := 0.0, 0.0, 0.0
		nz = nz[:0]
		for i, a := range s {
			if a == 0 {
				continue
			}
			cb += a * ly.b[i]
			aa := math.Abs(a)
			errA += aa * A[i]
			errE += aa * E[i]
			nz = append(nz, i)
		}
		// d = Σ_i λ_i·W_i over the non-zero λ_i, four rows of W per pass over d.
		q := 0
		for ; q+4 <= len(nz); q += 4 {
			i0, i1, i2, i3 := nz[q], nz[q+1], nz[q+2], nz[q+3]
			axpy4(d, s[i0], s[i1], s[i2], s[i3],
				ly.w[i0*in:(i0+1)*in], ly.w[i1*in:(i1+1)*in], ly.w[i2*in:(i2+1)*in], ly.w[i3*in:(i3+1)*in])
		}
		for ; q < len(nz); q++ {
			i := nz[q]
			axpy(d, s[i], ly.w[i*in:(i+1)*in])
		}
		err := addUp(mulUp(g, absSumUp(errA, out)), tiny)
		if errE != 0 {
			err = addUp(err, absSumUp(errE, out))
		}
		w.cst[k] = subDown(addDown(w.cst[k], cb), err)
	}
}

// axpy is d += a·x, and axpy4 is d += a0·x0 + a1·x1 + a2·x2 + a3·x3 (added left to right): the inner
// loops of CROWN. axpy4 loads and stores d once for four rows.
func axpy(d []float64, a float64, x []float64) {
	x = x[:len(d)]
	for j := range d {
		d[j] += a * x[j]
	}
}

func axpy4(d []float64, a0, a1, a2, a3 float64, x0, x1, x2, x3 []float64) {
	n := len(d)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	for j := range d {
		d[j] = d[j] + a0*x0[j] + a1*x1[j] + a2*x2[j] + a3*x3[j]
	}
}

// throughAct rewrites K rows over h[l+1] = act(z[l]) (+ d, |d| ≤ δ under Float32) in place as rows
// over z[l]: for λ_j ≥ 0 the lower line, else the upper one, so λ_j·h_j ≥ λ_j·(a_j·z_j + b_j) − |λ_j|·δ
// exactly. The computed products (λ_j·a_j)~ err by at most γ_1·|(λ_j·a_j)~| each, against |z_j| ≤ Z_j,
// and the constant Σ λ_j·b_j by γ_n·Σ|λ_j·b_j|.
func (w *work) throughAct(l, K int, lam []float64) {
	n := w.v.layers[l].out
	rel := w.rel[l]
	z := w.z[l]
	zm := w.c[:n] // |z| bounds, in the scratch the linear step no longer needs
	zsum := 0.0
	for j := range n {
		zm[j] = max(math.Abs(z.Lo[j]), math.Abs(z.Hi[j]))
		zsum += zm[j]
	}
	zsum = absSumUp(zsum, n)
	gn, g1 := gamma(n, u64), gamma(1, u64)
	tiny := mulUp(float64(4*n+4)*tau64, addUp(1, zsum))
	delta := w.v.actErr
	for k := range K {
		row := lam[k*n : (k+1)*n]
		cb, errB, errP, asum := 0.0, 0.0, 0.0, 0.0
		for j, a := range row {
			if a == 0 {
				continue
			}
			r := &rel[j]
			s, t := r.aU, r.bU
			if a > 0 {
				s, t = r.aL, r.bL
			}
			p := a * s
			row[j] = p
			if t != 0 {
				at := a * t
				cb += at
				errB += math.Abs(at)
			}
			if p != 0 {
				errP += math.Abs(p) * zm[j]
			}
			asum += math.Abs(a)
		}
		err := addUp(addUp(mulUp(gn, absSumUp(errB, n)), mulUp(g1, absSumUp(errP, n))), tiny)
		if delta > 0 {
			err = addUp(err, mulUp(delta, absSumUp(asum, n)))
		}
		w.cst[k] = subDown(addDown(w.cst[k], cb), err)
	}
}

// concretize minimizes K rows over the box h[l] in closed form into out:
// min λ·h = Σ_j (λ_j ≥ 0 ? λ_j·lo_j : λ_j·hi_j), a sum of `in` products within γ_in·Σ|λ_j|·mag_j.
func (w *work) concretize(l, K int, lam, out []float64) {
	n := w.v.layers[l].in
	h, m := w.h[l], w.mag[l]
	g := gamma(n, u64)
	tiny := mulUp(float64(4*n+4)*tau64, addUp(1, w.magSum[l]))
	for k := range K {
		row := lam[k*n : (k+1)*n]
		s, abs := 0.0, 0.0
		for j, a := range row {
			if a > 0 {
				s += a * h.Lo[j]
				abs += a * m[j]
			} else if a < 0 {
				s += a * h.Hi[j]
				abs -= a * m[j]
			}
		}
		err := addUp(mulUp(g, absSumUp(abs, n)), tiny)
		out[k] = finiteOr(subDown(addDown(s, w.cst[k]), err), math.Inf(-1))
	}
}

// backward takes K rows over z[m] (in lamA, constants in cst) back to the input and writes their
// lower bounds to bnd. It uses the relaxations rel[0..m−1].
func (w *work) backward(m, K int) {
	a, b := w.lamA, w.lamB
	for l := m; ; l-- {
		w.throughLinear(l, K, a, b)
		if l == 0 {
			w.concretize(0, K, b, w.bnd)
			return
		}
		w.throughAct(l-1, K, b)
		a, b = b, a
	}
}

// relax computes the relaxations of hidden layer l from the final bounds of z[l].
func (w *work) relax(l int) {
	a := w.v.act
	z := w.z[l]
	for i := range w.rel[l] {
		w.rel[l][i] = a.relax(z.Lo[i], z.Hi[i])
	}
}

// refine tightens z[m] (1 ≤ m ≤ L−1) by CROWN: two rows, +e_i and −e_i, per selected neuron, in chunks.
// For relu only the unstable neurons are refined: a stable neuron's relaxation is exact whatever its
// bounds. The new bounds are intersected with IBP's.
func (w *work) refine(m int, all bool) error {
	n := w.v.layers[m].out
	z := w.z[m]
	sel := w.refineSel[:0]
	for i := range n {
		if all || w.v.act != ReLU || (z.Lo[i] < 0 && z.Hi[i] > 0) {
			sel = append(sel, i)
		}
	}
	w.refineSel = sel
	for start := 0; start < len(sel); start += rowsChunk {
		chunk := sel[start:min(start+rowsChunk, len(sel))]
		K := 2 * len(chunk)
		clear(w.lamA[:K*n])
		for q, i := range chunk {
			w.lamA[(2*q)*n+i] = 1
			w.lamA[(2*q+1)*n+i] = -1
			w.cst[2*q], w.cst[2*q+1] = 0, 0
		}
		w.backward(m, K)
		for q, i := range chunk {
			lo := max(z.Lo[i], w.bnd[2*q])
			hi := min(z.Hi[i], -w.bnd[2*q+1])
			if lo > hi {
				return errDisjoint(m, i, z.Lo[i], z.Hi[i], w.bnd[2*q], -w.bnd[2*q+1])
			}
			z.Lo[i], z.Hi[i] = lo, hi
		}
	}
	return nil
}

// crown runs IBP, then CROWN on every hidden layer from the second on, then the margins of label y,
// each intersected with IBP's. With logits set it also refines the logits' bounds. The margins end in
// dst.
func (w *work) crown(in Box, y int, logits bool, dst []float64) error {
	if err := w.ibp(in, y); err != nil {
		return err
	}
	L := len(w.v.layers)
	for l := range L {
		if l > 0 && (l < L-1 || logits) {
			if err := w.refine(l, l == L-1); err != nil {
				return err
			}
			if l < L-1 {
				w.activate(l)
				// Later layers' IBP boxes shrink with this one's; their magnitudes feed the error terms.
				if err := w.forward(l+1, true); err != nil {
					return err
				}
			}
		}
		if l < L-1 {
			w.relax(l)
		}
	}
	K := w.spec(y)
	w.backward(L-1, K)
	w.scatterMargins(y, dst)
	// IBP on the tightened boxes, and the first IBP pass: keep the best of the three.
	refined := w.zlo[:len(dst)]
	w.margins(y, refined)
	for j := range dst {
		dst[j] = max(dst[j], refined[j], w.ibpMargin[j])
	}
	return nil
}

// CROWN bounds every layer's pre-activations (the logits included) and the margins of label y over the
// pixel box in by CROWN, never looser than IBP.
func (v *Verifier) CROWN(in Box, y int) (*Bounds, error) {
	if err := v.checkLabel(y); err != nil {
		return nil, err
	}
	w := v.newWork()
	margins := make([]float64, v.sizes[len(v.sizes)-1])
	if err := w.crown(in, y, true, margins); err != nil {
		return nil, err
	}
	return w.bounds(margins), nil
}
