package augment

import "golang.org/x/sys/cpu"

// useAVX2 says whether the AVX2 kernels in simd_amd64.s run. They give the portable code's bits
// exactly (same operations, same order, no FMA), so switching them off changes only the speed.
var useAVX2 = cpu.X86.HasAVX2

// mm28AVX2 is mm28 on raw pointers, two rows at a time (simd_amd64.s). The caller checks the bounds.
//
//go:noescape
func mm28AVX2(out *float32, ldo int, a *float32, lda int, b *float32, n int)

// warpAVX2asm is warpGo on eight pixels at a time (simd_amd64.s): out (784), img (30, 30) padded
// uint8 with 4 bytes of slack, s (2, 784) the smoothed displacements (read only when elastic), xs
// and ys (784) the pixel coordinates minus the centre.
//
//go:noescape
func warpAVX2asm(out *float32, img *uint8, s, xs, ys *float32, c *warpConsts, f *warpFixed, elastic bool)

// warpConsts holds one image's warp operands, each repeated in eight lanes.
type warpConsts struct{ a, b, c, d, tx, ty, alpha [8]float32 }

// warpFixed holds the warp's fixed operands, each repeated in eight lanes.
type warpFixed struct {
	centre, minus1, c28, one, zero, c255, half [8]float32
	i30, i31, i255                             [8]int32
}

var fixed = func() (f warpFixed) {
	for l := range 8 {
		f.centre[l], f.minus1[l], f.c28[l], f.one[l], f.zero[l], f.c255[l], f.half[l] = centre, -1, cols, 1, 0, 255, 0.5
		f.i30[l], f.i31[l], f.i255[l] = padded, padded+1, 0xff
	}
	return f
}()

// xs and ys are each pixel's coordinates minus the centre: float32(x) − 13.5 and float32(y) − 13.5.
var xs, ys = func() (xs, ys [pixels]float32) {
	for q := range pixels {
		xs[q] = float32(q%cols) - centre
		ys[q] = float32(q/cols) - centre
	}
	return
}()

// warpAVX2 is warp through the assembly.
func warpAVX2(dst []float32, sc *scratch, pl *Plan, m affine) {
	_ = dst[pixels-1]
	c := &sc.wc
	for l := range 8 {
		c.a[l], c.b[l], c.c[l], c.d[l], c.tx[l], c.ty[l], c.alpha[l] = m.a, m.b, m.c, m.d, m.tx, m.ty, pl.Alpha
	}
	warpAVX2asm(&dst[0], &sc.img[0], &sc.s[0], &xs[0], &ys[0], c, &fixed, pl.Mode == Elastic)
}
