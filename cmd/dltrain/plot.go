// plot.go is 'dltrain plot': training curves (loss and accuracy per epoch) from --metrics files, one
// colour per run, drawn by internal/figure. It reads the files and writes one PNG; it does not train,
// evaluate or read checkpoints.

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/figure"
	"github.com/dltrain/dltrain/internal/safefile"
)

// PlotOptions are the inputs of 'dltrain plot'.
type PlotOptions struct {
	IO *IO

	Files  []string
	Out    string
	Title  string
	Width  int
	Height int
	JSON   bool
	Quiet  bool
}

// NewCmdPlot builds 'dltrain plot'.
func NewCmdPlot(f *Factory, runF func(*PlotOptions) error) *cobra.Command {
	opts := &PlotOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "plot METRICS.jsonl... -o FILE.png",
		Short: "Draw training curves from --metrics files",
		Long: fmt.Sprintf(`Draw loss (left) and accuracy (right) per epoch from the files that 'dltrain train --metrics'
writes, into one PNG. Each file is a run with its own colour, labelled by its file name (its path
when two share a name); train is dashed, validation dotted (when the file has it), test solid. Up to
%d files.

A resumed run appends to its metrics file; where an epoch appears twice the later line counts, and
plot says so. The PNG is written atomically and never over one of the metrics files.`, figure.MaxRuns),
		Example: `  dltrain train --metrics run.jsonl && dltrain plot run.jsonl -o curves.png
  dltrain plot h128.jsonl h512.jsonl -o compare.png --title "hidden 128 vs 512"`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return plotRun(opts)
		},
	}
	fl := cmd.Flags()
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputHelp: "PNG file to write (required)", JSON: &opts.JSON, Quiet: &opts.Quiet})
	fl.StringVar(&opts.Title, "title", "", "title above the panels")
	fl.IntVar(&opts.Width, "width", 1200, "picture width in pixels (300..4096)")
	fl.IntVar(&opts.Height, "height", 500, "picture height in pixels (300..4096)")
	fileFlag(cmd, "output", "png")
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"jsonl"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

func plotRun(opts *PlotOptions) error {
	if opts.Out == "" {
		return usageErr("plot needs -o FILE.png")
	}
	for _, s := range []struct {
		flag string
		v    int
	}{{"--width", opts.Width}, {"--height", opts.Height}} {
		if s.v < 300 || s.v > 4096 {
			return usageErr("%s %d: want 300..4096 pixels", s.flag, s.v)
		}
	}
	if len(opts.Files) > figure.MaxRuns {
		return usageErr("%d metrics files; plot draws at most %d", len(opts.Files), figure.MaxRuns)
	}
	if err := checkOutputs("metrics file", exitData, opts.Files, []string{"-o"}, opts.Out); err != nil {
		return err
	}
	labels := runLabels(opts.Files)
	runs := make([]figure.Run, len(opts.Files))
	epochs := 0
	for i, path := range opts.Files {
		run, err := readRun(path, labels[i])
		if err != nil {
			return err
		}
		if run.Replaced > 0 {
			note(opts.IO, opts.Quiet, "%s: %d epoch lines were repeated (a resumed run); the last line of each epoch counts", printable(path), run.Replaced)
		}
		runs[i] = run
		epochs = max(epochs, run.Epochs[len(run.Epochs)-1].Epoch)
	}
	err := writePicture(opts.Out, func(b *bytes.Buffer) error {
		return figure.Curves(b, runs, figure.CurvesOptions{Width: opts.Width, Height: opts.Height, Title: opts.Title})
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.IO, object{{"file", opts.Out}, {"runs", len(runs)}, {"epochs", epochs}})
	}
	if !opts.Quiet {
		n := "runs"
		if len(runs) == 1 {
			n = "run"
		}
		fmt.Fprintf(opts.IO.Out, "wrote %s (%d %s, up to epoch %d)\n", printable(opts.Out), len(runs), n, epochs)
	}
	return nil
}

// runLabels labels each file by its base name, or by its path as given when another file has the same
// base name (runs/a/m.jsonl and runs/b/m.jsonl).
func runLabels(files []string) []string {
	count := map[string]int{}
	for _, f := range files {
		count[filepath.Base(f)]++
	}
	labels := make([]string, len(files))
	for i, f := range files {
		labels[i] = filepath.Base(f)
		if count[labels[i]] > 1 {
			labels[i] = f
		}
	}
	return labels
}

// readRun reads one metrics file, refusing anything but a regular file (a FIFO would block, a device
// would never end); figure.ReadRun bounds the lines and their number.
func readRun(path, label string) (figure.Run, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() { // before Open, which blocks on a FIFO
		return figure.Run{}, withCode(exitData, fmt.Errorf("plot: %s: not a regular file", path), "")
	}
	fh, err := os.Open(path)
	if err != nil {
		return figure.Run{}, withCode(exitData, fmt.Errorf("plot: %s: %w", path, safefile.Cause(err)), "")
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		return figure.Run{}, withCode(exitData, fmt.Errorf("plot: %s: not a regular file", path), "")
	}
	run, err := figure.ReadRun(fh, label)
	if err != nil {
		return figure.Run{}, withCode(exitData, err, "plot reads the JSON lines that train's --metrics option writes, one per epoch")
	}
	return run, nil
}
