// Package kernels holds dltrain's hand-written PTX kernels, embedded in the binary, and a Go
// description of each entry point: its module, parameters (all 64-bit, as gorgonia/cu passes them)
// and launch geometry, and its CPU twin (a function of internal/ref, the naive reference, which the GPU
// tests call). The CUDA backend (internal/cuda) loads the modules, and each op's launcher there
// (launch.go) launches the entries it needs.
//
// The PTX is written for ISA 7.0 and target sm_52, so every driver since CUDA 11 JIT-compiles it for
// whatever card it finds. This package is pure Go: it builds, and its tests run, without CUDA.
package kernels

import (
	"embed"
	"fmt"

	"github.com/dltrain/dltrain/internal/ref"
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
	// Per is the number of work items one block covers when that is not Block (grad_sums: 256
	// threads for 32 outputs); 0 means Block.
	Per int
	// MaxGrid caps the grid of a grid-stride kernel; 0 means no cap.
	MaxGrid int
	// Twin is the CPU function with the same contract, from internal/ref: the GPU tests call it for
	// the reference result. Its type is that function's, instantiated for float32.
	Twin any
}

// The entries. Their order, names and parameters are checked against the PTX by the tests, and each
// one's launcher in internal/cuda (launch.go) is the only code that launches it.
var (
	GatherNormalize = Entry{Module: "gather", Name: "gather_normalize", Params: []string{"x", "pix", "order", "start", "cursor", "rows"},
		Block: 256, Twin: ref.Gather[float32]}
	Advance = Entry{Module: "gather", Name: "advance", Params: []string{"cursor", "by"},
		Block: 1, Fixed: true, Twin: ref.Advance}
	BiasAct = Entry{Module: "bias_act", Name: "bias_act", Params: []string{"out", "bias", "rows", "cols", "act"},
		Block: 256, Twin: ref.BiasActivationForward[float32]}
	ActBackward = Entry{Module: "act_backward", Name: "act_backward", Params: []string{"dinp", "dout", "out", "n", "act"},
		Block: 256, Twin: ref.ActivationBackward[float32]}
	SoftmaxCE = Entry{Module: "softmax_ce", Name: "softmax_ce", Params: []string{"dlogits", "stats", "logits", "labels", "start", "cursor", "rows", "k"},
		Block: 1024, Fixed: true, Twin: ref.CrossEntropy[float32]}
	MSE = Entry{Module: "mse", Name: "mse", Params: []string{"dout", "stats", "out", "labels", "start", "cursor", "rows", "k"},
		Block: 256, Fixed: true, Twin: ref.MSE[float32]}
	// GradSums computes dweight = doutᵀ·inp and dbias = column sums of dout (MatmulBackward without
	// dinp), or with cols = 0 the bias gradient alone (ref.ColumnSums).
	GradSums = Entry{Module: "grad_sums", Name: "grad_sums", Params: []string{"dweight", "dbias", "dout", "inp", "rows", "cols", "oc"},
		Block: 256, Per: 32, Twin: ref.MatmulBackward[float32]}
	LinearSmall = Entry{Module: "linear_small", Name: "linear_small", Params: []string{"out", "inp", "weight", "bias", "rows", "cols", "oc", "act"},
		Block: 256, Per: 32, Twin: ref.MatmulForward[float32]}
	// InputGrad computes dinp = dout·weight, the first product of MatmulBackward (ref.Gemm, NN).
	InputGrad = Entry{Module: "input_grad", Name: "input_grad", Params: []string{"dinp", "dout", "weight", "rows", "cols", "oc"},
		Block: 256, Twin: ref.Gemm}
	// SGD and Adam read their scalars from the hyper tensor (ops.Hyper*), so a replayed step sees
	// each step's learning rate and bias corrections.
	// SGD can also advance the batch cursor at its end (cursor, by; 0, 0 for none): the fused step
	// folds a recorded step's last node into the update.
	SGD = Entry{Module: "sgd", Name: "sgd", Params: []string{"params", "velocity", "grads", "hyper", "n", "nesterov", "cursor", "by"},
		Block: 256, MaxGrid: 1024, Twin: ref.SGD[float32]}
	Adam = Entry{Module: "adam", Name: "adam", Params: []string{"params", "exp_avg", "exp_avg_sq", "grads", "hyper", "n", "decoupled"},
		Block: 256, MaxGrid: 1024, Twin: ref.Adam[float32]}

	// The fused step (internal/cuda, fuse.go): each of these does the work of several ops at once, so
	// its twin is the main one of them and the tests compose the rest (ref.Gather, ref.CrossEntropy,
	// ref.MatmulBackward, ref.ActivationBackward, ref.ColumnSums).

	// FcIn gathers a batch and computes the first layer's split-K partial products; one work item is
	// one (chunk, 32x32 output tile), so the launcher passes the number of blocks as n.
	FcIn = Entry{Module: "fc_in", Name: "fc_in", Params: []string{"part", "x", "pix", "order", "start", "cursor", "weight", "rows", "cols", "oc", "kc"},
		Block: 256, Per: 1, Twin: ref.MatmulForward[float32]}
	// FcReduce adds FcIn's partial products, the bias and the activation.
	FcReduce = Entry{Module: "fc_in", Name: "fc_reduce", Params: []string{"out", "part", "bias", "rows", "oc", "splits", "act"},
		Block: 256, Twin: ref.MatmulForward[float32]}
	// FcDW is the first layer's weight gradient, dweight = doutᵀ·inp (the second product of
	// MatmulBackward), for a small batch; one work item is one 32x32 output tile.
	FcDW = Entry{Module: "fc_in", Name: "fc_dw", Params: []string{"dweight", "dout", "inp", "rows", "cols", "oc"},
		Block: 256, Per: 1, Twin: ref.MatmulBackward[float32]}
	// HeadCE is the output layer's forward, softmax cross-entropy and backward and the hidden layer's
	// activation gradient, for blocks of 8 rows.
	HeadCE = Entry{Module: "head", Name: "head_ce", Params: []string{"part", "z", "dz", "dh", "h", "weight", "bias", "labels", "start", "cursor", "rows", "cols", "oc", "act"},
		Block: 256, Per: 8, Twin: ref.CrossEntropy[float32]}
	// HeadReduce adds HeadCE's row blocks' partial sums: dweight, dbias, the previous layer's dbias
	// and the loss stats.
	HeadReduce = Entry{Module: "head", Name: "head_reduce", Params: []string{"dweight", "dbias", "dbprev", "stats", "part", "nblk", "cols", "oc"},
		Block: 256, Twin: ref.MatmulBackward[float32]}
)

// All lists every entry.
var All = []Entry{GatherNormalize, Advance, BiasAct, ActBackward, SoftmaxCE, MSE, GradSums, LinearSmall, InputGrad, SGD, Adam, Augment,
	FcIn, FcReduce, FcDW, HeadCE, HeadReduce}

// Grid returns the number of blocks for n work items: ceil(n / Per) (Per defaults to Block), or 1 for
// single-block kernels, at most MaxGrid when that is set; 0 when there is no work.
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
	if e.MaxGrid > 0 {
		g = min(g, e.MaxGrid)
	}
	return g
}
