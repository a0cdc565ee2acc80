// reference.go: the oracle. One image at a time, in float64, written to be read: the affine map is
// built as a product of matrices and inverted by its adjugate, the elastic field is smoothed by a
// direct two-dimensional convolution, and bilinear sampling looks each neighbour up with a bounds
// check. It shares only the random draws (rng.go) and the Gaussian weights with the fast path, and is
// far too slow for training.

package augment

import "math"

// Reference writes dst (784): image img (784) deformed by the draws of (seed, epoch, index) under p,
// in pixel units (0..255 up to rounding; not clamped, not normalized), computed in float64.
func Reference(dst []float32, img []uint8, p Params, seed uint64, epoch, index int) {
	dst, img = dst[:pixels], img[:pixels]
	if p.Mode == None {
		for i, v := range img {
			dst[i] = float32(v)
		}
		return
	}
	key := Key(seed, epoch, index)
	u := func(n uint32) float64 { return float64(uniform(draw(key, n))) }
	d := deformation{
		theta: p.Rotation * math.Pi / 180 * u(drawRotation),
		sx:    1 + p.Scale*u(drawScaleX),
		sy:    1 + p.Scale*u(drawScaleY),
		shear: p.Shear * u(drawShear),
		tx:    p.Translate * u(drawShiftX),
		ty:    p.Translate * u(drawShiftY),
	}
	if p.Mode == Elastic {
		var field [2][pixels]float64
		for q := range pixels {
			r := draw(key, drawField+uint32(q))
			field[0][q] = float64(uniform(r))
			field[1][q] = float64(uniformMid(r))
		}
		d.dx = smoothRef(&field[0], p.Sigma, p.Alpha)
		d.dy = smoothRef(&field[1], p.Sigma, p.Alpha)
	}
	refWarp(dst, img, d)
}

// deformation is one image's deformation in float64: the forward affine map
// p = centre + R(theta)·H(shear)·S(sx, sy)·(q − centre) + (tx, ty), and, if not nil, displacements
// (784) added to the sampling point of each output pixel.
type deformation struct {
	theta, sx, sy, shear, tx, ty float64
	dx, dy                       []float64
}

// smoothRef returns α·(G ∗ f) at every pixel, G the two-dimensional Gaussian of sigma truncated to the
// square of half-width Radius(sigma), its weights normalized over that square, and f zero outside the
// image.
func smoothRef(f *[pixels]float64, sigma, alpha float64) []float64 {
	r := Radius(sigma)
	g := gaussian(sigma, r)
	out := make([]float64, pixels)
	for y := range rows {
		for x := range cols {
			s := 0.0
			for dy := -r; dy <= r; dy++ {
				for dx := -r; dx <= r; dx++ {
					yy, xx := y+dy, x+dx
					if yy < 0 || yy >= rows || xx < 0 || xx >= cols {
						continue
					}
					s += g[abs(dy)] * g[abs(dx)] * f[yy*cols+xx]
				}
			}
			out[y*cols+x] = alpha * s
		}
	}
	return out
}

// refWarp samples img (784) through the inverse of d into dst (784), bilinearly, zero outside.
func refWarp(dst []float32, img []uint8, d deformation) {
	type mat [2][2]float64
	mul := func(m, n mat) mat {
		return mat{
			{m[0][0]*n[0][0] + m[0][1]*n[1][0], m[0][0]*n[0][1] + m[0][1]*n[1][1]},
			{m[1][0]*n[0][0] + m[1][1]*n[1][0], m[1][0]*n[0][1] + m[1][1]*n[1][1]},
		}
	}
	s, c := math.Sincos(d.theta)
	fwd := mul(mul(mat{{c, -s}, {s, c}}, mat{{1, d.shear}, {0, 1}}), mat{{d.sx, 0}, {0, d.sy}})
	det := fwd[0][0]*fwd[1][1] - fwd[0][1]*fwd[1][0]
	inv := mat{{fwd[1][1] / det, -fwd[0][1] / det}, {-fwd[1][0] / det, fwd[0][0] / det}}
	at := func(x, y int) float64 {
		if x < 0 || x >= cols || y < 0 || y >= rows {
			return 0
		}
		return float64(img[y*cols+x])
	}
	for y := range rows {
		for x := range cols {
			px, py := float64(x)-centre-d.tx, float64(y)-centre-d.ty
			qx := inv[0][0]*px + inv[0][1]*py + centre
			qy := inv[1][0]*px + inv[1][1]*py + centre
			if d.dx != nil {
				qx += d.dx[y*cols+x]
				qy += d.dy[y*cols+x]
			}
			x0, y0 := math.Floor(qx), math.Floor(qy)
			if math.Abs(x0) > 2*cols || math.Abs(y0) > 2*rows { // far outside: all four neighbours are 0
				dst[y*cols+x] = 0
				continue
			}
			fx, fy := qx-x0, qy-y0
			ix, iy := int(x0), int(y0)
			v := (1-fy)*((1-fx)*at(ix, iy)+fx*at(ix+1, iy)) + fy*((1-fx)*at(ix, iy+1)+fx*at(ix+1, iy+1))
			dst[y*cols+x] = float32(v)
		}
	}
}
