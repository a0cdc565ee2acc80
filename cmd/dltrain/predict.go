package main

import (
	"errors"
	"fmt"
	"math"
	"os"
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
	Device        string
	KeyFile       string
	Dataset       string
	AllowMismatch bool
}

// NewCmdPredict builds 'dltrain predict'.
func NewCmdPredict(f *Factory, runF func(*PredictOptions) error) *cobra.Command {
	opts := &PredictOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "predict MODEL IMAGE...",
		Short: "Classify digits (or clothes, for a Fashion-MNIST model) in PNG, JPEG or GIF images",
		Long: `Classify each image. It is converted to grayscale and, since MNIST digits are light on dark,
inverted when its border is light (--invert auto). A 28x28 image is then used as it is; any other is
prepared as MNIST's digits were: cropped to the ink, scaled to 20 pixels on its longer side and
centred by its centre of mass in a 28x28 frame. Prints the predicted class and the top-3
probabilities per image; 'dltrain data sample' writes test images to try.

The class names are those of the data set the model was trained on (Fashion-MNIST's T-shirt/top,
Trouser, ... for a Fashion-MNIST model). --dataset names the set; one other than the model's is
refused unless --allow-dataset-mismatch is given.

An image is composited over white (a drawing saved with a transparent background reads as it
looks), and a JPEG is turned as its EXIF orientation says. An image with no ink (one gray level
throughout) gets a warning: its prediction means nothing.

--json prints an array of objects with the keys file, digit (the class index), class (its name),
inverted, blank (only when true) and top3 (digit, class, probability); a probability that is not a
number is written as null.`,
		Example: `  dltrain predict model.bin my-digit.png
  dltrain data sample -n 10 -o digits/ && dltrain predict model.bin digits/*.png
  dltrain predict model.bin scans/*.jpg --json
  dltrain predict model.bin white-on-black.png --invert no`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model, opts.Images = args[0], args[1:]
			if runF != nil {
				return runF(opts)
			}
			return predictRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Invert, "invert", "auto", "invert gray levels: auto, yes or no")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	fl.StringVar(&opts.Device, "device", "cpu", "cpu, cuda, or auto")
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addModelDatasetFlags(cmd, &opts.Dataset, &opts.AllowMismatch)
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

// imageErr is a bad input image: a data-class error naming the file.
func imageErr(path string, err error) error {
	return withCode(exitData, fmt.Errorf("predict: %s: %w", path, err), "")
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

func predictRun(opts *PredictOptions) error {
	mode, err := mnist.ParseInvert(opts.Invert)
	if err != nil {
		return usageErr("--invert: %v", err)
	}
	fs := &files{}
	fs.input("MODEL", opts.Model, exitModel)
	addKey(fs, opts.KeyFile)
	for _, p := range opts.Images {
		fs.input("IMAGE", p, exitData)
	}
	if err := fs.check(nil); err != nil {
		return err
	}
	ck, err := loadModel("predict", opts.Model, opts.KeyFile)
	if err != nil {
		return err
	}
	ds, err := modelDataset(opts.IO, ck, opts.Model, opts.Dataset, opts.AllowMismatch)
	if err != nil {
		return err
	}
	be, err := pickBackend(opts.Device, opts.IO, opts.JSON)
	if err != nil {
		return err
	}
	pix := make([]uint8, 0, len(opts.Images)*mnist.Pixels)
	digits := make([]mnist.Digit, len(opts.Images))
	for i, path := range opts.Images {
		fh, _, err := safefile.OpenRegular(path)
		if err != nil {
			return imageErr(path, safefile.Cause(err))
		}
		d, err := mnist.Prepare(fh, mode)
		if errors.Is(err, mnist.ErrNotImage) {
			err = notImage(fh)
		}
		fh.Close()
		if err != nil {
			return imageErr(path, err)
		}
		if d.Blank {
			fmt.Fprintf(opts.IO.Err, "dltrain: warning: %s: no ink found (the image is one gray level); its prediction means nothing\n", printable(path))
		}
		pix = append(pix, d.Pix...)
		digits[i] = d
	}
	logits, err := model.Predict(be, ck.Model, pix, len(opts.Images))
	if err != nil {
		return err
	}
	var preds []prediction
	for i, path := range opts.Images {
		probs := softmax(logits[i*ops.Classes : (i+1)*ops.Classes])
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
	}
	out := opts.IO.Out
	if opts.JSON {
		return printJSON(opts.IO, preds)
	}
	for _, p := range preds {
		inv := ""
		if p.Inverted {
			inv = "  (inverted)"
		}
		if p.Blank {
			inv += "  (blank: no ink)"
		}
		// A digit set prints "7", a set with named classes "7 Sneaker" for the answer and the name
		// alone in the top 3.
		fmt.Fprintf(out, "%s: %s   top 3: %s %.1f%%, %s %.1f%%, %s %.1f%%%s\n", printable(p.File), className(ds, p.Digit),
			p.Top3[0].Class, 100*p.Top3[0].Probability, p.Top3[1].Class, 100*p.Top3[1].Probability,
			p.Top3[2].Class, 100*p.Top3[2].Probability, inv)
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
