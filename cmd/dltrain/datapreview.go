package main

// This file is 'dltrain data preview' (the verb of 'dltrain data', datacmd.go): a PNG grid of training
// images beside the deformations --augment gives them, drawn with internal/figure.Grid, so that a
// user can see what the augmentation flags do before training with them. It trains nothing and
// changes no data.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/figure"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// DataPreviewOptions are the inputs of 'dltrain data preview'.
type DataPreviewOptions struct {
	IO       *IO
	LoadData func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
	Set      func(name string) bool

	Dataset  string
	Data     string
	N        int
	Start    int
	Variants int
	Seed     uint64
	Out      string
	JSON     bool
	Quiet    bool
	Force    bool
	AugmentOptions
}

// Limits of preview's grid.
const (
	maxPreviewImages   = 256
	maxPreviewVariants = 15
	maxPreviewTiles    = 1024
)

// NewCmdDataPreview builds 'dltrain data preview'; runF, when not nil, replaces dataPreviewRun.
func NewCmdDataPreview(f *Factory, runF func(*DataPreviewOptions) error) *cobra.Command {
	opts := &DataPreviewOptions{IO: f.IO, LoadData: f.LoadData}
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Draw training images beside their random deformations (PNG)",
		Long: `Draw N training images, each followed by the deformations --augment gives it in epochs 1, 2, ...
(--variants of them), as a PNG grid: what 'dltrain train' with the same augmentation flags and
--seed feeds the net (without --val-split, which renumbers the images). The deformations are
computed exactly as in training (internal/augment) and shown before normalization, ink white.

` + augmentHelp + `

The file is written atomically; an existing one is replaced only with --force, and never a data file.`,
		Example: `  dltrain data preview --augment elastic -n 64 -o grid.png
  dltrain data preview --augment affine --rotate 30 --shift 0 -n 16 -o rotations.png
  dltrain data preview --augment elastic --elastic-alpha 60 --elastic-sigma 4 --variants 7 -n 8 -o strong.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Set = func(name string) bool { return cmd.Flags().Changed(name) }
			if runF != nil {
				return runF(opts)
			}
			return dataPreviewRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Dataset, "dataset", mnist.DefaultDataset, datasetHelp)
	fl.StringVar(&opts.Data, "data", "", "data directory (default $DLTRAIN_DATA, else ./data; see --dataset)")
	fl.IntVarP(&opts.N, "images", "n", 16, fmt.Sprintf("how many training images (1..%d)", maxPreviewImages))
	fl.IntVar(&opts.Start, "start", 0, "index of the first training image")
	fl.IntVar(&opts.Variants, "variants", 3, fmt.Sprintf("deformations per image, those of epochs 1..K (1..%d)", maxPreviewVariants))
	fl.Uint64Var(&opts.Seed, "seed", 1, "the training run's seed: the deformations are those of this seed")
	fl.BoolVar(&opts.Force, "force", false, "replace the output file if it exists")
	bindAugmentFlags(fl, &opts.AugmentOptions, "elastic", "the deformation to show")
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputHelp: "PNG file to write (required)", JSON: &opts.JSON, Quiet: &opts.Quiet})
	enumFlag(cmd, "dataset", mnist.Names()...)
	enumFlag(cmd, "augment", "none", "affine", "elastic")
	dirFlag(cmd, "data")
	fileFlag(cmd, "output", "png")
	return cmd
}

func dataPreviewRun(opts *DataPreviewOptions) error {
	set := opts.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	if opts.Out == "" {
		return usageErr("data preview needs -o FILE.png")
	}
	switch {
	case opts.N < 1 || opts.N > maxPreviewImages:
		return usageErr("-n %d out of range 1..%d", opts.N, maxPreviewImages)
	case opts.Variants < 1 || opts.Variants > maxPreviewVariants:
		return usageErr("--variants %d out of range 1..%d", opts.Variants, maxPreviewVariants)
	case opts.N*(opts.Variants+1) > maxPreviewTiles:
		return usageErr("-n %d with --variants %d makes %d tiles, at most %d", opts.N, opts.Variants, opts.N*(opts.Variants+1), maxPreviewTiles)
	case opts.Start < 0:
		return usageErr("--start %d, want ≥ 0", opts.Start)
	}
	p, err := opts.AugmentOptions.params(set)
	if err != nil {
		return err
	}
	if p.Mode == augment.None {
		return usageErr("--augment none: nothing to preview (want affine or elastic)")
	}
	pl, err := augment.NewPlan(p)
	if err != nil {
		return usageErr("%v", err)
	}
	ds, err := lookupDataset(opts.Dataset)
	if err != nil {
		return err
	}
	if err := checkOutputs("data file", exitData, dataFiles(opts.Data), []string{"-o"}, opts.Out); err != nil {
		return err
	}
	if !opts.Force {
		if _, err := os.Lstat(opts.Out); err == nil {
			return withCode(exitError, fmt.Errorf("data preview: %s already exists; nothing was written", opts.Out), "add --force to replace it, or give another -o")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return withCode(exitError, fmt.Errorf("data preview: %s: %w", opts.Out, safefile.Cause(err)), "")
		}
	}
	train, _, err := opts.LoadData(ds, opts.Data)
	if err != nil {
		return err
	}
	if opts.Start+opts.N > train.N {
		return usageErr("--start %d with -n %d goes past the %d training images", opts.Start, opts.N, train.N)
	}

	tiles := previewTiles(train, ds, opts.Start, opts.N, opts.Variants, pl, opts.Seed)
	k := opts.Variants + 1
	// Rows of whole groups (an image and its deformations), at least √tiles columns: a near-square
	// grid, wider rather than taller.
	groups := min(opts.N, max(1, int(math.Ceil(math.Sqrt(float64(len(tiles)))/float64(k)))))
	title := fmt.Sprintf("%s, seed %d: each image, then epochs 1-%d", describeAugment(p), opts.Seed, opts.Variants)
	if ds.Name != mnist.DefaultDataset {
		title = ds.Title + ", " + title
	}
	size := 0
	err = writePicture(opts.Out, func(b *bytes.Buffer) error {
		err := figure.Grid(b, tiles, groups*k, figure.GridOptions{Title: title, MaxTiles: len(tiles)})
		size = b.Len()
		return err
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.IO, object{{"output", opts.Out}, {"dataset", ds.Name}, {"images", opts.N}, {"start", opts.Start},
			{"variants", opts.Variants}, {"augment", p.Mode.String()}, {"bytes", size}})
	}
	if !opts.Quiet {
		fmt.Fprintf(opts.IO.Out, "wrote %s: %d %s training images (from #%d), each with %d deformations (%s), %d bytes\n",
			printable(opts.Out), opts.N, ds.Title, opts.Start, opts.Variants, p.Mode, size)
	}
	return nil
}

// previewTiles lays out images start..start+n-1 of s, each followed by its deformations in epochs
// 1..variants under pl and seed: augment.Gather's normalized rows mapped back to 0..1.
func previewTiles(s *mnist.Set, ds mnist.Dataset, start, n, variants int, pl *augment.Plan, seed uint64) []figure.Tile {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(start + i)
	}
	deformed := make([][]float32, variants)
	for e := range deformed {
		deformed[e] = make([]float32, n*mnist.Pixels)
		augment.Gather(deformed[e], s.Images, order, 0, n, pl, seed, e+1)
	}
	var tiles []figure.Tile
	for b := range n {
		i := start + b
		orig := make([]float32, mnist.Pixels)
		for p, v := range s.Images[i*mnist.Pixels:][:mnist.Pixels] {
			orig[p] = float32(v) / 255
		}
		tiles = append(tiles, figure.Tile{Pix: orig, H: mnist.Rows, W: mnist.Cols, Caption: fmt.Sprintf("#%d: %s", i, ds.Classes[s.Labels[i]])})
		for e := range variants {
			pix := deformed[e][b*mnist.Pixels:][:mnist.Pixels]
			for p, v := range pix {
				pix[p] = (v + 1) / 2 // undo (x − 0.5)/0.5
			}
			tiles = append(tiles, figure.Tile{Pix: pix, H: mnist.Rows, W: mnist.Cols, Caption: fmt.Sprintf("epoch %d", e+1)})
		}
	}
	return tiles
}
