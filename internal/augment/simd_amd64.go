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

// fieldAVX2asm is the elastic field's draws for 8 pixels at a time (simd_amd64.s): fx and fy (784)
// get uniform and uniformMid of draw(key, drawField+p); z holds the first eight counters
// key + (drawField+n+1)·golden for n = 0, 1, 4, 5, 2, 3, 6, 7 (that lane order makes the packed
// results come out in pixel order).
//
//go:noescape
func fieldAVX2asm(fx, fy *float32, z *[8]uint64, c *fieldFixed)

// fieldFixed holds the field kernel's constants: the counter step 8·golden, the halves of mix's two
// multipliers, 2⁻²³, 1 and the 24-bit mask, each repeated per lane.
type fieldFixed struct {
	step, m1lo, m1hi, m2lo, m2hi [4]uint64
	scale, one                   [8]float32
	mask24                       [8]uint32
}

var fieldConsts = func() (f fieldFixed) {
	g := uint64(golden)
	for l := range 4 {
		f.step[l] = 8 * g // mod 2⁶⁴
		f.m1lo[l], f.m1hi[l] = 0xbf58476d1ce4e5b9&0xffffffff, 0xbf58476d1ce4e5b9>>32
		f.m2lo[l], f.m2hi[l] = 0x94d049bb133111eb&0xffffffff, 0x94d049bb133111eb>>32
	}
	for l := range 8 {
		f.scale[l], f.one[l], f.mask24[l] = 1.0/(1<<23), 1, 1<<24-1
	}
	return f
}()

// fieldAVX2 is smoothField's drawing loop through the assembly.
func fieldAVX2(fx, fy []float32, key uint64, z *[8]uint64) {
	_, _ = fx[pixels-1], fy[pixels-1]
	for l, n := range [8]uint64{0, 1, 4, 5, 2, 3, 6, 7} {
		z[l] = key + (drawField+n+1)*golden
	}
	fieldAVX2asm(&fx[0], &fy[0], z, &fieldConsts)
}

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
