package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// EvalOptions are the inputs of 'dltrain eval'.
type EvalOptions struct {
	IO       *IO
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)

	Model         string
	KeyFile       string
	Dataset       string
	AllowMismatch bool
	Data          string
	Device        string
	Precision     string
	JSON          bool
	Quiet         bool
	Threads       int
	ConfusionPNG  string
	ErrorsPNG     string
	ErrorsMax     int
}

// NewCmdEval builds 'dltrain eval'.
func NewCmdEval(f *Factory, runF func(*EvalOptions) error) *cobra.Command {
	opts := &EvalOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "eval [MODEL]",
		Short: "Evaluate a checkpoint on its data set's test images",
		Long: `Evaluate a checkpoint (MODEL, default model.bin) on the test images of the data set it was trained
on (MNIST's 10,000 unless the checkpoint says otherwise): accuracy, mean loss, each class's
precision, recall (its accuracy) and F1 with their unweighted means, and the 10x10 confusion matrix
(rows are the true class, columns the prediction). A ratio with nothing to divide (precision of a
class never predicted) is 0. --dataset names the set explicitly; one other than the model's is
refused unless --allow-dataset-mismatch is given.

--json prints one object with the keys accuracy, loss, per_class_accuracy, confusion, n, model,
arch, dataset, classes (the ten class names), per_class_precision, per_class_recall (the same as
per_class_accuracy), per_class_f1, per_class_support (test images of each class), macro_precision,
macro_recall and macro_f1; a value that is not finite (a loss of +Inf from a model whose logits
overflow) is written as null.

--confusion-png FILE draws the confusion matrix as a heat map with the counts written in the cells.
--errors-png FILE draws the misclassified test images (the first --errors-max of them, in test-set
order) with their true and predicted class. Both are written atomically, and never over the model.`,
		Example: `  dltrain eval model.bin
  dltrain eval model.bin --json | jq .accuracy
  dltrain eval model.bin --confusion-png cm.png --errors-png wrong.png
  dltrain eval fashion.bin                      # a Fashion-MNIST model: its test set, its class names`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = modelArg(args)
			if runF != nil {
				return runF(opts)
			}
			return evalRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	fl.StringVar(&opts.Data, "data", "", dataHelp)
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet, Device: &opts.Device, Threads: &opts.Threads})
	fl.StringVar(&opts.Precision, "precision", "fp32", precisionHelp)
	fl.StringVar(&opts.ConfusionPNG, "confusion-png", "", "also draw the confusion matrix into this PNG file")
	fl.StringVar(&opts.ErrorsPNG, "errors-png", "", "also draw the misclassified test images into this PNG file")
	fl.IntVar(&opts.ErrorsMax, "errors-max", 64, fmt.Sprintf("most images --errors-png draws (1..%d)", maxErrorTiles))
	enumFlag(cmd, "dataset", mnist.Names()...)
	enumFlag(cmd, "precision", "fp32", "tf32")
	dirFlag(cmd, "data")
	fileFlag(cmd, "key-file")
	fileFlag(cmd, "confusion-png", "png")
	fileFlag(cmd, "errors-png", "png")
	return cmd
}

// evalJSON is the stable --json format: it grows only by new keys.
type evalJSON struct {
	Accuracy         float64                       `json:"accuracy"`
	Loss             float64                       `json:"loss"`
	PerClassAccuracy [ops.Classes]float64          `json:"per_class_accuracy"` // = per_class_recall
	Confusion        [ops.Classes][ops.Classes]int `json:"confusion"`
	N                int                           `json:"n"`
	Model            string                        `json:"model"`
	Arch             string                        `json:"arch"`
	Dataset          string                        `json:"dataset"`
	Classes          [ops.Classes]string           `json:"classes"`

	PerClassPrecision [ops.Classes]float64 `json:"per_class_precision"`
	PerClassRecall    [ops.Classes]float64 `json:"per_class_recall"`
	PerClassF1        [ops.Classes]float64 `json:"per_class_f1"`
	PerClassSupport   [ops.Classes]int     `json:"per_class_support"` // test images of each true class
	MacroPrecision    float64              `json:"macro_precision"`
	MacroRecall       float64              `json:"macro_recall"`
	MacroF1           float64              `json:"macro_f1"`
}

// classScores are the per-class precision, recall and F1 of a confusion matrix ([true][predicted]),
// with each class's support (its number of true samples) and the unweighted means over the classes
// that occur as a true or a predicted label (the macro averages of scikit-learn's
// classification_report, whose labels are those of y_true and y_pred). A ratio with nothing to divide (a
// class never predicted, or absent from the data) is 0, as scikit-learn's zero_division=0 gives it.
type classScores struct {
	Precision, Recall, F1                [ops.Classes]float64
	Support                              [ops.Classes]int
	MacroPrecision, MacroRecall, MacroF1 float64
}

func scores(conf [ops.Classes][ops.Classes]int) classScores {
	var s classScores
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	seen := 0
	for c := range ops.Classes {
		predicted := 0
		for r := range ops.Classes {
			s.Support[c] += conf[c][r]
			predicted += conf[r][c]
		}
		p, r := ratio(conf[c][c], predicted), ratio(conf[c][c], s.Support[c])
		s.Precision[c], s.Recall[c] = p, r
		if p+r > 0 {
			s.F1[c] = 2 * p * r / (p + r)
		}
		if s.Support[c] > 0 || predicted > 0 {
			seen++
			s.MacroPrecision += p
			s.MacroRecall += r
			s.MacroF1 += s.F1[c]
		}
	}
	if seen > 0 {
		s.MacroPrecision /= float64(seen)
		s.MacroRecall /= float64(seen)
		s.MacroF1 /= float64(seen)
	}
	return s
}

func evalRun(opts *EvalOptions) error {
	pictures := opts.ConfusionPNG != "" || opts.ErrorsPNG != ""
	if opts.ErrorsMax < 1 || opts.ErrorsMax > maxErrorTiles {
		return usageErr("--errors-max %d: want 1..%d", opts.ErrorsMax, maxErrorTiles)
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	if opts.ConfusionPNG != "" {
		fs.picture("--confusion-png", opts.ConfusionPNG)
	}
	if opts.ErrorsPNG != "" {
		fs.picture("--errors-png", opts.ErrorsPNG)
	}
	if err := fs.check(nil); err != nil {
		return err
	}
	ck, ds, be, test, err := testRun{verb: "eval", io: opts.IO, quiet: opts.Quiet, loadData: opts.LoadData,
		model: opts.Model, keyFile: opts.KeyFile, dataset: opts.Dataset, allowMismatch: opts.AllowMismatch,
		data: opts.Data, device: opts.Device, precision: opts.Precision}.open()
	if err != nil {
		return err
	}
	var ev model.Eval
	var pred []uint8
	if pictures {
		ev, pred, err = model.Classify(be, ck.Model, test)
	} else {
		ev, err = model.Evaluate(be, ck.Model, test)
	}
	if err != nil {
		return err
	}
	notes, err := evalPictures(opts, ck, ds, ev, test, pred)
	if err != nil {
		return err
	}
	out := opts.IO.Out
	sc := scores(ev.Confusion)
	if opts.JSON {
		return printJSON(opts.IO, evalJSON{Accuracy: ev.Accuracy, Loss: ev.Loss, PerClassAccuracy: ev.PerClass,
			Confusion: ev.Confusion, N: ev.N, Model: opts.Model, Arch: ck.Config.Arch(), Dataset: ds.Name, Classes: ds.Classes,
			PerClassPrecision: sc.Precision, PerClassRecall: sc.Recall, PerClassF1: sc.F1, PerClassSupport: sc.Support,
			MacroPrecision: sc.MacroPrecision, MacroRecall: sc.MacroRecall, MacroF1: sc.MacroF1})
	}
	fmt.Fprintf(out, "model     %s (%s %s/%s, epoch %d)\n", printable(opts.Model), ck.Config.Arch(), ck.Config.Activation, ck.Config.Loss, ck.Epoch)
	if ds.Name != mnist.DefaultDataset {
		fmt.Fprintf(out, "data      %s test set\n", ds.Title)
	}
	fmt.Fprintf(out, "accuracy  %.2f%% (%d/%d)\n", 100*ev.Accuracy, correct(ev), ev.N)
	fmt.Fprintf(out, "loss      %.4f\n\n", ev.Loss)
	// With named classes (Fashion-MNIST) each row also carries its class's name; the confusion
	// matrix's columns keep the index, which the rows' names explain. Both tables fit 80 columns.
	name, nameW := func(int) string { return "" }, 0
	if namedClasses(ds) {
		for _, c := range ds.Classes {
			nameW = max(nameW, utf8.RuneCountInString(c)+1)
		}
		name = func(c int) string { return fmt.Sprintf(" %-*s", nameW-1, ds.Classes[c]) }
	}
	fmt.Fprintf(out, "class%*s  precision   recall       f1  support   (recall is the class's accuracy)\n", nameW, "")
	for c := range ops.Classes {
		fmt.Fprintf(out, "%5d%s  %8.2f%%  %6.2f%%  %6.2f%%  %7d\n", c, name(c), 100*sc.Precision[c], 100*sc.Recall[c], 100*sc.F1[c], sc.Support[c])
	}
	fmt.Fprintf(out, "%-5s%*s  %8.2f%%  %6.2f%%  %6.2f%%  %7d   (unweighted mean over the classes present)\n\n", "macro", nameW, "",
		100*sc.MacroPrecision, 100*sc.MacroRecall, 100*sc.MacroF1, ev.N)
	fmt.Fprintf(out, "confusion (rows: true class, columns: predicted)\n")
	var hdr strings.Builder
	for c := range ops.Classes {
		fmt.Fprintf(&hdr, "%6d", c)
	}
	fmt.Fprintf(out, "%*s%s\n", 5+nameW, "", hdr.String())
	for c := range ops.Classes {
		fmt.Fprintf(out, "%5d%s", c, name(c))
		for _, k := range ev.Confusion[c] {
			fmt.Fprintf(out, "%6d", k)
		}
		fmt.Fprintln(out)
	}
	if len(notes) > 0 {
		fmt.Fprintln(out)
	}
	for _, n := range notes {
		fmt.Fprintln(out, n)
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
