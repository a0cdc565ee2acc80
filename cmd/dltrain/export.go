package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/export"
	"github.com/dltrain/dltrain/internal/safefile"
)

// ExportOptions are the inputs of 'dltrain export'.
type ExportOptions struct {
	IO *IO

	Model         string
	KeyFile       string
	Format        string
	Out           string
	Dataset       string
	AllowMismatch bool
}

// NewCmdExport builds 'dltrain export'.
func NewCmdExport(f *Factory, runF func(*ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "export MODEL",
		Short: "Export a checkpoint as ONNX or PyTorch-loadable safetensors",
		Long: `Export a checkpoint for other tools.

--format onnx (the default) writes an ONNX model (opset 13, IR version 7) whose input "input" is
float32 [N, 1, 28, 28] with pixels in 0..1, as torchvision's ToTensor() gives them; the (x-0.5)/0.5
normalization is inside the graph. Outputs: "logits" and "probabilities", both [N, 10].

--format safetensors writes the weights alone, named as PyTorch names nn.Linear layers fc1..fcN
(fc1.weight [128, 784], fc1.bias [128], ...), float32, so a module with those attributes loads them
with load_state_dict. The momentum buffers are left out.

Both carry the data set and its class names in their metadata ("dataset", and "classes", a JSON
array whose entry i names output i): the model's own, or --dataset's with --allow-dataset-mismatch.`,
		Example: `  dltrain export model.bin -o model.onnx
  dltrain export model.bin --format safetensors -o weights.safetensors`,
		Args: cobra.ExactArgs(1),
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
	fl.StringVar(&opts.Format, "format", "onnx", "output format: onnx or safetensors")
	fl.StringVarP(&opts.Out, "output", "o", "", "output file (default: MODEL with .onnx or .safetensors)")
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	return cmd
}

func exportRun(opts *ExportOptions) error {
	var encode func(checkpoint.Checkpoint) ([]byte, error)
	switch opts.Format {
	case "onnx":
		encode = export.ONNX
	case "safetensors":
		encode = export.Safetensors
	default:
		return usageErr("unknown --format %q (want onnx or safetensors)", opts.Format)
	}
	out, outName := opts.Out, "-o"
	if out == "" {
		out, outName = strings.TrimSuffix(opts.Model, ".bin")+"."+opts.Format, "the default output"
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	fs.output(outName, out)
	if err := fs.check(nil); err != nil {
		return err
	}
	release, err := fs.lock()
	if err != nil {
		return err
	}
	defer release()
	ck, err := loadModel("export", opts.Model, opts.KeyFile)
	if err != nil {
		return err
	}
	ds, err := modelDataset(opts.IO, ck, opts.Model, opts.Dataset, opts.AllowMismatch)
	if err != nil {
		return err
	}
	ck.Dataset = ds.Name // the class names the export carries
	b, err := encode(ck)
	if err != nil {
		return err
	}
	if err := safefile.WriteAtomic(out, b); err != nil {
		return withCode(exitModel, fmt.Errorf("export: %w", err), "")
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s (%s, %s, %d bytes)\n", printable(out), opts.Format, ck.Config.Arch(), len(b))
	return nil
}
