// evalpng.go draws eval's two pictures: the confusion matrix as a heat map (--confusion-png) and the
// misclassified test images with their true and predicted class (--errors-png). The drawing is
// internal/figure's; this file only chooses what goes in, the titles and the captions.

package main

import (
	"bytes"
	"fmt"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/figure"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// maxErrorTiles bounds --errors-max: 256 tiles of 28x28 at zoom 3 with captions stay well inside
// figure's 4096-pixel sides.
const maxErrorTiles = 256

// evalPictures writes the pictures eval was asked for; pred is each test image's predicted class (nil
// when no picture was asked for). It returns what it wrote, one line each, for the text report (with
// -q only that a picture was not written).
func evalPictures(opts *EvalOptions, ck checkpoint.Checkpoint, ds mnist.Dataset, ev model.Eval, test *mnist.Set, pred []uint8) ([]string, error) {
	var notes []string
	what := fmt.Sprintf("%s, epoch %d", ck.Config.Arch(), ck.Epoch)
	if opts.ConfusionPNG != "" {
		cm := make([][]int, ops.Classes)
		for i := range cm {
			cm[i] = ev.Confusion[i][:]
		}
		var names []string // nil numbers the classes
		if namedClasses(ds) {
			names = ds.Classes[:]
		}
		title := fmt.Sprintf("%s test set: %.2f %% of %d right (%s)", ds.Title, 100*ev.Accuracy, ev.N, what)
		err := writePicture(opts.ConfusionPNG, func(b *bytes.Buffer) error {
			return figure.Confusion(b, cm, names, figure.ConfusionOptions{Title: title})
		})
		if err != nil {
			return nil, err
		}
		if !opts.Quiet { // a confirmation: -q leaves it out
			notes = append(notes, fmt.Sprintf("confusion matrix drawn to %s", opts.ConfusionPNG))
		}
	}
	if opts.ErrorsPNG != "" {
		tiles, wrong := errorTiles(ds, test, pred, opts.ErrorsMax)
		if wrong == 0 {
			notes = append(notes, fmt.Sprintf("no misclassified test images: %s not written", opts.ErrorsPNG))
			return notes, nil
		}
		title := fmt.Sprintf("all %d misclassified %s test images (%s)", wrong, ds.Title, what)
		if len(tiles) < wrong {
			title = fmt.Sprintf("the first %d of %d misclassified %s test images (%s)", len(tiles), wrong, ds.Title, what)
		}
		err := writePicture(opts.ErrorsPNG, func(b *bytes.Buffer) error {
			return figure.Grid(b, tiles, 0, figure.GridOptions{Title: title, MaxTiles: len(tiles)})
		})
		if err != nil {
			return nil, err
		}
		if !opts.Quiet {
			notes = append(notes, fmt.Sprintf("%d of %d misclassified images drawn to %s", len(tiles), wrong, opts.ErrorsPNG))
		}
	}
	return notes, nil
}

// errorTiles returns the first limit misclassified images of test as tiles captioned with their true
// and predicted class, and how many images were misclassified in all.
func errorTiles(ds mnist.Dataset, test *mnist.Set, pred []uint8, limit int) ([]figure.Tile, int) {
	var tiles []figure.Tile
	wrong := 0
	for i, p := range pred {
		y := test.Labels[i]
		if p == y {
			continue
		}
		wrong++
		if len(tiles) == limit {
			continue
		}
		pix := make([]float32, mnist.Pixels)
		for j, v := range test.Images[i*mnist.Pixels:][:mnist.Pixels] {
			pix[j] = float32(v) / 255
		}
		caption := fmt.Sprintf("true %s, pred %s", ds.Classes[y], ds.Classes[p])
		if namedClasses(ds) {
			caption = fmt.Sprintf("true %s\npred %s", ds.Classes[y], ds.Classes[p])
		}
		tiles = append(tiles, figure.Tile{Pix: pix, H: 28, W: 28, Caption: caption, Mapping: figure.Gray})
	}
	return tiles, wrong
}
