package ref

import "math"

// CrossEntropy is the fused softmax + cross-entropy over logits (B, K) with labels (B).
//
// With p = softmax(z) and loss ℓ = −log p_y = log Σ_j e^{z_j} − z_y, the gradient is
// ∂ℓ/∂z_j = p_j − [j = y]. The batch loss is the mean over B rows, so dlogits = (p − onehot)/B.
// The softmax subtracts the row maximum first, so exp never overflows. It returns the summed
// (not mean) loss and the number of rows whose argmax equals the label.
func CrossEntropy[F Float](dlogits, logits []F, labels []uint8, B, K int) (lossSum float64, correct int) {
	var l [1]float64
	for b := range B {
		correct += CrossEntropyRows(dlogits, l[:], logits, labels, B, K, b, b+1)
		lossSum += l[0]
	}
	return lossSum, correct
}

// CrossEntropyRows is CrossEntropy for rows b0..b1−1 of a batch of B: each row's loss goes to
// rowLoss[b−b0], and it returns the rows' correct count. Summing the rows' losses in order gives
// CrossEntropy's bits; the CPU backend shares a batch's rows out this way.
func CrossEntropyRows[F Float](dlogits []F, rowLoss []float64, logits []F, labels []uint8, B, K, b0, b1 int) (correct int) {
	invB := 1 / float64(B)
	for b := b0; b < b1; b++ {
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
		rowLoss[b-b0] = math.Log(s) - float64(z[y]-m)
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
	return correct
}

// MSE compares out (B, K) with one-hot labels, using PyTorch's MSELoss mean over all B·K elements:
// dout = 2(out − onehot)/(B·K). It returns Σ_b mean_k (out − onehot)², so that lossSum/B is the
// batch's MSE, and the argmax correct count.
func MSE[F Float](dout, out []F, labels []uint8, B, K int) (lossSum float64, correct int) {
	var l [1]float64
	for b := range B {
		correct += MSERows(dout, l[:], out, labels, B, K, b, b+1)
		lossSum += l[0]
	}
	return lossSum, correct
}

// MSERows is MSE for rows b0..b1−1 of a batch of B, as CrossEntropyRows is CrossEntropy's.
func MSERows[F Float](dout []F, rowLoss []float64, out []F, labels []uint8, B, K, b0, b1 int) (correct int) {
	scale := 2 / float64(B*K)
	for b := b0; b < b1; b++ {
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
		rowLoss[b-b0] = s / float64(K)
	}
	return correct
}
