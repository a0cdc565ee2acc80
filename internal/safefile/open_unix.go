//go:build unix

package safefile

// This file opens files on Unix without ever blocking on a special file: opening a named pipe for
// reading waits for a writer (and for writing, for a reader) unless O_NONBLOCK is given, so every
// open here gives it and then checks what it opened.

import (
	"errors"
	"os"
	"syscall"
)

// OpenRegular opens path for reading and returns it with its metadata, or fails at once with a
// *NotRegularError when it is not a regular file (a named pipe, a device, a directory): the open
// never blocks, whatever the file is. Symbolic links are followed.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: &NotRegularError{Mode: st.Mode()}}
	}
	return f, st, nil
}

// OpenOutput opens path for writing with flag (os.O_TRUNC or os.O_APPEND, with os.O_CREATE), creating
// it with perm less the umask. It accepts a regular file, a character device (/dev/null, a terminal)
// and a pipe that has a reader; a named pipe nobody reads fails at once instead of blocking, and a
// directory, socket or block device is refused.
func OpenOutput(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("a named pipe that nobody reads")}
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	m := st.Mode()
	if !m.IsRegular() && m&os.ModeCharDevice == 0 && m&os.ModeNamedPipe == 0 {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: &NotRegularError{Mode: m}}
	}
	return f, nil
}

// processAlive reports whether a process with this PID exists (it may belong to another user).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
