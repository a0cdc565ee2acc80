// Package augment deforms MNIST training images on the fly: a random affine map (rotation, scaling,
// horizontal shear, translation), optionally combined with Simard's elastic distortion, then bilinear
// resampling of the 28×28 uint8 image (zero outside) and the usual normalization.
//
// Every deformation is a pure function of (seed, epoch, index): nothing is stored, a resumed run
// draws exactly what an uninterrupted one would have, and the bytes do not depend on GOMAXPROCS. The
// arithmetic is float32 in a fixed order with every product rounded on its own (no FMA), so the PTX
// twin (internal/kernels/augment.ptx) can repeat it step for step.
//
// params.go holds the user-facing parameters and the Plan derived from them. The package
// deliberately knows nothing of models, backends or the CLI: it turns pixels into normalized rows.
package augment

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dltrain/dltrain/internal/mnist"
)

// The image geometry, and the padded row stride (ldh floats) of the smoothing buffers.
const (
	rows   = mnist.Rows
	cols   = mnist.Cols
	pixels = mnist.Pixels
	ldh    = 32
)

// Mode says which deformation is applied.
type Mode int

// The modes: None copies the image (normalized as usual), Affine draws a random affine map, Elastic
// adds Simard's smoothed random displacement field on top of the affine map.
const (
	None Mode = iota
	Affine
	Elastic
)

var modeNames = [...]string{None: "none", Affine: "affine", Elastic: "elastic"}

// String returns the mode's flag value.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses a flag value: "none" (or ""), "affine" or "elastic".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return None, nil
	case "affine":
		return Affine, nil
	case "elastic":
		return Elastic, nil
	}
	return None, fmt.Errorf("augment: unknown mode %q, want none, affine or elastic", s)
}

// Params are the ranges of the random deformation. Each image gets, independently and uniformly:
// an angle in [−Rotation, +Rotation] degrees, scale factors in x and in y (drawn separately) in
// [1 − Scale, 1 + Scale], a horizontal shear factor in [−Shear, +Shear] (x' = x + shear·y) and a
// shift in x and in y (drawn separately) in [−Translate, +Translate] pixels. In Elastic mode a
// displacement field, uniform in [−1, 1) per pixel and per axis, smoothed by a Gaussian of standard
// deviation Sigma pixels and multiplied by Alpha, is added to the affine map.
type Params struct {
	Mode      Mode
	Rotation  float64 // degrees, 0..90
	Scale     float64 // fraction, 0..0.5
	Shear     float64 // horizontal shear factor, 0..1
	Translate float64 // pixels, 0..14
	Sigma     float64 // elastic smoothing, pixels, 0.5..14
	Alpha     float64 // elastic strength, pixels, 0..100 (> 0 in Elastic mode)
}

// Default returns the default ranges with the given mode.
//
// The choices follow the record holders on MNIST. Cireşan et al. (2010), 0.35 % with a plain MLP,
// drew rotations within ±15°, scale factors within ±15 % in x and y independently, horizontal shear,
// and elastic fields with σ 5–6 and α 36–38; Simard et al. (2003) used σ 4, α 34 on 29×29 images.
// Because the affine part is always applied here too, the elastic default takes the gentle end of
// Cireşan's ranges (σ 6, the smoothest, and α 36, the weakest): with a normalized kernel that is a
// displacement of about 1 pixel standard deviation. Shear ±0.15 is a slant of ±8.5°, and shifts of
// ±2 pixels keep a 20×20 digit (MNIST's box) inside the 28×28 frame even when scaled up by 15 %.
func Default(m Mode) Params {
	return Params{Mode: m, Rotation: 15, Scale: 0.15, Shear: 0.15, Translate: 2, Sigma: 6, Alpha: 36}
}

// Validate checks the ranges of the fields the mode uses; the others are ignored.
func (p Params) Validate() error {
	if p.Mode < None || p.Mode > Elastic {
		return fmt.Errorf("augment: unknown mode %d", int(p.Mode))
	}
	if p.Mode == None {
		return nil
	}
	var errs []error
	check := func(name string, v, lo, hi float64, unit string) {
		if !(v >= lo && v <= hi) { // NaN fails too
			errs = append(errs, fmt.Errorf("augment: %s %v%s out of range, want %v..%v%s", name, v, unit, lo, hi, unit))
		}
	}
	// Rotation stops at 90° because the sin/cos polynomials (trig.go) are exact to float32 only on
	// [−π/2, π/2], and beyond that a 6 and a 9 trade places anyway.
	check("rotation", p.Rotation, 0, 90, "°")
	check("scale", p.Scale, 0, 0.5, "")
	check("shear", p.Shear, 0, 1, "")
	check("translate", p.Translate, 0, 14, " px")
	if p.Mode == Elastic {
		check("sigma", p.Sigma, 0.5, 14, " px")
		check("alpha", p.Alpha, 0, 100, " px")
		if p.Alpha == 0 {
			errs = append(errs, errors.New("augment: alpha 0 makes the elastic field vanish, use mode affine"))
		}
	}
	return errors.Join(errs...)
}

// MaxRadius is the largest Gaussian radius worth computing: two pixels of a 28-pixel row are at most
// 27 apart.
const MaxRadius = cols - 1

// Radius returns the radius at which the Gaussian of sigma is truncated: ceil(3σ), at most
// MaxRadius. Beyond 3σ lies 0.27 % of its mass; the kept taps are renormalized to sum to 1.
func Radius(sigma float64) int {
	return min(int(math.Ceil(3*sigma)), MaxRadius)
}

// Plan is Params turned into the float32 constants the kernels use, CPU and GPU alike; make it with
// NewPlan. The GPU launcher passes the scalars as float32 bits and Taps as a small device buffer.
type Plan struct {
	Mode      Mode
	Rotation  float32   // radians: float32(Rotation·π/180), rounded once from float64
	Scale     float32   // as in Params, rounded to float32
	Shear     float32   //
	Translate float32   //
	Alpha     float32   // 0 unless Mode is Elastic
	Radius    int       // taps beyond it are zero; 0 unless Mode is Elastic
	Taps      []float32 // (Radius+1) normalized Gaussian weights, Taps[d] for distance d; nil unless Elastic

	// band is the (28, 32) matrix band[i][j] = Taps[|i−j|] when |i−j| ≤ Radius and j < 28, else 0.
	// It smooths both ways: rows as H = D·band, columns as S = band·H (band is symmetric on 28×28).
	band []float32
}

// NewPlan validates p and computes its Plan.
func NewPlan(p Params) (*Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pl := &Plan{Mode: p.Mode}
	if p.Mode == None {
		return pl, nil
	}
	pl.Rotation = float32(p.Rotation * math.Pi / 180)
	pl.Scale = float32(p.Scale)
	pl.Shear = float32(p.Shear)
	pl.Translate = float32(p.Translate)
	if p.Mode == Elastic {
		pl.Alpha = float32(p.Alpha)
		pl.Radius = Radius(p.Sigma)
		g := gaussian(p.Sigma, pl.Radius)
		pl.Taps = make([]float32, len(g))
		for d, w := range g {
			pl.Taps[d] = float32(w)
		}
		pl.band = make([]float32, rows*ldh)
		for i := range rows {
			for j := range cols {
				if d := abs(i - j); d <= pl.Radius {
					pl.band[i*ldh+j] = pl.Taps[d]
				}
			}
		}
	}
	return pl, nil
}

// gaussian returns the weights exp(−d²/2σ²) for d = 0..r, divided by their sum over −r..r.
func gaussian(sigma float64, r int) []float64 {
	g := make([]float64, r+1)
	sum := 0.0
	for d := range g {
		g[d] = math.Exp(-float64(d*d) / (2 * sigma * sigma))
		if d == 0 {
			sum += g[d]
		} else {
			sum += 2 * g[d]
		}
	}
	for d := range g {
		g[d] /= sum
	}
	return g
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
