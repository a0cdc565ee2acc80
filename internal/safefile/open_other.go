//go:build !unix

package safefile

// This file is the fallback of open_unix.go for systems without Unix named pipes (Windows): plain
// opens, with the same regular-file check after the open.

import "os"

// OpenRegular opens path for reading and returns it with its metadata, or fails with a
// *NotRegularError when it is not a regular file.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
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

// OpenOutput opens path for writing with flag, creating it with perm.
func OpenOutput(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: &NotRegularError{Mode: st.Mode()}}
	}
	return f, nil
}

// processAlive cannot tell here; every writer counts as alive, and only age makes a temporary file
// stale (RemoveStaleTemps).
func processAlive(pid int) bool { return true }
