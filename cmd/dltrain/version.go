package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/cuda"
)

// version is stamped by `make build` (and build-cuda, gpu-check) with -ldflags "-X main.version=…" from
// git describe; a plain `go build` or `go install` leaves "dev", and version then adds the VCS
// revision Go recorded, if any.
var version = "dev"

// NewCmdVersion builds 'dltrain version'.
func NewCmdVersion(io *IO) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and the backends this build has",
		Example: "  dltrain version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						v = "dev-" + s.Value[:12]
					}
				}
			}
			kern := cpu.KernelName()
			cu := "not built (make build-cuda)"
			if cuda.Built {
				cu = "built"
			}
			fmt.Fprintf(io.Out, "dltrain %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(io.Out, "backends: cpu (%s GEMM, %d threads), cuda: %s\n", kern, runtime.GOMAXPROCS(0), cu)
			fmt.Fprintf(io.Out, "checkpoint format: %s v%s (safetensors)\n", checkpoint.Format, checkpoint.FormatVersion)
			return nil
		},
	}
}
