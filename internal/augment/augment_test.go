package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dltrain/dltrain/internal/mnist"
)

// digits loads the committed MNIST subset once (3000 training images).
var digits = sync.OnceValues(func() (*mnist.Set, error) {
	train, _, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	return train, err
})

// testSeed returns a fresh random seed, or DLTRAIN_AUGMENT_SEED's value to replay a failure, and logs it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if v := os.Getenv("DLTRAIN_AUGMENT_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("DLTRAIN_AUGMENT_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (DLTRAIN_AUGMENT_SEED=%d replays it)", seed, seed)
	return seed
}

func loadDigits(t testing.TB) *mnist.Set {
	t.Helper()
	s, err := digits()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mode
		err  bool
	}{
		{"", None, false},
		{"none", None, false},
		{"affine", Affine, false},
		{" Elastic ", Elastic, false},
		{"elastics", None, true},
		{"rotate", None, true},
	} {
		got, err := ParseMode(c.in)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil && got.String() != strings.ToLower(strings.TrimSpace(c.in)) && c.in != "" {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

func TestValidate(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name string
		p    Params
		want string // a substring of the error; "" for none
	}{
		{"default affine", Default(Affine), ""},
		{"default elastic", Default(Elastic), ""},
		{"none ignores ranges", Params{Mode: None, Rotation: -5, Alpha: nan}, ""},
		{"affine ignores elastic", Params{Mode: Affine, Sigma: -1, Alpha: 0}, ""},
		{"all zero affine", Params{Mode: Affine}, ""},
		{"limits", Params{Mode: Elastic, Rotation: 90, Scale: 0.5, Shear: 1, Translate: 14, Sigma: 14, Alpha: 100}, ""},
		{"bad mode", Params{Mode: 3}, "unknown mode 3"},
		{"rotation", Params{Mode: Affine, Rotation: 91}, "rotation 91° out of range"},
		{"negative rotation", Params{Mode: Affine, Rotation: -1}, "rotation -1°"},
		{"scale", Params{Mode: Affine, Scale: 0.6}, "scale 0.6 out of range"},
		{"shear", Params{Mode: Affine, Shear: nan}, "shear NaN"},
		{"translate", Params{Mode: Affine, Translate: 20}, "translate 20 px"},
		{"sigma", Params{Mode: Elastic, Sigma: 0.1, Alpha: 1}, "sigma 0.1 px"},
		{"alpha", Params{Mode: Elastic, Sigma: 4, Alpha: 1000}, "alpha 1000 px"},
		{"alpha zero", Params{Mode: Elastic, Sigma: 4}, "use mode affine"},
	} {
		err := c.p.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Validate() = %v, want an error with %q", c.name, err, c.want)
		case err != nil && !strings.HasPrefix(err.Error(), "augment: "):
			t.Errorf("%s: Validate() = %q, want the prefix augment:", c.name, err)
		}
		if _, perr := NewPlan(c.p); (perr == nil) != (err == nil) {
			t.Errorf("%s: NewPlan error %v, Validate error %v", c.name, perr, err)
		}
	}
}

func TestPlanTaps(t *testing.T) {
	for _, sigma := range []float64{0.5, 1, 4, 6, 9, 14} {
		pl, err := NewPlan(Params{Mode: Elastic, Sigma: sigma, Alpha: 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(int(math.Ceil(3*sigma)), 27); pl.Radius != want || len(pl.Taps) != want+1 {
			t.Errorf("sigma %v: Radius = %d with %d taps, want %d and %d", sigma, pl.Radius, len(pl.Taps), want, want+1)
		}
		sum := float64(pl.Taps[0])
		for d := 1; d < len(pl.Taps); d++ {
			sum += 2 * float64(pl.Taps[d])
			if pl.Taps[d] >= pl.Taps[d-1] {
				t.Errorf("sigma %v: Taps[%d] = %v ≥ Taps[%d] = %v", sigma, d, pl.Taps[d], d-1, pl.Taps[d-1])
			}
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("sigma %v: taps sum to %v, want 1", sigma, sum)
		}
		for i := range rows {
			for j := range ldh {
				want := float32(0)
				if d := abs(i - j); j < cols && d <= pl.Radius {
					want = pl.Taps[d]
				}
				if got := pl.band[i*ldh+j]; got != want {
					t.Fatalf("sigma %v: band[%d][%d] = %v, want %v", sigma, i, j, got, want)
				}
			}
		}
	}
}

func TestSinCos(t *testing.T) {
	worst := 0.0
	for i := -20000; i <= 20000; i++ {
		x := float32(float64(i) / 20000 * math.Pi / 2)
		s, c := sincos(x)
		ws, wc := math.Sincos(float64(x))
		worst = max(worst, math.Abs(float64(s)-ws), math.Abs(float64(c)-wc))
	}
	// A few float32 roundings of values up to 1: well under 1e-6.
	if worst > 3e-7 {
		t.Errorf("sincos: worst error %g on [−π/2, π/2], want ≤ 3e-7", worst)
	}
	if s, c := sincos(0); s != 0 || c != 1 {
		t.Errorf("sincos(0) = %v, %v; want 0, 1", s, c)
	}
	t.Logf("sincos: worst absolute error %.3g", worst)
}

func TestUniform(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, r := range append([]uint64{0, math.MaxUint64, 1 << 63, 1<<40 - 1}, rng.Uint64(), rng.Uint64(), rng.Uint64()) {
		want := float64(r>>40)/(1<<23) - 1
		if got := uniform(r); float64(got) != want || got < -1 || got >= 1 {
			t.Errorf("uniform(%#x) = %v, want %v exactly, in [−1, 1)", r, got, want)
		}
		want = float64(r>>16&(1<<24-1))/(1<<23) - 1
		if got := uniformMid(r); float64(got) != want || got < -1 || got >= 1 {
			t.Errorf("uniformMid(%#x) = %v, want %v exactly, in [−1, 1)", r, got, want)
		}
	}
	// The mean and variance of many draws: 0 and 1/3 for U[−1, 1).
	var s, s2 float64
	const n = 1 << 16
	key := Key(seed, 1, 2)
	for i := range uint32(n) {
		r := draw(key, i)
		for _, u := range []float64{float64(uniform(r)), float64(uniformMid(r))} {
			s += u
			s2 += u * u
		}
	}
	mean, vr := s/(2*n), s2/(2*n)
	if math.Abs(mean) > 0.01 || math.Abs(vr-1.0/3) > 0.01 {
		t.Errorf("draws: mean %.4f, mean square %.4f; want 0 and 0.3333", mean, vr)
	}
}

// TestKeyDistinct: no two (epoch, index) pairs of a seed share a key, and the seed matters.
func TestKeyDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for _, seed := range []uint64{0, 1} {
		for e := range 4 {
			for i := range 2000 {
				k := Key(seed, e, i)
				id := fmt.Sprintf("(%d, %d, %d)", seed, e, i)
				if prev, ok := seen[k]; ok {
					t.Fatalf("Key%s = Key%s = %#x", id, prev, k)
				}
				seen[k] = id
			}
		}
	}
}

// randomParams returns random valid parameters of mode m, sometimes at their limits.
func randomParams(rng *rand.Rand, m Mode) Params {
	pick := func(hi float64) float64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return hi
		}
		return rng.Float64() * hi
	}
	p := Params{Mode: m, Rotation: pick(90), Scale: pick(0.5), Shear: pick(1), Translate: pick(14)}
	if m == Elastic {
		p.Sigma = 0.5 + pick(13.5)
		p.Alpha = max(pick(100), 0.5)
	}
	return p
}

// within reports whether got is within atol + rtol·|want| of want.
func within(got, want, atol, rtol float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// Tolerance of Gather against Reference, in normalized units (1 pixel unit = 2/255 = 0.0078). The
// fast path rounds every step to float32: sampling points differ by a few ulp of 28 (about 1e-5
// pixel with α·S added), and an image's steepest edge is 255 per pixel, so values can differ by
// about 255·1e-5 pixel units = 2e-5 normalized; the tolerance leaves a factor of 5.
const atol, rtol = 1e-4, 1e-5

// TestGatherMatchesReference checks the fast path against the float64 oracle on real digits and on
// noise, with random parameters, batches around the worker split, and outputs poisoned with NaN.
func TestGatherMatchesReference(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	set := loadDigits(t)
	noise := make([]uint8, 32*pixels)
	for i := range noise {
		noise[i] = uint8(rng.IntN(256))
	}
	ref := make([]float32, pixels)
	worst := 0.0
	for trial := range 12 {
		m := []Mode{Affine, Elastic}[trial%2]
		p := randomParams(rng, m)
		if trial < 2 {
			p = Default(m)
		}
		pl, err := NewPlan(p)
		if err != nil {
			t.Fatal(err)
		}
		pix, n := set.Images, set.N
		if trial%3 == 2 {
			pix, n = noise, 32
		}
		B := []int{1, 7, 8, 9, 16, 17}[trial%6]
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		start := rng.IntN(n - B + 1)
		epoch := rng.IntN(1000)
		x := make([]float32, B*pixels)
		for i := range x {
			x[i] = float32(math.NaN())
		}
		Gather(x, pix, order, start, B, pl, seed, epoch)
		for b := range B {
			i := int(order[start+b])
			Reference(ref, pix[i*pixels:], p, seed, epoch, i)
			for q := range pixels {
				got, want := float64(x[b*pixels+q]), (float64(ref[q])/255-0.5)/0.5
				worst = max(worst, math.Abs(got-want))
				if !within(got, want, atol, rtol) {
					t.Fatalf("%+v epoch %d image %d: Gather pixel (%d, %d) = %v, want %v (reference)", p, epoch, i, q%cols, q/cols, got, want)
				}
			}
		}
	}
	t.Logf("worst |Gather − Reference| = %.3g (normalized units)", worst)
}

// TestIdentity: with every range 0 the deformation is the identity, and both paths return the image
// unchanged, bit for bit (Gather as the plain gather's normalized values).
func TestIdentity(t *testing.T) {
	set := loadDigits(t)
	const B = 20
	order := make([]int32, B)
	for i := range order {
		order[i] = int32(3 * i)
	}
	pl, err := NewPlan(Params{Mode: Affine})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, B*pixels)
	Gather(x, set.Images, order, 0, B, pl, 7, 3)
	ref := make([]float32, pixels)
	for b, i := range order {
		img := set.Images[int(i)*pixels:][:pixels]
		Reference(ref, img, Params{Mode: Affine}, 7, 3, int(i))
		for q, v := range img {
			if got, want := x[b*pixels+q], normTable[v]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("image %d pixel %d: Gather = %v, want %v (pixel %d)", i, q, got, want, v)
			}
			if ref[q] != float32(v) {
				t.Fatalf("image %d pixel %d: Reference = %v, want %d", i, q, ref[q], v)
			}
		}
	}
	// Mode None is the plain gather too.
	pl, _ = NewPlan(Params{Mode: None})
	y := make([]float32, B*pixels)
	Gather(y, set.Images, order, 0, B, pl, 7, 3)
	if !slices.Equal(x, y) {
		t.Errorf("Gather in mode none differs from the identity deformation")
	}
}

// inkCentre returns the centre of mass of a (784) image's ink, in pixels.
func inkCentre[F float32 | uint8](img []F) (cx, cy, mass float64) {
	for q, v := range img {
		w := float64(v)
		mass += w
		cx += w * float64(q%cols)
		cy += w * float64(q/cols)
	}
	return cx / mass, cy / mass, mass
}

// moments returns Σ x·v, Σ y·v and Σ v over an image (784) of integer values.
func moments[F float32 | uint8](img []F) (mx, my, mass int64) {
	for q, v := range img {
		w := int64(v)
		mass += w
		mx += w * int64(q%cols)
		my += w * int64(q/cols)
	}
	return
}

// inkBox returns the rows and columns the ink of img occupies.
func inkBox(img []uint8) (x0, x1, y0, y1 int) {
	x0, y0 = cols, rows
	for q, v := range img {
		if v != 0 {
			x0, x1 = min(x0, q%cols), max(x1, q%cols)
			y0, y1 = min(y0, q/cols), max(y1, q/cols)
		}
	}
	return
}

// TestTranslation: an integer translation (dx, dy) moves every pixel, and so the ink's centre of
// mass, by exactly (dx, dy), in both paths; a random translation moves the centre of mass by the
// drawn shift (bilinear interpolation conserves mass and first moments away from the border).
func TestTranslation(t *testing.T) {
	set := loadDigits(t)
	var img []uint8
	for i := range set.N { // a digit with room to move 4 pixels every way
		img = set.Images[i*pixels:][:pixels]
		if x0, x1, y0, y1 := inkBox(img); x0 >= 4 && y0 >= 4 && x1 <= 23 && y1 <= 23 {
			break
		}
	}
	cx, cy, _ := inkCentre(img)
	pl, _ := NewPlan(Params{Mode: Affine})
	sc := new(scratch)
	out := make([]float32, pixels)
	ref := make([]float32, pixels)
	for _, s := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {3, -2}, {-4, 4}, {-1, -3}} {
		dx, dy := s[0], s[1]
		for q := range pixels { // fill sc.img as deform does
			sc.img[(q/cols+1)*padded+q%cols+1] = img[q]
		}
		warp(out, sc, pl, affine{a: 1, d: 1, tx: float32(dx), ty: float32(dy)})
		refWarp(ref, img, deformation{sx: 1, sy: 1, tx: float64(dx), ty: float64(dy)})
		for q := range pixels {
			x, y := q%cols, q/cols
			want := uint8(0)
			if sx, sy := x-dx, y-dy; sx >= 0 && sx < cols && sy >= 0 && sy < rows {
				want = img[sy*cols+sx]
			}
			if out[q] != normTable[want] || ref[q] != float32(want) {
				t.Fatalf("shift (%d, %d): pixel (%d, %d) = %v (fast), %v (reference); want %v", dx, dy, x, y, out[q], ref[q], want)
			}
		}
		// The centre of mass, as exact integer moments: Σ x·v moves by dx·Σ v.
		mx, my, mass := moments(img)
		gx, gy, _ := moments(ref)
		if gx-mx != int64(dx)*mass || gy-my != int64(dy)*mass {
			t.Errorf("shift (%d, %d) moved the centre of mass by (%v, %v)", dx, dy, float64(gx-mx)/float64(mass), float64(gy-my)/float64(mass))
		}
	}
	// Random shifts within ±3 pixels through the public path.
	p := Params{Mode: Affine, Translate: 3}
	pl, _ = NewPlan(p)
	for index := range 20 {
		key := Key(5, 1, index)
		m := drawAffine(key, pl)
		Reference(ref, img, p, 5, 1, index)
		for q := range pixels {
			sc.img[(q/cols+1)*padded+q%cols+1] = img[q]
		}
		warp(out, sc, pl, m)
		for q := range out {
			out[q] = (out[q]*0.5 + 0.5) * 255 // back to pixel units
		}
		for name, got := range map[string][]float32{"Reference": ref, "fast path": out} {
			gx, gy, _ := inkCentre(got)
			if math.Abs(gx-cx-float64(m.tx)) > 1e-3 || math.Abs(gy-cy-float64(m.ty)) > 1e-3 {
				t.Errorf("%s: shift (%v, %v) moved the centre of mass by (%v, %v)", name, m.tx, m.ty, gx-cx, gy-cy)
			}
		}
	}
}

// TestDeterminism: the bytes of image i in epoch e depend on (seed, e, i) only: not on the batch it
// sits in, its position, the calls before it or GOMAXPROCS. Other epochs, indices or seeds differ.
func TestDeterminism(t *testing.T) {
	set := loadDigits(t)
	const N = 64
	pix := make([]uint8, N*pixels)
	for i := range N { // the same digit at every index: only the deformation can differ
		copy(pix[i*pixels:], set.Images[:pixels])
	}
	order := make([]int32, N)
	for i := range order {
		order[i] = int32((i * 37) % N)
	}
	pl, err := NewPlan(Default(Elastic))
	if err != nil {
		t.Fatal(err)
	}
	gather := func(procs, start, B int, seed uint64, epoch int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		x := make([]float32, B*pixels)
		Gather(x, pix, order, start, B, pl, seed, epoch)
		return x
	}
	whole := gather(1, 0, N, 1, 2)
	for _, c := range []struct{ procs, split int }{{2, 0}, {4, 0}, {2, 13}, {1, 40}, {3, 1}} {
		got := gather(c.procs, 0, c.split, 1, 2)
		got = append(got, gather(c.procs, c.split, N-c.split, 1, 2)...)
		if !slices.Equal(got, whole) {
			t.Errorf("GOMAXPROCS %d, batches split at %d: bytes differ from one batch at GOMAXPROCS 1", c.procs, c.split)
		}
	}
	// Different indices of the same image in the same epoch differ, and so do other epochs and seeds.
	row := func(x []float32, b int) []float32 { return x[b*pixels:][:pixels] }
	for b := 1; b < N; b++ {
		if slices.Equal(row(whole, 0), row(whole, b)) {
			t.Errorf("images %d and %d of epoch 2 got the same deformation", order[0], order[b])
		}
	}
	if slices.Equal(whole, gather(2, 0, N, 1, 3)) {
		t.Errorf("epochs 2 and 3 gave the same bytes")
	}
	if slices.Equal(whole, gather(2, 0, N, 2, 2)) {
		t.Errorf("seeds 1 and 2 gave the same bytes")
	}
}

// TestRange: at the most extreme valid parameters, every output is finite and within [−1, 1].
func TestRange(t *testing.T) {
	set := loadDigits(t)
	for _, p := range []Params{
		{Mode: Elastic, Rotation: 90, Scale: 0.5, Shear: 1, Translate: 14, Sigma: 0.5, Alpha: 100},
		{Mode: Elastic, Rotation: 90, Scale: 0.5, Shear: 1, Translate: 14, Sigma: 14, Alpha: 100},
		Default(Elastic),
		{Mode: Affine, Rotation: 90, Scale: 0.5, Shear: 1},
	} {
		pl, _ := NewPlan(p)
		const B = 200
		order := make([]int32, B)
		for i := range order {
			order[i] = int32(i)
		}
		x := make([]float32, B*pixels)
		Gather(x, set.Images, order, 0, B, pl, 11, 1)
		for q, v := range x {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("%+v: x[%d] = %v, want a value in [−1, 1]", p, q, v)
			}
		}
	}
}

// TestMM28Order: the smoothing products (mm28, assembly where there is one) give the same bits as
// the portable loop and as sums over the band only, from k = max(0, j−R) up, which is what the PTX
// computes.
func TestMM28Order(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	nan := float32(math.NaN())
	for _, sigma := range []float64{0.5, 3, 6, 14} {
		pl, _ := NewPlan(Params{Mode: Elastic, Sigma: sigma, Alpha: 1})
		d := make([]float32, 2*pixels)
		for i := range d {
			d[i] = uniform(rng.Uint64())
		}
		h, hGo := make([]float32, 2*rows*ldh), make([]float32, 2*rows*ldh)
		s, sGo := make([]float32, pixels+4), make([]float32, pixels+4)
		for i := range h {
			h[i], hGo[i] = nan, nan
		}
		for i := range s {
			s[i], sGo[i] = nan, nan
		}
		mm28(h, ldh, d, cols, pl.band, 2*rows)
		mm28Go(hGo, ldh, d, cols, pl.band, 2*rows)
		mm28(s, cols, pl.band, ldh, h, rows)
		mm28Go(sGo, cols, pl.band, ldh, hGo, rows)
		if !slices.Equal(h, hGo) || !slices.Equal(s[:pixels], sGo[:pixels]) {
			t.Fatalf("sigma %v: mm28 differs from mm28Go", sigma)
		}
		R := pl.Radius
		for y := range 2 * rows {
			for x := range cols {
				var acc float32
				for k := max(0, x-R); k <= min(cols-1, x+R); k++ {
					acc += float32(d[y*cols+k] * pl.Taps[abs(x-k)])
				}
				if math.Float32bits(acc) != math.Float32bits(h[y*ldh+x]) {
					t.Fatalf("sigma %v: row pass (%d, %d) = %v, band-only sum %v", sigma, x, y, h[y*ldh+x], acc)
				}
				if y >= rows {
					continue
				}
				acc = 0
				for k := max(0, y-R); k <= min(rows-1, y+R); k++ {
					acc += float32(pl.Taps[abs(y-k)] * h[k*ldh+x])
				}
				if math.Float32bits(acc) != math.Float32bits(s[y*cols+x]) {
					t.Fatalf("sigma %v: column pass (%d, %d) = %v, band-only sum %v", sigma, x, y, s[y*cols+x], acc)
				}
			}
			for x := cols; x < ldh; x++ {
				if h[y*ldh+x] != 0 {
					t.Fatalf("sigma %v: padding column %d of row %d = %v, want 0", sigma, x, y, h[y*ldh+x])
				}
			}
		}
	}
}
