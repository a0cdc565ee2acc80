package ref

import (
	"math"

	"github.com/dltrain/dltrain/internal/ops"
)

// BiasActivationForward adds bias (OC) to every row of out (B, OC) and applies act, in one pass.
func BiasActivationForward[F Float](out, bias []F, act ops.Activation, B, OC int) {
	bias = bias[:OC]
	for b := range B {
		row := out[b*OC:][:OC]
		switch act {
		case ops.ReLU:
			for j, v := range row {
				row[j] = max(v+bias[j], 0)
			}
		case ops.Sigmoid:
			for j, v := range row {
				row[j] = F(1 / (1 + math.Exp(-float64(v+bias[j]))))
			}
		case ops.Tanh:
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
func ActivationForward[F Float](out, inp []F, act ops.Activation, N int) {
	inp, out = inp[:N], out[:N]
	switch act {
	case ops.Identity:
		copy(out, inp)
	case ops.ReLU:
		for i, v := range inp {
			out[i] = max(v, 0)
		}
	case ops.Sigmoid:
		for i, v := range inp {
			out[i] = F(1 / (1 + math.Exp(-float64(v))))
		}
	case ops.Tanh:
		for i, v := range inp {
			out[i] = F(math.Tanh(float64(v)))
		}
	}
}

// ActivationBackward writes dinp = dout · act'(x), with the derivative taken from the output
// out = act(x): relu' = [out > 0], sigmoid' = out(1 − out), tanh' = 1 − out². dinp may alias dout.
func ActivationBackward[F Float](dinp, dout, out []F, act ops.Activation, N int) {
	dinp, dout, out = dinp[:N], dout[:N], out[:N]
	switch act {
	case ops.Identity:
		copy(dinp, dout)
	case ops.ReLU:
		for i, y := range out {
			if y > 0 {
				dinp[i] = dout[i]
			} else {
				dinp[i] = 0
			}
		}
	case ops.Sigmoid:
		for i, y := range out {
			dinp[i] = dout[i] * y * (1 - y)
		}
	case ops.Tanh:
		for i, y := range out {
			// F(y*y) rounds the square before the subtraction (see "Rounding" in the package doc).
			dinp[i] = dout[i] * (1 - F(y*y))
		}
	}
}
