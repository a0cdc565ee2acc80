package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
)

// TrainOptions are the inputs of 'dltrain train'.
type TrainOptions struct {
	IO *IO
	// LoadData reads the training and test sets; tests inject a small subset.
	LoadData func(dir string) (train, test *mnist.Set, err error)
	Context  context.Context

	Epochs     int
	BatchSize  int
	LR         float64
	Momentum   float64
	Hidden     string
	Activation string
	Loss       string
	Seed       uint64
	Data       string
	Out        string
	Device     string
	Metrics    string
	Quiet      bool
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

--metrics FILE writes one JSON object per epoch, with the keys epoch, train_loss, train_accuracy,
test_loss, test_accuracy (fractions in 0..1), seconds and samples_per_second.`,
		Example: `  # the classic MNIST MLP, 10 epochs on the CPU
  dltrain train --epochs 10

  # a deeper tanh net, with per-epoch metrics
  dltrain train --hidden 512,256 --activation tanh --epochs 5 --metrics run.jsonl

  # MSE on one-hot targets, data from another directory
  dltrain train --loss mse --lr 0.1 --data /srv/mnist --out mse.bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Context = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return trainRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Epochs, "epochs", 10, "number of epochs")
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
	fl.StringVar(&opts.Metrics, "metrics", "", "write per-epoch metrics as JSON lines to this file")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the final summary")
	return cmd
}

func trainRun(opts *TrainOptions) error {
	io := opts.IO
	hidden, err := model.ParseHidden(opts.Hidden)
	if err != nil {
		return usageErr("--hidden: %v", err)
	}
	act, err := model.ParseActivation(opts.Activation)
	if err != nil {
		return usageErr("--activation: %v", err)
	}
	loss, err := model.ParseLoss(opts.Loss)
	if err != nil {
		return usageErr("--loss: %v", err)
	}
	hyper := model.Hyper{Epochs: opts.Epochs, BatchSize: opts.BatchSize, LR: float32(opts.LR), Momentum: float32(opts.Momentum)}
	if err := hyper.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if opts.Out == "" {
		return usageErr("--out must name a file")
	}
	be, err := pickBackend(opts.Device, io)
	if err != nil {
		return err
	}
	m, err := model.New(model.NewConfig(hidden, act, loss), opts.Seed)
	if err != nil {
		return usageErr("%v", err)
	}
	train, test, err := opts.LoadData(opts.Data)
	if err != nil {
		return err
	}

	var metrics *os.File
	if opts.Metrics != "" {
		metrics, err = os.Create(opts.Metrics)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metrics.Close()
	}

	if !opts.Quiet {
		fmt.Fprintf(io.Err, "training %s %s/%s on %s: %d train, %d test images, batch %d, lr %g, momentum %g\n",
			m.Config.Arch(), act, loss, be.Name(), train.N, test.N, hyper.BatchSize, opts.LR, opts.Momentum)
	}
	var bar *progressbar.ProgressBar
	tr := &model.Trainer{Backend: be, Model: m, Hyper: hyper}
	if !opts.Quiet && io.ErrIsTerminal {
		tr.OnProgress = func(p model.Progress) {
			if bar == nil {
				bar = progressbar.NewOptions(p.Total,
					progressbar.OptionSetWriter(io.Err),
					progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", p.Epoch, p.Epochs)),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
			}
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.2f%% %.0f samples/s",
				p.Epoch, p.Epochs, p.Loss, 100*p.Accuracy, p.SamplesPerSecond))
			bar.Set(p.Done)
		}
	}
	var last model.EpochResult
	start := time.Now()
	tr.OnEpoch = func(r model.EpochResult) error {
		if bar != nil {
			bar.Finish()
			bar = nil
		}
		last = r
		if !opts.Quiet {
			fmt.Fprintf(io.Err, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.2fs  %.0f samples/s\n",
				r.Epoch, hyper.Epochs, r.TrainLoss, 100*r.TrainAccuracy, r.TestLoss, 100*r.TestAccuracy, r.Seconds, r.SamplesPerSecond)
		}
		if metrics != nil {
			b, _ := json.Marshal(r)
			if _, err := metrics.Write(append(b, '\n')); err != nil {
				return fmt.Errorf("--metrics: %w", err)
			}
		}
		return nil
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if err := tr.Run(ctx, train, test); err != nil {
		var div *model.DivergedError
		if errors.As(err, &div) {
			return withCode(exitDiverged, err, "lower --lr; nothing was saved")
		}
		return err
	}
	ck := model.Checkpoint{Model: m, Meta: model.Meta{Hyper: hyper, TestAccuracy: last.TestAccuracy}}
	if err := model.Save(opts.Out, ck); err != nil {
		return withCode(exitModel, err, "")
	}
	fmt.Fprintf(io.Out, "test accuracy %.2f%% after %d epochs (%.1fs); model written to %s\n",
		100*last.TestAccuracy, last.Epoch, time.Since(start).Seconds(), opts.Out)
	return nil
}
