package main

import (
	"context"
	"encoding/json"
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
}

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
weights as an uninterrupted run.

--checkpoint-every N saves OUT-epochNNNN.bin (next to --out) every N epochs; --keep K keeps the K
newest of them. The first SIGINT or SIGTERM finishes the current step, saves --out and exits 130 or
143; a second one exits at once, leaving the last complete checkpoint as it was.

--metrics FILE writes one JSON object per epoch, with the keys epoch, train_loss, train_accuracy,
test_loss, test_accuracy (fractions in 0..1), seconds and samples_per_second.`,
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
	return cmd
}

// setup builds the model and hyperparameters from the flags, or from the checkpoint with --resume.
func (opts *TrainOptions) setup(key []byte) (*model.Model, model.Hyper, error) {
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
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
		m, err := model.New(model.NewConfig(hidden, act, loss), opts.Seed)
		if err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		return m, hyper, nil
	}

	ck, err := checkpoint.Load(opts.Resume, key)
	if err != nil {
		return nil, hyper, modelErr(err)
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
	if err := h.Validate(); err != nil {
		return nil, hyper, usageErr("%v", err)
	}
	if ck.Epoch >= h.Epochs {
		return nil, hyper, usageErr("%s already has %d epochs; ask for more with --epochs", opts.Resume, ck.Epoch)
	}
	return ck.Model, h, nil
}

func trainRun(opts *TrainOptions) error {
	io := opts.IO
	if opts.Out == "" {
		return usageErr("--out must name a file")
	}
	if opts.CheckpointEvery < 0 || opts.Keep < 0 {
		return usageErr("--checkpoint-every and --keep must be ≥ 0")
	}
	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return err
	}
	be, err := pickBackend(opts.Device, io, opts.Quiet)
	if err != nil {
		return err
	}
	m, hyper, err := opts.setup(key)
	if err != nil {
		return err
	}
	train, test, err := opts.LoadData(opts.Data)
	if err != nil {
		return err
	}
	owns := func(base string) bool { return base == filepath.Base(opts.Out) || isEpochName(opts.Out, base) }
	for _, p := range safefile.RemoveStaleTemps(filepath.Dir(opts.Out), owns, time.Now()) {
		fmt.Fprintf(io.Err, "dltrain: removed %s, left by an interrupted save\n", p)
	}

	var metrics *os.File
	if opts.Metrics != "" {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if opts.Resume != "" {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		metrics, err = os.OpenFile(opts.Metrics, flags, 0o644)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metrics.Close()
	}

	if !opts.Quiet {
		from := ""
		if opts.Resume != "" {
			from = fmt.Sprintf(", resuming %s at epoch %d step %d", opts.Resume, m.Epoch+1, m.EpochStep)
		}
		fmt.Fprintf(io.Err, "training %s %s/%s on %s: %d train, %d test images, batch %d, lr %g, momentum %g%s\n",
			m.Config.Arch(), m.Config.Activation, m.Config.Loss, be.Name(), train.N, test.N, hyper.BatchSize, hyper.LR, hyper.Momentum, from)
	}

	ctx, cancel := context.WithCancel(orBackground(opts.Context))
	defer cancel()
	sig := watchSignals(opts.Signals, opts.Exit, cancel, io.Err, opts.Out)
	defer sig.stop()

	disp := &display{w: io.Err, quiet: opts.Quiet}
	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper}
	if !opts.Quiet && io.ErrIsTerminal {
		tr.OnProgress = disp.progress
	}
	last := model.EpochResult{TestAccuracy: -1}
	lastSaved := ""
	start := time.Now()
	tr.OnEpoch = func(r model.EpochResult) error {
		last = r
		disp.epoch(r, hyper.Epochs)
		if metrics != nil {
			b, _ := json.Marshal(r)
			if _, err := metrics.Write(append(b, '\n')); err != nil {
				return fmt.Errorf("--metrics: %w", err)
			}
		}
		if opts.CheckpointEvery > 0 && r.Epoch%opts.CheckpointEvery == 0 && r.Epoch < hyper.Epochs {
			p := epochPath(opts.Out, r.Epoch)
			ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: hyper, TestAccuracy: r.TestAccuracy}}
			if err := checkpoint.Save(p, ck, key); err != nil {
				return withCode(exitModel, err, "")
			}
			lastSaved = p
			pruneEpochs(opts.Out, opts.Keep)
		}
		return nil
	}
	err = tr.Run(ctx, train, test)
	if tr.GraphErr != nil && !opts.Quiet {
		fmt.Fprintf(io.Err, "dltrain: could not record the step as a CUDA graph (%v); used plain launches\n", tr.GraphErr)
	}
	caught := sig.first()
	save := func() error {
		ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: hyper, TestAccuracy: last.TestAccuracy}}
		if err := checkpoint.Save(opts.Out, ck, key); err != nil {
			return withCode(exitModel, err, "")
		}
		return nil
	}
	switch {
	case caught != nil && errors.Is(err, context.Canceled):
		if err := save(); err != nil {
			return err
		}
		resume := fmt.Sprintf("dltrain train --resume %s --epochs %d", opts.Out, hyper.Epochs)
		if opts.KeyFile != "" {
			resume += " --key-file " + opts.KeyFile
		}
		return &exitErr{code: signalCode(caught),
			err:  fmt.Errorf("interrupted by %v at epoch %d, step %d; checkpoint saved to %s", caught, m.Epoch+1, m.Step, opts.Out),
			hint: "resume with: " + resume}
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
	fmt.Fprintf(io.Out, "test accuracy %.2f%% after %d %s (%.1fs); model written to %s\n",
		100*last.TestAccuracy, last.Epoch, epochs, time.Since(start).Seconds(), opts.Out)
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
