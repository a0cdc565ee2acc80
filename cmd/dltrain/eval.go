package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// EvalOptions are the inputs of 'dltrain eval'.
type EvalOptions struct {
	IO       *IO
	LoadData func(dir string) (train, test *mnist.Set, err error)

	Model   string
	KeyFile string
	Data    string
	Device  string
	JSON    bool
}

// NewCmdEval builds 'dltrain eval'.
func NewCmdEval(f *Factory, runF func(*EvalOptions) error) *cobra.Command {
	opts := &EvalOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "eval MODEL",
		Short: "Evaluate a checkpoint on the MNIST test set",
		Long: `Evaluate a checkpoint on the 10,000 MNIST test images: accuracy, mean loss, per-class
accuracy and the 10x10 confusion matrix (rows are the true class, columns the prediction).

--json prints one object with the keys accuracy, loss, per_class_accuracy and confusion; a value
that is not finite (a loss of +Inf from a model whose logits overflow) is written as null.`,
		Example: `  dltrain eval model.bin
  dltrain eval model.bin --json | jq .accuracy`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			if runF != nil {
				return runF(opts)
			}
			return evalRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	fl.StringVar(&opts.Data, "data", "", "MNIST directory (default $DLTRAIN_DATA, else ./data)")
	fl.StringVar(&opts.Device, "device", "cpu", "cpu, cuda, or auto")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

// evalJSON is the stable --json format.
type evalJSON struct {
	Accuracy         float64                       `json:"accuracy"`
	Loss             float64                       `json:"loss"`
	PerClassAccuracy [ops.Classes]float64          `json:"per_class_accuracy"`
	Confusion        [ops.Classes][ops.Classes]int `json:"confusion"`
	N                int                           `json:"n"`
	Model            string                        `json:"model"`
	Arch             string                        `json:"arch"`
}

func evalRun(opts *EvalOptions) error {
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	if err := fs.check(nil); err != nil {
		return err
	}
	ck, err := loadModel("eval", opts.Model, opts.KeyFile)
	if err != nil {
		return err
	}
	be, err := pickBackend(opts.Device, opts.IO, opts.JSON)
	if err != nil {
		return err
	}
	_, test, err := opts.LoadData(opts.Data)
	if err != nil {
		return err
	}
	ev, err := model.Evaluate(be, ck.Model, test)
	if err != nil {
		return err
	}
	out := opts.IO.Out
	if opts.JSON {
		return printJSON(opts.IO, evalJSON{Accuracy: ev.Accuracy, Loss: ev.Loss, PerClassAccuracy: ev.PerClass,
			Confusion: ev.Confusion, N: ev.N, Model: opts.Model, Arch: ck.Config.Arch()})
	}
	fmt.Fprintf(out, "model     %s (%s %s/%s, epoch %d)\n", printable(opts.Model), ck.Config.Arch(), ck.Config.Activation, ck.Config.Loss, ck.Epoch)
	fmt.Fprintf(out, "accuracy  %.2f%% (%d/%d)\n", 100*ev.Accuracy, correct(ev), ev.N)
	fmt.Fprintf(out, "loss      %.4f\n\n", ev.Loss)
	fmt.Fprintln(out, "class  accuracy   confusion (rows: true class, columns: predicted)")
	var hdr strings.Builder
	for c := range ops.Classes {
		fmt.Fprintf(&hdr, "%6d", c)
	}
	fmt.Fprintf(out, "%18s%s\n", "", hdr.String())
	for c := range ops.Classes {
		fmt.Fprintf(out, "%5d  %7.2f%%  ", c, 100*ev.PerClass[c])
		for _, k := range ev.Confusion[c] {
			fmt.Fprintf(out, "%6d", k)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func correct(ev model.Eval) int {
	n := 0
	for c := range ops.Classes {
		n += ev.Confusion[c][c]
	}
	return n
}
