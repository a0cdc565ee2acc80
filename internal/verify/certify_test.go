// certify_test.go: certificates at eps 0, soundness against a PGD attack, independence from the number
// of workers, and the errors returned for bad input.

package verify

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestEpsZero: at eps 0 the domain is the image itself, so exactly the correctly classified images
// whose margin exceeds the rounding margin are certified: a certified image has a positive margin,
// the margin bound is below the true margin by at most tol (the rounding margin: 1e-9 for the exact
// network, 1e-3 with float32 inference), and a net whose two logits are identical rows is never
// certified, whatever the rounding.
func TestEpsZero(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 6))
	counts := map[bool]int{}
	for ci, c := range randomCases() {
		for _, sem := range []Semantics{Real, Float32} {
			tol := 1e-9
			if sem == Float32 {
				tol = 1e-3
			}
			net := randomNet(rng, c.sizes, c.act, c.scale)
			v, err := New(*net, Options{Semantics: sem})
			if err != nil {
				t.Fatal(err)
			}
			for p := range 40 {
				px := make([]uint8, c.sizes[0])
				for i := range px {
					px[i] = uint8(rng.IntN(256))
				}
				x := make([]float64, len(px))
				for i, q := range px {
					x[i] = float64(q) / 255
				}
				z := forward64(net, x)
				logits := z[len(z)-1]
				y := rng.IntN(len(logits))
				if p%2 == 0 { // half the time, the predicted class
					y = argmax(logits)
				}
				m, _ := margin(logits, y)
				in, _ := PixelBall(px, 0)
				for _, meth := range []Method{IBP, CROWN} {
					r, err := v.Certify(in, y, meth)
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("case %d %v %v %v point %d", ci, c.sizes, c.act, sem, p)
					if r.Margin > m {
						t.Fatalf("%s: %v margin bound %.17g above the true margin %.17g", name, meth, r.Margin, m)
					}
					if m-r.Margin > tol {
						t.Fatalf("%s: %v margin bound %.17g more than %g below the true margin %.17g", name, meth, r.Margin, tol, m)
					}
					if r.Certified != (r.Margin > 0) || (r.Certified && m <= 0) || (m > tol && !r.Certified) {
						t.Fatalf("%s: %v certified %v with margin bound %v, true margin %v", name, meth, r.Certified, r.Margin, m)
					}
					counts[r.Certified]++
				}
			}
			// Two identical logit rows: the margin is exactly 0 everywhere.
			dup := *net
			L := len(net.W) - 1
			in := net.Sizes[L]
			dup.W = append(append([][]float32(nil), net.W[:L]...), append([]float32(nil), net.W[L]...))
			dup.B = append(append([][]float32(nil), net.B[:L]...), append([]float32(nil), net.B[L]...))
			copy(dup.W[L][in:2*in], dup.W[L][:in])
			dup.B[L][1] = dup.B[L][0]
			vd, err := New(dup, Options{Semantics: sem})
			if err != nil {
				t.Fatal(err)
			}
			box, _ := Ball(randomPixels(rng, c.sizes[0]), 0)
			for _, meth := range []Method{IBP, CROWN} {
				r, err := vd.Certify(box, 0, meth)
				if err != nil {
					t.Fatal(err)
				}
				if r.Certified || r.Margin > 0 {
					t.Fatalf("case %d %v: duplicate logit rows: %v certified %v with margin %v", ci, sem, meth, r.Certified, r.Margin)
				}
			}
		}
	}
	if counts[true] == 0 || counts[false] == 0 {
		t.Errorf("certified/not certified counts %v: the test did not see both", counts)
	}
	t.Logf("certified %d, not certified %d", counts[true], counts[false])
}

// TestSoundnessPGD: on random nets of every activation, no image is both certified (IBP or CROWN,
// either semantics) and attacked by PGD, and the test sees plenty of both.
func TestSoundnessPGD(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	var certified, attacked, unknown int
	for ci, c := range []netCase{
		{[]int{16, 12, 4}, ReLU, 2}, {[]int{16, 10, 8, 4}, ReLU, 2},
		{[]int{16, 12, 4}, Sigmoid, 4}, {[]int{16, 10, 8, 4}, Tanh, 3},
	} {
		net := randomNet(rng, c.sizes, c.act, c.scale)
		var vs []*Verifier
		for _, sem := range []Semantics{Real, Float32} {
			v, err := New(*net, Options{Semantics: sem})
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		for p := range 30 {
			x := randomPixels(rng, c.sizes[0])
			xf := make([]float64, len(x))
			for i, v := range x {
				xf[i] = float64(v)
			}
			z := forward64(net, xf)
			y := argmax(z[len(z)-1])
			eps := []float64{0.01, 0.03, 0.1, 0.3}[p%4]
			in, _ := Ball(x, eps)
			cert := false
			for _, v := range vs {
				for _, meth := range []Method{IBP, CROWN} {
					r, err := v.Certify(in, y, meth)
					if err != nil {
						t.Fatal(err)
					}
					cert = cert || r.Certified
				}
			}
			adv, ok := pgd(net, x, y, eps, 30, 3, true, rng)
			if ok {
				for i, a := range adv {
					if a < max(0, float64(x[i])-eps) || a > min(1, float64(x[i])+eps) {
						t.Fatalf("pgd left the ball: pixel %d = %v, x = %v, eps %v", i, a, x[i], eps)
					}
				}
			}
			switch {
			case cert && ok:
				m, _ := margin(forward64(net, adv)[len(c.sizes)-2], y)
				t.Fatalf("case %d %v %v point %d eps %v: certified and attacked (margin %v at the attack)", ci, c.sizes, c.act, p, eps, m)
			case cert:
				certified++
			case ok:
				attacked++
			default:
				unknown++
			}
		}
	}
	t.Logf("certified %d, attacked %d, unknown %d", certified, attacked, unknown)
	if certified == 0 || attacked == 0 {
		t.Errorf("certified %d, attacked %d: the test must see both", certified, attacked)
	}
}

// TestCertifyPixelsWorkers: the batch API gives the same results as Certify, for any worker count.
func TestCertifyPixelsWorkers(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 8))
	net := randomNet(rng, []int{30, 20, 10, 5}, ReLU, 2)
	v, err := New(*net, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 37
	pix := make([]uint8, n*30)
	labels := make([]uint8, n)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(rng.IntN(5))
	}
	for _, m := range []Method{IBP, CROWN} {
		want := make([]Result, n)
		for i := range n {
			in, _ := PixelBall(pix[i*30:(i+1)*30], 0.02)
			if want[i], err = v.Certify(in, int(labels[i]), m); err != nil {
				t.Fatal(err)
			}
		}
		for _, workers := range []int{0, 1, 2, 3, 7, 100} {
			got, err := v.CertifyPixels(pix, labels, 0.02, m, workers)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("CertifyPixels(%v, workers %d) differs from Certify one by one (GOMAXPROCS %d)", m, workers, runtime.GOMAXPROCS(0))
			}
		}
	}
}

func TestErrors(t *testing.T) {
	good := handNet()
	v, err := New(*good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := Ball([]float32{0.5, 0.5}, 0.1)
	nan := float32(math.NaN())
	cases := []struct {
		name string
		f    func() error
		want string
	}{
		{"one size", func() error { _, err := New(Net{Sizes: []int{2}}, Options{}); return err }, "at least 2 layer sizes"},
		{"zero width", func() error { _, err := New(Net{Sizes: []int{2, 0, 2}}, Options{}); return err }, "width 0"},
		{"one class", func() error { _, err := New(Net{Sizes: []int{2, 1}}, Options{}); return err }, "2 classes"},
		{"bad act", func() error { n := *good; n.Act = 7; _, err := New(n, Options{}); return err }, "bad activation"},
		{"missing layer", func() error { n := *good; n.W = n.W[:1]; _, err := New(n, Options{}); return err }, "need 2 weights"},
		{"short weight", func() error {
			n := *good
			n.W = [][]float32{good.W[0][:5], good.W[1]}
			_, err := New(n, Options{})
			return err
		}, "layer 0: weight has 5"},
		{"nan weight", func() error {
			n := *good
			n.W = [][]float32{{1, 1, 1, nan, 1, 0}, good.W[1]}
			_, err := New(n, Options{})
			return err
		}, "weight 3 is NaN"},
		{"bad semantics", func() error { _, err := New(*good, Options{Semantics: 5}); return err }, "bad semantics"},
		{"bad act err", func() error { _, err := New(*good, Options{ActErr: -1}); return err }, "activation error bound"},
		{"label", func() error { _, err := v.Certify(in, 2, IBP); return err }, "label 2 out of range 0..1"},
		{"method", func() error { _, err := v.Certify(in, 0, 9); return err }, "bad method"},
		{"box size", func() error { _, err := v.IBP(Box{Lo: []float64{0}, Hi: []float64{1}}, 0); return err }, "want 2"},
		{"box range", func() error { _, err := v.CROWN(Box{Lo: []float64{0, 0.5}, Hi: []float64{1.5, 0.5}}, 0); return err }, "not within [0, 1]"},
		{"box order", func() error { _, err := v.CROWN(Box{Lo: []float64{0, 0.6}, Hi: []float64{1, 0.5}}, 0); return err }, "not within [0, 1]"},
		{"eps", func() error { _, err := Ball([]float32{0.5}, math.NaN()); return err }, "eps NaN"},
		{"pixel", func() error { _, err := Ball([]float32{1.5}, 0.1); return err }, "pixel 0 is 1.5"},
		{"pixel eps", func() error { _, err := PixelBall([]uint8{1}, -1); return err }, "eps -1"},
		{"batch size", func() error { _, err := v.CertifyPixels(make([]uint8, 5), make([]uint8, 2), 0.1, IBP, 1); return err }, "5 pixels for 2 images"},
		{"batch label", func() error { _, err := v.CertifyPixels(make([]uint8, 4), []uint8{0, 3}, 0.1, IBP, 1); return err }, "image 1: label 3"},
		{"batch method", func() error { _, err := v.CertifyPixels(make([]uint8, 4), []uint8{0, 1}, 0.1, 4, 1); return err }, "bad method"},
		{"parse", func() error { _, err := ParseMethod("lp"); return err }, `unknown method "lp"`},
	}
	for _, c := range cases {
		err := c.f()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "verify: ") {
			t.Errorf("%s: error %v, want one starting \"verify: \" and containing %q", c.name, err, c.want)
		}
	}
}

// TestHugeWeights: ten relu layers of weights near float32's limit overflow float64; nothing panics,
// no bound is NaN, and nothing is certified. Sigmoid and tanh saturate instead; their bounds must stay
// numbers and hold at the centre of the ball.
func TestHugeWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	for _, act := range []Activation{ReLU, Sigmoid, Tanh} {
		net := randomNet(rng, []int{8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3}, act, 1)
		for l := range net.W {
			for i := range net.W[l] {
				net.W[l][i] *= 3e38
			}
		}
		v, err := New(*net, Options{})
		if err != nil {
			t.Fatal(err)
		}
		x := randomPixels(rng, 8)
		in, _ := Ball(x, 0.1)
		xf := make([]float64, len(x))
		for i, p := range x {
			xf[i] = float64(p)
		}
		z := forward64(net, xf)
		y := argmax(z[len(z)-1])
		m, _ := margin(z[len(z)-1], y)
		for _, meth := range []Method{IBP, CROWN} {
			r, err := v.Certify(in, y, meth)
			if err != nil {
				t.Fatalf("%v %v: %v", act, meth, err)
			}
			t.Logf("%v %v: margin bound %v, at the centre %v", act, meth, r.Margin, m)
			if r.Margin != r.Margin || (act == ReLU && r.Certified) || (act != ReLU && r.Margin > m) {
				t.Errorf("%v %v: certified %v with margin %v (at the centre %v)", act, meth, r.Certified, r.Margin, m)
			}
		}
		b, err := v.CROWN(in, y)
		if err != nil {
			t.Fatal(err)
		}
		for l, z := range b.Pre {
			for i := range z.Lo {
				if z.Lo[i] != z.Lo[i] || z.Hi[i] != z.Hi[i] || z.Lo[i] > z.Hi[i] {
					t.Errorf("%v: layer %d neuron %d: bounds [%v, %v]", act, l, i, z.Lo[i], z.Hi[i])
				}
			}
		}
	}
}

// TestFloat32Overflow: a logit that float32 cannot hold (its products or sums may pass
// math.MaxFloat32) is certified for the exact network but never under Float32 semantics, where the
// float32 evaluation would give ±Inf or NaN; a net just inside float32's range is certified under
// both.
func TestFloat32Overflow(t *testing.T) {
	for _, c := range []struct {
		w0, b0 float32 // logit 0 = w0·h + b0 with h = 1; logit 1 = 1e37·h
		f32    bool    // certified under Float32
	}{{3e38, 3e38, false}, {1e38, 1e38, true}} {
		net := Net{Sizes: []int{1, 1, 2}, Act: ReLU,
			W: [][]float32{{1}, {c.w0, 1e37}}, B: [][]float32{{0}, {c.b0, 0}}}
		in, err := Ball([]float32{1}, 0) // normalized to 1
		if err != nil {
			t.Fatal(err)
		}
		for _, sem := range []Semantics{Real, Float32} {
			v, err := New(net, Options{Semantics: sem})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []Method{IBP, CROWN} {
				r, err := v.Certify(in, 0, m)
				if err != nil {
					t.Fatal(err)
				}
				want := sem == Real || c.f32
				if r.Certified != want {
					t.Errorf("w0 %g b0 %g, %v %v: certified %v (margin %v), want %v", c.w0, c.b0, sem, m, r.Certified, r.Margin, want)
				}
			}
		}
	}

	// Sigmoid and tanh saturate, but a float32 sum may be +Inf + −Inf = NaN, and NaN passes through
	// them: a hidden neuron that may overflow leaves the logits unbounded too.
	for _, act := range []Activation{Sigmoid, Tanh, ReLU} {
		net := Net{Sizes: []int{4, 1, 2}, Act: act,
			W: [][]float32{{3e38, 3e38, -3e38, -3e38}, {1, -1}}, B: [][]float32{{0}, {10, 0}}}
		in, err := Ball([]float32{1, 1, 1, 1}, 0)
		if err != nil {
			t.Fatal(err)
		}
		v, err := New(net, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []Method{IBP, CROWN} {
			r, err := v.Certify(in, 0, m)
			if err != nil {
				t.Fatal(err)
			}
			if r.Certified {
				t.Errorf("%v %v: a hidden neuron that may overflow, certified with margin %v", act, m, r.Margin)
			}
		}
	}
}
