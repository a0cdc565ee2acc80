// outputs.go writes the files the picture verbs make (plot's -o, eval's --confusion-png and
// --errors-png, inspect's --weights-png), atomically, after checkOutputs has resolved their paths
// against the command's inputs through paths.go.

package main

import (
	"bytes"

	"github.com/dltrain/dltrain/internal/safefile"
)

// checkOutputs refuses an output that is one of the inputs, or that another output also names, or
// that is not a file it may replace (a directory, a pipe), through the one place that resolves paths
// (paths.go). Empty outputs are flags not given and are skipped. Each input is named by inName (and
// refused with exit code inCode when it is not a regular file) and each output by its flag in outNames.
func checkOutputs(inName string, inCode int, inputs []string, outNames []string, outputs ...string) error {
	fs := &files{}
	for _, in := range inputs {
		fs.input(inName, in, inCode)
	}
	for i, out := range outputs {
		if out != "" {
			fs.picture(outNames[i], out)
		}
	}
	return fs.check(nil)
}

// writePicture renders a picture with draw and writes it to path atomically; a failure to draw or to
// write is an error naming the file.
func writePicture(path string, draw func(w *bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := draw(&b); err != nil {
		return withCode(exitError, err, "")
	}
	if err := safefile.WriteAtomic(path, b.Bytes()); err != nil { // its error names the file
		return withCode(exitError, err, "")
	}
	return nil
}
