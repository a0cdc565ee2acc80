package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	JSON            bool
	Threads         int
	Resume          string
	CheckpointEvery int
	Keep            int
	KeyFile         string
	// OptimOptions are the optimizer, schedule, validation and transfer flags (trainopt.go).
	OptimOptions
	// AugmentOptions are the augmentation flags (augmentopt.go).
	AugmentOptions
	// AdvOptions are the adversarial training and robust evaluation flags (trainadv.go).
	AdvOptions

	// record is what the checkpoints note about the weights' origin (set by setup).
	record      checkpoint.Meta
	MemoryLimit string
}

// isSet reports whether a flag was given on the command line (false for all when Set is nil).
func (opts *TrainOptions) isSet(name string) bool { return opts.Set != nil && opts.Set(name) }

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
--resume FILE writes FILE again unless -o is given.

` + augmentHelp + ` The augmentation is recorded in the checkpoint, and
--resume continues it; the flags may repeat it but not change it.

--checkpoint-every N saves OUT-epochNNNN.bin (next to -o's OUT) every N epochs; --keep K keeps the K
newest of them (never another file, nor the one resumed from). The first SIGINT or SIGTERM finishes
the current step, saves -o, prints the command that resumes the run and exits 130 or 143; a
second one more than a second later exits at once, leaving the last complete checkpoint as it was.

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
val_accuracy with --val-split and robust_accuracy with --robust-eval. If it (or a periodic
checkpoint) cannot be written, training goes on, -o is saved, and the command exits 1.

No output may be an input, the key, a data file or another output, and two runs may not write the
same output: these are refused before any work. A configuration estimated to need more memory than
is available (or than --memory-limit) is refused too.`,
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

  # 784-800-10 on elastic deformations with a cosine schedule (the README's recipe)
  dltrain train --hidden 800 --augment elastic --lr-schedule cosine --epochs 50

  # adversarial training with PGD-7 at eps 0.1, robust accuracy on 1000 test images every epoch
  dltrain train --adversarial pgd --adv-eps 0.1 --robust-eval 1000 -o robust.bin

  # an encrypted checkpoint
  dltrain keygen -o my.key && dltrain train --key-file my.key`,
		Args: argsRange(0, 0),
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
	fl.StringVar(&opts.Data, "data", "", dataHelp)
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputDefault: "model.bin",
		OutputHelp: "checkpoint to write (--out is the same flag; with --resume FILE the default is FILE)",
		JSON:       &opts.JSON, Quiet: &opts.Quiet, Device: &opts.Device, Threads: &opts.Threads})
	fl.SetNormalizeFunc(outAlias)
	fl.StringVar(&opts.Precision, "precision", "fp32", precisionHelp)
	fl.StringVar(&opts.Metrics, "metrics", "", "write per-epoch metrics as JSON lines to this file (a new run starts it afresh, --resume appends)")
	fl.StringVar(&opts.Resume, "resume", "", "continue training from this checkpoint")
	fl.IntVar(&opts.CheckpointEvery, "checkpoint-every", 0, "also save OUT-epochNNNN.bin every N epochs (0: never)")
	fl.IntVar(&opts.Keep, "keep", 3, "keep the K newest periodic checkpoints (0: keep all)")
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	bindOptimFlags(fl, &opts.OptimOptions)
	bindAdvFlags(fl, &opts.AdvOptions)
	fl.StringVar(&opts.MemoryLimit, "memory-limit", "", "refuse configurations estimated to need more memory than this, e.g. 8GiB (default: what is available)")
	bindAugmentFlags(fl, &opts.AugmentOptions, "none", "deform the training images")
	enumFlag(cmd, "activation", "relu", "sigmoid", "tanh")
	enumFlag(cmd, "loss", "ce", "mse")
	enumFlag(cmd, "dataset", mnist.Names()...)
	enumFlag(cmd, "precision", "fp32", "tf32")
	enumFlag(cmd, "optimizer", "sgd", "nesterov", "adam", "adamw")
	enumFlag(cmd, "lr-schedule", "constant", "step", "exp", "cosine", "onecycle")
	enumFlag(cmd, "init", "pytorch", "uniform:", "xavier", "kaiming")
	enumFlag(cmd, "freeze", "fc1", "fc2", "fc1,fc2")
	dirFlag(cmd, "data")
	fileFlag(cmd, "metrics", "jsonl")
	fileFlag(cmd, "resume", "bin")
	fileFlag(cmd, "init-from", "bin")
	fileFlag(cmd, "key-file")
	fileFlag(cmd, "output", "bin")
	enumFlag(cmd, "augment", "none", "affine", "elastic")
	enumFlag(cmd, "adversarial", "none", "fgsm", "pgd")
	return cmd
}

// setup builds the model and hyperparameters from the flags (and --init-from), or from the
// checkpoint with --resume. fits, when not nil, may refuse the configuration before the model is
// allocated.
func (opts *TrainOptions) setup(key []byte, fits func(model.Config, model.Hyper) error) (*model.Model, model.Hyper, error) {
	if fits == nil {
		fits = func(model.Config, model.Hyper) error { return nil }
	}
	set := opts.isSet
	hyper := model.Hyper{Epochs: opts.Epochs, BatchSize: opts.BatchSize, LR: opts.LR, Momentum: opts.Momentum}
	if opts.Resume == "" {
		if err := opts.optimHyper(&hyper, set); err != nil {
			return nil, hyper, err
		}
		if err := opts.advHyper(&hyper, set); err != nil {
			return nil, hyper, err
		}
		var err error
		if hyper.Augment, err = opts.AugmentOptions.params(set); err != nil {
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
		if len(hidden) == 0 && set("activation") {
			return nil, hyper, usageErr("--activation %s: a model without hidden layers (--hidden '') has no activation to choose", opts.Activation)
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
		// The schedule spans the run: a warmup longer than it would be cut to it without a word.
		if w := hyper.Schedule.Warmup; w > float64(hyper.Epochs) {
			return nil, hyper, usageErr("--warmup %v: longer than the run's %s", w, plural(hyper.Epochs, "epoch"))
		}
		cfg := model.NewConfig(hidden, act, loss)
		if err := cfg.Validate(); err != nil {
			return nil, hyper, usageErr("%v", err)
		}
		if err := fits(cfg, hyper); err != nil {
			return nil, hyper, err
		}
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
		return nil, hyper, modelErr("--resume", err)
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
	if err := opts.resumeAugment(&h, opts.Resume, set); err != nil {
		return nil, hyper, err
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
	// The resumed file's test accuracy stays the model's until an epoch completes here.
	opts.record.Init, opts.record.InitFrom, opts.record.TestAccuracy = ck.Init, ck.InitFrom, ck.TestAccuracy
	return ck.Model, h, nil
}

// checkpointOf is what train saves: the model, its settings, the test accuracy of its last epoch
// and the record of where its weights came from.
func (opts *TrainOptions) checkpointOf(m *model.Model, h model.Hyper, testAccuracy float64) checkpoint.Checkpoint {
	meta := opts.record
	meta.Hyper, meta.TestAccuracy = h, testAccuracy
	return checkpoint.Checkpoint{Model: m, Meta: meta}
}

// paths checks every path of the run before any work (paths.go): no output may be an input, the
// key, a data file or another output (--out may be --resume), the periodic checkpoints may not take
// the name of another file given, and the outputs are locked until release.
func (opts *TrainOptions) paths() (fs *files, release func(), err error) {
	fs = &files{}
	out := fs.output("-o", opts.Out)
	if opts.Resume != "" {
		fs.input("--resume", opts.Resume, exitModel)
	}
	if opts.InitFrom != "" {
		fs.input("--init-from", opts.InitFrom, exitModel)
	}
	if opts.SaveBest {
		fs.output("--save-best", bestPath(opts.Out))
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
			return nil, nil, withCode(exitModel, fmt.Errorf("-o %s: the name is too long for its periodic checkpoints (%s) to be written safely", opts.Out, last), "")
		}
		for _, r := range fs.refs {
			if r == out || !sameDir(r, out) || !isEpochName(opts.Out, filepath.Base(r.abs)) {
				continue
			}
			switch {
			case r.role != roleInput:
				return nil, nil, usageErr("%s %s has the name of a periodic checkpoint of -o %s; give it another name", r.name, r.path, opts.Out)
			case r.name != "--resume": // resuming from a periodic checkpoint is what they are for
				return nil, nil, usageErr("%s %s has the name of a periodic checkpoint of -o %s, which --checkpoint-every would overwrite", r.name, r.path, opts.Out)
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
	if opts.Resume != "" && !opts.isSet("output") {
		opts.Out = opts.Resume // --resume continues the same file unless told otherwise
	}
	if opts.Out == "" {
		return usageErr("-o must name a file")
	}
	if opts.CheckpointEvery < 0 || opts.Keep < 0 {
		return usageErr("--checkpoint-every and --keep must be ≥ 0")
	}
	if _, err := lookupDataset(opts.Dataset); err != nil {
		return err
	}
	memLimit, err := parseSize(opts.MemoryLimit)
	if err != nil {
		return usageErr("--memory-limit: %v", err)
	}

	// From here on SIGINT and SIGTERM come to us: the locks paths takes are released whatever happens,
	// and a second signal quits at once even while paths waits on a slow file system.
	sigs := opts.Signals
	if sigs == nil {
		c, stop := processSignals()
		defer stop()
		sigs = c
	}
	exit := opts.Exit
	if exit == nil {
		exit = os.Exit
	}
	var relMu sync.Mutex
	var release func()
	quit := func(code int) { // os.Exit runs no deferred calls
		relMu.Lock()
		if release != nil {
			release()
		}
		relMu.Unlock()
		exit(code)
	}
	setup := watchSetup(sigs, io.Err, quit)
	defer setup.stop()
	fs, rel, err := opts.paths()
	if err != nil {
		return err
	}
	relMu.Lock()
	release = rel
	relMu.Unlock()
	defer func() { setup.stop(); rel() }() // no quit after the locks are gone
	lockedAt := time.Now()
	var metrics *os.File
	openMetrics := func() error {
		if opts.Metrics == "" || metrics != nil {
			return nil
		}
		flags := os.O_CREATE | os.O_TRUNC
		if opts.Resume != "" {
			flags = os.O_CREATE | os.O_APPEND
			// An interrupted run (a full disk, kill -9) may have left half a line at the end.
			if n, err := dropPartialLine(opts.Metrics); err != nil {
				return withCode(exitModel, fmt.Errorf("--metrics %s: %v", opts.Metrics, safefile.Cause(err)), "")
			} else if n > 0 {
				note(io, opts.Quiet, "--metrics %s: dropped an incomplete last line (%d bytes) before appending", printable(opts.Metrics), n)
			}
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
	be, devNote, err := pickBackend(opts.Device)
	if err != nil {
		return err
	}
	precNote, err := applyPrecision(be, opts.Precision, opts.Device)
	if err != nil {
		return err
	}
	m, hyper, err := opts.setup(key, func(cfg model.Config, h model.Hyper) error {
		return checkMemory(cfg, h, be.Name(), memLimit)
	})
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
	if err := hyper.CheckAdversarial(); err != nil {
		return usageErr("%v", err)
	}
	ds, err := lookupDataset(opts.Dataset) // the checkpoint's own with --resume
	if err != nil {
		return err
	}
	train, test, err := opts.LoadData(ds, opts.Data)
	if err != nil {
		return err
	}
	opts.record.Dataset, opts.record.Version, opts.record.BuildDate = ds.Name, buildVersion(), buildDate
	if hyper.ValSplit >= train.N {
		if opts.Resume != "" && !opts.isSet("val-split") {
			return withCode(exitData, fmt.Errorf("%s holds out %d validation images, but this training set has only %d", opts.Resume, hyper.ValSplit, train.N),
				"resume with the training set the run started on (--data)")
		}
		return usageErr("--val-split %d: the training set has only %d images", hyper.ValSplit, train.N)
	}
	if robust.N > test.N {
		return usageErr("--robust-eval %d: the test set has %d images", robust.N, test.N)
	}
	perEpoch := train.N - hyper.ValSplit // training images per epoch
	steps := (perEpoch + hyper.BatchSize - 1) / hyper.BatchSize
	if m.EpochStep >= steps {
		return withCode(exitModel, fmt.Errorf("checkpoint: %s: %d steps into epoch %d, but an epoch has %d steps at batch size %d on this data",
			filepath.Base(opts.Resume), m.EpochStep, m.Epoch+1, steps, hyper.BatchSize), "")
	}
	owns := func(base string) bool {
		return base == filepath.Base(opts.Out) || isEpochName(opts.Out, base) || base == filepath.Base(bestPath(opts.Out))
	}
	for _, p := range safefile.RemoveStaleTemps(filepath.Dir(opts.Out), owns, lockedAt) {
		fmt.Fprintf(io.Err, "dltrain: removed %s, left by an interrupted save\n", printable(p))
	}

	// A signal during the set-up ends the run here, before --metrics is opened and anything written.
	if s := setup.stop(); s != nil {
		return &exitErr{code: signalCode(s), err: fmt.Errorf("interrupted by %s before training started; nothing was written", signalName(s))}
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

	for _, n := range []string{devNote, precNote} { // now that every flag has been checked
		if n != "" {
			note(io, opts.Quiet, "%s", n)
		}
	}

	if !opts.Quiet {
		fields := []string{fmt.Sprintf("training %s %s/%s on %s:", m.Config.Arch(), m.Config.Activation, m.Config.Loss, be.Name()), ds.Title + ","}
		if hyper.ValSplit > 0 {
			fields = append(fields, fmt.Sprintf("%d train,", perEpoch), fmt.Sprintf("%d validation,", hyper.ValSplit))
		} else {
			fields = append(fields, fmt.Sprintf("%d train,", perEpoch))
		}
		fields = append(fields, fmt.Sprintf("%d test images,", test.N), fmt.Sprintf("batch %d,", hyper.BatchSize), describe(hyper))
		switch {
		case opts.Resume != "":
			fields[len(fields)-1] += ","
			fields = append(fields, fmt.Sprintf("resuming %s at %s", printable(opts.Resume), position(m.Epoch, m.EpochStep, steps)))
		case opts.InitFrom != "":
			fields[len(fields)-1] += ","
			from := "weights from " + printable(opts.InitFrom)
			if opts.ResetHead {
				from += " (output layer reset)"
			}
			fields = append(fields, from)
		}
		width := 0
		if io.ErrIsTerminal && io.Width != nil {
			width = io.Width() - 1
		}
		fmt.Fprintln(io.Err, fitJoin(fields, " ", width))
	}

	ctx, cancel := context.WithCancel(orBackground(opts.Context))
	defer cancel()
	showLR := hyper.Schedule.Kind != schedule.Constant || hyper.Schedule.Warmup > 0
	disp := newDisplay(io, opts.Quiet, opts.JSON, showLR, hyper.BatchSize, m.EpochStep)
	// The signal watcher writes from its own goroutine, through the display: one writer, one line at
	// a time, and the progress line cleared first. It starts after the banner, which is written
	// directly; a signal since the set-up ended waits for it in sigs.
	sig := watchSignals(sigs, quit, func() { disp.freeze(); cancel() }, disp, opts.Out, nil)
	defer sig.stop()

	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper, Robust: robust}
	if disp.bars {
		tr.OnProgress = disp.progress
	}
	// last is the last completed epoch: none yet, or the resumed checkpoint's (a run interrupted
	// before its first epoch ends must not save the model as untested).
	last := model.EpochResult{Epoch: m.Epoch, TestAccuracy: -1}
	if opts.Resume != "" {
		last.TestAccuracy = opts.record.TestAccuracy
	}
	bestTest := model.EpochResult{}
	var saved []string // the periodic checkpoints written by this run
	// A side output (--metrics, a periodic checkpoint) that fails does not stop training: it is
	// reported at once, the run goes on and saves --out, and the command then fails naming it.
	var sideErr error
	side := func(err error) {
		fmt.Fprintf(disp, "dltrain: %s; training goes on and will save %s\n", escapeControls(userMessage(err.Error())), printable(opts.Out))
		if sideErr == nil {
			sideErr = err
		}
	}
	start := time.Now()
	tr.OnEpoch = func(r model.EpochResult) error {
		last = r
		if bestTest.Epoch == 0 || r.TestAccuracy > bestTest.TestAccuracy {
			bestTest = r
		}
		disp.epoch(r, hyper.Epochs, perEpoch)
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
			if err := checkpoint.Save(p, opts.checkpointOf(m, hyper, r.TestAccuracy), key); err != nil {
				side(err)
				return nil
			}
			saved = append(saved, p)
			pruneEpochs(opts.Out, opts.Keep, r.Epoch, func(p string) bool { return fs.find(p) != nil })
		}
		if opts.SaveBest && r.Best {
			if err := checkpoint.Save(bestPath(opts.Out), opts.checkpointOf(m, hyper, r.TestAccuracy), key); err != nil {
				side(err)
			}
		}
		return nil
	}
	err = tr.Run(ctx, train, test)
	disp.freeze() // no progress line under what comes next
	if tr.GraphErr != nil && !opts.Quiet {
		fmt.Fprintf(io.Err, "dltrain: could not record the step as a CUDA graph (%v); used plain launches\n", userMessage(tr.GraphErr.Error()))
	}
	caught := sig.first()
	save := func() error {
		if beforeFinalSave != nil {
			beforeFinalSave()
		}
		if err := checkpoint.Save(opts.Out, opts.checkpointOf(m, hyper, last.TestAccuracy), key); err != nil {
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
			err:  errors.New(after(fmt.Sprintf("interrupted by %s at %s; checkpoint saved to %s", signalName(caught), position(m.Epoch, m.EpochStep, steps), opts.Out))),
			hint: "resume with: " + resumeCommand(opts, hyper.Epochs)}
	case err != nil:
		var div *model.DivergedError
		if errors.As(err, &div) {
			hint := "lower --lr; nothing was saved"
			if len(saved) > 0 {
				hint = "lower --lr; the last good checkpoint is " + saved[len(saved)-1]
			}
			// The model's position is the diverging step's: the one numbering of steps, in the epoch.
			return withCode(exitDiverged, fmt.Errorf("training diverged: the loss is %v at %s", div.Loss, position(m.Epoch, m.EpochStep, steps)), hint)
		}
		return err
	}
	if err := save(); err != nil {
		return err
	}
	if sideErr != nil {
		return withCode(exitError, errors.New(after(fmt.Sprintf("model written to %s after %s", opts.Out, plural(last.Epoch, "epoch")))), "")
	}
	sum := trainSummary{Epochs: last.Epoch, TestAccuracy: last.TestAccuracy, TestLoss: last.TestLoss,
		TrainAccuracy: last.TrainAccuracy, TrainLoss: last.TrainLoss, Seconds: time.Since(start).Seconds(),
		Model: opts.Out, Encrypted: key != nil, Checkpoints: []string{}, StoppedEarly: tr.StoppedEarly}
	if last.Validated {
		sum.ValAccuracy, sum.ValLoss = &last.ValAccuracy, &last.ValLoss
	}
	if m.Best.Epoch > 0 {
		sum.BestEpoch, sum.BestBy, sum.BestAccuracy = m.Best.Epoch, "val_accuracy", m.Best.Accuracy
	} else {
		sum.BestEpoch, sum.BestBy, sum.BestAccuracy = bestTest.Epoch, "test_accuracy", bestTest.TestAccuracy
	}
	for _, p := range saved {
		if _, err := os.Stat(p); err == nil { // --keep may have pruned it since
			sum.Checkpoints = append(sum.Checkpoints, p)
		}
	}
	if opts.SaveBest && m.Best.Epoch > 0 {
		sum.BestModel = bestPath(opts.Out)
	}
	if opts.Metrics != "" {
		sum.Metrics = opts.Metrics
	}
	if opts.JSON {
		return printJSON(io, sum)
	}
	sum.print(io.Out, opts.KeyFile, hyper.Patience)
	return nil
}

// trainSummary is what a finished run reports: its --json object, and the lines without --json.
type trainSummary struct {
	Epochs        int      `json:"epochs"` // the epoch the model is at
	TestAccuracy  float64  `json:"test_accuracy"`
	TestLoss      float64  `json:"test_loss"`
	TrainAccuracy float64  `json:"train_accuracy"`
	TrainLoss     float64  `json:"train_loss"`
	ValAccuracy   *float64 `json:"val_accuracy,omitempty"`
	ValLoss       *float64 `json:"val_loss,omitempty"`
	Seconds       float64  `json:"seconds"`
	// BestEpoch is the best epoch: by validation accuracy with --val-split (the one --save-best
	// keeps), else by test accuracy among this run's epochs (reported, never used to choose).
	BestEpoch    int      `json:"best_epoch"`
	BestBy       string   `json:"best_by"` // "val_accuracy" or "test_accuracy"
	BestAccuracy float64  `json:"best_accuracy"`
	Model        string   `json:"model"`
	Encrypted    bool     `json:"encrypted"`
	Checkpoints  []string `json:"checkpoints"` // periodic checkpoints written by this run and still there
	BestModel    string   `json:"best_model,omitempty"`
	Metrics      string   `json:"metrics,omitempty"`
	StoppedEarly bool     `json:"stopped_early"`
}

// print writes the summary for people: the result, the best epoch, and every file written.
func (s trainSummary) print(w io.Writer, keyFile string, patience int) {
	if s.StoppedEarly {
		fmt.Fprintf(w, "stopped early after epoch %d: validation accuracy has not improved for %s\n", s.Epochs, plural(patience, "epoch"))
	}
	val := ""
	if s.ValAccuracy != nil {
		val = fmt.Sprintf(", validation %.2f%%", 100**s.ValAccuracy)
	}
	fmt.Fprintf(w, "test accuracy %.2f%% (loss %.4f)%s after %s (%.1fs)\n", 100*s.TestAccuracy, s.TestLoss, val, plural(s.Epochs, "epoch"), s.Seconds)
	what := "test"
	if s.BestBy == "val_accuracy" {
		what = "validation"
	}
	fmt.Fprintf(w, "best epoch %d (%s accuracy %.2f%%)\n", s.BestEpoch, what, 100*s.BestAccuracy)
	enc := "not encrypted"
	if s.Encrypted {
		_, key := keyPath(keyFile)
		enc = "encrypted with " + printable(key)
	}
	fmt.Fprintf(w, "model written to %s (%s)\n", printable(s.Model), enc)
	if s.BestModel != "" {
		fmt.Fprintf(w, "best model written to %s (epoch %d)\n", printable(s.BestModel), s.BestEpoch)
	}
	if len(s.Checkpoints) > 0 {
		names := make([]string, len(s.Checkpoints))
		for i, p := range s.Checkpoints {
			names[i] = printable(p)
		}
		fmt.Fprintf(w, "periodic checkpoints: %s\n", strings.Join(names, " "))
	}
	if s.Metrics != "" {
		fmt.Fprintf(w, "metrics written to %s\n", printable(s.Metrics))
	}
}

// position names a point of training in the one numbering that every message uses: the epoch it is
// in and the steps of that epoch done, "epoch 2, step 34 of 600". A checkpoint between epochs is at
// the end of the one it completed ("epoch 2, step 600 of 600"), not at step 0 of the next.
func position(epoch, epochStep, steps int) string {
	switch {
	case epochStep > 0:
		return fmt.Sprintf("epoch %d, step %d of %d", epoch+1, epochStep, steps)
	case epoch > 0:
		return fmt.Sprintf("epoch %d, step %d of %d", epoch, steps, steps)
	}
	return fmt.Sprintf("epoch 1, step 0 of %d", steps)
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// dropPartialLine makes a metrics file end with a complete line before it is appended to. A last
// line that is the start of a metrics object cut short (a full disk, kill -9) is removed; any other
// last line without its newline (a whole object, or text that is not ours) is kept and gets one. It
// returns the number of bytes removed: 0 when nothing was, and when the file is empty, not a regular
// file or does not exist.
func dropPartialLine(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size := st.Size()
	tail := make([]byte, min(size, 64<<10)) // metrics lines are far shorter
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, err
	}
	if tail[len(tail)-1] == '\n' {
		return 0, nil
	}
	i := bytes.LastIndexByte(tail, '\n')
	last := tail[i+1:]
	whole := i >= 0 || int64(len(tail)) == size // last starts a line
	if whole && bytes.HasPrefix(last, []byte(`{"epoch":`)) && !json.Valid(last) {
		keep := size - int64(len(last))
		if err := f.Truncate(keep); err != nil {
			return 0, err
		}
		return size - keep, nil
	}
	_, err = f.WriteAt([]byte{'\n'}, size)
	return 0, err
}
