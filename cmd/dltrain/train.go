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
	"github.com/dltrain/dltrain/internal/schedule"
)

// TrainOptions are the inputs of 'dltrain train'.
type TrainOptions struct {
	IO *IO
	// LoadData reads the training and test sets; tests inject a small subset.
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
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
	Dataset         string
	Data            string
	Out             string
	Device          string
	Precision       string
	Metrics         string
	Quiet           bool
	Resume          string
	CheckpointEvery int
	Keep            int
	KeyFile         string
	// OptimOptions are the optimizer, schedule, validation and transfer flags (trainopt.go).
	OptimOptions
	// AdvOptions are the adversarial training and robust evaluation flags (trainadv.go).
	AdvOptions

	// record is what the checkpoints note about the weights' origin (set by setup).
	record checkpoint.Meta
}

// NewCmdTrain builds 'dltrain train'; runF, when not nil, replaces trainRun (for flag tests).
func NewCmdTrain(f *Factory, runF func(*TrainOptions) error) *cobra.Command {
	opts := &TrainOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train an MLP on MNIST (or Fashion-MNIST, or your own IDX files) and save it",
		Long: `Train an MLP on MNIST, evaluate it on the test set after every epoch, and save the
weights and optimizer state to a safetensors checkpoint.

--dataset fashion-mnist trains on Fashion-MNIST (found in --data, else $DLTRAIN_DATA/fashion-mnist
or ./data/fashion-mnist, else /usr/share/datasets/fashion-mnist); --dataset idx on any four IDX files
of 28x28 images with labels 0..9 in --data, under the official MNIST file names. MNIST and
Fashion-MNIST files are checked against the SHA-256 of their content. The checkpoint records the
data set, and eval, predict and export use it from there.

The defaults are the classic setup: 784-128-10, ReLU, cross-entropy, SGD lr 0.01, momentum 0.9,
batch 100, inputs normalized to (x-0.5)/0.5, PyTorch's initialization.

--optimizer sgd|nesterov|adam|adamw follows PyTorch's torch.optim exactly; --weight-decay is L2
added to the gradient for sgd, nesterov and adam, and decoupled for adamw. --lr defaults to 0.001
for adam and adamw, 0.01 otherwise; --weight-decay to 0.01 for adamw, 0 otherwise (PyTorch's
defaults).

--lr-schedule sets the rate of every step from --lr, as PyTorch's schedulers do: step (StepLR: times
--lr-gamma every --lr-step epochs), exp (ExponentialLR: times --lr-decay per epoch), cosine
(CosineAnnealingLR down to --lr-min), onecycle (OneCycleLR peaking at --lr). --warmup E climbs
linearly over the first E epochs first (onecycle: E is its rise). The rate goes to --metrics as lr.

--val-split N holds out N training images (the last N of a permutation drawn from --seed, so the
same seed holds out the same images) and evaluates them every epoch (val_loss, val_accuracy);
--save-best keeps the epoch with the best validation accuracy in OUT-best.EXT (model-best.bin for
model.bin); --patience K stops after K epochs without a better one. The test set is still reported
but never used to choose.

--init-from FILE starts from another checkpoint's weights (not its optimizer state or position),
with its architecture, activation and loss unless --hidden, --activation or --loss say otherwise; --freeze fc1[,fc2...] keeps layers fixed;
--reset-head re-initializes the output layer (with --init).

--epochs is the total to reach: with --resume, training continues from the checkpoint's epoch (and
step, if it stopped mid-epoch) with its architecture, seed, optimizer and its state, schedule,
validation split and frozen layers, and gives the same weights as an uninterrupted run. --lr, the
schedule's settings, --weight-decay and --patience may change on --resume; the optimizer may not.

--checkpoint-every N saves OUT-epochNNNN.bin (next to --out) every N epochs; --keep K keeps the K
newest of them. The first SIGINT or SIGTERM finishes the current step, saves --out and exits 130 or
143; a second one exits at once, leaving the last complete checkpoint as it was.

--adversarial fgsm|pgd trains on attacked batches: each batch is attacked with the current weights
in the L-infinity ball of radius --adv-eps (pixel units) and the net trains on the attacked images
(the first --adv-ratio of each shuffled batch; the rest stay clean). fgsm is FGSM from a random
start with step 1.25*eps (Wong et al. 2020, "fast is better than free"); pgd is PGD-k from a random
start, k = --adv-steps, step 2.5*eps/k (Madry et al. 2018); --adv-step-size overrides the step.
train_loss and train_accuracy are then those of the attacked batches. --robust-eval N measures
the robust accuracy under PGD-10 (step eps/4, no random start, eps = --robust-eps, by default the
adversarial radius or --adv-eps) on the first N test images after every epoch.

--metrics FILE writes one JSON object per epoch, with the keys epoch, train_loss, train_accuracy,
test_loss, test_accuracy (fractions in 0..1), seconds, samples_per_second and lr, plus val_loss and
val_accuracy with --val-split and robust_accuracy with --robust-eval.`,
		Example: `  # the classic MNIST MLP, 10 epochs on the CPU
  dltrain train --epochs 10

  # Fashion-MNIST (make data DATASET=fashion-mnist, or Debian's dataset-fashion-mnist)
  dltrain train --dataset fashion-mnist -o fashion.bin

  # a deeper tanh net, with per-epoch metrics
  dltrain train --hidden 512,256 --activation tanh --epochs 5 --metrics run.jsonl

  # checkpoint every 2 epochs, then resume an interrupted run up to 20 epochs
  dltrain train --epochs 20 --checkpoint-every 2
  dltrain train --resume model.bin --epochs 20

  # Adam (PyTorch's defaults), then AdamW with a cosine schedule after one warmup epoch
  dltrain train --optimizer adam --epochs 5
  dltrain train --optimizer adamw --weight-decay 0.01 --lr-schedule cosine --warmup 1 --epochs 20

  # Cireşan's decay: x0.97 per epoch, never below 1e-6
  dltrain train --hidden 800 --lr 0.001 --lr-schedule exp --lr-decay 0.97 --lr-min 1e-6

  # hold out 5000 images, keep the best epoch in model-best.bin, stop after 5 without progress
  dltrain train --epochs 100 --val-split 5000 --save-best --patience 5

  # fine-tune another model's hidden layer, frozen, with a fresh output layer
  dltrain train --init-from base.bin --freeze fc1 --reset-head --epochs 5 -o tuned.bin

  # adversarial training with PGD-7 at eps 0.1, robust accuracy on 1000 test images every epoch
  dltrain train --adversarial pgd --adv-eps 0.1 --robust-eval 1000 -o robust.bin

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
	fl.IntVar(&opts.BatchSize, "batch-size", 100, "samples per optimizer step")
	fl.Float64Var(&opts.LR, "lr", 0.01, "learning rate (the peak with onecycle; default 0.001 for adam and adamw)")
	fl.Float64Var(&opts.Momentum, "momentum", 0.9, "momentum of sgd and nesterov")
	fl.StringVar(&opts.Hidden, "hidden", "128", "hidden layer widths, comma-separated (e.g. 512,256)")
	fl.StringVar(&opts.Activation, "activation", "relu", "hidden activation: relu, sigmoid or tanh")
	fl.StringVar(&opts.Loss, "loss", "ce", "loss: ce (softmax cross-entropy) or mse (on one-hot targets)")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed for initialization and shuffling")
	fl.StringVar(&opts.Dataset, "dataset", mnist.DefaultDataset, datasetHelp)
	fl.StringVar(&opts.Data, "data", "", "data directory (default $DLTRAIN_DATA, else ./data; see --dataset)")
	fl.StringVarP(&opts.Out, "out", "o", "model.bin", "checkpoint to write")
	fl.StringVar(&opts.Device, "device", "auto", "cpu, cuda, or auto (the GPU when there is one)")
	fl.StringVar(&opts.Precision, "precision", "fp32", precisionHelp)
	fl.StringVar(&opts.Metrics, "metrics", "", "append per-epoch metrics as JSON lines to this file")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the final summary")
	fl.StringVar(&opts.Resume, "resume", "", "continue training from this checkpoint")
	fl.IntVar(&opts.CheckpointEvery, "checkpoint-every", 0, "also save OUT-epochNNNN.bin every N epochs (0: never)")
	fl.IntVar(&opts.Keep, "keep", 3, "keep the K newest periodic checkpoints (0: keep all)")
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	bindOptimFlags(fl, &opts.OptimOptions)
	bindAdvFlags(fl, &opts.AdvOptions)
	return cmd
}

// setup builds the model and hyperparameters from the flags (and --init-from), or from the
// checkpoint with --resume.
func (opts *TrainOptions) setup(key []byte) (*model.Model, model.Hyper, error) {
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	hyper := model.Hyper{Epochs: opts.Epochs, BatchSize: opts.BatchSize, LR: opts.LR, Momentum: opts.Momentum}
	if opts.Resume == "" {
		if err := opts.optimHyper(&hyper, set); err != nil {
			return nil, hyper, err
		}
		if err := opts.advHyper(&hyper, set); err != nil {
			return nil, hyper, err
		}
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
		init, err := model.ParseInit(opts.Init)
		if err != nil {
			return nil, hyper, usageErr("--init: %v", err)
		}
		if err := hyper.Validate(); err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		cfg := model.NewConfig(hidden, act, loss)
		var m *model.Model
		switch {
		case opts.InitFrom != "":
			if set("init") && !opts.ResetHead {
				return nil, hyper, usageErr("--init applies only to a fresh output layer with --init-from: add --reset-head")
			}
			if m, err = opts.transfer(cfg, opts.Seed, init, key, set); err != nil {
				return nil, hyper, err
			}
			opts.record.InitFrom = filepath.Base(opts.InitFrom)
		case opts.ResetHead:
			return nil, hyper, usageErr("--reset-head needs --init-from (a fresh model's output layer is fresh already)")
		default:
			if m, err = model.NewInit(cfg, opts.Seed, init); err != nil {
				return nil, hyper, usageErr("%v", err)
			}
		}
		opts.record.Init = init
		if err := hyper.CheckFreeze(m.Config); err != nil {
			return nil, hyper, usageErr("--freeze: %v", err)
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
	if set("dataset") && opts.Dataset != ck.DatasetName() {
		return nil, hyper, usageErr("--dataset %s cannot change on --resume: %s was trained on %s", opts.Dataset, opts.Resume, ck.DatasetName())
	}
	opts.Dataset = ck.DatasetName()
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
	if err := opts.resumeHyper(&h, opts.Resume, set); err != nil {
		return nil, hyper, err
	}
	if err := opts.resumeAdv(set); err != nil {
		return nil, hyper, err
	}
	if err := h.Validate(); err != nil {
		return nil, hyper, usageErr("%v", err)
	}
	if ck.Epoch >= h.Epochs {
		return nil, hyper, usageErr("%s already has %d epochs; ask for more with --epochs", opts.Resume, ck.Epoch)
	}
	opts.record.Init, opts.record.InitFrom = ck.Init, ck.InitFrom
	return ck.Model, h, nil
}

// checkpointOf is what train saves: the model, its settings, the test accuracy of its last epoch
// and the record of where its weights came from.
func (opts *TrainOptions) checkpointOf(m *model.Model, h model.Hyper, testAccuracy float64) checkpoint.Checkpoint {
	meta := opts.record
	meta.Hyper, meta.TestAccuracy = h, testAccuracy
	return checkpoint.Checkpoint{Model: m, Meta: meta}
}

func trainRun(opts *TrainOptions) error {
	io := opts.IO
	if opts.Out == "" {
		return usageErr("--out must name a file")
	}
	if opts.CheckpointEvery < 0 || opts.Keep < 0 {
		return usageErr("--checkpoint-every and --keep must be ≥ 0")
	}
	if _, err := lookupDataset(opts.Dataset); err != nil {
		return err
	}
	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return err
	}
	be, err := pickBackend(opts.Device, io, opts.Quiet)
	if err != nil {
		return err
	}
	if err := applyPrecision(be, opts.Precision, opts.Device, io, opts.Quiet); err != nil {
		return err
	}
	m, hyper, err := opts.setup(key)
	if err != nil {
		return err
	}
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	robust, err := opts.robustEval(hyper, set)
	if err != nil {
		return err
	}
	ds, err := lookupDataset(opts.Dataset) // the checkpoint's own with --resume
	if err != nil {
		return err
	}
	train, test, err := opts.LoadData(ds, opts.Data)
	if err != nil {
		return err
	}
	opts.record.Dataset, opts.record.Version = ds.Name, buildVersion()
	if hyper.ValSplit >= train.N {
		return usageErr("--val-split %d: the training set has only %d images", hyper.ValSplit, train.N)
	}
	for _, p := range safefile.RemoveStaleTemps(opts.Out) {
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
		images := fmt.Sprintf("%d train", train.N)
		if hyper.ValSplit > 0 {
			images = fmt.Sprintf("%d train, %d validation", train.N-hyper.ValSplit, hyper.ValSplit)
		}
		if opts.InitFrom != "" {
			from = ", weights from " + opts.InitFrom
			if opts.ResetHead {
				from += " (output layer reset)"
			}
		}
		fmt.Fprintf(io.Err, "training %s %s/%s on %s: %s, %s, %d test images, batch %d, %s%s\n",
			m.Config.Arch(), m.Config.Activation, m.Config.Loss, be.Name(), ds.Title, images, test.N, hyper.BatchSize, describe(hyper), from)
	}

	ctx, cancel := context.WithCancel(orBackground(opts.Context))
	defer cancel()
	sig := watchSignals(opts.Signals, opts.Exit, cancel, io.Err, opts.Out)
	defer sig.stop()

	disp := &display{w: io.Err, quiet: opts.Quiet, showLR: hyper.Schedule.Kind != schedule.Constant || hyper.Schedule.Warmup > 0}
	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper, Robust: robust}
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
			if err := checkpoint.Save(p, opts.checkpointOf(m, hyper, r.TestAccuracy), key); err != nil {
				return withCode(exitModel, err, "")
			}
			lastSaved = p
			pruneEpochs(opts.Out, opts.Keep)
		}
		if opts.SaveBest && r.Best {
			if err := checkpoint.Save(bestPath(opts.Out), opts.checkpointOf(m, hyper, r.TestAccuracy), key); err != nil {
				return withCode(exitModel, err, "")
			}
		}
		return nil
	}
	err = tr.Run(ctx, train, test)
	if tr.GraphErr != nil && !opts.Quiet {
		fmt.Fprintf(io.Err, "dltrain: could not record the step as a CUDA graph (%v); used plain launches\n", tr.GraphErr)
	}
	caught := sig.first()
	save := func() error {
		if err := checkpoint.Save(opts.Out, opts.checkpointOf(m, hyper, last.TestAccuracy), key); err != nil {
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
	if tr.StoppedEarly {
		fmt.Fprintf(io.Out, "stopped early after epoch %d: validation accuracy has not improved for %d epochs (best: epoch %d, %.2f%%)\n",
			last.Epoch, hyper.Patience, m.Best.Epoch, 100*m.Best.Accuracy)
	}
	fmt.Fprintf(io.Out, "test accuracy %.2f%% after %d %s (%.1fs); model written to %s\n",
		100*last.TestAccuracy, last.Epoch, epochs, time.Since(start).Seconds(), opts.Out)
	if opts.SaveBest && m.Best.Epoch > 0 {
		fmt.Fprintf(io.Out, "best validation accuracy %.2f%% at epoch %d; that model is in %s\n", 100*m.Best.Accuracy, m.Best.Epoch, bestPath(opts.Out))
	}
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
