// certify.go: certificates for one image and for a batch of images in parallel.
//
// It does not attack images and does not aggregate results (accuracy, per-class counts): callers do.

package verify

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// certify runs method m on one box; the margins are left in w.ibpMargin (IBP) or dst (CROWN).
func (w *work) certify(in Box, y int, m Method, dst []float64) (Result, error) {
	var margins []float64
	switch m {
	case IBP:
		if err := w.ibp(in, y); err != nil {
			return Result{}, err
		}
		margins = w.ibpMargin
	case CROWN:
		if err := w.crown(in, y, false, dst); err != nil {
			return Result{}, err
		}
		margins = dst
	default:
		return Result{}, fmt.Errorf("verify: bad method %v", m)
	}
	r := Result{Margin: math.Inf(1)}
	for j, v := range margins {
		if j != y {
			r.Margin = min(r.Margin, v)
		}
	}
	r.Certified = r.Margin > 0
	return r, nil
}

// Certify proves, or fails to prove, that no input in the pixel box in changes the prediction from
// label y, by method m.
func (v *Verifier) Certify(in Box, y int, m Method) (Result, error) {
	if err := v.checkLabel(y); err != nil {
		return Result{}, err
	}
	w := v.newWork()
	return w.certify(in, y, m, make([]float64, v.sizes[len(v.sizes)-1]))
}

// CertifyPixels certifies n images, pix (n, Sizes[0]) holding uint8 pixels p that stand for p/255,
// each over PixelBall(image, eps) with its label, by method m. It runs on `workers` goroutines
// (0 means GOMAXPROCS); each image is computed alone, in the same order of operations, so the results
// do not depend on the number of workers.
func (v *Verifier) CertifyPixels(pix, labels []uint8, eps float64, m Method, workers int) ([]Result, error) {
	if err := checkEps(eps); err != nil {
		return nil, err
	}
	if m != IBP && m != CROWN {
		return nil, fmt.Errorf("verify: bad method %v", m)
	}
	P, n := v.sizes[0], len(labels)
	if len(pix) != n*P {
		return nil, fmt.Errorf("verify: %d pixels for %d images of %d, want %d", len(pix), n, P, n*P)
	}
	classes := v.sizes[len(v.sizes)-1]
	for i, y := range labels {
		if int(y) >= classes {
			return nil, fmt.Errorf("verify: image %d: label %d out of range 0..%d", i, y, classes-1)
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	res := make([]Result, n)
	errs := make([]error, n)
	var next atomic.Int64
	const chunk = 8
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := v.newWork()
			box := newBox(P)
			dst := make([]float64, v.sizes[len(v.sizes)-1])
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					pixelBall(box, pix[i*P:(i+1)*P], eps)
					res[i], errs[i] = w.certify(box, int(labels[i]), m, dst)
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("verify: image %d: %s", i, strings.TrimPrefix(err.Error(), "verify: "))
		}
	}
	return res, nil
}

func errDisjoint(layer, neuron int, lo0, hi0, lo1, hi1 float64) error {
	return fmt.Errorf("verify: internal error: layer %d neuron %d: IBP bounds [%v, %v] and CROWN bounds [%v, %v] are disjoint",
		layer, neuron, lo0, hi0, lo1, hi1)
}
