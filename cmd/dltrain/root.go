package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In            io.Reader
	Out, Err      io.Writer
	ErrIsTerminal bool // stderr is a terminal: draw progress bars instead of plain lines
	OutIsTerminal bool // stdout is a terminal: no binary there
	// Width, when not nil, is the terminal's width in columns (0: unknown); it is asked again as the
	// display goes, so that a resized window is followed.
	Width func() int
}

// Factory holds what every command needs from outside: its IO, and the data loader (tests inject the
// committed MNIST subset).
type Factory struct {
	IO *IO
	// LoadData reads data set ds from dir (--data; "" means the set's default places).
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
}

// NewFactory is the production Factory: the process's stdio and the real data loader.
func NewFactory() *Factory {
	return &Factory{IO: stdIO(), LoadData: loadData}
}

func stdIO() *IO {
	return &IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		ErrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())), OutIsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
		Width: func() int {
			for _, f := range []*os.File{os.Stderr, os.Stdout} {
				if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
					return w
				}
			}
			return 0
		}}
}

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1   // anything not classified below
	exitUsage       = 2   // bad flags or arguments
	exitData        = 3   // MNIST data missing or invalid
	exitModel       = 4   // model file missing, invalid or not writable; an output that cannot be written or is in use
	exitDiverged    = 5   // training loss became NaN or Inf
	exitInterrupted = 130 // SIGINT (SIGTERM gives 143): the checkpoint was saved
)

// exitErr carries an exit code and an optional hint line for the user.
type exitErr struct {
	code int
	err  error
	hint string
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func withCode(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &exitErr{code: code, err: err, hint: hint}
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	io := f.IO
	root := &cobra.Command{
		Use:   "dltrain",
		Short: "Train MLPs on MNIST, on the CPU or an NVIDIA GPU",
		Long: `dltrain trains multi-layer perceptrons on MNIST (or Fashion-MNIST, or your own IDX files: see
--dataset) and evaluates, inspects, draws and exports them.

The data is read from --data DIR, else $DLTRAIN_DATA, else ./data; 'make data' in a dltrain
checkout fetches the official files through the Go module proxy, and when they are missing dltrain
prints the command that fetches them. Nothing is downloaded at run time.

Every verb spells what they share alike: -o/--output (the file it writes), --json, -q/--quiet, and
on the verbs that compute --device (auto by default) and --threads.`,
		Example: `  make data                       # once, in a checkout: the official MNIST files into ./data
  dltrain train --epochs 10 --metrics run.jsonl
  dltrain eval                    # model.bin
  dltrain plot run.jsonl -o curves.png
  dltrain inspect
  dltrain export model.bin -o model.onnx
  dltrain data sample -n 10 -o digits/ && dltrain predict digits/*.png`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(flagError)
	root.Version = buildVersion()
	root.SetVersionTemplate("dltrain {{.Version}}\n")
	root.AddCommand(NewCmdTrain(f, nil), NewCmdEval(f, nil), NewCmdExport(f, nil), NewCmdPredict(f, nil), NewCmdAttack(f, nil), NewCmdKeygen(f, nil), NewCmdVersion(f, nil))
	root.AddCommand(NewCmdPlot(f, nil), NewCmdInspect(f, nil), NewCmdData(f))
	root.AddCommand(NewCmdVerify(f, nil))
	return root
}

// Main runs the command line and turns errors into exit codes; it is the only place that does.
func Main(args []string, f *Factory) int {
	io := f.IO
	// A report that cannot be written (a full disk under 'dltrain eval > report.txt') fails the
	// command; a reader that went away ('| head') does not, as for any Unix tool.
	stdout := &checkedWriter{w: io.Out}
	io.Out = stdout
	defer func() { io.Out = stdout.w }()
	root := NewRootCmd(f)
	root.SetArgs(args)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // --threads lasts one command (tests run many)
	err := root.Execute()
	if err == nil && stdout.err != nil && !errors.Is(stdout.err, syscall.EPIPE) {
		err = fmt.Errorf("writing to standard output: %v", safefile.Cause(stdout.err))
	}
	if err == nil {
		return exitOK
	}
	msg, hint, code := userMessage(err.Error()), "", exitError
	var ee *exitErr
	switch {
	case errors.As(err, &ee):
		hint, code = ee.hint, ee.code
	default:
		// cobra's own errors: an unknown verb; "unknown command" is also what a verb with
		// subcommands says of an argument that is none of them.
		if m, h, ok := unknownCommand(root, err); ok {
			msg, hint, code = m, h, exitUsage
		} else if isCobraUsage(err) {
			hint, code = "see 'dltrain --help'", exitUsage
		}
	}
	// The message is one line, whatever control characters the file names in it hold; on a terminal
	// it is broken between words to fit its width.
	width := 0
	if io.ErrIsTerminal && io.Width != nil {
		width = io.Width() - 1
	}
	fmt.Fprintln(io.Err, wrapText("dltrain: "+escapeControls(msg), width))
	// A hint may hold a command to paste: it is never broken, and a hint of several lines prints
	// each on its own.
	if hint != "" {
		for _, h := range strings.Split(hint, "\n") {
			fmt.Fprintf(io.Err, "hint: %s\n", escapeControls(h))
		}
	}
	return code
}

// isCobraUsage reports whether err is one of cobra's own usage errors that reach Main unclassified.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// note writes a note for the user on io.Err ("dltrain: " and one line), unless quiet.
func note(io *IO, quiet bool, format string, a ...any) {
	if !quiet {
		fmt.Fprintf(io.Err, "dltrain: "+format+"\n", a...)
	}
}

// checkedWriter passes writes through and keeps the first error.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
