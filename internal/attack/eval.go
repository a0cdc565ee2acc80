package attack

// This file measures robust accuracy: Evaluate attacks every image of a data set in batches and
// counts what survives. It reads uint8 pixels and labels; it does not load data or pick a backend.

import (
	"fmt"
	"math"
	"time"
)

// Example is one attacked image, for pictures: its index in the data set, true label, the
// predictions before and after the attack, and the pixels (P each) before and after.
type Example struct {
	Index           int
	Label           int
	Clean, Attacked int // predicted classes
	X0, Adv         []float32
}

// Fooled reports whether the attack turned a correct prediction into a wrong one.
func (e Example) Fooled() bool { return e.Clean == e.Label && e.Attacked != e.Label }

// Report is a model's score on a data set under one attack.
type Report struct {
	Config Config
	N      int
	// Clean is the accuracy on the images as they are; Robust the fraction of images classified
	// correctly both as they are and after the attack (with restarts: after every restart). 0..1.
	Clean, Robust float64
	// PerClass is the robust accuracy on the images of each true class (0 for a class with none).
	PerClass [K]float64
	// MeanLinf and MeanL2 are the mean L∞ and L2 norms of the perturbations adv − x0 over all N
	// images, in pixel units.
	MeanLinf, MeanL2 float64
	// Examples are up to Options.Examples attacked images: those the attack fooled first, in data set
	// order, then the others.
	Examples []Example
	// Survived (N) says, image by image, whether it was classified correctly both as it is and after
	// the attack: the images a certified verifier still has to decide.
	Survived []bool
	// Seconds is how long Evaluate took.
	Seconds float64
}

// Options are Evaluate's optional settings.
type Options struct {
	// Batch is the rows per call to the target (the most it takes); 0 means 1000.
	Batch int
	// Examples is how many attacked images to keep in Report.Examples.
	Examples int
	// IDBase is added to an image's index to make its id for the random start (Perturb's ids).
	IDBase uint64
}

// Evaluate attacks the N images pix (N, P) with labels (N), the target's samples 0..N−1 in order,
// with c, in batches of opt.Batch, and reports the clean and robust accuracies and the size of the
// perturbations. The pixels are p/255 in float32, as torchvision's ToTensor gives them.
func Evaluate(t Target, c Config, pix, labels []uint8, opt Options) (Report, error) {
	t0 := time.Now()
	N := len(labels)
	rep := Report{Config: c, N: N, Survived: make([]bool, N)}
	if len(pix) != N*P {
		return rep, fmt.Errorf("attack: %d pixels for %d images", len(pix), N)
	}
	if N == 0 {
		return Report{}, fmt.Errorf("attack: no images")
	}
	batch := opt.Batch
	if batch <= 0 {
		batch = 1000
	}
	a, err := New(c, min(batch, N))
	if err != nil {
		return rep, err
	}
	B := a.MaxB
	x0, adv := make([]float32, B*P), make([]float32, B*P)
	logits, ids, preds := make([]float32, B*K), make([]uint64, B), make([]int, B)
	var clean, robust int
	var perClass, total [K]int
	var fooled, kept []Example
	for start := 0; start < N; start += B {
		n := min(B, N-start)
		for i, p := range pix[start*P : (start+n)*P] {
			x0[i] = float32(p) / 255
		}
		for b := range n {
			ids[b] = opt.IDBase + uint64(start+b)
		}
		y := labels[start : start+n]
		if err := t.Logits(logits[:n*K], x0[:n*P], n); err != nil {
			return rep, err
		}
		for b := range n {
			preds[b] = Predict(logits[b*K : (b+1)*K])
		}
		if err := a.Perturb(t, adv, x0, y, ids, start, n); err != nil {
			return rep, err
		}
		if err := t.Logits(logits[:n*K], adv[:n*P], n); err != nil {
			return rep, err
		}
		for b := range n {
			label := int(y[b])
			after := Predict(logits[b*K : (b+1)*K])
			total[label]++
			if preds[b] == label {
				clean++
			}
			if preds[b] == label && after == label {
				robust++
				perClass[label]++
				rep.Survived[start+b] = true
			}
			var linf, l2 float64
			for i := b * P; i < (b+1)*P; i++ {
				d := math.Abs(float64(adv[i]) - float64(x0[i]))
				linf = max(linf, d)
				l2 += d * d
			}
			rep.MeanLinf += linf
			rep.MeanL2 += math.Sqrt(l2)
			e := Example{Index: start + b, Label: label, Clean: preds[b], Attacked: after}
			if e.Fooled() && len(fooled) < opt.Examples || !e.Fooled() && len(kept) < opt.Examples {
				e.X0 = append([]float32(nil), x0[b*P:(b+1)*P]...)
				e.Adv = append([]float32(nil), adv[b*P:(b+1)*P]...)
				if e.Fooled() {
					fooled = append(fooled, e)
				} else {
					kept = append(kept, e)
				}
			}
		}
	}
	rep.Clean, rep.Robust = float64(clean)/float64(N), float64(robust)/float64(N)
	rep.MeanLinf /= float64(N)
	rep.MeanL2 /= float64(N)
	for c := range K {
		if total[c] > 0 {
			rep.PerClass[c] = float64(perClass[c]) / float64(total[c])
		}
	}
	rep.Examples = append(fooled, kept...)[:min(opt.Examples, len(fooled)+len(kept))]
	rep.Seconds = time.Since(t0).Seconds()
	return rep, nil
}
