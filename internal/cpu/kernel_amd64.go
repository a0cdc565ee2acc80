package cpu

import "golang.org/x/sys/cpu"

// HasAVX2 reports whether the AVX2+FMA kernels are in use (tests switch it off to force the pure-Go
// ones).
var HasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// HasAVX512 reports whether the AVX-512 kernels are in use (they also need HasAVX2). x/sys/cpu sets
// HasAVX512F only when the OS saves the ZMM state.
var HasAVX512 = cpu.X86.HasAVX512F

// The micro-kernels of gemm_amd64.s and gemm512_amd64.s; see there for their contracts.
//
//go:noescape
func kern6x16P(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc bool)

//go:noescape
func kern6x16R(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc bool)

//go:noescape
func kern10x32P(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, rows, panels int, mask uint32, acc bool)

//go:noescape
func kern10x32R(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, rows, panels int, mask uint32, acc bool)

// kernelAVX2 runs the 6×16 AVX2 kernel on a full tile, with kernelGo's arguments: op(A) either row
// by row (aks = 1) or column by column (ars = 1). The ranges the assembly reads are checked here.
func kernelAVX2(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if kb == 0 {
		kernelGo(kb, a, ars, aks, b, ldb, c, ldc, 6, 16, acc)
		return
	}
	_ = a[5*ars+(kb-1)*aks]
	_ = b[(kb-1)*ldb+15]
	_ = c[5*ldc+15]
	if aks == 1 {
		kern6x16R(kb, &a[0], ars, &b[0], ldb, &c[0], ldc, acc)
		return
	}
	if ars != 1 {
		panic("cpu: kernelAVX2 needs op(A) contiguous along rows or along k")
	}
	kern6x16P(kb, &a[0], aks, &b[0], ldb, &c[0], ldc, acc)
}

// kernel512 runs the 10×32 AVX-512 kernel on panels tiles down a column of C: tile t has rows
// 10t..10t+h-1 of the h×w block at c (h ≤ 10, w ≤ 32; h < 10 only with panels = 1), op(A) starting
// at row 10t. It reads all ten rows of op(A) of every tile (the caller pads a ragged panel) and the
// first w columns of op(B).
func kernel512(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w, panels int, acc bool) {
	if kb == 0 || h == 0 || w == 0 || panels == 0 {
		for t := range panels {
			kernelGo(kb, a[10*t*ars:], ars, aks, b, ldb, c[10*t*ldc:], ldc, h, w, acc)
		}
		return
	}
	_ = a[(10*(panels-1)+9)*ars+(kb-1)*aks]
	_ = b[(kb-1)*ldb+w-1]
	_ = c[(10*(panels-1)+h-1)*ldc+w-1]
	mask := uint32(1)<<w - 1
	if w == 32 {
		mask = ^uint32(0)
	}
	if aks == 1 {
		kern10x32R(kb, &a[0], ars, &b[0], ldb, &c[0], ldc, h, panels, mask, acc)
		return
	}
	if ars != 1 {
		panic("cpu: kernel512 needs op(A) contiguous along rows or along k")
	}
	kern10x32P(kb, &a[0], aks, &b[0], ldb, &c[0], ldc, h, panels, mask, acc)
}

// fmaPeak runs n iterations of 12 register-only 8-wide FMAs (192 flops each); for measuring the peak.
//
//go:noescape
func fmaPeak(n int)

// fmaPeak512 runs n iterations of 12 register-only 16-wide FMAs (384 flops each).
//
//go:noescape
func fmaPeak512(n int)

// transpose8x8 writes dst[r·ldd + c] = src[c·lds + r] for c < 8, r < 8n (gemm_amd64.s).
//
//go:noescape
func transpose8x8(dst *float32, ldd int, src *float32, lds int, n int)

// transpose8 is transpose8x8 on slices, with the bounds it touches checked first: n 8×8 blocks,
// dst rows 0..8n-1 from src columns 0..8n-1. Only call it when HasAVX2.
func transpose8(dst []float32, ldd int, src []float32, lds int, n int) {
	if n <= 0 {
		return
	}
	_ = dst[(8*n-1)*ldd+7]
	_ = src[7*lds+8*n-1]
	transpose8x8(&dst[0], ldd, &src[0], lds, n)
}

// spinPause is the PAUSE instruction: a polite wait in a spin loop.
//
//go:noescape
func spinPause()

// The elementwise loops of elementwise_amd64.s and fastmath_amd64.s; n is a multiple of 8.
//
//go:noescape
func gatherAVX2(dst *float32, src *uint8, n int)

//go:noescape
func sgdAVX2(p, v, grad *float32, n int, lr, mu float32)

//go:noescape
func actBackwardAVX2(dinp, dout, out *float32, n int, act int)

//go:noescape
func colSumsAVX2(dst, src *float32, rows, ld, n int)

//go:noescape
func biasActAVX2(row, bias *float32, n int, act int)

//go:noescape
func prefetchRows(p *uint8, n int)
