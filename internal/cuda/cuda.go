//go:build cuda

// Package cuda is dltrain's GPU backend: model.Backend on an NVIDIA GPU through gorgonia.org/cu (the
// CUDA driver API) and gorgonia.org/cu/blas (cuBLAS), with the hand-written PTX kernels of
// internal/kernels. It mirrors internal/cpu op for op.
//
// Threading: a CUDA context is current on one OS thread. New locks the calling goroutine to its
// thread and makes the context current there, so the Backend must be used from the goroutine that
// created it (the CLI trains on the goroutine that picks the backend).
//
// Errors: ops do not return errors (the interface is shared with the CPU). The first failed launch
// or cuBLAS call is kept and returned by the next Sync, Download or Upload, and later ops are skipped.
package cuda

// #include <cuda.h>
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
)

// Built reports whether this binary was built with the CUDA backend.
const Built = true

// Tensor is a float32 buffer in device memory.
type Tensor struct {
	ptr cu.DevicePtr
	n   int
}

// Len is the number of floats.
func (t Tensor) Len() int { return t.n }

// data is a data set resident on the device: pixels, this epoch's order, and the labels in that order.
type data struct {
	host   *mnist.Set
	pix    cu.DevicePtr // u8 (N, 784)
	order  cu.DevicePtr // s32 (N)
	labels cu.DevicePtr // u8 (N), labels[order[i]]
	scr    []uint8      // host scratch for the ordered labels
}

func (d *data) N() int          { return d.host.N }
func (d *data) Labels() []uint8 { return d.host.Labels }

// Backend runs every op on one GPU.
type Backend struct {
	dev    cu.Device
	ctx    cu.CUContext
	blas   *cublas.Standard
	fns    map[string]cu.Function
	mods   []cu.Module
	allocs []cu.DevicePtr
	err    error

	// stream carries every launch and cuBLAS call, so that a step can be captured as a CUDA graph
	// (graph.go). It blocks with the legacy stream, so the synchronous copies order with it.
	stream    cu.Stream
	cursor    cu.DevicePtr // u32 batch offset read by a replayed step
	capturing bool
	exec      C.CUgraphExec

	// Launch arguments: argp[i] points at argv[i], set once, so a launch allocates nothing.
	argv [8]uint64
	argp [8]unsafe.Pointer

	devName string // for reports
}

var _ model.Backend = (*Backend)(nil)

// ErrNotBuilt is never returned in a CUDA build; it exists so both builds export the same names.
var ErrNotBuilt = errors.New("cuda: built without CUDA: make build-cuda")

// Available reports why no GPU can be used, or nil: no driver, or no device.
func Available() error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("cuda: no usable driver: %v", err)
	}
	if n == 0 {
		return errors.New("cuda: no CUDA device found")
	}
	return nil
}

// New opens GPU 0, creates a context current on the calling goroutine's OS thread (which it locks),
// a cuBLAS handle, and loads every PTX module.
func New() (model.Backend, error) { return Open(0) }

// Open is New for a given device ordinal.
func Open(ordinal int) (*Backend, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	n, _ := cu.NumDevices()
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda: device %d does not exist (%d found)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %v", ordinal, err)
	}
	runtime.LockOSThread()
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: creating a context on device %d: %v", ordinal, err)
	}
	b := &Backend{dev: dev, ctx: ctx, fns: map[string]cu.Function{}}
	for i := range b.argp {
		b.argp[i] = unsafe.Pointer(&b.argv[i])
	}
	b.devName, _ = dev.Name()
	if b.blas, err = newBLAS(); err != nil {
		return nil, err
	}
	if b.stream, err = cu.MakeStream(0); err != nil {
		return nil, fmt.Errorf("cuda: creating a stream: %v", err)
	}
	if err := b.useStream(); err != nil {
		return nil, err
	}
	loaded := map[string]cu.Module{}
	for _, e := range kernels.All {
		mod, ok := loaded[e.Module]
		if !ok {
			src, err := kernels.Source(e.Module)
			if err != nil {
				return nil, err
			}
			if mod, err = loadModule(e.Module, src); err != nil {
				return nil, err
			}
			loaded[e.Module] = mod
			b.mods = append(b.mods, mod)
		}
		fn, err := mod.Function(e.Name)
		if err != nil {
			return nil, fmt.Errorf("cuda: %s.ptx has no entry %s: %v", e.Module, e.Name, err)
		}
		b.fns[e.Name] = fn
	}
	return b, nil
}

// loadModule loads one PTX module; the driver JIT-compiles it for this card. When the driver refuses
// it, the error carries the JIT's own log (CUDA 13 refused non-ASCII comments with only InvalidPtx
// otherwise).
func loadModule(name, src string) (cu.Module, error) {
	log := &cu.JITErrorLogBuffer{Buffer: make([]byte, 4096)}
	mod, err := cu.LoadDataEx(src, log)
	if err != nil {
		if msg := strings.TrimSpace(string(bytes.TrimRight(log.Buffer, "\x00"))); msg != "" {
			return mod, fmt.Errorf("cuda: loading %s.ptx: %v: %s", name, err, msg)
		}
		return mod, fmt.Errorf("cuda: loading %s.ptx: %v", name, err)
	}
	return mod, nil
}

// newBLAS creates the cuBLAS handle; cu/blas panics when cublasCreate fails.
func newBLAS() (h *cublas.Standard, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cuda: creating the cuBLAS handle: %v", r)
		}
	}()
	return cublas.New(), nil
}

// Bind makes the backend's context current on the calling goroutine's OS thread, locking the
// goroutine to it. Needed only when another goroutine than the creator uses the backend (tests do).
func (b *Backend) Bind() error {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return fmt.Errorf("cuda: binding the context: %v", err)
	}
	return nil
}

// Name is "cuda".
func (b *Backend) Name() string { return "cuda" }

// Device describes the GPU and driver, for reports.
func (b *Backend) Device() string {
	major, minor, _ := b.dev.ComputeCapability()
	v := cu.Version()
	return fmt.Sprintf("%s (sm_%d%d), driver API %d.%d", b.devName, major, minor, v/1000, v%1000/10)
}

// MemUsed is the device memory in use on the whole card, in bytes (total − free).
func (b *Backend) MemUsed() (int64, error) {
	free, total, err := cu.MemInfo()
	return total - free, err
}

func (b *Backend) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func dev(t model.Tensor) Tensor {
	if t == nil {
		return Tensor{}
	}
	return t.(Tensor)
}

// Alloc returns n zeroed floats of device memory.
func (b *Backend) Alloc(n int) (model.Tensor, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: alloc of %d floats", n)
	}
	if n == 0 {
		return Tensor{}, nil
	}
	p, err := cu.MemAlloc(int64(n) * 4)
	if err != nil {
		return nil, fmt.Errorf("cuda: allocating %d MB: %v", int64(n)*4>>20, err)
	}
	b.allocs = append(b.allocs, p)
	if err := cu.MemsetD32(p, 0, int64(n)); err != nil {
		return nil, fmt.Errorf("cuda: memset: %v", err)
	}
	return Tensor{p, n}, nil
}

// View is n floats of t from off.
func (b *Backend) View(t model.Tensor, off, n int) model.Tensor {
	d := dev(t)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: view [%d, %d) of a %d-float tensor", off, off+n, d.n))
	}
	return Tensor{d.ptr + cu.DevicePtr(4*off), n}
}

// Upload copies src to dst.
func (b *Backend) Upload(dst model.Tensor, src []float32) error {
	d := dev(dst)
	if d.n != len(src) {
		return fmt.Errorf("cuda: upload of %d floats into %d", len(src), d.n)
	}
	if b.err != nil {
		return b.err
	}
	if len(src) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&src[0]), int64(4*len(src))); err != nil {
		return fmt.Errorf("cuda: upload: %v", err)
	}
	return nil
}

// Download copies src to dst, after all queued work.
func (b *Backend) Download(dst []float32, src model.Tensor) error {
	s := dev(src)
	if s.n != len(dst) {
		return fmt.Errorf("cuda: download of %d floats into %d", s.n, len(dst))
	}
	if b.err != nil {
		return b.err
	}
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), s.ptr, int64(4*len(dst))); err != nil {
		return fmt.Errorf("cuda: download: %v", err)
	}
	return nil
}

// Zero clears t.
func (b *Backend) Zero(t model.Tensor) {
	d := dev(t)
	if d.n > 0 && b.err == nil {
		b.fail(cu.MemsetD32(d.ptr, 0, int64(d.n)))
	}
}

// Resident copies the set's pixels to the device as uint8 (47 MB for the training set) and sets the
// natural order.
func (b *Backend) Resident(s *mnist.Set) (model.Data, error) {
	d := &data{host: s, scr: make([]uint8, s.N)}
	var err error
	if d.pix, err = b.bytes(s.Images); err != nil {
		return nil, err
	}
	if d.order, err = cu.MemAlloc(int64(max(4*s.N, 4))); err != nil {
		return nil, fmt.Errorf("cuda: %v", err)
	}
	b.allocs = append(b.allocs, d.order)
	if d.labels, err = cu.MemAlloc(int64(max(s.N, 1))); err != nil {
		return nil, fmt.Errorf("cuda: %v", err)
	}
	b.allocs = append(b.allocs, d.labels)
	order := make([]int32, s.N)
	for i := range order {
		order[i] = int32(i)
	}
	return d, b.SetOrder(d, order)
}

func (b *Backend) bytes(v []uint8) (cu.DevicePtr, error) {
	p, err := cu.MemAlloc(int64(max(len(v), 1)))
	if err != nil {
		return 0, fmt.Errorf("cuda: allocating %d MB for the data set: %v", len(v)>>20, err)
	}
	b.allocs = append(b.allocs, p)
	if len(v) > 0 {
		if err := cu.MemcpyHtoD(p, unsafe.Pointer(&v[0]), int64(len(v))); err != nil {
			return 0, fmt.Errorf("cuda: %v", err)
		}
	}
	return p, nil
}

// SetOrder uploads the order and the labels in that order: one copy per epoch, none per step.
func (b *Backend) SetOrder(md model.Data, order []int32) error {
	d := md.(*data)
	if len(order) != d.host.N {
		return fmt.Errorf("cuda: order has %d entries for %d samples", len(order), d.host.N)
	}
	for i, o := range order {
		if o < 0 || int(o) >= d.host.N {
			return fmt.Errorf("cuda: order[%d] = %d out of range", i, o)
		}
		d.scr[i] = d.host.Labels[o]
	}
	if len(order) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(d.order, unsafe.Pointer(&order[0]), int64(4*len(order))); err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	if err := cu.MemcpyHtoD(d.labels, unsafe.Pointer(&d.scr[0]), int64(len(order))); err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	return nil
}

// launch runs entry e over n work items with 64-bit arguments, checking the launch.
func (b *Backend) launch(e kernels.Entry, n int, args ...uint64) {
	if b.err != nil {
		return
	}
	grid := e.Grid(n)
	if grid == 0 {
		return
	}
	copy(b.argv[:], args)
	err := b.fns[e.Name].Launch(grid, 1, 1, e.Block, 1, 1, 0, b.stream, b.argp[:len(args)])
	if err != nil {
		b.fail(fmt.Errorf("cuda: %s: launch of %d×%d: %v", e.Name, grid, e.Block, err))
	}
}

func ptr(t model.Tensor) uint64 { return uint64(dev(t).ptr) }

// cursorArg is the cursor's address while a step is being recorded, else 0 (no cursor).
func (b *Backend) cursorArg() uint64 {
	if b.capturing {
		return uint64(b.cursor)
	}
	return 0
}

func f32bits(f float32) uint64 { return uint64(math.Float32bits(f)) }

// Gather launches gather_normalize.
func (b *Backend) Gather(x model.Tensor, md model.Data, start, B int) {
	d := md.(*data)
	b.launch(kernels.GatherNormalize, B*mnist.Pixels, ptr(x), uint64(d.pix), uint64(d.order), uint64(start), b.cursorArg(), uint64(B))
}

// gemm computes the row-major C (M, N) = op(A) · op(B) with cuBLAS, which is column-major.
//
// A row-major matrix X (r × c, leading dimension ld) is, read column-major, Xᵀ (c × r) with the same
// ld. So the row-major C is the column-major Cᵀ (N × M), and
//
//	Cᵀ = (op(A)·op(B))ᵀ = op(B)ᵀ · op(A)ᵀ.
//
// cuBLAS is therefore called with its "A" = our B and its "B" = our A, m = N, n = M, k = K:
//   - our B not transposed (stored K × N): read column-major it is op(B)ᵀ already → NoTrans, ld = ldb;
//     our B transposed (stored N × K): read column-major it is op(B) → Trans, ld = ldb;
//   - the same for our A with m and n swapped.
//
// Leading dimensions pass through unchanged.
func (b *Backend) gemm(tA, tB bool, M, N, K int, a Tensor, lda int, bm Tensor, ldb int, c Tensor, ldc int) {
	if b.err != nil || M == 0 || N == 0 {
		return
	}
	opA, opB := blas.NoTrans, blas.NoTrans
	if tA {
		opA = blas.Trans
	}
	if tB {
		opB = blas.Trans
	}
	b.blas.Sgemm(opB, opA, N, M, K, 1, devSlice(bm), ldb, devSlice(a), lda, 0, devSlice(c), ldc)
	if err := b.blas.Err(); err != nil {
		b.fail(fmt.Errorf("cuda: cublasSgemm(%d×%d×%d): %v", M, N, K, err))
	}
}

// devSlice dresses a device pointer as a []float32 for gorgonia/cu/blas, which passes &s[0] to
// cuBLAS as the device address and never reads the memory from Go.
func devSlice(t Tensor) []float32 {
	return unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(nil), uintptr(t.ptr))), max(t.n, 1))
}

// MatmulForward: out = act(inp · weightᵀ + bias): one SGEMM, then bias_act; for a small layer
// (small(B, C, OC)) one linear_small launch does all three.
func (b *Backend) MatmulForward(out, inp, weight, bias model.Tensor, act model.Activation, B, C, OC int) {
	if small(B, C, OC) {
		b.launch(kernels.LinearSmall, B*OC, ptr(out), ptr(inp), ptr(weight), ptr(bias), uint64(B), uint64(C), uint64(OC), uint64(act))
		return
	}
	b.gemm(false, true, B, OC, C, dev(inp), C, dev(weight), C, dev(out), OC)
	b.launch(kernels.BiasAct, B*OC, ptr(out), ptr(bias), uint64(B), uint64(OC), uint64(act))
}

// MatmulBackward: dinp = dout·weight (skipped when nil), dweight = doutᵀ·inp, dbias = column sums of
// dout. For a small layer (small(B, C, OC): the output layer) input_grad computes dinp and one
// grad_sums launch gives dweight and dbias together. Otherwise the two GEMMs go to cuBLAS and
// grad_sums (cols = 0) sums the bias gradient.
func (b *Backend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight model.Tensor, B, C, OC int) {
	if small(B, C, OC) {
		if dinp != nil {
			b.launch(kernels.InputGrad, B*C, ptr(dinp), ptr(dout), ptr(weight), uint64(B), uint64(C), uint64(OC))
		}
		b.launch(kernels.GradSums, OC*(C+1), ptr(dweight), ptr(dbias), ptr(dout), ptr(inp), uint64(B), uint64(C), uint64(OC))
		return
	}
	if dinp != nil {
		b.gemm(false, false, B, C, OC, dev(dout), OC, dev(weight), C, dev(dinp), C)
	}
	b.gemm(true, false, OC, C, B, dev(dout), OC, dev(inp), C, dev(dweight), C)
	b.launch(kernels.GradSums, OC, 0, ptr(dbias), ptr(dout), 0, uint64(B), 0, uint64(OC))
}

// small reports whether a layer (batch B, C inputs, OC outputs) goes to the hand-written small-layer
// kernels (linear_small, input_grad, grad_sums) instead of cuBLAS. cuBLAS is slow on such shapes
// on an H100: 53 µs for the seed's 10×128×100 weight gradient, 6.9 µs for its 100×10×128 forward,
// 4.8 µs for the 100×128×10 input gradient, where the kernels take about 2 to 3 µs. The kernels
// spread one output over 8 warps, so they are meant for a few thousand outputs of short sums.
func small(B, C, OC int) bool { return OC <= 16 && B*C <= 1<<16 }

// ActivationBackward launches act_backward.
func (b *Backend) ActivationBackward(dinp, dout, out model.Tensor, act model.Activation, N int) {
	b.launch(kernels.ActBackward, N, ptr(dinp), ptr(dout), ptr(out), uint64(N), uint64(act))
}

// CrossEntropy launches softmax_ce, which gives each row a half-warp, one logit per lane, and so
// takes at most maxClasses classes.
func (b *Backend) CrossEntropy(dlogits, stats, logits model.Tensor, md model.Data, start, B, K int) {
	d := md.(*data)
	if K > maxClasses {
		b.fail(fmt.Errorf("cuda: softmax_ce handles at most %d classes, not %d", maxClasses, K))
		return
	}
	b.launch(kernels.SoftmaxCE, B, ptr(dlogits), ptr(stats), ptr(logits), uint64(d.labels), uint64(start), b.cursorArg(), uint64(B), uint64(K))
}

// maxClasses is the most classes softmax_ce.ptx takes (16 lanes per row).
const maxClasses = 16

// MSE launches mse.
func (b *Backend) MSE(dout, stats, out model.Tensor, md model.Data, start, B, K int) {
	d := md.(*data)
	b.launch(kernels.MSE, B, ptr(dout), ptr(stats), ptr(out), uint64(d.labels), uint64(start), b.cursorArg(), uint64(B), uint64(K))
}

// SGDMomentum launches sgd_momentum over all N parameters.
func (b *Backend) SGDMomentum(params, velocity, grads model.Tensor, lr, mu float32, N int) {
	b.launch(kernels.SGDMomentum, N, ptr(params), ptr(velocity), ptr(grads), uint64(N), f32bits(lr), f32bits(mu))
}

// Sync waits for the GPU and returns the first error of any op since the last check.
func (b *Backend) Sync() error {
	if b.err != nil {
		return b.err
	}
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	return nil
}

// Close frees every allocation and the context.
func (b *Backend) Close() error {
	b.closeGraph()
	for _, p := range b.allocs {
		cu.MemFree(p)
	}
	b.allocs = nil
	for _, m := range b.mods {
		m.Unload()
	}
	err := b.ctx.Destroy()
	runtime.UnlockOSThread()
	return err
}
