package model

import (
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
)

// Eval is a model's score on a data set.
type Eval struct {
	N         int
	Loss      float64                       // mean loss per sample
	Accuracy  float64                       // 0..1
	PerClass  [ops.Classes]float64          // accuracy on the samples of each true class, 0..1
	Confusion [ops.Classes][ops.Classes]int // [true][predicted] counts
}

// Evaluate scores m on s with backend be.
func Evaluate(be ops.Backend, m *Model, s *mnist.Set) (Eval, error) {
	net, d, err := inferenceNet(be, m, s)
	if err != nil {
		return Eval{}, err
	}
	return net.Evaluate(d)
}

// Classify is Evaluate that also returns each image's predicted class (s.N), from the same pass: the
// Eval is the one Evaluate returns.
func Classify(be ops.Backend, m *Model, s *mnist.Set) (Eval, []uint8, error) {
	net, d, err := inferenceNet(be, m, s)
	if err != nil {
		return Eval{}, nil, err
	}
	pred := make([]uint8, s.N)
	ev, err := net.evaluate(d, pred)
	if err != nil {
		return Eval{}, nil, err
	}
	return ev, pred, nil
}

// inferenceNet places m on be with batches of up to evalBatch rows, and s beside it.
func inferenceNet(be ops.Backend, m *Model, s *mnist.Set) (*Net, ops.Data, error) {
	net, err := NewNet(be, m.Config, min(evalBatch, max(s.N, 1)))
	if err != nil {
		return nil, nil, err
	}
	if err := net.Load(m); err != nil {
		return nil, nil, err
	}
	d, err := be.Resident(s)
	if err != nil {
		return nil, nil, err
	}
	return net, d, nil
}

// Evaluate runs the net over all of d in its natural order, in batches of up to MaxB. The training loop
// and the eval command share this code, so they report the same numbers for the same weights.
func (n *Net) Evaluate(d ops.Data) (Eval, error) { return n.evaluate(d, nil) }

// evaluate is Evaluate, also storing each sample's predicted class in pred (N) unless pred is nil.
func (n *Net) evaluate(d ops.Data, pred []uint8) (Eval, error) {
	N := d.N()
	ev := Eval{N: N}
	order := make([]int32, N)
	for i := range order {
		order[i] = int32(i)
	}
	if err := setOrder(n.be, d, order); err != nil {
		return ev, err
	}
	labels := d.Labels()
	n.ResetStats()
	logits := make([]float32, n.MaxB*ops.Classes)
	correct := 0
	for start := 0; start < N; start += n.MaxB {
		B := min(n.MaxB, N-start)
		n.Forward(d, start, B)
		n.Loss(d, start, B)
		if err := n.Logits(logits[:B*ops.Classes], B); err != nil {
			return ev, err
		}
		for b := range B {
			row := logits[b*ops.Classes:][:ops.Classes]
			p := 0
			for j, v := range row {
				if v > row[p] {
					p = j
				}
			}
			y := labels[start+b]
			ev.Confusion[y][p]++
			if p == int(y) {
				correct++
			}
			if pred != nil {
				pred[start+b] = uint8(p)
			}
		}
	}
	loss, _, err := n.Stats()
	if err != nil {
		return ev, err
	}
	if N > 0 {
		ev.Loss = loss / float64(N)
		ev.Accuracy = float64(correct) / float64(N)
	}
	for c := range ops.Classes {
		tot := 0
		for _, k := range ev.Confusion[c] {
			tot += k
		}
		if tot > 0 {
			ev.PerClass[c] = float64(ev.Confusion[c][c]) / float64(tot)
		}
	}
	return ev, nil
}

// Predict runs m on n images of MNIST pixels (n, 784) and returns the logits (n, 10).
func Predict(be ops.Backend, m *Model, pix []uint8, n int) ([]float32, error) {
	net, d, err := inferenceNet(be, m, &mnist.Set{Images: pix, Labels: make([]uint8, n), N: n})
	if err != nil {
		return nil, err
	}
	logits := make([]float32, n*ops.Classes)
	for start := 0; start < n; start += net.MaxB {
		B := min(net.MaxB, n-start)
		net.Forward(d, start, B)
		if err := net.Logits(logits[start*ops.Classes:(start+B)*ops.Classes], B); err != nil {
			return nil, err
		}
	}
	return logits, nil
}
