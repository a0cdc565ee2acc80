package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/filekind"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/safefile"
)

// PredictOptions are the inputs of 'dltrain predict'.
type PredictOptions struct {
	IO *IO

	Model         string
	Images        []string
	Invert        string
	JSON          bool
	Quiet         bool
	Device        string
	Threads       int
	KeyFile       string
	Dataset       string
	AllowMismatch bool

	implicitModel bool // MODEL was not given: the first file is an image, and model.bin is used
}

// NewCmdPredict builds 'dltrain predict'.
func NewCmdPredict(f *Factory, runF func(*PredictOptions) error) *cobra.Command {
	opts := &PredictOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "predict [MODEL] IMAGE...",
		Short: "Classify digits (or clothes, for a Fashion-MNIST model) in PNG, JPEG or GIF images",
		Long: `Classify each image with MODEL, or with model.bin when the first file is an image. Each
is converted to grayscale and, since MNIST's images are light on dark, inverted when its border is
light (--invert auto). A 28x28 image is then used as it is; any other is prepared as the model's
data set was: for digits (MNIST, idx), cropped to the ink, scaled to 20 pixels on its longer side
and centred by its centre of mass in a 28x28 frame; for Fashion-MNIST's clothes, cropped, scaled
to fill the 28x28 frame on its longer side and centred. Prints the predicted class and the top-3
probabilities per image; 'dltrain data sample' writes test images to try.

The class names are those of the data set the model was trained on (Fashion-MNIST's T-shirt/top,
Trouser, ... for a Fashion-MNIST model). --dataset names the set; one other than the model's is
refused unless --allow-dataset-mismatch is given.

An image is composited over white (a drawing saved with a transparent background reads as it
looks), and a JPEG is turned as its EXIF orientation says. An image with no ink (one gray level
throughout) gets a warning: its prediction means nothing.

Every image is classified even when others cannot be read: each one that cannot is reported on
stderr (in --json as an entry with the keys file and error), and the command then exits 3.

--json prints an array of objects with the keys file, digit (the class index), class (its name),
inverted, blank (only when true) and top3 (digit, class, probability); a probability that is not a
number is written as null.`,
		Example: `  dltrain data sample -n 10 -o digits/ && dltrain predict model.bin digits/*.png
  dltrain predict digits/*.png                  # with model.bin
  dltrain predict model.bin scans/*.jpg --json
  dltrain predict model.bin white-on-black.png --invert no`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model, opts.Images = args[0], args[1:]
			if isImage(args[0]) && !slices.ContainsFunc(args[1:], isCheckpoint) { // (a model after an image: swapped arguments, said so below)
				opts.Model, opts.Images, opts.implicitModel = "model.bin", args, true
			}
			if len(opts.Images) == 0 {
				return &exitErr{code: exitUsage, err: fmt.Errorf("predict needs at least one IMAGE after the model %s", printable(opts.Model)),
					hint: "usage: " + cmd.UseLine() + "; 'dltrain data sample -n 10 -o digits/' writes test images to try"}
			}
			if runF != nil {
				return runF(opts)
			}
			return predictRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Invert, "invert", "auto", "invert gray levels: auto, yes or no")
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet, Device: &opts.Device, Threads: &opts.Threads})
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
	enumFlag(cmd, "invert", "auto", "yes", "no")
	enumFlag(cmd, "dataset", mnist.Names()...)
	fileFlag(cmd, "key-file")
	return cmd
}

type guess struct {
	Digit       int     `json:"digit"`
	Class       string  `json:"class"`
	Probability float64 `json:"probability"`
}

type prediction struct {
	File     string  `json:"file"`
	Digit    int     `json:"digit"`
	Class    string  `json:"class"`
	Inverted bool    `json:"inverted"`
	Blank    bool    `json:"blank,omitempty"` // no ink found: the digit means nothing
	Top3     []guess `json:"top3"`
}

// predictionError is --json's entry for an image that could not be read.
type predictionError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// isImage reports whether path is a PNG, JPEG or GIF by its first bytes (false when it cannot be read).
func isImage(path string) bool {
	switch kindOf(path) {
	case filekind.PNG, filekind.JPEG, filekind.GIF:
		return true
	}
	return false
}

// isCheckpoint reports whether path is a dltrain checkpoint, plain or encrypted, by its first bytes.
func isCheckpoint(path string) bool {
	k := kindOf(path)
	return k == filekind.Checkpoint || k == filekind.Encrypted
}

// notImage says what a file that is not an image is, from its first bytes.
func notImage(f *os.File) error {
	head := make([]byte, filekind.Head)
	n, _ := f.ReadAt(head, 0)
	switch k := filekind.Detect(head[:n]); k {
	case filekind.Unrecognized, filekind.PNG, filekind.JPEG, filekind.GIF:
		return mnist.ErrNotImage
	case filekind.Checkpoint, filekind.Encrypted:
		return fmt.Errorf("%w: it is %s (predict wants the model first: dltrain predict MODEL IMAGE...)", mnist.ErrNotImage, k)
	default:
		return fmt.Errorf("%w: it is %s", mnist.ErrNotImage, k)
	}
}

// readImage prepares one input image as the data set's images were prepared (framing).
func readImage(path string, mode mnist.Invert, framing mnist.Framing) (mnist.Digit, error) {
	fh, _, err := safefile.OpenRegular(path)
	if err != nil {
		return mnist.Digit{}, safefile.Cause(err)
	}
	defer fh.Close()
	d, err := mnist.PrepareFramed(fh, mode, framing)
	if errors.Is(err, mnist.ErrNotImage) {
		err = notImage(fh)
	}
	return d, err
}

func predictRun(opts *PredictOptions) error {
	mode, err := mnist.ParseInvert(opts.Invert)
	if err != nil {
		return usageErr("--invert: %v", err)
	}
	if _, err := os.Stat(opts.Model); opts.implicitModel && errors.Is(err, fs.ErrNotExist) {
		return &exitErr{code: exitModel, err: errors.New("no MODEL given, and model.bin does not exist"),
			hint: "name the model first: dltrain predict MODEL IMAGE... (without it, predict uses model.bin)"}
	}
	paths := &files{}
	paths.input("MODEL", opts.Model, exitModel)
	addKey(paths, opts.KeyFile)
	if err := paths.check(nil); err != nil {
		return err
	}
	ck, err := loadModel("predict", opts.Model, opts.KeyFile)
	if err != nil {
		return err
	}
	ds, err := modelDataset(opts.IO, opts.Quiet, ck, opts.Model, opts.Dataset, opts.AllowMismatch)
	if err != nil {
		return err
	}
	be, devNote, err := pickBackend(opts.Device)
	if err != nil {
		return err
	}
	// Every image is read; one that cannot be is reported and the others are still classified.
	pix := make([]uint8, 0, len(opts.Images)*mnist.Pixels)
	digits := make([]mnist.Digit, len(opts.Images))
	failed := make([]error, len(opts.Images))
	nbad := 0
	for i, path := range opts.Images {
		d, err := readImage(path, mode, ds.Framing)
		if err != nil {
			failed[i] = err
			nbad++
			if !opts.JSON && len(opts.Images) > 1 { // a single image's error is the command's
				fmt.Fprintf(opts.IO.Err, "dltrain: %s: %s\n", printable(path), escapeControls(userMessage(err.Error())))
			}
			continue
		}
		if d.Blank {
			fmt.Fprintf(opts.IO.Err, "dltrain: warning: %s: no ink found (the image is one gray level); its prediction means nothing\n", printable(path))
		}
		pix = append(pix, d.Pix...)
		digits[i] = d
	}
	if devNote != "" && nbad < len(opts.Images) {
		note(opts.IO, opts.Quiet, "%s", devNote)
	}
	var logits []float32
	if good := len(opts.Images) - nbad; good > 0 {
		if logits, err = model.Predict(be, ck.Model, pix, good); err != nil {
			return err
		}
	}
	var entries []any // prediction or predictionError, in the order of the files
	var preds []prediction
	k := 0
	for i, path := range opts.Images {
		if failed[i] != nil {
			entries = append(entries, predictionError{File: path, Error: userMessage(failed[i].Error())})
			continue
		}
		probs := softmax(logits[k*ops.Classes : (k+1)*ops.Classes])
		k++
		order := make([]int, ops.Classes)
		for d := range order {
			order[d] = d
		}
		sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
		p := prediction{File: path, Digit: order[0], Class: ds.Classes[order[0]], Inverted: digits[i].Inverted, Blank: digits[i].Blank}
		for _, d := range order[:3] {
			p.Top3 = append(p.Top3, guess{Digit: d, Class: ds.Classes[d], Probability: probs[d]})
		}
		preds = append(preds, p)
		entries = append(entries, p)
	}
	out := opts.IO.Out
	if opts.JSON {
		if err := printJSON(opts.IO, entries); err != nil {
			return err
		}
	} else {
		for _, p := range preds {
			inv := ""
			if p.Inverted {
				inv = "  (inverted)"
			}
			if p.Blank {
				inv += "  (blank: no ink)"
			}
			// A digit set prints "7", a set with named classes "7 Sneaker" for the answer and the
			// name alone in the top 3.
			fmt.Fprintf(out, "%s: %s   top 3: %s %.1f%%, %s %.1f%%, %s %.1f%%%s\n", printable(p.File), className(ds, p.Digit),
				p.Top3[0].Class, 100*p.Top3[0].Probability, p.Top3[1].Class, 100*p.Top3[1].Probability,
				p.Top3[2].Class, 100*p.Top3[2].Probability, inv)
		}
	}
	if nbad > 0 {
		what := fmt.Sprintf("%d of %d images could not be read", nbad, len(opts.Images))
		if nbad == 1 && len(opts.Images) == 1 {
			return withCode(exitData, fmt.Errorf("%s: %s", printable(opts.Images[0]), userMessage(failed[0].Error())), "")
		}
		if opts.JSON {
			what += " (their entries hold the error)"
		} else {
			what += " (named above); the others were classified"
		}
		return withCode(exitData, errors.New(what), "")
	}
	return nil
}

// softmax of one row of logits, in float64. Logits of +Inf share the probability equally; a NaN
// logit makes every probability NaN (written as null by --json).
func softmax(z []float32) []float64 {
	m := float64(z[0])
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(z))
	if math.IsInf(m, 1) {
		n := 0.0
		for _, v := range z {
			if math.IsInf(float64(v), 1) {
				n++
			}
		}
		for i, v := range z {
			if math.IsInf(float64(v), 1) {
				p[i] = 1 / n
			}
		}
		return p
	}
	s := 0.0
	for i, v := range z {
		p[i] = math.Exp(float64(v) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}
