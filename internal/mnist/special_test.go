//go:build unix

package mnist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within runs f and fails the test if it has not returned within d: a guard against blocking, not a
// speed check.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still blocked after %v", what, d)
		return nil
	}
}

// TestSpecialFiles: a FIFO, a device or a directory given as a data file is refused at once, by name
// lookup and when given explicitly, and never read.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	ds := synthSet(t, dir)
	fifo := filepath.Join(dir, TrainImagesName)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	subdir := filepath.Join(t.TempDir(), TrainLabelsName)
	os.Mkdir(subdir, 0o755)
	// explicit names the synthetic files, with path as the training images.
	explicit := func(path string) Files {
		return Files{path, filepath.Join(dir, TrainLabelsName), filepath.Join(dir, TestImagesName+".gz"), filepath.Join(dir, TestLabelsName)}
	}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"Find with a FIFO under an official name", func() error { _, err := ds.Find(dir); return err }, "mnist: synth: " + fifo + ": is a named pipe (FIFO), not a regular file"},
		{"Load of a FIFO", func() error { _, _, err := ds.Load(explicit(fifo)); return err }, "mnist: synth: " + TrainImagesName + ": is a named pipe (FIFO), not a regular file"},
		{"ReadImages of a FIFO", func() error { _, _, err := ReadImages(fifo); return err }, "is a named pipe (FIFO)"},
		{"open of a FIFO past the Stat check", func() error {
			f, _, err := openChecked(fifo)
			if f != nil {
				f.Close()
			}
			return err
		}, "is a named pipe (FIFO)"},
		{"Load of /dev/zero", func() error { _, _, err := ds.Load(explicit("/dev/zero")); return err }, "zero: is a device, not a regular file"},
		{"ReadLabels of a directory", func() error { _, err := ReadLabels(subdir); return err }, "is a directory, not a regular file"},
		{"Find with a directory under an official name", func() error { _, err := ds.Find(filepath.Dir(subdir)); return err }, "is a directory, not a regular file"},
	}
	for _, c := range cases {
		err := within(t, time.Second, c.name, c.call)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s = %v, want %q (and not ErrNotFound)", c.name, err, c.want)
		}
	}
}
