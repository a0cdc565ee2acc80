package cpu

import "golang.org/x/sys/cpu"

// HasAVX2 reports whether the AVX2+FMA micro-kernel is in use.
var HasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16 is the AVX2/FMA micro-kernel in gemm_amd64.s, with kernelGo's contract.
//
//go:noescape
func kernel6x16(kb int, a, b, c *float32, ldc int, acc bool)

func kernel(kb int, a, b, c []float32, ldc int, acc bool) {
	if HasAVX2 && kb > 0 {
		_ = a[mr*kb-1] // the assembly reads these ranges: check them here
		_ = b[nr*kb-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16(kb, &a[0], &b[0], &c[0], ldc, acc)
		return
	}
	kernelGo(kb, a, b, c, ldc, acc)
}

// fmaPeak runs n iterations of 12 register-only 8-wide FMAs (192 flops each); for measuring the peak.
//
//go:noescape
func fmaPeak(n int)

// kernel6x16s is kernel6x16 reading A in place: row r starts at a + r·lda.
//
//go:noescape
func kernel6x16s(kb int, a *float32, lda int, b, c *float32, ldc int, acc bool)

// hasStrided reports whether kernelStrided exists, so gemmRange can skip packing A.
const hasStrided = true

// kernelStrided is the micro-kernel with an unpacked A: a holds 6 rows of kb floats, lda apart.
func kernelStrided(kb int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	_ = a[(mr-1)*lda+kb-1]
	_ = b[nr*kb-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x16s(kb, &a[0], lda, &b[0], &c[0], ldc, acc)
}

// transpose8x8 writes dst[r·ldd + c] = src[c·lds + r] for r, c < 8 (gemm_amd64.s).
//
//go:noescape
func transpose8x8(dst *float32, ldd int, src *float32, lds int)

// transpose8 is transpose8x8 on slices, with the bounds it touches checked first. Only call it when
// HasAVX2.
func transpose8(dst []float32, ldd int, src []float32, lds int) {
	_ = dst[7*ldd+7]
	_ = src[7*lds+7]
	transpose8x8(&dst[0], ldd, &src[0], lds)
}
