//go:build !amd64

package cpu

// HasAVX2 and HasAVX512 are false off amd64: the pure-Go kernels run. (They are variables, as on
// amd64, so that tests can save and restore them; setting them true here is a programming error.)
var (
	HasAVX2   = false
	HasAVX512 = false
)

func kernelAVX2(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	panic("cpu: kernelAVX2 without AVX2")
}

func kernel512(kb int, a []float32, ars, aks int, b []float32, ldb int, c []float32, ldc, h, w, panels int, acc bool) {
	panic("cpu: kernel512 without AVX-512")
}

func transpose8(dst []float32, ldd int, src []float32, lds int, n int) {
	panic("cpu: transpose8 without AVX2")
}

func spinPause() {}

func gatherAVX2(dst *float32, src *uint8, n int)               { panic("cpu: no AVX2") }
func sgdAVX2(p, v, grad *float32, n int, lr, mu float32)       { panic("cpu: no AVX2") }
func actBackwardAVX2(dinp, dout, out *float32, n int, act int) { panic("cpu: no AVX2") }
func colSumsAVX2(dst, src *float32, rows, ld, n int)           { panic("cpu: no AVX2") }
func biasActAVX2(row, bias *float32, n int, act int)           { panic("cpu: no AVX2") }

func prefetchRows(p *uint8, n int) {}
