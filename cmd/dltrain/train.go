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
--resume FILE writes FILE again unless --out is given.

` + augmentHelp + ` The augmentation is recorded in the checkpoint, and
--resume continues it; the flags may repeat it but not change it.

--checkpoint-every N saves OUT-epochNNNN.bin (next to --out) every N epochs; --keep K keeps the K
newest of them (never another file, nor the one resumed from). The first SIGINT or SIGTERM finishes
the current step, saves --out, prints the command that resumes the run and exits 130 or 143; a
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
checkpoint) cannot be written, training goes on, --out is saved, and the command exits 1.

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
	fl.StringVar(&opts.MemoryLimit, "memory-limit", "", "refuse configurations estimated to need more memory than this, e.g. 8GiB (default: what is available)")
	bindAugmentFlags(fl, &opts.AugmentOptions, "none", "deform the training images")
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

// paths checks every path of the run before any work (paths.go): no output may be an input, the
// key, a data file or another output (--out may be --resume), the periodic checkpoints may not take
// the name of another file given, and the outputs are locked until release.
func (opts *TrainOptions) paths() (fs *files, release func(), err error) {
	fs = &files{}
	out := fs.output("--out", opts.Out)
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
	if _, err := lookupDataset(opts.Dataset); err != nil {
		return err
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
	if err := applyPrecision(be, opts.Precision, opts.Device, io, opts.Quiet); err != nil {
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
	if steps := (train.N - hyper.ValSplit + hyper.BatchSize - 1) / hyper.BatchSize; m.EpochStep >= steps {
		return withCode(exitModel, fmt.Errorf("checkpoint: %s: %d steps into epoch %d, but an epoch has %d steps at batch size %d on this data",
			filepath.Base(opts.Resume), m.EpochStep, m.Epoch+1, steps, hyper.BatchSize), "")
	}
	owns := func(base string) bool {
		return base == filepath.Base(opts.Out) || isEpochName(opts.Out, base) || base == filepath.Base(bestPath(opts.Out))
	}
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
	exit := opts.Exit
	if exit == nil {
		exit = os.Exit
	}
	quit := func(code int) { release(); exit(code) } // os.Exit runs no deferred calls
	// The signal watcher writes from its own goroutine: one writer, one line at a time.
	errw := &lockedWriter{w: io.Err}
	sig := watchSignals(opts.Signals, quit, cancel, errw, opts.Out, nil)
	defer sig.stop()

	disp := &display{w: errw, quiet: opts.Quiet, showLR: hyper.Schedule.Kind != schedule.Constant || hyper.Schedule.Warmup > 0}
	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper, Robust: robust}
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
			if err := checkpoint.Save(p, opts.checkpointOf(m, hyper, r.TestAccuracy), key); err != nil {
				side(err)
				return nil
			}
			lastSaved = p
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
	if tr.GraphErr != nil && !opts.Quiet {
		fmt.Fprintf(errw, "dltrain: could not record the step as a CUDA graph (%v); used plain launches\n", tr.GraphErr)
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
	if tr.StoppedEarly {
		fmt.Fprintf(io.Out, "stopped early after epoch %d: validation accuracy has not improved for %d epochs (best: epoch %d, %.2f%%)\n",
			last.Epoch, hyper.Patience, m.Best.Epoch, 100*m.Best.Accuracy)
	}
	if sideErr != nil {
		return withCode(exitError, errors.New(after(fmt.Sprintf("model written to %s after %d %s", opts.Out, last.Epoch, epochs))), "")
	}
	fmt.Fprintf(io.Out, "test accuracy %.2f%% after %d %s (%.1fs); model written to %s\n",
		100*last.TestAccuracy, last.Epoch, epochs, time.Since(start).Seconds(), printable(opts.Out))
	if opts.SaveBest && m.Best.Epoch > 0 {
		fmt.Fprintf(io.Out, "best validation accuracy %.2f%% at epoch %d; that model is in %s\n", 100*m.Best.Accuracy, m.Best.Epoch, printable(bestPath(opts.Out)))
	}
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
