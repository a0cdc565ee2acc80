package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/model"
)

// ExportOptions are the inputs of 'dltrain export'.
type ExportOptions struct {
	IO *IO

	Model   string
	KeyFile string
	Format  string
	Out     string
}

// NewCmdExport builds 'dltrain export'.
func NewCmdExport(f *Factory, runF func(*ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "export MODEL",
		Short: "Export a checkpoint's weights for other tools",
		Long: `Export a checkpoint's weights for other tools.

--format safetensors writes the weights alone, named as PyTorch names nn.Linear layers fc1..fcN
(fc1.weight [128, 784], fc1.bias [128], ...), float32, so a PyTorch module with those attributes loads
them with load_state_dict. The momentum buffers are left out.`,
		Example: `  dltrain export model.bin --format safetensors -o weights.safetensors`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			if runF != nil {
				return runF(opts)
			}
			return exportRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	fl.StringVar(&opts.Format, "format", "safetensors", "output format: safetensors")
	fl.StringVarP(&opts.Out, "output", "o", "", "output file (default: MODEL with the format's extension)")
	return cmd
}

func exportRun(opts *ExportOptions) error {
	if opts.Format != "safetensors" {
		return usageErr("unknown --format %q (this build exports: safetensors)", opts.Format)
	}
	out := opts.Out
	if out == "" {
		out = strings.TrimSuffix(opts.Model, ".bin") + ".safetensors"
		if out == opts.Model {
			return usageErr("give -o: the default output name would overwrite %s", opts.Model)
		}
	}
	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return err
	}
	ck, err := model.Load(opts.Model, key)
	if err != nil {
		return modelErr(err)
	}
	b, err := model.ExportSafetensors(ck)
	if err != nil {
		return err
	}
	if err := model.WriteFileAtomic(out, b); err != nil {
		return withCode(exitModel, err, "")
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s (%s, %d bytes)\n", out, ck.Config.Arch(), len(b))
	return nil
}
