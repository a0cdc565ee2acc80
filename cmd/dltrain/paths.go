package main

// This file is the one place that resolves every path a command reads or writes, before the command
// does any work: each path becomes a file identity (the file itself when it exists, links followed,
// so that "./base.bin", "base.bin" and a hard link are one file; its directory and name otherwise),
// and the command is refused when an output is the same file as an input, the key, a data file or
// another output, or when a path names something other than a regular file where a regular file is
// needed. It also takes the outputs' locks (safefile.Acquire).
//
// It checks names, not contents: the readers still check what they open (safefile.OpenRegular), so a
// file swapped between this check and the open is refused there.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/dltrain/dltrain/internal/filekind"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// fileRole is how a command uses a path.
type fileRole int

const (
	roleInput  fileRole = iota // read; a regular file when it exists (a missing one is the reader's to report)
	roleOutput                 // replaced atomically: a regular file, or nothing yet
	roleStream                 // written in place (--metrics): a regular file, nothing yet, a character device or a pipe
)

// fileRef is one path of a command.
type fileRef struct {
	name string // how the command line names it: "--out", "MODEL", "--key-file", "data file"
	path string // as given
	role fileRole
	code int // the exit code when it is refused for what it is
	// png marks a picture output: an existing file it would replace must be a PNG (or empty), so
	// that a slip of -o never turns a checkpoint or a metrics file into a picture.
	png bool

	abs     string      // cleaned absolute path
	info    os.FileInfo // the file, links followed; nil when it does not exist
	dirInfo os.FileInfo // its directory; nil when that does not exist
}

// files is the set of paths of one command.
type files struct{ refs []*fileRef }

func (fs *files) add(name, path string, role fileRole, code int) *fileRef {
	r := &fileRef{name: name, path: path, role: role, code: code}
	fs.refs = append(fs.refs, r)
	return r
}

// input adds a path the command reads; code is the exit code when it is not a regular file.
func (fs *files) input(name, path string, code int) *fileRef {
	return fs.add(name, path, roleInput, code)
}

// output adds a file the command replaces.
func (fs *files) output(name, path string) *fileRef { return fs.add(name, path, roleOutput, exitModel) }

// picture adds a PNG the command replaces; an existing file of another kind is refused.
func (fs *files) picture(name, path string) *fileRef {
	r := fs.output(name, path)
	r.png = true
	return r
}

// stream adds a file the command writes in place.
func (fs *files) stream(name, path string) *fileRef { return fs.add(name, path, roleStream, exitModel) }

// resolve finds what r names.
func (r *fileRef) resolve() {
	abs, err := filepath.Abs(r.path)
	if err != nil {
		abs = filepath.Clean(r.path)
	}
	r.abs = abs
	r.info, _ = os.Stat(abs)
	r.dirInfo, _ = os.Stat(filepath.Dir(abs))
}

// same reports whether a and b are one file: the same file when both exist, the same name in the
// same directory when neither does.
func same(a, b *fileRef) bool {
	switch {
	case a.info != nil && b.info != nil:
		return os.SameFile(a.info, b.info)
	case a.info != nil || b.info != nil:
		return false
	case a.dirInfo != nil && b.dirInfo != nil:
		return os.SameFile(a.dirInfo, b.dirInfo) && filepath.Base(a.abs) == filepath.Base(b.abs)
	}
	return a.abs == b.abs
}

// sameDir reports whether a and b are in one directory.
func sameDir(a, b *fileRef) bool {
	if a.dirInfo != nil && b.dirInfo != nil {
		return os.SameFile(a.dirInfo, b.dirInfo)
	}
	return filepath.Dir(a.abs) == filepath.Dir(b.abs)
}

// check resolves every path and refuses the command when a path is not the kind of file its role
// needs, or when an output is the same file as any other path (allow, when not nil, lets a pair
// through: train's --out may be its --resume).
func (fs *files) check(allow func(out, other *fileRef) bool) error {
	for _, r := range fs.refs {
		r.resolve()
		if err := r.checkKind(); err != nil {
			return err
		}
	}
	for i, a := range fs.refs {
		if a.role == roleInput {
			continue
		}
		for j, b := range fs.refs {
			if i == j || !same(a, b) || allow != nil && allow(a, b) {
				continue
			}
			if b.role != roleInput && j < i {
				continue // reported as (b, a)
			}
			what := "writing it would destroy the input"
			switch {
			case b.role != roleInput:
				what = "both would be written to the same file"
			case b.name == "--key-file" || b.name == "$DLTRAIN_KEY_FILE":
				what = "writing it would destroy the key, and every model encrypted with it"
			}
			return &exitErr{code: exitUsage,
				err:  fmt.Errorf("%s %s is the same file as %s %s: %s", a.name, a.path, b.name, b.path, what),
				hint: fmt.Sprintf("give %s another file", a.name)}
		}
	}
	// Last, so that "the same file as MODEL" is what such a slip is told.
	for _, r := range fs.refs {
		if !r.png || r.info == nil {
			continue
		}
		if k := kindOf(r.path); k != filekind.PNG && k != filekind.Empty {
			if k == filekind.Unrecognized {
				k = "not a PNG image"
			}
			return &exitErr{code: exitUsage, err: fmt.Errorf("%s %s exists and is %s: not replaced by a picture", r.name, r.path, k),
				hint: fmt.Sprintf("give %s a .png file name, or remove %s first", r.name, r.path)}
		}
	}
	return nil
}

// checkKind refuses a path whose file is not what its role needs.
func (r *fileRef) checkKind() error {
	if r.info != nil {
		m := r.info.Mode()
		ok := m.IsRegular()
		if r.role == roleStream {
			ok = ok || m&os.ModeCharDevice != 0 || m&os.ModeNamedPipe != 0
		}
		if !ok {
			return withCode(r.code, fmt.Errorf("%s %s: %v", r.name, r.path, &safefile.NotRegularError{Mode: m}), "")
		}
		return nil
	}
	if r.role == roleInput {
		return nil
	}
	if r.role == roleOutput && !safefile.NameFits(filepath.Base(r.abs)) {
		return withCode(r.code, fmt.Errorf("%s %s: the name is too long to be written safely (at most %d bytes with its temporary file's prefix and suffix)", r.name, r.path, 255-len(safefile.TempName("", 1<<22, 0))), "")
	}
	dir := filepath.Dir(r.path)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
		return withCode(r.code, fmt.Errorf("%s %s: directory %s does not exist", r.name, r.path, dir), "")
	case err == nil && !st.IsDir():
		return withCode(r.code, fmt.Errorf("%s %s: %s is not a directory", r.name, r.path, dir), "")
	}
	return nil
}

// lock takes the lock of every output and stream that is (or will be) a regular file, releasing
// what it took if one fails. The lock file's creation is also the probe that the directory is
// writable.
func (fs *files) lock() (release func(), err error) {
	var held []*safefile.Lock
	var once sync.Once
	release = func() { // safe to call twice, from two goroutines (a forced exit, the deferred call)
		once.Do(func() {
			for _, l := range held {
				l.Release()
			}
		})
	}
	for _, r := range fs.refs {
		if r.role == roleInput || r.info != nil && !r.info.Mode().IsRegular() {
			continue
		}
		target := r.path
		if r.role == roleStream && r.info != nil {
			// A stream is written through its links (--metrics /dev/stdout into a file): lock the file.
			if p, err := filepath.EvalSymlinks(r.path); err == nil {
				target = p
			}
		}
		l, err := safefile.Acquire(target)
		if err != nil {
			release()
			var busy *safefile.BusyError
			if errors.As(err, &busy) {
				return nil, withCode(exitModel, fmt.Errorf("%s %w", r.name, err), fmt.Sprintf("wait for it to finish, or give another %s", r.name))
			}
			return nil, withCode(exitModel, fmt.Errorf("%s %w", r.name, err), "")
		}
		held = append(held, l)
	}
	return release, nil
}

// find returns the input among fs that path names, if any.
func (fs *files) find(path string) *fileRef {
	p := &fileRef{path: path}
	p.resolve()
	for _, r := range fs.refs {
		if r.role == roleInput && same(p, r) {
			return r
		}
	}
	return nil
}

// dataFiles lists the four MNIST files train will read from --data (or $DLTRAIN_DATA, ./data), as
// mnist.Find finds them; none when it finds none (the loader reports that).
func dataFiles(flag string) []string {
	f, err := mnist.Find(mnist.Dir(flag))
	if err != nil {
		return nil
	}
	return []string{f.TrainImages, f.TrainLabels, f.TestImages, f.TestLabels}
}

// kindOf names the kind of the regular file at path from its first bytes (filekind.Detect);
// Unrecognized when it cannot be read.
func kindOf(path string) string {
	f, _, err := safefile.OpenRegular(path)
	if err != nil {
		return filekind.Unrecognized
	}
	defer f.Close()
	head := make([]byte, filekind.Head)
	n, _ := f.ReadAt(head, 0)
	return filekind.Detect(head[:n])
}
