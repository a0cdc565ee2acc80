// Package cpu is dltrain's CPU backend: the reference kernels, plain loops written to be read and
// generic over float32 and float64 so that gradient checks can run in float64, plus a fast GEMM.
//
// Letters used in shapes: B batch rows, C input features, OC output features, K classes, N elements.
// Each layer's forward sits next to its backward. Every op overwrites its outputs; only the loss ops
// add into their stats.
package cpu

import (
	"math"

	"github.com/dltrain/dltrain/internal/model"
)

// Float is the element type of the reference kernels.
type Float interface{ ~float32 | ~float64 }

// NormTable maps a pixel to (p/255 − 0.5)/0.5 computed in float32, exactly as torchvision's
// ToTensor followed by Normalize((0.5,), (0.5,)) does.
var NormTable = func() (t [256]float32) {
	for p := range t {
		t[p] = (float32(p)/255 - 0.5) / 0.5
	}
	return t
}()

// Gather fills x (B, 784) with the normalized images order[start : start+B] of pix (N, 784).
func Gather[F Float](x []F, pix []uint8, order []int32, start, B int) {
	const P = model.Input
	for b := range B {
		src := pix[int(order[start+b])*P:][:P]
		dst := x[b*P:][:P]
		for i, p := range src {
			dst[i] = F(NormTable[p])
		}
	}
}

// MatmulForward is the naive oracle for out (B, OC) = inp (B, C) · weight (OC, C)ᵀ + bias (OC).
func MatmulForward[F Float](out, inp, weight, bias []F, B, C, OC int) {
	for b := range B {
		for o := range OC {
			var s F
			for c := range C {
				s += inp[b*C+c] * weight[o*C+c]
			}
			out[b*OC+o] = s + bias[o]
		}
	}
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

// BiasActivationForward adds bias (OC) to every row of out (B, OC) and applies act, in one pass.
func BiasActivationForward[F Float](out, bias []F, act model.Activation, B, OC int) {
	bias = bias[:OC]
	for b := range B {
		row := out[b*OC:][:OC]
		switch act {
		case model.ReLU:
			for j, v := range row {
				row[j] = max(v+bias[j], 0)
			}
		case model.Sigmoid:
			for j, v := range row {
				row[j] = F(1 / (1 + math.Exp(-float64(v+bias[j]))))
			}
		case model.Tanh:
			for j, v := range row {
				row[j] = F(math.Tanh(float64(v + bias[j])))
			}
		default:
			for j, v := range row {
				row[j] = v + bias[j]
			}
		}
	}
}

// ActivationForward writes out = act(inp) for N elements; out may alias inp.
func ActivationForward[F Float](out, inp []F, act model.Activation, N int) {
	inp, out = inp[:N], out[:N]
	switch act {
	case model.Identity:
		copy(out, inp)
	case model.ReLU:
		for i, v := range inp {
			out[i] = max(v, 0)
		}
	case model.Sigmoid:
		for i, v := range inp {
			out[i] = F(1 / (1 + math.Exp(-float64(v))))
		}
	case model.Tanh:
		for i, v := range inp {
			out[i] = F(math.Tanh(float64(v)))
		}
	}
}

// ActivationBackward writes dinp = dout · act'(x), with the derivative taken from the output
// out = act(x): relu' = [out > 0], sigmoid' = out(1 − out), tanh' = 1 − out². dinp may alias dout.
func ActivationBackward[F Float](dinp, dout, out []F, act model.Activation, N int) {
	dinp, dout, out = dinp[:N], dout[:N], out[:N]
	switch act {
	case model.Identity:
		copy(dinp, dout)
	case model.ReLU:
		for i, y := range out {
			if y > 0 {
				dinp[i] = dout[i]
			} else {
				dinp[i] = 0
			}
		}
	case model.Sigmoid:
		for i, y := range out {
			dinp[i] = dout[i] * y * (1 - y)
		}
	case model.Tanh:
		for i, y := range out {
			dinp[i] = dout[i] * (1 - y*y)
		}
	}
}

// CrossEntropy is the fused softmax + cross-entropy over logits (B, K) with labels (B).
//
// With p = softmax(z) and loss ℓ = −log p_y = log Σ_j e^{z_j} − z_y, the gradient is
// ∂ℓ/∂z_j = p_j − [j = y]. The batch loss is the mean over B rows, so dlogits = (p − onehot)/B.
// The softmax subtracts the row maximum first, so exp never overflows. It returns the summed
// (not mean) loss and the number of rows whose argmax equals the label.
func CrossEntropy[F Float](dlogits, logits []F, labels []uint8, B, K int) (lossSum float64, correct int) {
	invB := 1 / float64(B)
	for b := range B {
		z := logits[b*K:][:K]
		y := int(labels[b])
		m, arg := z[0], 0
		for j, v := range z {
			if v > m {
				m, arg = v, j
			}
		}
		if arg == y {
			correct++
		}
		// The exponentials are kept for the gradient (rows of up to 16 classes, on the stack), so each
		// is computed once; wider rows compute them again.
		var ebuf [16]float64
		e := ebuf[:min(K, len(ebuf))]
		var s float64
		for j, v := range z {
			x := math.Exp(float64(v - m))
			if j < len(e) {
				e[j] = x
			}
			s += x
		}
		lossSum += math.Log(s) - float64(z[y]-m)
		if dlogits != nil {
			d := dlogits[b*K:][:K]
			for j, v := range z {
				var x float64
				if j < len(e) {
					x = e[j]
				} else {
					x = math.Exp(float64(v - m))
				}
				p := x / s
				if j == y {
					p--
				}
				d[j] = F(p * invB)
			}
		}
	}
	return lossSum, correct
}

// MSE compares out (B, K) with one-hot labels, using PyTorch's MSELoss mean over all B·K elements:
// dout = 2(out − onehot)/(B·K). It returns Σ_b mean_k (out − onehot)², so that lossSum/B is the
// batch's MSE, and the argmax correct count.
func MSE[F Float](dout, out []F, labels []uint8, B, K int) (lossSum float64, correct int) {
	scale := 2 / float64(B*K)
	for b := range B {
		o := out[b*K:][:K]
		y := int(labels[b])
		m, arg := o[0], 0
		var s float64
		for j, v := range o {
			if v > m {
				m, arg = v, j
			}
			t := 0.0
			if j == y {
				t = 1
			}
			e := float64(v) - t
			s += e * e
			if dout != nil {
				dout[b*K+j] = F(scale * e)
			}
		}
		if arg == y {
			correct++
		}
		lossSum += s / float64(K)
	}
	return lossSum, correct
}

// SGDMomentum is PyTorch's SGD with momentum (dampening 0, no Nesterov, no weight decay):
// v = μ·v + g; p −= lr·v, over N parameters.
func SGDMomentum[F Float](params, velocity, grads []F, lr, mu F, N int) {
	params, velocity, grads = params[:N], velocity[:N], grads[:N]
	for i, g := range grads {
		v := mu*velocity[i] + g
		velocity[i] = v
		params[i] -= lr * v
	}
}
