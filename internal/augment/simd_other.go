//go:build !amd64

package augment

// useAVX2 is false off amd64: the portable loops run.
const useAVX2 = false

type warpConsts struct{}

func mm28AVX2(out *float32, ldo int, a *float32, lda int, b *float32, n int) {
	panic("augment: mm28AVX2 off amd64")
}

func fieldAVX2(fx, fy []float32, key uint64, z *[8]uint64) { panic("augment: fieldAVX2 off amd64") }

func warpAVX2(dst []float32, sc *scratch, pl *Plan, m affine) { panic("augment: warpAVX2 off amd64") }
