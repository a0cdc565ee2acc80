// dataset.go resolves --dataset for every verb: a set's name to its mnist.Dataset, and, for the verbs
// that read a checkpoint (eval, predict, export), the checkpoint's own set as the default and the
// refusal of another one unless --allow-dataset-mismatch is given. It also names classes for output.
// It reads no data: data.go does.

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
)

// datasetHelp is the help of --dataset on the verbs that read data from scratch (train, data sample).
var datasetHelp = "data set: " + strings.Join(mnist.Names(), ", ") + " (idx: any four IDX files of 28x28 images, labels 0..9, from --data)"

// modelDatasetHelp is the help of --dataset on the verbs that read a checkpoint.
const modelDatasetHelp = "data set (default: the one the model was trained on)"

// mismatchFlag lets eval, predict and export use a data set other than the model's.
const mismatchFlag = "allow-dataset-mismatch"

// addModelDatasetFlags binds --dataset and --allow-dataset-mismatch for a verb that reads a checkpoint.
func addModelDatasetFlags(cmd *cobra.Command, dataset *string, allow *bool) {
	fl := cmd.Flags()
	fl.StringVar(dataset, "dataset", "", modelDatasetHelp)
	fl.BoolVar(allow, mismatchFlag, false, "use --dataset even when the model was trained on another data set")
}

// lookupDataset resolves a --dataset value; an unknown name is a usage error.
func lookupDataset(name string) (mnist.Dataset, error) {
	ds, err := mnist.Lookup(name)
	if err != nil {
		return mnist.Dataset{}, usageErr("--dataset: unknown data set %q (want %s)", name, strings.Join(mnist.Names(), ", "))
	}
	return ds, nil
}

// modelDataset picks the data set for a verb that uses checkpoint ck (read from path): the one ck was
// trained on when flag is empty or names the same; another one only with allow, since a model scored
// or labelled with another set's classes gives numbers that mean nothing. A note on stderr (unless quiet) says when a
// mismatch was allowed.
func modelDataset(io *IO, quiet bool, ck checkpoint.Checkpoint, path, flag string, allow bool) (mnist.Dataset, error) {
	trained := ck.DatasetName()
	own, ownErr := mnist.Lookup(trained)
	if flag == "" {
		if ownErr != nil {
			return mnist.Dataset{}, withCode(exitModel,
				fmt.Errorf("%s was trained on data set %q, which this dltrain does not know", path, trained),
				fmt.Sprintf("name one with --dataset (one of %s) and --%s", strings.Join(mnist.Names(), ", "), mismatchFlag))
		}
		return own, nil
	}
	ds, err := lookupDataset(flag)
	if err != nil {
		return mnist.Dataset{}, err
	}
	if ds.Name == trained {
		return ds, nil
	}
	title := trained
	if ownErr == nil {
		title = own.Title
	}
	if !allow {
		return mnist.Dataset{}, &exitErr{code: exitUsage,
			err:  fmt.Errorf("%s was trained on %s, not %s (--dataset %s)", path, title, ds.Title, ds.Name),
			hint: fmt.Sprintf("leave out --dataset to use %s, or add --%s to use %s anyway", title, mismatchFlag, ds.Title)}
	}
	note(io, quiet, "%s was trained on %s; using %s as asked (--%s)", printable(path), title, ds.Title, mismatchFlag)
	return ds, nil
}

// namedClasses reports whether ds's classes have names other than their digits (Fashion-MNIST's do).
func namedClasses(ds mnist.Dataset) bool {
	for i, c := range ds.Classes {
		if c != fmt.Sprint(i) {
			return true
		}
	}
	return false
}

// className is "7" for a digit set and "7 Sneaker" for a set with named classes: the index first, since
// the index is what --json and the exports call the class.
func className(ds mnist.Dataset, c int) string {
	if namedClasses(ds) {
		return fmt.Sprintf("%d %s", c, ds.Classes[c])
	}
	return ds.Classes[c]
}
