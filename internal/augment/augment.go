// augment.go: the fast CPU path, Gather, which deforms a batch of images straight into the
// normalized float32 rows the first layer reads. It is the twin of the PTX kernel augment.ptx: the
// same draws and the same float32 operations in the same order, each product rounded on its own.
// reference.go holds the slow float64 oracle it is tested against.
//
// Letters in shapes: B batch rows, N images in the set; an image is 28 rows of 28 pixels, y down,
// x across, pixel p = y·28 + x.

package augment

import (
	"runtime"
	"sync"
)

// centre is the image's centre in pixel coordinates: rotations and scalings turn around it.
const centre = (cols - 1) / 2.0

// normTable maps a pixel to (p/255 − 0.5)/0.5 in float32, as the non-augmented gather does.
var normTable = func() (t [256]float32) {
	for p := range t {
		t[p] = normalize(float32(p))
	}
	return t
}()

// normalize maps an intensity v in 0..255 to (v/255 − 0.5)/0.5, each step rounded to float32 as
// torchvision's ToTensor and Normalize((0.5,), (0.5,)) do; for integer v it is the plain gather's
// value bit for bit.
func normalize(v float32) float32 { return (v/255 - 0.5) / 0.5 }

// affine is the inverse map of one image's affine part: the output pixel at p samples the source at
//
//	q = A·(p − centre − t) + centre,  A = [[a, b], [c, d]],  t = (tx, ty),
//
// so the ink moves by +t and is rotated, sheared and scaled by A⁻¹ about the centre.
type affine struct{ a, b, c, d, tx, ty float32 }

// drawAffine draws image key's affine map. With R the rotation by θ, H = [[1, h], [0, 1]] the
// horizontal shear and S = diag(sx, sy) the scaling, the forward map is R·H·S and its inverse
//
//	S⁻¹·H⁻¹·R⁻¹ = [[(cos θ + h sin θ)/sx, (sin θ − h cos θ)/sx], [−sin θ/sy, cos θ/sy]],
//
// computed here in float32 in exactly this order (the PTX does the same).
func drawAffine(key uint64, pl *Plan) affine {
	// Every product is rounded explicitly: Go may otherwise fuse it into a later sum (sin's
	// th + th³·p, X − tx) across statements on targets with FMA, and the PTX never fuses.
	th := float32(pl.Rotation * uniform(draw(key, drawRotation)))
	sx := 1 + float32(pl.Scale*uniform(draw(key, drawScaleX)))
	sy := 1 + float32(pl.Scale*uniform(draw(key, drawScaleY)))
	h := float32(pl.Shear * uniform(draw(key, drawShear)))
	tx := float32(pl.Translate * uniform(draw(key, drawShiftX)))
	ty := float32(pl.Translate * uniform(draw(key, drawShiftY)))
	sin, cos := sincos(th)
	return affine{
		a:  (cos + float32(h*sin)) / sx,
		b:  (sin - float32(h*cos)) / sx,
		c:  -sin / sy,
		d:  cos / sy,
		tx: tx,
		ty: ty,
	}
}

// padded is the stride of scratch.img: the image with a border of one zero pixel on every side.
const padded = cols + 2

// scratch is one worker's buffers.
type scratch struct {
	field [2 * pixels]float32            // D (2·28, 28): the x field's rows, then the y field's
	h     [2 * rows * ldh]float32        // H = D·band (2·28, 32)
	s     [2*pixels + ldh - cols]float32 // S = band·H, per field (2·28, 28): the smoothed displacements, and slack for mm28's last row
	img   [padded*padded + 4]uint8       // the source image (30, 30) with a zero border, and slack for 4-byte reads
	wc    warpConsts                     // the AVX2 warp's constants
	z     [8]uint64                      // the AVX2 field draws' counters
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// minPerWorker is the fewest images worth a goroutine of their own (a few µs each).
const minPerWorker = 8

// Gather fills x (B, 784) with the deformed, normalized images order[start : start+B] of pix (N, 784):
// row b is image i = order[start+b] under the deformation of (seed, epoch, i), with pixel values
// (v/255 − 0.5)/0.5. Mode None gives the plain gather's values. The batch is split over up to
// GOMAXPROCS goroutines; each image is computed alone, so the bytes do not depend on the split.
// Epoch and indices are taken modulo 2³² (see Key). It panics if a slice is too short.
func Gather(x []float32, pix []uint8, order []int32, start, B int, pl *Plan, seed uint64, epoch int) {
	if B <= 0 {
		return
	}
	_ = x[B*pixels-1]
	_ = order[start+B-1]
	workers := min(runtime.GOMAXPROCS(0), (B+minPerWorker-1)/minPerWorker)
	if workers <= 1 || pl.Mode == None {
		GatherRows(x, pix, order, start, B, pl, seed, epoch)
		return
	}
	var wg sync.WaitGroup
	for w := range workers - 1 {
		lo, hi := B*w/workers, B*(w+1)/workers
		wg.Go(func() { GatherRows(x[lo*pixels:], pix, order, start+lo, hi-lo, pl, seed, epoch) })
	}
	lo := B * (workers - 1) / workers // the last share on this goroutine
	GatherRows(x[lo*pixels:], pix, order, start+lo, B-lo, pl, seed, epoch)
	wg.Wait()
}

// GatherRows is Gather on the calling goroutine alone, for callers that share a batch out among
// workers of their own (the CPU backend's pool): each row depends only on its image and key, so any
// split of the rows gives the same bytes.
func GatherRows(x []float32, pix []uint8, order []int32, start, B int, pl *Plan, seed uint64, epoch int) {
	if B <= 0 {
		return
	}
	_ = x[B*pixels-1]
	_ = order[start+B-1]
	sk := seedKey(seed)
	sc := scratchPool.Get().(*scratch)
	for b := range B {
		i := int(order[start+b])
		dst := x[b*pixels:][:pixels]
		src := pix[i*pixels:][:pixels]
		if pl.Mode == None {
			for p, v := range src {
				dst[p] = normTable[v]
			}
			continue
		}
		deform(dst, src, pl, imageKey(sk, uint32(epoch), uint32(i)), sc)
	}
	scratchPool.Put(sc)
}

// deform writes dst (784), normalized: image src (784) under the deformation of key.
func deform(dst []float32, src []uint8, pl *Plan, key uint64, sc *scratch) {
	m := drawAffine(key, pl)
	if pl.Mode == Elastic {
		smoothField(sc, pl, key)
	}
	for y := range rows {
		copy(sc.img[(y+1)*padded+1:][:cols], src[y*cols:][:cols])
	}
	warp(dst, sc, pl, m)
}

// smoothField draws the elastic field of key into sc.field (drawFieldInto) and smooths it into sc.s.
// The Gaussian is separable and the image small, so each pass is a product with the (28, 32) band
// matrix: rows H = D·band, then columns S = band·H. Each output sums its 28 terms in order k = 0, 1, …, 27,
// terms outside the band being products with exact zeros, so the sums equal the band-only sums (from
// k = max(0, j−R) up) that the PTX computes, bit for bit.
func smoothField(sc *scratch, pl *Plan, key uint64) {
	drawFieldInto(sc, key)
	mm28(sc.h[:], ldh, sc.field[:], cols, pl.band, 2*rows)
	mm28(sc.s[:], cols, pl.band, ldh, sc.h[:rows*ldh], rows)
	mm28(sc.s[pixels:], cols, pl.band, ldh, sc.h[rows*ldh:], rows)
}

// drawFieldInto fills sc.field: pixel p's x and y displacements before smoothing are uniform and
// uniformMid of draw(key, drawField+p).
func drawFieldInto(sc *scratch, key uint64) {
	fx, fy := sc.field[:pixels], sc.field[pixels:]
	if useAVX2 {
		fieldAVX2(fx, fy, key, &sc.z)
		return
	}
	for p := range pixels {
		r := draw(key, drawField+uint32(p))
		fx[p] = uniform(r)
		fy[p] = uniformMid(r)
	}
}

// warp writes dst (784), normalized: for each output pixel p = (x, y), the source point
//
//	X = (x − 13.5) − tx,  Y = (y − 13.5) − ty
//	qx = ((a·X + b·Y) [+ α·Sx(p)]) + 13.5,  qy = ((c·X + d·Y) [+ α·Sy(p)]) + 13.5
//
// sampled bilinearly from sc.img (zero outside the image), clamped to 0..255 and normalized. Only
// qx, qy in [−1, 28) can touch the image; elsewhere the value is 0, and so it is for NaN. The AVX2
// version does the same operations on eight pixels at a time.
func warp(dst []float32, sc *scratch, pl *Plan, m affine) {
	if useAVX2 {
		warpAVX2(dst, sc, pl, m)
		return
	}
	warpGo(dst, sc, pl, m)
}

// warpGo is the portable warp.
func warpGo(dst []float32, sc *scratch, pl *Plan, m affine) {
	dst = dst[:pixels]
	elastic := pl.Mode == Elastic
	sx, sy := sc.s[:pixels], sc.s[pixels:][:pixels]
	for q := range dst {
		X := (float32(q%cols) - centre) - m.tx
		Y := (float32(q/cols) - centre) - m.ty
		qx := float32(m.a*X) + float32(m.b*Y)
		qy := float32(m.c*X) + float32(m.d*Y)
		if elastic {
			qx += float32(pl.Alpha * sx[q])
			qy += float32(pl.Alpha * sy[q])
		}
		qx += centre
		qy += centre
		dst[q] = normalize(sample(&sc.img, qx, qy))
	}
}

// sample is the bilinear interpolation of img at (qx, qy), clamped to 0..255:
//
//	x0 = ⌊qx⌋, fx = qx − x0, gx = 1 − fx (likewise y)
//	v = gy·(gx·p00 + fx·p01) + fy·(gx·p10 + fx·p11)
//
// each product rounded to float32 before its sum. At integer points it returns the pixel exactly.
func sample(img *[padded*padded + 4]uint8, qx, qy float32) float32 {
	if !(qx >= -1 && qx < cols && qy >= -1 && qy < rows) {
		return 0
	}
	ix, iy := int(qx), int(qy) // truncation; floor below
	x0, y0 := float32(ix), float32(iy)
	if x0 > qx {
		ix--
		x0--
	}
	if y0 > qy {
		iy--
		y0--
	}
	fx, fy := qx-x0, qy-y0
	gx, gy := 1-fx, 1-fy
	k := (iy+1)*padded + ix + 1
	p := img[k : k+padded+2]
	top := float32(gx*float32(p[0])) + float32(fx*float32(p[1]))
	bot := float32(gx*float32(p[padded])) + float32(fx*float32(p[padded+1]))
	v := float32(gy*top) + float32(fy*bot)
	return min(max(v, 0), 255)
}

// mm28 computes out (n, 32; row stride ldo) = a (n, 28; row stride lda) · b (28, 32), with each
// out[i][j] = Σ_k a[i][k]·b[k][j] summed from 0 in order k = 0..27, every product rounded before
// its sum. n is even. Rows are written in order, 32 floats each, so with ldo = 28 a row's last four
// (b's zero padding) are overwritten by the next row and the last row needs 4 floats of slack.
func mm28(out []float32, ldo int, a []float32, lda int, b []float32, n int) {
	_ = out[(n-1)*ldo+ldh-1]
	_ = a[(n-1)*lda+cols-1]
	_ = b[cols*ldh-1]
	if n%2 != 0 {
		panic("augment: mm28 with an odd row count")
	}
	if useAVX2 {
		mm28AVX2(&out[0], ldo, &a[0], lda, &b[0], n)
		return
	}
	mm28Go(out, ldo, a, lda, b, n)
}

// mm28Go is the portable mm28. The assembly keeps exactly its order, eight j at a time.
func mm28Go(out []float32, ldo int, a []float32, lda int, b []float32, n int) {
	b = b[:cols*ldh]
	for i := range n {
		ai := a[i*lda:][:cols]
		var acc [ldh]float32
		for k, v := range ai {
			bk := b[k*ldh:][:ldh]
			for j := range acc {
				acc[j] += float32(v * bk[j])
			}
		}
		copy(out[i*ldo:][:ldh], acc[:])
	}
}
