//go:build cuda

package cuda

// This file is dltrain's own thin cgo layer over the six cuBLAS calls the backend makes: create and
// destroy a handle, put it on a stream, give it a workspace, set its math mode, and SGEMM. It
// replaces gorgonia.org/cu/blas, whose error is sticky (after one failed call every later call is
// skipped, with no way to reset it, so a cuBLAS failure while recording a graph broke every later
// GEMM of the run) and whose handle could only be reached by reading its private struct layout. Each
// call here returns its own status. It is deliberately not a BLAS: one handle, one stream, SGEMM only.

/*
#cgo LDFLAGS: -lcublas
#include <cuda.h>
#include <cublas_v2.h>

static int dl_blas_create(void **h) {
	cublasHandle_t x = 0;
	cublasStatus_t s = cublasCreate(&x);
	*h = (void *)x;
	return (int)s;
}
static int dl_blas_destroy(void *h) { return (int)cublasDestroy((cublasHandle_t)h); }
static int dl_blas_set_stream(void *h, CUstream s) { return (int)cublasSetStream((cublasHandle_t)h, (cudaStream_t)s); }
static int dl_blas_set_workspace(void *h, CUdeviceptr p, size_t n) { return (int)cublasSetWorkspace((cublasHandle_t)h, (void *)p, n); }
static int dl_blas_set_math(void *h, int tf32) {
	return (int)cublasSetMathMode((cublasHandle_t)h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}
// dl_blas_sgemm is C = op(A)·op(B) in cuBLAS's column-major terms, alpha 1 and beta 0, the scalars
// read from host memory when the call is made (the default pointer mode, also during capture).
static int dl_blas_sgemm(void *h, int ta, int tb, int m, int n, int k,
		CUdeviceptr a, int lda, CUdeviceptr b, int ldb, CUdeviceptr c, int ldc) {
	const float one = 1.0f, zero = 0.0f;
	return (int)cublasSgemm((cublasHandle_t)h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
		m, n, k, &one, (const float *)a, lda, (const float *)b, ldb, &zero, (float *)c, ldc);
}
static const char *dl_blas_status_name(int s) { return cublasGetStatusName((cublasStatus_t)s); }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// blasHandle is a cuBLAS handle (cublasHandle_t).
type blasHandle struct{ h unsafe.Pointer }

func blasErr(what string, st C.int) error {
	if st == 0 { // CUBLAS_STATUS_SUCCESS
		return nil
	}
	return fmt.Errorf("cuda: %s: %s", what, C.GoString(C.dl_blas_status_name(st)))
}

// newBLASHandle creates a handle on the current context.
func newBLASHandle() (*blasHandle, error) {
	var h unsafe.Pointer
	if err := blasErr("cublasCreate", C.dl_blas_create(&h)); err != nil {
		return nil, err
	}
	return &blasHandle{h}, nil
}

func (b *blasHandle) destroy() error {
	if b == nil || b.h == nil {
		return nil
	}
	err := blasErr("cublasDestroy", C.dl_blas_destroy(b.h))
	b.h = nil
	return err
}

func (b *blasHandle) setStream(s C.CUstream) error {
	return blasErr("cublasSetStream", C.dl_blas_set_stream(b.h, s))
}

func (b *blasHandle) setWorkspace(p uint64, n int) error {
	return blasErr("cublasSetWorkspace", C.dl_blas_set_workspace(b.h, C.CUdeviceptr(p), C.size_t(n)))
}

// setTF32 selects CUBLAS_TF32_TENSOR_OP_MATH (true) or CUBLAS_DEFAULT_MATH (false).
func (b *blasHandle) setTF32(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	return blasErr("cublasSetMathMode", C.dl_blas_set_math(b.h, v))
}

// sgemm is cublasSgemm with alpha 1 and beta 0, in cuBLAS's own column-major terms; the backend's
// gemm (launch.go) maps row-major calls onto it.
func (b *blasHandle) sgemm(transA, transB bool, m, n, k int, a uint64, lda int, bm uint64, ldb int, c uint64, ldc int) error {
	ta, tb := C.int(0), C.int(0)
	if transA {
		ta = 1
	}
	if transB {
		tb = 1
	}
	return blasErr("cublasSgemm", C.dl_blas_sgemm(b.h, ta, tb, C.int(m), C.int(n), C.int(k),
		C.CUdeviceptr(a), C.int(lda), C.CUdeviceptr(bm), C.int(ldb), C.CUdeviceptr(c), C.int(ldc)))
}
