//go:build !amd64

package cpu

// HasAVX2 is false off amd64: the pure-Go micro-kernel runs.
const HasAVX2 = false

func kernel(kb int, a, b, c []float32, ldc int, acc bool) { kernelGo(kb, a, b, c, ldc, acc) }

const hasStrided = false

func kernelStrided(kb int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	panic("cpu: kernelStrided without AVX2")
}

func transpose8(dst []float32, ldd int, src []float32, lds int) {
	panic("cpu: transpose8 without AVX2")
}
