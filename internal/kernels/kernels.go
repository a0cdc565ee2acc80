// Package kernels holds dltrain's hand-written PTX kernels, embedded in the binary, and a Go
// description of each entry point: its module, parameters (all 64-bit, as gorgonia/cu passes them)
// and launch geometry. The CUDA backend (internal/cuda) loads the modules and launches through one Go
// launcher per entry; the CPU twin of each kernel, which the tests compare against, lives in
// internal/cpu.
//
// The PTX is written for ISA 7.0 and target sm_52, so every driver since CUDA 11 JIT-compiles it for
// whatever card it finds. This package is pure Go: it builds, and its tests run, without CUDA.
package kernels

import (
	"embed"
	"fmt"
)

//go:embed *.ptx
var files embed.FS

// Source returns the PTX text of a module ("gather", "bias_act", …).
func Source(module string) (string, error) {
	b, err := files.ReadFile(module + ".ptx")
	if err != nil {
		return "", fmt.Errorf("kernels: no module %q", module)
	}
	return string(b), nil
}

// Entry describes one kernel entry point.
type Entry struct {
	Module string   // file name without .ptx
	Name   string   // .entry name
	Params []string // parameter names, in order
	// Block is the block size the launcher uses; Fixed means the kernel runs as a single block of
	// exactly that size (the reductions declare it with .reqntid).
	Block int
	Fixed bool
	Twin  string // the CPU function with the same contract (internal/cpu)
	// Per is the number of work items one block covers when that is not Block (grad_sums: 256
	// threads for 32 outputs); 0 means Block.
	Per int
}

// The entries. Their order, names and parameters are checked against the PTX by the tests.
var (
	GatherNormalize = Entry{"gather", "gather_normalize", []string{"x", "pix", "order", "start", "cursor", "rows"}, 256, false, "cpu.Gather", 0}
	Advance         = Entry{"gather", "advance", []string{"cursor", "by"}, 1, true, "(the host's start += B)", 0}
	BiasAct         = Entry{"bias_act", "bias_act", []string{"out", "bias", "rows", "cols", "act"}, 256, false, "cpu.BiasActivationForward", 0}
	ActBackward     = Entry{"act_backward", "act_backward", []string{"dinp", "dout", "out", "n", "act"}, 256, false, "cpu.ActivationBackward", 0}
	SoftmaxCE       = Entry{"softmax_ce", "softmax_ce", []string{"dlogits", "stats", "logits", "labels", "start", "cursor", "rows", "k"}, 1024, true, "cpu.CrossEntropy", 0}
	MSE             = Entry{"mse", "mse", []string{"dout", "stats", "out", "labels", "start", "cursor", "rows", "k"}, 256, true, "cpu.MSE", 0}
	GradSums        = Entry{"grad_sums", "grad_sums", []string{"dweight", "dbias", "dout", "inp", "rows", "cols", "oc"}, 256, false, "cpu.ColumnSums, and cpu.Gemm (dweight = doutᵀ·inp)", 32}
	LinearSmall     = Entry{"linear_small", "linear_small", []string{"out", "inp", "weight", "bias", "rows", "cols", "oc", "act"}, 256, false, "cpu.Gemm then cpu.BiasActivationForward", 32}
	InputGrad       = Entry{"input_grad", "input_grad", []string{"dinp", "dout", "weight", "rows", "cols", "oc"}, 256, false, "cpu.Gemm (dinp = dout·weight)", 0}
	SGDMomentum     = Entry{"sgd", "sgd_momentum", []string{"params", "velocity", "grads", "n", "lr", "mu"}, 256, false, "cpu.SGDMomentum", 0}
)

// All lists every entry.
var All = []Entry{GatherNormalize, Advance, BiasAct, ActBackward, SoftmaxCE, MSE, GradSums, LinearSmall, InputGrad, SGDMomentum}

// maxGrid caps grid-stride kernels (SGDMomentum).
const maxGrid = 1024

// Grid returns the number of blocks for n work items: ceil(n / Per) (Per defaults to Block), or 1 for
// single-block kernels; 0 when there is no work. SGDMomentum, a grid-stride loop, is capped at 1024
// blocks.
func (e Entry) Grid(n int) int {
	if n <= 0 {
		return 0
	}
	if e.Fixed {
		return 1
	}
	per := e.Block
	if e.Per > 0 {
		per = e.Per
	}
	g := (n + per - 1) / per
	if e.Name == SGDMomentum.Name {
		g = min(g, maxGrid)
	}
	return g
}
