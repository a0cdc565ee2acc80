package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/export"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// ExportOptions are the inputs of 'dltrain export'.
type ExportOptions struct {
	IO *IO

	Model         string
	KeyFile       string
	Format        string // "" when not given: from Out's extension, else onnx
	Out           string // "" when not given: MODEL with the format's extension; "-" is stdout
	Dataset       string
	AllowMismatch bool
	JSON          bool
	Quiet         bool
}

// exportFormats are the formats export writes, with the extension that names each.
var exportFormats = []struct {
	name, ext string
	encode    func(checkpoint.Checkpoint) ([]byte, error)
}{
	{"onnx", ".onnx", export.ONNX},
	{"safetensors", ".safetensors", export.Safetensors},
}

// NewCmdExport builds 'dltrain export'.
func NewCmdExport(f *Factory, runF func(*ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "export MODEL",
		Short: "Export a checkpoint as ONNX or PyTorch-loadable safetensors",
		Long: `Export a checkpoint for other tools. The format is the output's extension (-o model.onnx,
-o weights.safetensors), or --format; a --format that contradicts the extension is refused. Without
-o, the output is MODEL with the format's extension (model.bin -> model.onnx). -o - writes the bytes
to stdout (not to a terminal).

onnx (the default) is an ONNX model (opset 13, IR version 7) whose input "input" is float32
[N, 1, 28, 28] with pixels in 0..1, as torchvision's ToTensor() gives them; the (x-0.5)/0.5
normalization is inside the graph. Outputs: "logits" and "probabilities", both [N, 10].

safetensors is the weights alone, named as PyTorch names nn.Linear layers fc1..fcN (fc1.weight
[128, 784], fc1.bias [128], ...), float32, so a module with those attributes loads them with
load_state_dict. The optimizer's state is left out.

Both carry the data set and its class names in their metadata ("dataset", and "classes", a JSON
array whose entry i names output i): the model's own, or --dataset's with --allow-dataset-mismatch.

--json prints {file, format, arch, bytes} instead of the line that names the file written.`,
		Example: `  dltrain export model.bin -o model.onnx
  dltrain export model.bin -o weights.safetensors
  dltrain export model.bin --format safetensors -o - | sha256sum`,
		Args: argsRange(1, 1),
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
	fl.StringVar(&opts.Format, "format", "", "onnx or safetensors (default: -o's extension, else onnx)")
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputHelp: "file to write, .onnx or .safetensors (default: MODEL with the format's extension; - is stdout)",
		JSON: &opts.JSON, Quiet: &opts.Quiet})
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	enumFlag(cmd, "format", "onnx", "safetensors")
	enumFlag(cmd, "dataset", mnist.Names()...)
	fileFlag(cmd, "key-file")
	fileFlag(cmd, "output", "onnx", "safetensors")
	return cmd
}

// exportFormat returns the index in exportFormats of --format's format, or of the default (onnx).
func exportFormat(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	for i, f := range exportFormats {
		if f.name == name {
			return i, nil
		}
	}
	return 0, usageErr("--format: %q is not one of onnx, safetensors", name)
}

// exportOutput settles where export writes: -o, or MODEL with the format's extension; "-" is stdout,
// which must not be a terminal.
func exportOutput(opts *ExportOptions, format int) (string, error) {
	switch opts.Out {
	case "":
		return strings.TrimSuffix(opts.Model, ".bin") + exportFormats[format].ext, nil
	case "-":
		if opts.JSON {
			return "", usageErr("-o - and --json would both write to stdout; give -o FILE with --json")
		}
		if opts.IO.OutIsTerminal {
			return "", &exitErr{code: exitUsage, err: fmt.Errorf("-o - would write the %s bytes to the terminal", exportFormats[format].name),
				hint: "redirect stdout (dltrain export MODEL -o - > file) or give -o FILE"}
		}
	}
	return opts.Out, nil
}

// formatOfOutput is the format -o's extension names, checked against --format: a contradiction is
// refused, and so is an extension that names no format when --format is not given either.
func formatOfOutput(opts *ExportOptions, format int) (int, error) {
	if opts.Out == "" || opts.Out == "-" {
		return format, nil
	}
	for i, f := range exportFormats {
		if !strings.EqualFold(filepath.Ext(opts.Out), f.ext) {
			continue
		}
		if opts.Format != "" && i != format {
			return 0, usageErr("-o %s names %s by its extension, but --format is %s: leave out --format, or give the file the extension %s",
				opts.Out, f.name, opts.Format, exportFormats[format].ext)
		}
		return i, nil
	}
	if opts.Format == "" {
		return 0, usageErr("-o %s: the extension does not say the format: name the file .onnx or .safetensors, or give --format", opts.Out)
	}
	return format, nil
}

func exportRun(opts *ExportOptions) error {
	format, err := exportFormat(opts.Format)
	if err != nil {
		return err
	}
	out, err := exportOutput(opts, format)
	if err != nil {
		return err
	}
	outName := "-o"
	if opts.Out == "" {
		outName = "the default output"
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	if out != "-" {
		fs.output(outName, out)
	}
	if err := fs.check(nil); err != nil {
		return err
	}
	if format, err = formatOfOutput(opts, format); err != nil {
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
	ds, err := modelDataset(opts.IO, opts.Quiet, ck, opts.Model, opts.Dataset, opts.AllowMismatch)
	if err != nil {
		return err
	}
	ck.Dataset = ds.Name // the class names the export carries
	f := exportFormats[format]
	b, err := f.encode(ck)
	if err != nil {
		return err
	}
	if out == "-" {
		if _, err := opts.IO.Out.Write(b); err != nil {
			return withCode(exitModel, fmt.Errorf("export: stdout: %w", safefile.Cause(err)), "")
		}
		return nil
	}
	// A model loaded with a key was encrypted (Load refuses a key for a plain file): its export, which
	// formats other tools read cannot be, is created readable by its owner only, and the user is told.
	perm := os.FileMode(0o666)
	if _, kp := keyPath(opts.KeyFile); kp != "" {
		perm = 0o600
		note(opts.IO, opts.Quiet || opts.JSON, "%s is encrypted; %s holds its weights unencrypted (created readable by you only)", printable(opts.Model), printable(out))
	}
	if err := safefile.WriteAtomicMode(out, b, perm); err != nil {
		return withCode(exitModel, fmt.Errorf("export: %w", err), "")
	}
	if opts.JSON {
		return printJSON(opts.IO, object{{"file", out}, {"format", f.name}, {"arch", ck.Config.Arch()}, {"bytes", len(b)}})
	}
	if !opts.Quiet {
		fmt.Fprintf(opts.IO.Out, "wrote %s (%s, %s, %d bytes)\n", printable(out), f.name, ck.Config.Arch(), len(b))
	}
	return nil
}
