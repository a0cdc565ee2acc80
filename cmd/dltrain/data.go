package main

import (
	"errors"
	"fmt"
	"path/filepath"

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

// dataHint says what to do about a data error, in lines. It never suggests a command that would
// overwrite a file the user has: make data only copies files that are missing, and the command for
// those without a checkout copies into the directory that was searched and found lacking.
func dataHint(ds mnist.Dataset, err error) string {
	var nf *mnist.NotFoundError
	var de *mnist.DigestError
	switch {
	case ds.ExplicitOnly:
		return "point --data at a directory holding the four IDX files"
	case errors.As(err, &nf):
		var fetch string
		switch {
		case ds.Module != "" && len(nf.Dirs) > 0:
			dir := shellQuote(nf.Dirs[0])
			fetch = fmt.Sprintf("to fetch %s into %s through the Go module proxy: mkdir -p %s && cp \"$(go mod download -json %s | sed -n 's/.*\"Dir\": \"\\(.*\\)\".*/\\1/p')\"/data/*.gz %s/\n",
				ds.Title, nf.Dirs[0], dir, ds.Module, dir)
			fetch += "or run 'make data' in a dltrain checkout"
		case ds.DebianPackage != "":
			fetch = fmt.Sprintf("install Debian's %s (apt-get install %s), or run 'make data DATASET=%s' in a dltrain checkout", ds.DebianPackage, ds.DebianPackage, ds.Name)
		default:
			fetch = "run 'make data' in a dltrain checkout"
		}
		return fetch + ", or point --data or $DLTRAIN_DATA at a directory holding the four IDX files"
	case errors.As(err, &de) && de.Owner.Name != "":
		return fmt.Sprintf("these files are %s's: add --dataset %s to use them as %s, or point --data at %s's files", de.Owner.Title, de.Owner.Name, de.Owner.Title, ds.Title)
	case errors.As(err, &de):
		return fmt.Sprintf("move %s out of the way, then fetch the files again (run 'make data' in a dltrain checkout)", de.Path)
	}
	return ""
}

// pickBackend resolves --device. auto takes the GPU when this build has CUDA and one is usable, else
// the CPU. note, when not empty, says why the GPU is not used, for the caller to print once its flags
// have all been checked (a note must never come before a usage error), and only where it matters:
// this build has CUDA but could not open a GPU, or it has no CUDA while the machine seems to have an
// NVIDIA GPU. A build without CUDA on a machine without a GPU uses the CPU without a word.
func pickBackend(device string) (be ops.Backend, note string, err error) {
	switch device {
	case "cpu":
		return &cpu.Backend{}, "", nil
	case "cuda":
		be, err := cuda.New()
		if err != nil {
			return nil, "", withCode(exitError, err, "use --device cpu, or build with 'make build-cuda' on a machine with the CUDA toolkit")
		}
		return be, "", nil
	case "auto":
		be, err := cuda.New()
		if err == nil {
			return be, "", nil
		}
		switch {
		case cuda.Built:
			note = fmt.Sprintf("no usable GPU (%v); using the CPU", userMessage(err.Error()))
		case nvidiaPresent():
			note = "this machine has an NVIDIA GPU, but this dltrain was built without CUDA ('make build-cuda' builds it in); using the CPU"
		}
		return &cpu.Backend{}, note, nil
	}
	return nil, "", usageErr("--device: %q is not one of auto, cpu, cuda", device)
}

// nvidiaPresent reports whether the machine seems to have an NVIDIA GPU: a GPU device node
// (/dev/nvidia0, …; /dev/nvidiactl alone is found in containers without any GPU) or a GPU listed by
// the loaded driver.
func nvidiaPresent() bool {
	if m, _ := filepath.Glob("/dev/nvidia[0-9]*"); len(m) > 0 {
		return true
	}
	m, _ := filepath.Glob("/proc/driver/nvidia/gpus/*")
	return len(m) > 0
}

// precisionHelp is the --precision flag's help, shared by train and eval.
const precisionHelp = "GEMM arithmetic on the GPU: fp32, or tf32 (cuBLAS on tensor cores, inputs rounded to a 10-bit mantissa; the CPU computes in fp32 only)"

// applyPrecision applies --precision to the backend pickBackend chose. tf32 is a GPU setting: with
// --device cpu it is a usage error; when --device auto fell back to the CPU it is ignored, and note
// says so.
func applyPrecision(be ops.Backend, precision, device string) (note string, err error) {
	p, err := cuda.ParsePrecision(precision)
	if err != nil {
		return "", usageErr("--precision: %v", err)
	}
	if p == cuda.FP32 {
		return "", nil
	}
	if s, ok := be.(interface{ SetPrecision(cuda.Precision) error }); ok {
		return "", s.SetPrecision(p)
	}
	if device == "cpu" {
		return "", usageErr("--precision %s needs the GPU (--device cuda or auto): the CPU computes in fp32 only", p)
	}
	return fmt.Sprintf("--precision %s applies to the GPU only; the CPU computes in fp32", p), nil
}
