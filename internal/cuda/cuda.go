//go:build cuda

// Package cuda is dltrain's GPU backend: ops.Backend on an NVIDIA GPU through gorgonia.org/cu (the
// CUDA driver API: contexts, memory, modules, launches), cuBLAS through a thin cgo layer of its own
// (blas.go), and the hand-written PTX kernels of internal/kernels. It mirrors internal/cpu op for op.
//
// Threading: a CUDA context is current on one OS thread. New locks the calling goroutine to its
// thread and makes the context current there, so the Backend must be used from the goroutine that
// created it (the CLI trains on the goroutine that picks the backend).
//
// Errors: ops do not return errors (the interface is shared with the CPU). The first failed launch
// or cuBLAS call is kept and returned by the next Sync, Download or Upload, and later ops are skipped.
// A failed graph recording clears it, so training can go on with plain launches.
//
// Indices: the kernels index with 32-bit integers, so Alloc refuses a tensor of 2^31 floats or more;
// every kernel's work is bounded by the length of a tensor it writes, so no index can wrap.
//
// Files: this one is the backend's life cycle (context, modules, cuBLAS), memory and data; launch.go
// holds the ops, each with its launcher, in the order of the CPU backend's methods
// (internal/cpu/backend.go); blas.go and graph.go are the cgo for cuBLAS and for what gorgonia.org/cu
// lacks (stream capture, graphs); precision.go is the fp32/tf32 setting, shared with the stub.
package cuda

// #include <cuda.h>
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
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

// data is a data set resident on the device: pixels, this epoch's order, and the labels in that order;
// with augmentation (SetAugment) also the plan, the seed, and the epoch and Gaussian taps on the device.
type data struct {
	host   *mnist.Set
	pix    cu.DevicePtr // u8 (N, 784)
	order  cu.DevicePtr // s32 (N)
	labels cu.DevicePtr // u8 (N), labels[order[i]]
	scr    []uint8      // host scratch for the ordered labels

	plan  *augment.Plan // nil: no augmentation
	seed  uint64
	epoch cu.DevicePtr // u32, read by the augment kernel (also inside a replayed step)
	taps  cu.DevicePtr // f32 (augment.MaxRadius+1), plan.Taps at the start
}

func (d *data) N() int          { return d.host.N }
func (d *data) Labels() []uint8 { return d.host.Labels }

// Backend runs every op on one GPU.
type Backend struct {
	dev    cu.Device
	ctx    cu.CUContext
	blas   *blasHandle
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

	// Launch arguments: argp[i] points at argv[i], set once, so a launch allocates nothing on the Go
	// heap (gorgonia/cu's Launch still mallocs and frees two small C buffers per call).
	argv [16]uint64
	argp [16]unsafe.Pointer

	devName   string // for reports
	precision Precision
	closed    bool

	// The fused step (fuse.go): ops queued while fuse is on, emitted (fused where they match a
	// pattern) at the next point that needs them; the fused kernels' scratch.
	fuse                          bool
	emitting                      bool
	queue                         []qop
	fcPart, headPart              Tensor
	scratchNeed                   []scratchNeed
	fusedFcIn, fusedHead, fusedDW int // fused launches so far, for tests and reports

	// skipKernels makes launch do nothing, so that a step runs its cuBLAS GEMMs alone, on its own
	// buffers: the report's measure of what the GEMMs cost inside the step (report_test.go).
	skipKernels bool
}

var _ ops.Backend = (*Backend)(nil)

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
func New() (ops.Backend, error) { return Open(0) }

// moduleSource returns a module's PTX; tests replace it to make Open fail after the context exists.
var moduleSource = kernels.Source

// Open is New for a given device ordinal. When it fails after the context was created, it releases
// everything it made (modules, cuBLAS handle, stream, allocations, context) and unlocks the thread, so
// a caller that falls back to the CPU keeps nothing alive on the GPU.
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
	b := &Backend{dev: dev, ctx: ctx, fns: map[string]cu.Function{}, fuse: fusionFromEnv()}
	if err := b.open(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// open makes everything of the backend but its context: cuBLAS, the stream, the modules.
func (b *Backend) open() error {
	for i := range b.argp {
		b.argp[i] = unsafe.Pointer(&b.argv[i])
	}
	b.devName, _ = b.dev.Name()
	var err error
	if b.blas, err = newBLASHandle(); err != nil {
		return err
	}
	if b.stream, err = cu.MakeStream(0); err != nil {
		return fmt.Errorf("cuda: creating a stream: %v", err)
	}
	if err := b.useStream(); err != nil {
		return err
	}
	loaded := map[string]cu.Module{}
	for _, e := range kernels.All {
		mod, ok := loaded[e.Module]
		if !ok {
			src, err := moduleSource(e.Module)
			if err != nil {
				return err
			}
			if mod, err = loadModule(e.Module, src); err != nil {
				return err
			}
			loaded[e.Module] = mod
			b.mods = append(b.mods, mod)
		}
		fn, err := mod.Function(e.Name)
		if err != nil {
			return fmt.Errorf("cuda: %s.ptx has no entry %s: %v", e.Module, e.Name, err)
		}
		b.fns[e.Name] = fn
	}
	return nil
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

// SetPrecision sets the math mode of the cuBLAS GEMMs: FP32 (CUBLAS_DEFAULT_MATH) or TF32
// (CUBLAS_TF32_TENSOR_OP_MATH). Set it before training: a recorded graph keeps the kernels cuBLAS
// chose when the step was recorded.
func (b *Backend) SetPrecision(p Precision) error {
	if err := b.blas.setTF32(p == TF32); err != nil {
		return err
	}
	b.precision = p
	return nil
}

// Precision is the math mode of the cuBLAS GEMMs.
func (b *Backend) Precision() Precision { return b.precision }

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

func dev(t ops.Tensor) Tensor {
	if t == nil {
		return Tensor{}
	}
	return t.(Tensor)
}

// maxFloats bounds a tensor's length: the kernels index elements with 32-bit integers, and each
// kernel's work (rows times columns, a layer's parameters) is the length of a tensor it reads or
// writes, so refusing longer tensors here keeps every index below 2^31. It refuses, for example, a
// batch of 65,536 rows of a 65,536-wide layer (2^32 floats, which the configuration allows).
const maxFloats = 1<<31 - 1

// Alloc returns n zeroed floats of device memory.
func (b *Backend) Alloc(n int) (ops.Tensor, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: alloc of %d floats", n)
	}
	if n > maxFloats {
		return nil, fmt.Errorf("cuda: a tensor of %d floats: the GPU kernels index with 32 bits, so at most %d (use a smaller batch or narrower layers)", n, maxFloats)
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
func (b *Backend) View(t ops.Tensor, off, n int) ops.Tensor {
	d := dev(t)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: view [%d, %d) of a %d-float tensor", off, off+n, d.n))
	}
	return Tensor{d.ptr + cu.DevicePtr(4*off), n}
}

// Upload copies src to dst.
func (b *Backend) Upload(dst ops.Tensor, src []float32) error {
	b.flush()
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
func (b *Backend) Download(dst []float32, src ops.Tensor) error {
	b.flush()
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
func (b *Backend) Zero(t ops.Tensor) {
	b.flush()
	d := dev(t)
	if d.n > 0 && b.err == nil {
		b.fail(cu.MemsetD32(d.ptr, 0, int64(d.n)))
	}
}

// Resident copies the set's pixels to the device as uint8 (47 MB for the training set) and sets the
// natural order.
func (b *Backend) Resident(s *mnist.Set) (ops.Data, error) {
	b.flush()
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

// SetOrder uploads the order (checked by the caller, ops.CheckOrder) and the labels in that order: one
// copy per epoch, none per step.
func (b *Backend) SetOrder(md ops.Data, order []int32) error {
	b.flush()
	d := md.(*data)
	for i, o := range order {
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

// SetAugment makes Gather launch the augment kernel on d with a's plan (augment.NewPlan): it keeps the
// plan on the host, copies its Gaussian taps to the device and sets the device epoch to 1, both once
// per run (the two small buffers are allocated the first time). Mode none removes the plan.
func (b *Backend) SetAugment(md ops.Data, a ops.Augment, seed uint64) error {
	b.flush() // queued Gathers of d were issued under the old plan
	d := md.(*data)
	pl, err := plan(a)
	if err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	if pl.Mode == augment.None {
		d.plan = nil
		return nil
	}
	if d.epoch == 0 {
		if d.epoch, err = cu.MemAlloc(4); err != nil {
			return fmt.Errorf("cuda: %v", err)
		}
		b.allocs = append(b.allocs, d.epoch)
		if d.taps, err = cu.MemAlloc(4 * (augment.MaxRadius + 1)); err != nil {
			return fmt.Errorf("cuda: %v", err)
		}
		b.allocs = append(b.allocs, d.taps)
	}
	if len(pl.Taps) > augment.MaxRadius+1 {
		return fmt.Errorf("cuda: %d Gaussian taps, at most %d", len(pl.Taps), augment.MaxRadius+1)
	}
	if len(pl.Taps) > 0 {
		if err := cu.MemcpyHtoD(d.taps, unsafe.Pointer(&pl.Taps[0]), int64(4*len(pl.Taps))); err != nil {
			return fmt.Errorf("cuda: %v", err)
		}
	}
	if err := cu.MemsetD32(d.epoch, 1, 1); err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	d.plan, d.seed = pl, seed
	return nil
}

// plan is augment.NewPlan of a, the contract's copy of augment.Params (internal/cpu has the same).
func plan(a ops.Augment) (*augment.Plan, error) {
	return augment.NewPlan(augment.Params{Mode: augment.Mode(a.Mode), Rotation: a.Rotation, Scale: a.Scale,
		Shear: a.Shear, Translate: a.Translate, Sigma: a.Sigma, Alpha: a.Alpha})
}

// Sync waits for the GPU and returns the first error of any op since the last check.
func (b *Backend) Sync() error {
	b.flush()
	if b.err != nil {
		return b.err
	}
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	return nil
}

// Close releases everything the backend made: the recorded graph, the cuBLAS handle, every
// allocation, the modules, the stream and the context; then it unlocks the OS thread that New locked.
// It returns the first errors joined, and does nothing when called again.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.queue = nil // nothing queued runs after Close
	var errs []error
	b.closeGraph()
	if b.blas != nil {
		errs = append(errs, b.blas.destroy())
		b.blas = nil
	}
	for _, p := range b.allocs {
		if err := cu.MemFree(p); err != nil {
			errs = append(errs, fmt.Errorf("cuda: freeing device memory: %v", err))
		}
	}
	b.allocs = nil
	for _, m := range b.mods {
		if err := m.Unload(); err != nil {
			errs = append(errs, fmt.Errorf("cuda: unloading a module: %v", err))
		}
	}
	b.mods = nil
	if b.stream != (cu.Stream{}) {
		if err := b.stream.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("cuda: destroying the stream: %v", err))
		}
	}
	if err := b.ctx.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("cuda: destroying the context: %v", err))
	}
	runtime.UnlockOSThread()
	return errors.Join(errs...)
}
