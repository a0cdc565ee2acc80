// outputs.go guards the files the picture verbs write (plot's -o, eval's --confusion-png and
// --errors-png, inspect's --weights-png): none may be one of the command's inputs, or another of its
// outputs, and each is written atomically. It is not a general lock or path-identity service.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dltrain/dltrain/internal/safefile"
)

// sameFile reports whether paths a and b name one file: the same inode when both exist (so a
// symbolic or hard link is seen through), else the same cleaned absolute path.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// checkOutputs refuses (as a usage error) an output that is one of the inputs or that another output
// also names. Empty outputs are flags not given and are skipped.
func checkOutputs(inputs []string, outputs ...string) error {
	for i, out := range outputs {
		if out == "" {
			continue
		}
		for _, in := range inputs {
			if sameFile(out, in) {
				return usageErr("refusing to write %s: it is the input %s; give another output file", out, in)
			}
		}
		for _, other := range outputs[:i] {
			if other != "" && sameFile(out, other) {
				return usageErr("two outputs name the same file %s; give each its own", out)
			}
		}
		if st, err := os.Stat(out); err == nil && st.IsDir() {
			return usageErr("refusing to write %s: it is a directory; give a file name", out)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return withCode(exitError, fmt.Errorf("%s: %w", out, safefile.Cause(err)), "")
		}
	}
	return nil
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
