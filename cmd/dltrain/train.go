package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/safefile"
)

// TrainOptions are the inputs of 'dltrain train'.
type TrainOptions struct {
	IO *IO
	// LoadData reads the training and test sets; tests inject a small subset.
	LoadData func(dir string) (train, test *mnist.Set, err error)
	Context  context.Context
	// Signals delivers SIGINT/SIGTERM; nil means the process's own (signal.Notify).
	Signals <-chan os.Signal
	// Exit ends the process at once on a second signal; nil means os.Exit.
	Exit func(code int)
	// Set reports whether a flag was given on the command line.
	Set func(name string) bool

	Epochs          int
	BatchSize       int
	LR              float64
	Momentum        float64
	Hidden          string
	Activation      string
	Loss            string
	Seed            uint64
	Data            string
	Out             string
	Device          string
	Metrics         string
	Quiet           bool
	Resume          string
	CheckpointEvery int
	Keep            int
	KeyFile         string
	MemoryLimit     string
}

// isSet reports whether a flag was given on the command line (false for all when Set is nil).
func (opts *TrainOptions) isSet(name string) bool { return opts.Set != nil && opts.Set(name) }

// NewCmdTrain builds 'dltrain train'; runF, when not nil, replaces trainRun (for flag tests).
func NewCmdTrain(f *Factory, runF func(*TrainOptions) error) *cobra.Command {
	opts := &TrainOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train an MLP on MNIST and save it",
		Long: `Train an MLP on MNIST with SGD and momentum, evaluate it on the test set after every
epoch, and save the weights and optimizer state to a safetensors checkpoint.

The defaults are the classic setup: 784-128-10, ReLU, cross-entropy, SGD lr 0.01, momentum 0.9,
batch 100, inputs normalized to (x-0.5)/0.5.

--epochs is the total to reach: with --resume, training continues from the checkpoint's epoch (and
step, if it stopped mid-epoch) with its architecture, seed and optimizer state, and gives the same
weights as an uninterrupted run. --resume FILE writes FILE again unless --out is given.

--checkpoint-every N saves OUT-epochNNNN.bin (next to --out) every N epochs; --keep K keeps the K
newest of them (never another file, nor the one resumed from). The first SIGINT or SIGTERM finishes
the current step, saves --out, prints the command that resumes the run and exits 130 or 143; a
second one more than a second later exits at once, leaving the last complete checkpoint as it was.

--metrics FILE writes one JSON object per epoch, with the keys epoch, train_loss, train_accuracy,
test_loss, test_accuracy (fractions in 0..1), seconds and samples_per_second. If it (or a periodic
checkpoint) cannot be written, training goes on, --out is saved, and the command exits 1.

No output may be an input, the key, a data file or another output, and two runs may not write the
same output: these are refused before any work. A configuration estimated to need more memory than
is available (or than --memory-limit) is refused too.`,
		Example: `  # the classic MNIST MLP, 10 epochs on the CPU
  dltrain train --epochs 10

  # a deeper tanh net, with per-epoch metrics
  dltrain train --hidden 512,256 --activation tanh --epochs 5 --metrics run.jsonl

  # checkpoint every 2 epochs, then resume an interrupted run up to 20 epochs
  dltrain train --epochs 20 --checkpoint-every 2
  dltrain train --resume model.bin --epochs 20

  # an encrypted checkpoint
  dltrain keygen -o my.key && dltrain train --key-file my.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Context = cmd.Context()
			opts.Set = func(name string) bool { return cmd.Flags().Changed(name) }
			if runF != nil {
				return runF(opts)
			}
			return trainRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Epochs, "epochs", 10, "train until this many epochs are complete")
	fl.IntVar(&opts.BatchSize, "batch-size", 100, "samples per SGD step")
	fl.Float64Var(&opts.LR, "lr", 0.01, "learning rate")
	fl.Float64Var(&opts.Momentum, "momentum", 0.9, "SGD momentum")
	fl.StringVar(&opts.Hidden, "hidden", "128", "hidden layer widths, comma-separated (e.g. 512,256)")
	fl.StringVar(&opts.Activation, "activation", "relu", "hidden activation: relu, sigmoid or tanh")
	fl.StringVar(&opts.Loss, "loss", "ce", "loss: ce (softmax cross-entropy) or mse (on one-hot targets)")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed for initialization and shuffling")
	fl.StringVar(&opts.Data, "data", "", "MNIST directory (default $DLTRAIN_DATA, else ./data)")
	fl.StringVarP(&opts.Out, "out", "o", "model.bin", "checkpoint to write")
	fl.StringVar(&opts.Device, "device", "auto", "cpu, cuda, or auto (the GPU when there is one)")
	fl.StringVar(&opts.Metrics, "metrics", "", "append per-epoch metrics as JSON lines to this file")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the final summary")
	fl.StringVar(&opts.Resume, "resume", "", "continue training from this checkpoint")
	fl.IntVar(&opts.CheckpointEvery, "checkpoint-every", 0, "also save OUT-epochNNNN.bin every N epochs (0: never)")
	fl.IntVar(&opts.Keep, "keep", 3, "keep the K newest periodic checkpoints (0: keep all)")
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	fl.StringVar(&opts.MemoryLimit, "memory-limit", "", "refuse configurations estimated to need more memory than this, e.g. 8GiB (default: what is available)")
	return cmd
}

// setup builds the model and hyperparameters from the flags, or from the checkpoint with --resume.
// fits, when not nil, may refuse the configuration before the model is allocated.
func (opts *TrainOptions) setup(key []byte, fits func(model.Config, model.Hyper) error) (*model.Model, model.Hyper, error) {
	if fits == nil {
		fits = func(model.Config, model.Hyper) error { return nil }
	}
	set := opts.isSet
	hyper := model.Hyper{Epochs: opts.Epochs, BatchSize: opts.BatchSize, LR: float32(opts.LR), Momentum: float32(opts.Momentum)}
	if opts.Resume == "" {
		hidden, err := model.ParseHidden(opts.Hidden)
		if err != nil {
			return nil, hyper, usageErr("--hidden: %v", err)
		}
		act, err := ops.ParseActivation(opts.Activation)
		if err != nil {
			return nil, hyper, usageErr("--activation: %v", err)
		}
		loss, err := model.ParseLoss(opts.Loss)
		if err != nil {
			return nil, hyper, usageErr("--loss: %v", err)
		}
		if err := hyper.Validate(); err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		cfg := model.NewConfig(hidden, act, loss)
		if err := cfg.Validate(); err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		if err := fits(cfg, hyper); err != nil {
			return nil, hyper, err
		}
		m, err := model.New(cfg, opts.Seed)
		if err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		return m, hyper, nil
	}

	ck, err := checkpoint.Load(opts.Resume, key)
	if err != nil {
		return nil, hyper, modelErr("--resume", err)
	}
	for _, name := range []string{"hidden", "activation", "loss", "seed"} {
		if set(name) {
			return nil, hyper, usageErr("--%s cannot change on --resume: the checkpoint fixes the architecture and seed", name)
		}
	}
	h := ck.Hyper
	h.Epochs = opts.Epochs
	if set("lr") {
		h.LR = hyper.LR
	}
	if set("momentum") {
		h.Momentum = hyper.Momentum
	}
	if set("batch-size") && opts.BatchSize != h.BatchSize {
		if ck.EpochStep > 0 {
			return nil, hyper, usageErr("--batch-size cannot change when resuming mid-epoch (the checkpoint is %d steps into epoch %d)", ck.EpochStep, ck.Epoch+1)
		}
		h.BatchSize = opts.BatchSize
	}
	if err := h.Validate(); err != nil { // the checkpoint's own settings passed Load: a flag is out of range
		return nil, hyper, usageErr("%v", err)
	}
	if ck.Epoch >= h.Epochs {
		return nil, hyper, usageErr("%s already has %d epochs; ask for more with --epochs", opts.Resume, ck.Epoch)
	}
	if err := fits(ck.Config, h); err != nil {
		return nil, hyper, err
	}
	return ck.Model, h, nil
}

// paths checks every path of the run before any work (paths.go): no output may be an input, the
// key, a data file or another output (--out may be --resume), the periodic checkpoints may not take
// the name of another file given, and the outputs are locked until release.
func (opts *TrainOptions) paths() (fs *files, release func(), err error) {
	fs = &files{}
	out := fs.output("--out", opts.Out)
	if opts.Resume != "" {
		fs.input("--resume", opts.Resume, exitModel)
	}
	addKey(fs, opts.KeyFile)
	if opts.Metrics != "" {
		fs.stream("--metrics", opts.Metrics)
	}
	for _, p := range dataFiles(opts.Data) {
		fs.input("data file", p, exitData)
	}
	if err := fs.check(func(o, other *fileRef) bool { return o == out && other.name == "--resume" }); err != nil {
		return nil, nil, err
	}
	if opts.CheckpointEvery > 0 {
		if last := filepath.Base(epochPath(opts.Out, model.MaxEpochs)); !safefile.NameFits(last) {
			return nil, nil, withCode(exitModel, fmt.Errorf("--out %s: the name is too long for its periodic checkpoints (%s) to be written safely", opts.Out, last), "")
		}
		for _, r := range fs.refs {
			if r == out || !sameDir(r, out) || !isEpochName(opts.Out, filepath.Base(r.abs)) {
				continue
			}
			switch {
			case r.role != roleInput:
				return nil, nil, usageErr("%s %s has the name of a periodic checkpoint of --out %s; give it another name", r.name, r.path, opts.Out)
			case r.name != "--resume": // resuming from a periodic checkpoint is what they are for
				return nil, nil, usageErr("%s %s has the name of a periodic checkpoint of --out %s, which --checkpoint-every would overwrite", r.name, r.path, opts.Out)
			}
		}
	}
	release, err = fs.lock()
	if err != nil {
		return nil, nil, err
	}
	return fs, release, nil
}

// beforeFinalSave, when a test sets it, runs just before the final save (the tests slow the save
// down with it to send a second signal in the middle).
var beforeFinalSave func()

func trainRun(opts *TrainOptions) error {
	io := opts.IO
	if opts.Resume != "" && !opts.isSet("out") {
		opts.Out = opts.Resume // --resume continues the same file unless told otherwise
	}
	if opts.Out == "" {
		return usageErr("--out must name a file")
	}
	if opts.CheckpointEvery < 0 || opts.Keep < 0 {
		return usageErr("--checkpoint-every and --keep must be ≥ 0")
	}
	memLimit, err := parseSize(opts.MemoryLimit)
	if err != nil {
		return usageErr("--memory-limit: %v", err)
	}

	fs, release, err := opts.paths()
	if err != nil {
		return err
	}
	defer release()
	lockedAt := time.Now()
	var metrics *os.File
	openMetrics := func() error {
		if opts.Metrics == "" || metrics != nil {
			return nil
		}
		flags := os.O_CREATE | os.O_TRUNC
		if opts.Resume != "" {
			flags = os.O_CREATE | os.O_APPEND
		}
		f, err := safefile.OpenOutput(opts.Metrics, flags, 0o666)
		if err != nil {
			return withCode(exitModel, fmt.Errorf("--metrics %s: %v", opts.Metrics, safefile.Cause(err)), "")
		}
		metrics = f
		return nil
	}
	if st, err := os.Stat(opts.Metrics); opts.Metrics != "" && err == nil && !st.Mode().IsRegular() {
		// A pipe or a device: opened now, so that a named pipe nobody reads is refused before any work
		// (and a reader is not sent an end of file by a probe).
		if err := openMetrics(); err != nil {
			return err
		}
	}

	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return err
	}
	be, err := pickBackend(opts.Device, io, opts.Quiet)
	if err != nil {
		return err
	}
	m, hyper, err := opts.setup(key, func(cfg model.Config, h model.Hyper) error {
		return checkMemory(cfg, h, be.Name(), memLimit)
	})
	if err != nil {
		return err
	}
	train, test, err := opts.LoadData(opts.Data)
	if err != nil {
		return err
	}
	if steps := (train.N + hyper.BatchSize - 1) / hyper.BatchSize; m.EpochStep >= steps {
		return withCode(exitModel, fmt.Errorf("checkpoint: %s: %d steps into epoch %d, but an epoch has %d steps at batch size %d on this data",
			filepath.Base(opts.Resume), m.EpochStep, m.Epoch+1, steps, hyper.BatchSize), "")
	}
	owns := func(base string) bool { return base == filepath.Base(opts.Out) || isEpochName(opts.Out, base) }
	for _, p := range safefile.RemoveStaleTemps(filepath.Dir(opts.Out), owns, lockedAt) {
		fmt.Fprintf(io.Err, "dltrain: removed %s, left by an interrupted save\n", printable(p))
	}

	// --metrics as a file is opened last before training (its directory was probed by its lock), so
	// that a refusal above leaves the file as it was; a pipe or device was opened above.
	if err := openMetrics(); err != nil {
		return err
	}
	defer func() {
		if metrics != nil {
			metrics.Close()
		}
	}()

	if !opts.Quiet {
		from := ""
		if opts.Resume != "" {
			from = fmt.Sprintf(", resuming %s at epoch %d step %d", printable(opts.Resume), m.Epoch+1, m.EpochStep)
		}
		fmt.Fprintf(io.Err, "training %s %s/%s on %s: %d train, %d test images, batch %d, lr %g, momentum %g%s\n",
			m.Config.Arch(), m.Config.Activation, m.Config.Loss, be.Name(), train.N, test.N, hyper.BatchSize, hyper.LR, hyper.Momentum, from)
	}

	ctx, cancel := context.WithCancel(orBackground(opts.Context))
	defer cancel()
	exit := opts.Exit
	if exit == nil {
		exit = os.Exit
	}
	quit := func(code int) { release(); exit(code) } // os.Exit runs no deferred calls
	// The signal watcher writes from its own goroutine: one writer, one line at a time.
	errw := &lockedWriter{w: io.Err}
	sig := watchSignals(opts.Signals, quit, cancel, errw, opts.Out, nil)
	defer sig.stop()

	disp := &display{w: errw, quiet: opts.Quiet}
	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper}
	if !opts.Quiet && io.ErrIsTerminal {
		tr.OnProgress = disp.progress
	}
	last := model.EpochResult{TestAccuracy: -1}
	lastSaved := ""
	// A side output (--metrics, a periodic checkpoint) that fails does not stop training: it is
	// reported at once, the run goes on and saves --out, and the command then fails naming it.
	var sideErr error
	side := func(err error) {
		fmt.Fprintf(errw, "dltrain: %s; training goes on and will save %s\n", escapeControls(err.Error()), printable(opts.Out))
		if sideErr == nil {
			sideErr = err
		}
	}
	start := time.Now()
	tr.OnEpoch = func(r model.EpochResult) error {
		last = r
		disp.epoch(r, hyper.Epochs)
		if metrics != nil {
			b, _, err := marshalFinite(r)
			if err == nil {
				_, err = metrics.Write(append(b, '\n'))
			}
			if err != nil {
				side(fmt.Errorf("--metrics %s: writing epoch %d: %v (no more metrics are written)", opts.Metrics, r.Epoch, safefile.Cause(err)))
				metrics.Close()
				metrics = nil
			}
		}
		if opts.CheckpointEvery > 0 && r.Epoch%opts.CheckpointEvery == 0 && r.Epoch < hyper.Epochs {
			p := epochPath(opts.Out, r.Epoch)
			if in := fs.find(p); in != nil {
				side(fmt.Errorf("periodic checkpoint %s is %s %s: not overwritten", p, in.name, in.path))
				return nil
			}
			ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: hyper, TestAccuracy: r.TestAccuracy}}
			if err := checkpoint.Save(p, ck, key); err != nil {
				side(err)
				return nil
			}
			lastSaved = p
			pruneEpochs(opts.Out, opts.Keep, r.Epoch, func(p string) bool { return fs.find(p) != nil })
		}
		return nil
	}
	err = tr.Run(ctx, train, test)
	if tr.GraphErr != nil && !opts.Quiet {
		fmt.Fprintf(errw, "dltrain: could not record the step as a CUDA graph (%v); used plain launches\n", tr.GraphErr)
	}
	caught := sig.first()
	save := func() error {
		if beforeFinalSave != nil {
			beforeFinalSave()
		}
		ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: hyper, TestAccuracy: last.TestAccuracy}}
		if err := checkpoint.Save(opts.Out, ck, key); err != nil {
			return withCode(exitModel, err, "")
		}
		return nil
	}
	// after adds a side output's failure to what is reported once --out is saved.
	after := func(msg string) string {
		if sideErr != nil {
			return msg + "; but " + sideErr.Error()
		}
		return msg
	}
	switch {
	case caught != nil && errors.Is(err, context.Canceled):
		if err := save(); err != nil {
			return err
		}
		return &exitErr{code: signalCode(caught),
			err:  errors.New(after(fmt.Sprintf("interrupted by %v at epoch %d, step %d; checkpoint saved to %s", caught, m.Epoch+1, m.Step, opts.Out))),
			hint: "resume with: " + resumeCommand(opts, hyper.Epochs)}
	case err != nil:
		var div *model.DivergedError
		if errors.As(err, &div) {
			hint := "lower --lr; nothing was saved"
			if lastSaved != "" {
				hint = "lower --lr; the last good checkpoint is " + lastSaved
			}
			return withCode(exitDiverged, err, hint)
		}
		return err
	}
	if err := save(); err != nil {
		return err
	}
	epochs := "epochs"
	if last.Epoch == 1 {
		epochs = "epoch"
	}
	if sideErr != nil {
		return withCode(exitError, errors.New(after(fmt.Sprintf("model written to %s after %d %s", opts.Out, last.Epoch, epochs))), "")
	}
	fmt.Fprintf(io.Out, "test accuracy %.2f%% after %d %s (%.1fs); model written to %s\n",
		100*last.TestAccuracy, last.Epoch, epochs, time.Since(start).Seconds(), printable(opts.Out))
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
