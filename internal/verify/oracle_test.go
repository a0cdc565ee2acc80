// oracle_test.go: the oracles the tests check bounds against: the network evaluated with compensated
// dot products (within about one ulp of the exact value), dltrain's float32 inference simulated in
// several summation orders, a float64 PGD attack with the analytic gradient, and random nets.
//
// None of this is used by the package itself.

package verify

import (
	"math"
	"math/rand/v2"
)

// twoSum and twoProd are error-free transformations: a + b = s + e and a·b = p + e exactly.
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	return s, (a - (s - bb)) + (b - bb)
}

func twoProd(a, b float64) (p, e float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

// dot2 is Σ a_i·b_i + c as if computed in twice the precision (Ogita, Rump, Oishi 2005, Dot2).
func dot2(a []float32, b []float64, c float64) float64 {
	s, comp := c, 0.0
	for i, x := range a {
		p, ep := twoProd(float64(x), b[i])
		var es float64
		s, es = twoSum(s, p)
		comp += ep + es
	}
	return s + comp
}

// actF64 applies the activation in float64.
func actF64(a Activation, z float64) float64 {
	switch a {
	case ReLU:
		return max(z, 0)
	case Sigmoid:
		return 1 / (1 + math.Exp(-z))
	}
	return math.Tanh(z)
}

// forward64 evaluates net on pixels x and returns every layer's pre-activations (the last: logits).
func forward64(net *Net, x []float64) [][]float64 {
	h := make([]float64, len(x))
	for i, v := range x {
		h[i] = 2*v - 1
	}
	var zs [][]float64
	L := len(net.W)
	for l := range L {
		in, out := net.Sizes[l], net.Sizes[l+1]
		z := make([]float64, out)
		for i := range out {
			z[i] = dot2(net.W[l][i*in:(i+1)*in], h, float64(net.B[l][i]))
		}
		zs = append(zs, z)
		if l < L-1 {
			h = make([]float64, out)
			for i, v := range z {
				h[i] = actF64(net.Act, v)
			}
		}
	}
	return zs
}

// forward32 simulates a float32 inference of net on pixels x, the way dltrain's backends compute:
// (float32(x) − 0.5)/0.5, then each pre-activation as a float32 dot product plus bias in one of several
// orders (0: ascending; 1: descending with fused multiply-adds; 2: four interleaved partial sums, like
// a blocked GEMM), then the activation in float64 rounded to float32. With actErr > 0 each sigmoid or
// tanh output is then moved by up to ±actErr (drawn from rng) and kept in the activation's range, as an
// evaluation with a less accurate activation might do.
func forward32(net *Net, x []float64, order int, actErr float64, rng *rand.Rand) [][]float64 {
	h := make([]float32, len(x))
	for i, v := range x {
		h[i] = (float32(v) - 0.5) / 0.5
	}
	var zs [][]float64
	L := len(net.W)
	for l := range L {
		in, out := net.Sizes[l], net.Sizes[l+1]
		z := make([]float32, out)
		for i := range out {
			row := net.W[l][i*in : (i+1)*in]
			var s float32
			switch order {
			case 0:
				for j, w := range row {
					s += w * h[j]
				}
			case 1:
				for j := in - 1; j >= 0; j-- {
					s = float32(math.FMA(float64(row[j]), float64(h[j]), float64(s)))
				}
			default:
				var p [4]float32
				for j, w := range row {
					p[j%4] += w * h[j]
				}
				s = (p[0] + p[1]) + (p[2] + p[3])
			}
			z[i] = s + net.B[l][i]
		}
		zd := make([]float64, out)
		for i, v := range z {
			zd[i] = float64(v)
		}
		zs = append(zs, zd)
		if l < L-1 {
			h = make([]float32, out)
			for i, v := range z {
				h[i] = float32(actF64(net.Act, float64(v)))
				if actErr > 0 && net.Act != ReLU {
					p := float64(h[i]) + actErr*(2*rng.Float64()-1)
					h[i] = float32(min(max(p, net.Act.rangeLo()), 1))
				}
			}
		}
	}
	return zs
}

// randomNet draws a net with the given sizes: weights uniform in ±scale/√in, biases in ±scale/2.
func randomNet(rng *rand.Rand, sizes []int, act Activation, scale float64) *Net {
	n := &Net{Sizes: sizes, Act: act}
	for l := range len(sizes) - 1 {
		in, out := sizes[l], sizes[l+1]
		w, b := make([]float32, in*out), make([]float32, out)
		s := scale / math.Sqrt(float64(in))
		for i := range w {
			w[i] = float32(s * (2*rng.Float64() - 1))
		}
		for i := range b {
			b[i] = float32(scale / 2 * (2*rng.Float64() - 1))
		}
		n.W, n.B = append(n.W, w), append(n.B, b)
	}
	return n
}

// randomPixels draws an image with some pixels at exactly 0 and 1, as MNIST has.
func randomPixels(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch rng.IntN(4) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = 1
		default:
			x[i] = float32(rng.Float64())
		}
	}
	return x
}

// ballPoint draws a point of the ball around x: a corner (each coordinate at an end), or uniform.
func ballPoint(rng *rand.Rand, x []float32, eps float64, corner bool) []float64 {
	p := make([]float64, len(x))
	for i, v := range x {
		lo, hi := max(0, float64(v)-eps), min(1, float64(v)+eps)
		switch {
		case corner && rng.IntN(2) == 0:
			p[i] = lo
		case corner:
			p[i] = hi
		default:
			p[i] = lo + (hi-lo)*rng.Float64()
		}
	}
	return p
}

// margin is min_{j≠y} (z_y − z_j) and the j that attains it.
func margin(z []float64, y int) (float64, int) {
	m, arg := math.Inf(1), -1
	for j, v := range z {
		if j != y && z[y]-v < m {
			m, arg = z[y]-v, j
		}
	}
	return m, arg
}

// argmax is the first index of the largest value.
func argmax(z []float64) int {
	arg := 0
	for j, v := range z {
		if v > z[arg] {
			arg = j
		}
	}
	return arg
}

// inputGrad is ∂(z_t − z_y)/∂x for the pixels x by backpropagation in float64, with the logits z
// (in plain float64: the attack's guide; success is confirmed with forward64). With t < 0 the target is
// the runner-up class.
func inputGrad(net *Net, x []float64, t, y int) (grad, logits []float64) {
	L := len(net.W)
	hs := [][]float64{make([]float64, len(x))}
	for i, v := range x {
		hs[0][i] = 2*v - 1
	}
	var zs [][]float64
	for l := range L {
		in, out := net.Sizes[l], net.Sizes[l+1]
		z := make([]float64, out)
		for i := range out {
			s := float64(net.B[l][i])
			row, h := net.W[l][i*in:(i+1)*in], hs[l]
			for j, w := range row {
				s += float64(w) * h[j]
			}
			z[i] = s
		}
		zs = append(zs, z)
		h := make([]float64, out)
		for i, v := range z {
			h[i] = actF64(net.Act, v)
		}
		hs = append(hs, h)
	}
	logits = zs[L-1]
	if t < 0 {
		_, t = margin(logits, y)
	}
	d := make([]float64, net.Sizes[L])
	d[t], d[y] = 1, -1
	for l := L - 1; l >= 0; l-- {
		in, out := net.Sizes[l], net.Sizes[l+1]
		if l < L-1 {
			for i := range out {
				switch net.Act {
				case ReLU:
					if zs[l][i] <= 0 {
						d[i] = 0
					}
				case Sigmoid:
					s := hs[l+1][i]
					d[i] *= s * (1 - s)
				case Tanh:
					th := hs[l+1][i]
					d[i] *= 1 - th*th
				}
			}
		}
		dn := make([]float64, in)
		for i := range out {
			if d[i] == 0 {
				continue
			}
			row := net.W[l][i*in : (i+1)*in]
			for j, w := range row {
				dn[j] += d[i] * float64(w)
			}
		}
		d = dn
	}
	for i := range d {
		d[i] *= 2 // h0 = 2x − 1
	}
	return d, logits
}

// attacked reports whether the net does not put y strictly first at p, by forward64.
func attacked(net *Net, p []float64, y int) bool {
	z := forward64(net, p)
	m, _ := margin(z[len(z)-1], y)
	return m <= 0
}

// pgd searches the ball around x (∩ [0, 1]) for a point whose logits do not put y strictly first, by
// projected signed-gradient ascent on z_t − z_y from the image and then from random starts, for the
// runner-up class t and, when targeted is set, for every class. It returns the point and whether it
// succeeded.
func pgd(net *Net, x []float32, y int, eps float64, steps, restarts int, targeted bool, rng *rand.Rand) ([]float64, bool) {
	n := len(x)
	lo, hi := make([]float64, n), make([]float64, n)
	for i, v := range x {
		lo[i], hi[i] = max(0, float64(v)-eps), min(1, float64(v)+eps)
	}
	classes := net.Sizes[len(net.Sizes)-1]
	targets := []int{-1}
	if targeted {
		for t := range classes {
			if t != y {
				targets = append(targets, t)
			}
		}
	}
	p := make([]float64, n)
	for r := range restarts {
		for _, t := range targets {
			for i := range p {
				if r == 0 {
					p[i] = float64(x[i])
				} else {
					p[i] = lo[i] + (hi[i]-lo[i])*rng.Float64()
				}
			}
			alpha := eps / 4
			for s := 0; ; s++ {
				g, logits := inputGrad(net, p, t, y)
				if m, _ := margin(logits, y); m <= 0 && attacked(net, p, y) {
					return p, true
				}
				if s == steps {
					break
				}
				if s == steps/2 {
					alpha /= 2
				}
				for i := range p {
					switch {
					case g[i] > 0:
						p[i] = min(hi[i], p[i]+alpha)
					case g[i] < 0:
						p[i] = max(lo[i], p[i]-alpha)
					}
				}
			}
		}
	}
	return nil, false
}
