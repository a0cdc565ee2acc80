//go:build cuda

package cuda

// This file is the small cgo layer for CUDA graphs, which gorgonia.org/cu lacks: stream capture,
// instantiation, launch. cuBLAS has its own (blas.go); everything else goes through cu.

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

static CUresult dl_capture_begin(CUstream s) { return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL); }
static CUresult dl_capture_end(CUstream s, CUgraph *g) { return cuStreamEndCapture(s, g); }
static CUresult dl_instantiate(CUgraphExec *e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
static CUresult dl_graph_launch(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
static CUresult dl_graph_destroy(CUgraph g) { return cuGraphDestroy(g); }
static CUresult dl_exec_destroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static const char *dl_error_name(CUresult r) { const char *s = 0; cuGetErrorName(r, &s); return s ? s : "unknown CUresult"; }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/dltrain/dltrain/internal/kernels"
	"github.com/dltrain/dltrain/internal/ops"
)

var _ ops.Graphs = (*Backend)(nil)

func cuErr(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("cuda: %s: %s", what, C.GoString(C.dl_error_name(r)))
}

// cstream is the backend's stream as the driver API's type.
func (b *Backend) cstream() C.CUstream { return C.CUstream(unsafe.Pointer(b.stream.C())) }

// cublasWorkspace is the workspace given to cuBLAS, the size NVIDIA recommends for Hopper. With a
// workspace of its own cuBLAS never allocates during stream capture, which a graph would forbid.
const cublasWorkspace = 32 << 20

// useStream puts cuBLAS on the backend's stream, with a workspace of its own (setting the stream
// resets it).
func (b *Backend) useStream() error {
	if err := b.blas.setStream(b.cstream()); err != nil {
		return err
	}
	ws, err := cu.MemAlloc(cublasWorkspace)
	if err != nil {
		return fmt.Errorf("cuda: cuBLAS workspace: %v", err)
	}
	b.allocs = append(b.allocs, ws)
	return b.blas.setWorkspace(uint64(ws), cublasWorkspace)
}

// Record captures step (one full-batch training step issued with start 0) and an advance of the
// cursor into a CUDA graph, without running it. While capturing, Gather and the loss kernels read the
// batch offset from the cursor. With fusion on, the step's ops are emitted (fused) inside the capture;
// if a fused kernel's scratch had to be allocated, the capture is dropped, the scratch allocated and
// the step captured again.
func (b *Backend) Record(step func(), batch int) error {
	b.flush()
	if b.err != nil {
		return b.err
	}
	if b.cursor == 0 {
		p, err := cu.MemAlloc(4)
		if err != nil {
			return fmt.Errorf("cuda: cursor: %v", err)
		}
		b.allocs = append(b.allocs, p)
		b.cursor = p
	}
	var g C.CUgraph
	for attempt := 0; ; attempt++ {
		if err := cuErr("cuStreamBeginCapture", C.dl_capture_begin(b.cstream())); err != nil {
			return err
		}
		b.capturing = true
		step()
		if b.fuse {
			b.enqueue(qop{kind: qAdvance, cursor: uint64(b.cursor), cursorTarget: uint64(b.cursor), N: batch})
			b.flush()
		} else {
			b.launch(kernels.Advance, 1, uint64(b.cursor), uint64(batch))
		}
		b.capturing = false
		g = nil
		endErr := cuErr("cuStreamEndCapture", C.dl_capture_end(b.cstream(), &g))
		if b.err != nil || endErr != nil {
			// A failed capture leaves nothing behind; clear the error so training can go on plainly.
			err := errors.Join(b.err, endErr)
			b.err = nil
			b.scratchNeed = nil
			if g != nil {
				C.dl_graph_destroy(g)
			}
			return err
		}
		again, err := b.scratchRetry()
		if err != nil {
			b.err = nil
			C.dl_graph_destroy(g)
			return err
		}
		if !again || attempt > 0 {
			break
		}
		C.dl_graph_destroy(g)
	}
	defer C.dl_graph_destroy(g)
	if b.exec != nil {
		C.dl_exec_destroy(b.exec)
		b.exec = nil
	}
	return cuErr("cuGraphInstantiateWithFlags", C.dl_instantiate(&b.exec, g))
}

// SetCursor sets the batch offset of the next replay.
func (b *Backend) SetCursor(start int) error {
	b.flush()
	if b.err != nil {
		return b.err
	}
	v := uint32(start)
	if err := cu.MemcpyHtoD(b.cursor, unsafe.Pointer(&v), 4); err != nil {
		return fmt.Errorf("cuda: setting the cursor: %v", err)
	}
	return nil
}

// Replay launches the recorded step.
func (b *Backend) Replay() error {
	b.flush()
	if b.err != nil {
		return b.err
	}
	if b.exec == nil {
		return errors.New("cuda: replay before record")
	}
	if err := cuErr("cuGraphLaunch", C.dl_graph_launch(b.exec, b.cstream())); err != nil {
		b.fail(err)
		return err
	}
	return nil
}

func (b *Backend) closeGraph() {
	if b.exec != nil {
		C.dl_exec_destroy(b.exec)
		b.exec = nil
	}
}
