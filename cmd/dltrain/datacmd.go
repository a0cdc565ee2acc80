// datacmd.go is 'dltrain data' and its verb 'data sample': test images of a data set written as PNG
// files, with their class in the file names, to try 'dltrain predict' on. It never overwrites a file.
// It does not fetch data ('make data' does) and does not convert whole sets. The other verb, 'data
// preview' (augmentation), is in datapreview.go.

package main

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// NewCmdData builds 'dltrain data', the parent of the data verbs.
func NewCmdData(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Work with the data sets: write sample images, preview augmentation",
		Long: `Work with the data sets (mnist, fashion-mnist, idx). 'dltrain data sample' writes test images as
PNG files to try 'dltrain predict' on; 'dltrain data preview' draws training images beside the
deformations --augment gives them. The data itself comes from 'make data' (see 'dltrain --help').`,
		Example: `  dltrain data sample -n 10 -o digits/
  dltrain data preview --augment elastic -n 64 -o grid.png`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitErr{code: exitUsage, err: fmt.Errorf("unknown command %q for 'dltrain data'", args[0]), hint: "see 'dltrain data --help'"}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(NewCmdDataSample(f, nil), NewCmdDataPreview(f, nil))
	return cmd
}

// DataSampleOptions are the inputs of 'dltrain data sample'.
type DataSampleOptions struct {
	IO       *IO
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)

	Dataset string
	Data    string
	N       int
	Start   int
	Out     string
	JSON    bool
	Quiet   bool
}

// NewCmdDataSample builds 'dltrain data sample'.
func NewCmdDataSample(f *Factory, runF func(*DataSampleOptions) error) *cobra.Command {
	opts := &DataSampleOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "sample -o DIR",
		Short: "Write test images as PNG files named by their class",
		Long: `Write -n test images of the data set, from index --start on, as 28x28 grayscale PNG files into
the directory -o (created if missing), light on dark as the data set stores them, which is what
'dltrain predict' reads best.

Each file is named INDEX-CLASS.png: INDEX is the image's place in the test set, zero-padded
(four digits for the 10,000 test images), and CLASS is its label: "label" and the digit for MNIST
and idx (0000-label7.png), the class name in lower case with '-' for anything but letters and digits
for Fashion-MNIST (0000-ankle-boot.png, 0001-pullover.png, 0004-t-shirt-top.png).

Existing files are never overwritten: if any of the names is taken, nothing is written.

--json prints {dir, dataset, files} instead of the lines that name the files written.`,
		Example: `  dltrain data sample -n 10 -o digits/
  dltrain predict model.bin digits/*.png
  dltrain data sample --dataset fashion-mnist -n 20 --start 100 -o clothes/`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return dataSampleRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Dataset, "dataset", mnist.DefaultDataset, datasetHelp)
	fl.StringVar(&opts.Data, "data", "", dataHelp)
	fl.IntVarP(&opts.N, "number", "n", 10, "how many images")
	fl.IntVar(&opts.Start, "start", 0, "index of the first test image")
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputHelp: "directory to write into (required; created if missing)", JSON: &opts.JSON, Quiet: &opts.Quiet})
	enumFlag(cmd, "dataset", mnist.Names()...)
	dirFlag(cmd, "data")
	dirFlag(cmd, "output")
	return cmd
}

// sampleName is the file name of test image i of a set of n with label y: "0003-label7.png" for digit
// classes, "0003-sandal.png" for named ones.
func sampleName(ds mnist.Dataset, i, n int, y uint8) string {
	width := max(4, len(strconv.Itoa(n-1)))
	class := ds.Classes[y]
	if _, err := strconv.Atoi(class); err == nil {
		class = "label" + class
	} else {
		class = strings.Trim(strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				return r
			case r >= 'A' && r <= 'Z':
				return r + 'a' - 'A'
			}
			return '-'
		}, class), "-")
		for strings.Contains(class, "--") {
			class = strings.ReplaceAll(class, "--", "-")
		}
	}
	return fmt.Sprintf("%0*d-%s.png", width, i, class)
}

func dataSampleRun(opts *DataSampleOptions) error {
	if opts.Out == "" {
		return usageErr("data sample needs -o DIR")
	}
	if opts.N < 1 || opts.Start < 0 {
		return usageErr("-n must be 1 or more and --start 0 or more")
	}
	ds, err := lookupDataset(opts.Dataset)
	if err != nil {
		return err
	}
	if st, err := os.Stat(opts.Out); err == nil && !st.IsDir() {
		return usageErr("-o %s is not a directory", opts.Out)
	}
	_, test, err := opts.LoadData(ds, opts.Data)
	if err != nil {
		return err
	}
	if opts.Start+opts.N > test.N {
		return usageErr("the %s test set has %d images; --start %d -n %d asks for images up to %d", ds.Title, test.N, opts.Start, opts.N, opts.Start+opts.N-1)
	}
	names := make([]string, opts.N)
	for k := range names {
		i := opts.Start + k
		names[k] = sampleName(ds, i, test.N, test.Labels[i])
		p := filepath.Join(opts.Out, names[k])
		if _, err := os.Lstat(p); err == nil {
			return withCode(exitError, fmt.Errorf("data sample: %s already exists; nothing was written", p), "give another -o directory, or another --start")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return withCode(exitError, fmt.Errorf("data sample: %s: %w", p, safefile.Cause(err)), "")
		}
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return withCode(exitError, fmt.Errorf("data sample: %w", err), "")
	}
	for k, name := range names {
		i := opts.Start + k
		img := &image.Gray{Pix: test.Images[i*mnist.Pixels : (i+1)*mnist.Pixels], Stride: 28, Rect: image.Rect(0, 0, 28, 28)}
		if err := writeNewPNG(filepath.Join(opts.Out, name), img); err != nil {
			return withCode(exitError, fmt.Errorf("data sample: %w (%d of %d files written)", err, k, len(names)), "")
		}
	}
	if opts.JSON {
		return printJSON(opts.IO, object{{"dir", opts.Out}, {"dataset", ds.Name}, {"files", names}})
	}
	if opts.Quiet {
		return nil
	}
	out := opts.IO.Out
	what := "images"
	if opts.N == 1 {
		what = "image"
	}
	fmt.Fprintf(out, "wrote %d %s test %s to %s:", opts.N, ds.Title, what, printable(opts.Out))
	if len(names) <= 12 {
		fmt.Fprintf(out, " %s\n", strings.Join(names, " "))
	} else {
		fmt.Fprintf(out, " %s … %s\n", strings.Join(names[:3], " "), names[len(names)-1])
	}
	fmt.Fprintf(out, "try them: dltrain predict MODEL %s\n", printable(filepath.Join(opts.Out, "*.png")))
	return nil
}

// writeNewPNG creates path, which must not exist (O_EXCL: a file that appeared since the check is not
// overwritten either), and writes img to it as PNG; on failure the partial file is removed.
func writeNewPNG(path string, img image.Image) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = png.Encode(fh, img)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
