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
