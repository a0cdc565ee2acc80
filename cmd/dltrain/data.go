package main

import (
	"errors"
	"fmt"

	"github.com/dltrain/dltrain/internal/cuda"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"

	"github.com/dltrain/dltrain/internal/cpu"
)

// loadData finds and reads MNIST from dir (resolved with mnist.Dir), turning failures into data
// errors with a hint.
func loadData(dirFlag string) (train, test *mnist.Set, err error) {
	dir := mnist.Dir(dirFlag)
	files, err := mnist.Find(dir)
	if err != nil {
		hint := "run 'make data' to fetch MNIST into ./data, or point --data or $DLTRAIN_DATA at a directory holding the four IDX files"
		if !errors.Is(err, mnist.ErrNotFound) {
			hint = ""
		}
		return nil, nil, withCode(exitData, err, hint)
	}
	return loadFiles(files)
}

// loadFiles reads the four files, turning failures into data errors.
func loadFiles(files mnist.Files) (train, test *mnist.Set, err error) {
	train, test, err = mnist.Load(files)
	if err != nil {
		return nil, nil, withCode(exitData, err, "re-run 'make data' to replace damaged files")
	}
	return train, test, nil
}

// pickBackend resolves --device. With auto it falls back to the CPU, saying so on stderr unless quiet.
func pickBackend(device string, io *IO, quiet bool) (ops.Backend, error) {
	switch device {
	case "cpu":
		return &cpu.Backend{}, nil
	case "cuda":
		be, err := cuda.New()
		if err != nil {
			return nil, withCode(exitError, err, "use --device cpu, or build with 'make build-cuda' on a machine with the CUDA toolkit")
		}
		return be, nil
	case "auto":
		be, err := cuda.New()
		if err == nil {
			return be, nil
		}
		switch {
		case quiet:
		case cuda.Built:
			fmt.Fprintf(io.Err, "dltrain: no usable GPU (%v); using the CPU\n", err)
		default:
			fmt.Fprintln(io.Err, "dltrain: built without CUDA; using the CPU")
		}
		return &cpu.Backend{}, nil
	}
	return nil, usageErr("unknown --device %q (want cpu, auto or cuda)", device)
}

// precisionHelp is the --precision flag's help, shared by train and eval.
const precisionHelp = "GEMM arithmetic on the GPU: fp32, or tf32 (cuBLAS on tensor cores, inputs rounded to a 10-bit mantissa; the CPU computes in fp32 only)"

// applyPrecision applies --precision to the backend pickBackend chose. tf32 is a GPU setting: with
// --device cpu it is a usage error; when --device auto fell back to the CPU it is ignored, with a
// note on stderr unless quiet.
func applyPrecision(be ops.Backend, precision, device string, io *IO, quiet bool) error {
	p, err := cuda.ParsePrecision(precision)
	if err != nil {
		return usageErr("--precision: %v", err)
	}
	if p == cuda.FP32 {
		return nil
	}
	if s, ok := be.(interface{ SetPrecision(cuda.Precision) error }); ok {
		return s.SetPrecision(p)
	}
	if device == "cpu" {
		return usageErr("--precision %s needs the GPU (--device cuda or auto): the CPU computes in fp32 only", p)
	}
	if !quiet {
		fmt.Fprintf(io.Err, "dltrain: --precision %s applies to the GPU only; the CPU computes in fp32\n", p)
	}
	return nil
}
