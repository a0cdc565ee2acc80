// open.go opens data files so that a special file (a FIFO, a device, a directory) is refused at once
// instead of blocking the reader or feeding it without end. It is not a general file helper: it is
// what this package needs to read a regular file whose size it can trust.

package mnist

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openRegular opens path for reading and returns it with its size. The mode is checked twice: with
// Stat before opening (so a FIFO is never opened, and opening one cannot block), and with f.Stat on
// the open file (so a file swapped for a FIFO in between is caught). The open itself uses O_NONBLOCK,
// so even in that race opening a FIFO returns at once; on a regular file the flag changes nothing.
// Errors are bare (no file name): callers add the name.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, cause(err)
	}
	if err := regular(st.Mode()); err != nil {
		return nil, 0, err
	}
	return openChecked(path)
}

// openChecked is openRegular's second half: open without blocking, then check the open file's mode.
func openChecked(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, cause(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, cause(err)
	}
	if err := regular(st.Mode()); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// regular returns nil for a regular file's mode and an error saying what the file is otherwise.
func regular(m fs.FileMode) error {
	if m.IsRegular() {
		return nil
	}
	what := fmt.Sprintf("a special file (mode %v)", m)
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		what = "a device"
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	}
	return fmt.Errorf("is %s, not a regular file", what)
}

// cause is err without its *os.PathError wrapper, for messages that name the file themselves. It is
// internal/safefile's Cause written again on purpose: the op contract (internal/ops) imports this
// package for its data set, and must import nothing else of ours.
func cause(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
