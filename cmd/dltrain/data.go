package main

import (
	"errors"
	"fmt"

	"github.com/dltrain/dltrain/internal/cuda"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"

	"github.com/dltrain/dltrain/internal/cpu"
)

// loadData finds and reads data set ds from dir (the --data flag; empty: the set's default places, see
// mnist.Dataset.SearchDirs), turning failures into data errors with a hint.
func loadData(ds mnist.Dataset, dirFlag string) (train, test *mnist.Set, err error) {
	files, err := ds.Find(dirFlag)
	if err != nil {
		return nil, nil, withCode(exitData, err, dataHint(ds, err))
	}
	return loadFiles(ds, files)
}

// loadFiles reads the four files as the data set ds, turning failures into data errors.
func loadFiles(ds mnist.Dataset, files mnist.Files) (train, test *mnist.Set, err error) {
	train, test, err = ds.Load(files)
	if err != nil {
		return nil, nil, withCode(exitData, err, dataHint(ds, err))
	}
	return train, test, nil
}

// dataHint says what to do about a data error. It never suggests a command that would overwrite a
// file the user has: make data only copies files that are missing.
func dataHint(ds mnist.Dataset, err error) string {
	fetch := "run 'make data' in a dltrain checkout"
	switch {
	case ds.Module != "":
		fetch = fmt.Sprintf("run 'make data' in a dltrain checkout (or, anywhere: go mod download -json %s, and copy the data/*.gz files of the Dir it prints)", ds.Module)
	case ds.DebianPackage != "":
		fetch = fmt.Sprintf("run 'make data DATASET=%s' in a dltrain checkout (or install Debian's %s)", ds.Name, ds.DebianPackage)
	case ds.ExplicitOnly:
		return "point --data at a directory holding the four IDX files"
	}
	var nf *mnist.NotFoundError
	var de *mnist.DigestError
	switch {
	case errors.As(err, &nf):
		return fetch + ", or point --data or $DLTRAIN_DATA at a directory holding the four IDX files"
	case errors.As(err, &de) && de.Owner.Name != "":
		return fmt.Sprintf("these files are %s's: add --dataset %s to use them as %s, or point --data at %s's files", de.Owner.Title, de.Owner.Name, de.Owner.Title, ds.Title)
	case errors.As(err, &de):
		return fmt.Sprintf("move %s out of the way, then %s", de.Path, fetch)
	}
	return ""
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
