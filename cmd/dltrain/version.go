package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/cuda"
)

// version is stamped by `make build` (and build-cuda, install, gpu-check) with -ldflags
// "-X main.version=…" from git describe; a plain `go build` or `go install` leaves "dev", and version
// then adds the VCS revision Go recorded, if any.
var version = "dev"

// buildDate is stamped by the Makefile with -ldflags "-X main.buildDate=…" as the UTC time of the build
// in RFC 3339 (2026-11-30T12:00:00Z); a plain `go build` leaves it empty, and checkpoints then record
// no build date.
var buildDate = ""

// buildVersion is this binary's version: the stamped one, else "dev" with the VCS revision Go
// recorded, if any. Checkpoints record it (dltrain_version) and inspect shows it.
func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	return v
}

// VersionOptions are the inputs of 'dltrain version'.
type VersionOptions struct {
	IO    *IO
	JSON  bool
	Quiet bool
}

// versionJSON is version's --json format.
type versionJSON struct {
	Version          string `json:"version"`
	BuildDate        string `json:"build_date,omitempty"` // absent when not stamped
	Go               string `json:"go"`
	OS               string `json:"os"`
	Arch             string `json:"arch"`
	CPUGemm          string `json:"cpu_gemm"` // "avx512", "avx2+fma" or "pure-go"
	Threads          int    `json:"threads"`
	CUDA             bool   `json:"cuda"` // built with the CUDA backend
	CheckpointFormat string `json:"checkpoint_format"`
	CheckpointReads  string `json:"checkpoint_versions"` // the format versions this build reads
}

// NewCmdVersion builds 'dltrain version'.
func NewCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the backends this build has",
		Long: `Print dltrain's version (git describe of the checkout it was built from, stamped by make; "dev"
with the commit for a plain go build), when it was built, the Go toolchain, the CPU GEMM in use, the
threads it computes with, whether the CUDA backend is built in, and the checkpoint format it writes.
'dltrain --version' prints the first line alone.`,
		Example: "  dltrain version\n  dltrain version --json | jq -r .version",
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet})
	return cmd
}

// cpuGemm is the --json name of each GEMM kernel cpu.KernelName names.
var cpuGemm = map[string]string{"pure Go": "pure-go", "AVX2+FMA": "avx2+fma", "AVX-512": "avx512"}

func versionRun(opts *VersionOptions) error {
	v := versionJSON{Version: buildVersion(), BuildDate: buildDate, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUGemm: cpuGemm[cpu.KernelName()], Threads: runtime.GOMAXPROCS(0), CUDA: cuda.Built,
		CheckpointFormat: checkpoint.Format, CheckpointReads: strings.Join(checkpoint.ReadableVersions, ",")}
	if opts.JSON {
		return printJSON(opts.IO, v)
	}
	out := opts.IO.Out
	built := ""
	if v.BuildDate != "" {
		built = ", built " + v.BuildDate
	}
	kern := cpu.KernelName()
	cu := "not built (make build-cuda)"
	if cuda.Built {
		cu = "built"
	}
	fmt.Fprintf(out, "dltrain %s (%s, %s/%s%s)\n", v.Version, v.Go, v.OS, v.Arch, built)
	fmt.Fprintf(out, "backends: cpu (%s GEMM, %d threads), cuda: %s\n", kern, v.Threads, cu)
	fmt.Fprintf(out, "checkpoint format: %s (safetensors), versions %s\n", checkpoint.Format, strings.Join(checkpoint.ReadableVersions, ", "))
	return nil
}
