// find.go finds a data set's four files on disk: in the directory the user names, else in the set's
// default places. It refuses special files (FIFOs, devices, directories) by their mode, without
// opening them. It reads no file's content: that is Load's job.

package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is what every "the files are not there" error from Find and Dataset.Find wraps
// (test with errors.Is); the error itself is a *NotFoundError.
var ErrNotFound = errors.New("mnist: data not found")

// NotFoundError lists where a data set was looked for and what each place lacked.
type NotFoundError struct {
	Dataset string   // the set's name
	Dirs    []string // the directories searched, absolute, in order; empty if there was none to search
	Lacks   []string // for each of Dirs, what it lacked ("no such directory", "no t10k-labels-idx1-ubyte[.gz]")
}

// Error lists every directory searched with what it lacked.
func (e *NotFoundError) Error() string {
	if len(e.Dirs) == 0 {
		return fmt.Sprintf("mnist: %s: data not found: no directory given, and the %s set has no default one", e.Dataset, e.Dataset)
	}
	parts := make([]string, len(e.Dirs))
	for i, d := range e.Dirs {
		parts[i] = d + ": " + e.Lacks[i]
	}
	return fmt.Sprintf("mnist: %s: data not found in %s", e.Dataset, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// DataRoot is where the named sets live unless told otherwise: $DLTRAIN_DATA if set, else "data"
// (relative to the working directory). MNIST lives in the root itself, Fashion-MNIST in
// root/fashion-mnist: the layout `make data` makes.
func DataRoot() string {
	if env := os.Getenv("DLTRAIN_DATA"); env != "" {
		return env
	}
	return "data"
}

// Dir picks MNIST's data directory the way dltrain did before data sets: flag if set, else
// DataRoot(). New code calls Dataset.Find, which also searches a set's other places.
func Dir(flag string) string {
	if flag != "" {
		return flag
	}
	return DataRoot()
}

// Find locates the four official files in dir, each raw or gzipped (raw preferred). It is MNIST's
// Find restricted to dir, kept for callers from before data sets.
func Find(dir string) (Files, error) {
	return mustLookup(DefaultDataset).findIn([]string{dir})
}

// SearchDirs returns the directories ds.Find(dir) searches, in order, made absolute:
//   - dir alone when it is not empty: an explicit directory is the only place looked at, so what the
//     user names is what gets used, or the error says it is not there;
//   - else DataRoot()/ds.Subdir, then ds.SystemDirs. A copy the user made (with `make data`, say)
//     comes before the system's, and since both are checked against the same digests either one
//     gives the same data;
//   - nothing for a set with ExplicitOnly (idx): its files are whatever the user names.
//
// For MNIST that is flag, else $DLTRAIN_DATA, else ./data; for Fashion-MNIST flag, else
// $DLTRAIN_DATA/fashion-mnist (or ./data/fashion-mnist), then /usr/share/datasets/fashion-mnist.
func (ds Dataset) SearchDirs(dir string) []string {
	var dirs []string
	switch {
	case dir != "":
		dirs = []string{dir}
	case ds.ExplicitOnly:
		return nil
	default:
		dirs = append([]string{filepath.Join(DataRoot(), ds.Subdir)}, ds.SystemDirs...)
	}
	for i, d := range dirs {
		if abs, err := filepath.Abs(d); err == nil {
			dirs[i] = abs
		}
	}
	return dirs
}

// Find locates ds's four files: the first of ds.SearchDirs(dir) that holds all four (each under its
// official name, raw or gzipped, raw preferred) wins. The paths it returns are absolute. When no
// directory holds all four it returns a *NotFoundError (errors.Is ErrNotFound) naming every directory
// searched and what each lacked. A file there under an official name that is not a regular file
// (a FIFO, a device, a directory) is an error at once: its mode is read with Stat, it is never opened.
func (ds Dataset) Find(dir string) (Files, error) {
	return ds.findIn(ds.SearchDirs(dir))
}

func (ds Dataset) findIn(dirs []string) (Files, error) {
	nf := &NotFoundError{Dataset: ds.Name, Dirs: dirs}
	for _, dir := range dirs {
		f, lacks, err := ds.findOne(dir)
		if err != nil {
			return Files{}, err
		}
		if lacks == "" {
			return f, nil
		}
		nf.Lacks = append(nf.Lacks, lacks)
	}
	for i, d := range nf.Dirs { // name the places absolutely, also for the plain Find(dir)
		if abs, err := filepath.Abs(d); err == nil {
			nf.Dirs[i] = abs
		}
	}
	return Files{}, nf
}

// findOne looks in one directory. lacks is "" when all four files are there, else what is missing.
func (ds Dataset) findOne(dir string) (f Files, lacks string, err error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Files{}, "no such directory", nil
	case err != nil:
		return Files{}, cause(err).Error(), nil
	case !st.IsDir():
		return Files{}, "not a directory", nil
	}
	var paths [4]string
	var missing []string
	for _, r := range allRoles {
		for _, cand := range []string{r.Base(), r.Base() + ".gz"} {
			p := filepath.Join(dir, cand)
			st, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err == nil {
				err = regular(st.Mode())
			} else {
				err = cause(err)
			}
			if err != nil {
				return Files{}, "", fmt.Errorf("mnist: %s: %s: %w", ds.Name, p, err)
			}
			paths[r] = p
			break
		}
		if paths[r] == "" {
			missing = append(missing, r.Base()+"[.gz]")
		}
	}
	if len(missing) > 0 {
		return Files{}, "no " + strings.Join(missing, ", "), nil
	}
	return Files{TrainImages: paths[0], TrainLabels: paths[1], TestImages: paths[2], TestLabels: paths[3]}, "", nil
}
