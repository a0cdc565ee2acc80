package main

// This file is the set-up eval and attack share: the model read, the data set it is tested on
// chosen, the backend picked and the test set loaded, with the notes about the device said last.

import (
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
)

// testRun is what a verb that runs a model over a test set reads from its flags.
type testRun struct {
	verb          string
	io            *IO
	quiet         bool
	loadData      func(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error)
	model         string
	keyFile       string
	dataset       string
	allowMismatch bool
	data          string
	device        string
	precision     string
}

// open loads the checkpoint, resolves its data set, picks the backend with its precision and loads
// the test set, in that order, so that a bad model is reported before any data is read.
func (r testRun) open() (ck checkpoint.Checkpoint, ds mnist.Dataset, be ops.Backend, test *mnist.Set, err error) {
	if ck, err = loadModel(r.verb, r.model, r.keyFile); err != nil {
		return
	}
	if ds, err = modelDataset(r.io, r.quiet, ck, r.model, r.dataset, r.allowMismatch); err != nil {
		return
	}
	be, devNote, err := pickBackend(r.device)
	if err != nil {
		return
	}
	precNote, err := applyPrecision(be, r.precision, r.device)
	if err != nil {
		return
	}
	if _, test, err = r.loadData(ds, r.data); err != nil {
		return
	}
	for _, n := range []string{devNote, precNote} {
		if n != "" {
			note(r.io, r.quiet, "%s", n)
		}
	}
	return ck, ds, be, test, nil
}
