package ref

import (
	"math"

	"github.com/dltrain/dltrain/internal/ops"
)

// The optimizers, as PyTorch 1.13's single-tensor implementations write them (torch/optim/sgd.py
// _single_tensor_sgd, adam.py _single_tensor_adam, adamw.py _single_tensor_adamw), over N parameters,
// with their scalars read from hyper (the ops.Hyper* layout, written by the host each step). Every
// product and sum is rounded on its own: the explicit conversions F(…) forbid the compiler to fuse a
// multiply and an add, so that the CPU gives the bits the PTX kernels give (they use no FMA either).

// SGD is PyTorch's SGD with dampening 0: g' = g + λ·p (when λ ≠ 0), v = μ·v + g',
// d = g' + μ·v if nesterov else v, p = p − lr·d.
func SGD[F Float](params, velocity, grads, hyper []F, nesterov bool, N int) {
	lr, mu, wd := hyper[ops.HyperLR], hyper[ops.HyperMomentum], hyper[ops.HyperWeightDecay]
	params, velocity, grads = params[:N], velocity[:N], grads[:N]
	for i, g := range grads {
		p := params[i]
		if wd != 0 {
			g = g + F(wd*p)
		}
		v := F(mu*velocity[i]) + g
		velocity[i] = v
		d := v
		if nesterov {
			d = g + F(mu*v)
		}
		params[i] = p - F(lr*d)
	}
}

// Adam is PyTorch's Adam (amsgrad off), or AdamW when decoupled:
//
//	p = p·(1 − lr·λ) (AdamW), g' = g + λ·p (Adam, when λ ≠ 0),
//	m = β1·m + (1 − β1)·g', v = β2·v + ((1 − β2)·g')·g',
//	p = p − (s·m) / (√v / √(1 − β2^t) + ε), s = lr / (1 − β1^t).
//
// The step-dependent s, √(1 − β2^t) and 1 − lr·λ come precomputed in hyper (AdamScalars).
func Adam[F Float](params, expAvg, expAvgSq, grads, hyper []F, decoupled bool, N int) {
	s, bc2, decay := hyper[ops.HyperStepSize], hyper[ops.HyperBias2Sqrt], hyper[ops.HyperDecay]
	wd, eps := hyper[ops.HyperWeightDecay], hyper[ops.HyperEps]
	b1, omb1 := hyper[ops.HyperBeta1], hyper[ops.HyperOneMinusBeta1]
	b2, omb2 := hyper[ops.HyperBeta2], hyper[ops.HyperOneMinusBeta2]
	params, expAvg, expAvgSq, grads = params[:N], expAvg[:N], expAvgSq[:N], grads[:N]
	for i, g := range grads {
		p := params[i]
		if decoupled {
			p = F(p * decay)
		} else if wd != 0 {
			g = g + F(wd*p)
		}
		m := F(b1*expAvg[i]) + F(omb1*g)
		v := F(b2*expAvgSq[i]) + F(F(omb2*g)*g)
		expAvg[i], expAvgSq[i] = m, v
		denom := F(F(math.Sqrt(float64(v)))/bc2) + eps
		params[i] = p - F(F(s*m)/denom)
	}
}

// AdamScalars are Adam's step-dependent scalars for its t-th update (t from 1) at learning rate lr,
// computed in float64 as PyTorch computes them in Python: the step size s = lr / (1 − β1^t), the
// bias correction √(1 − β2^t) of the second moment, and AdamW's decay factor 1 − lr·λ.
func AdamScalars(lr, beta1, beta2, weightDecay float64, t int) (stepSize, bias2Sqrt, decay float64) {
	bc1 := 1 - math.Pow(beta1, float64(t))
	bc2 := 1 - math.Pow(beta2, float64(t))
	return lr / bc1, math.Sqrt(bc2), 1 - lr*weightDecay
}
