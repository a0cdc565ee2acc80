package ref

import "github.com/dltrain/dltrain/internal/ops"

// MatmulForward is the naive oracle for out (B, OC) = act(inp (B, C) · weight (OC, C)ᵀ + bias (OC)):
// each dot product summed in order c = 0, 1, …, the bias added, then the activation applied.
func MatmulForward[F Float](out, inp, weight, bias []F, act ops.Activation, B, C, OC int) {
	for b := range B {
		for o := range OC {
			var s F
			for c := range C {
				s += inp[b*C+c] * weight[o*C+c]
			}
			out[b*OC+o] = s + bias[o]
		}
	}
	ActivationForward(out, out, act, B*OC)
}

// MatmulBackward is the naive oracle for the three gradients of MatmulForward, all overwritten:
// dinp (B, C) = dout (B, OC) · weight (OC, C), skipped when dinp is nil;
// dweight (OC, C) = dout ᵀ · inp (B, C);
// dbias (OC) = Σ_b dout[b].
func MatmulBackward[F Float](dinp, dweight, dbias, dout, inp, weight []F, B, C, OC int) {
	if dinp != nil {
		for b := range B {
			for c := range C {
				var s F
				for o := range OC {
					s += dout[b*OC+o] * weight[o*C+c]
				}
				dinp[b*C+c] = s
			}
		}
	}
	for o := range OC {
		for c := range C {
			var s F
			for b := range B {
				s += dout[b*OC+o] * inp[b*C+c]
			}
			dweight[o*C+c] = s
		}
	}
	ColumnSums(dbias, dout, B, OC)
}

// ColumnSums writes dbias (OC) = Σ_b dout (B, OC)[b], summing rows in order b = 0, 1, … so the result
// is the same on every run.
func ColumnSums[F Float](dbias, dout []F, B, OC int) {
	for o := range OC {
		dbias[o] = 0
	}
	for b := range B {
		row := dout[b*OC:][:OC]
		for o, v := range row {
			dbias[o] += v
		}
	}
}

// Gemm is the naive GEMM, the oracle of every fast one: C (M, N) = op(A) · op(B), overwriting C. With tA, A is stored (K, M) with
// leading dimension lda; otherwise (M, K). With tB, B is stored (N, K); otherwise (K, N).
func Gemm(tA, tB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := range M {
		for j := range N {
			var s float32
			for k := range K {
				var x, y float32
				if tA {
					x = a[k*lda+i]
				} else {
					x = a[i*lda+k]
				}
				if tB {
					y = b[j*ldb+k]
				} else {
					y = b[k*ldb+j]
				}
				s += x * y
			}
			c[i*ldc+j] = s
		}
	}
}
