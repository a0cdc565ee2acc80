//go:build cuda

// Package cuda is dltrain's GPU backend: ops.Backend on an NVIDIA GPU through gorgonia.org/cu (the
// CUDA driver API) and gorgonia.org/cu/blas (cuBLAS), with the hand-written PTX kernels of
// internal/kernels. It mirrors internal/cpu op for op.
//
// Threading: a CUDA context is current on one OS thread. New locks the calling goroutine to its
// thread and makes the context current there, so the Backend must be used from the goroutine that
// created it (the CLI trains on the goroutine that picks the backend).
//
// Errors: ops do not return errors (the interface is shared with the CPU). The first failed launch
// or cuBLAS call is kept and returned by the next Sync, Download or Upload, and later ops are skipped.
//
// Files: this one is the backend's life cycle (context, modules, cuBLAS), memory and data; launch.go
// holds the ops, each with its launcher, in the order of the CPU backend's methods
// (internal/cpu/backend.go); graph.go is the cgo for what gorgonia.org/cu lacks.
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
	cublas "gorgonia.org/cu/blas"

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

	// Launch arguments: argp[i] points at argv[i], set once, so a launch allocates nothing on the Go
	// heap (gorgonia/cu's Launch still mallocs and frees two small C buffers per call).
	argv [16]uint64
	argp [16]unsafe.Pointer

	devName string // for reports
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

func dev(t ops.Tensor) Tensor {
	if t == nil {
		return Tensor{}
	}
	return t.(Tensor)
}

// Alloc returns n zeroed floats of device memory.
func (b *Backend) Alloc(n int) (ops.Tensor, error) {
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
func (b *Backend) View(t ops.Tensor, off, n int) ops.Tensor {
	d := dev(t)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: view [%d, %d) of a %d-float tensor", off, off+n, d.n))
	}
	return Tensor{d.ptr + cu.DevicePtr(4*off), n}
}

// Upload copies src to dst.
func (b *Backend) Upload(dst ops.Tensor, src []float32) error {
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
	d := dev(t)
	if d.n > 0 && b.err == nil {
		b.fail(cu.MemsetD32(d.ptr, 0, int64(d.n)))
	}
}

// Resident copies the set's pixels to the device as uint8 (47 MB for the training set) and sets the
// natural order.
func (b *Backend) Resident(s *mnist.Set) (ops.Data, error) {
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
