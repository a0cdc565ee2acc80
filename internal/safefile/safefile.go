// Package safefile is how dltrain writes the files it produces (checkpoints, exports) so that a crash
// never leaves a half-written one: a temporary file next to the target, fsync, rename over it, fsync
// of the directory. It also finds the temporary files that an interrupted write left behind, and
// turns *os.PathError into the bare cause for callers that name the file themselves.
//
// Its errors name the file (its base name) and the failed step, and carry no package prefix, as
// *os.PathError does not: the caller adds its own origin ("checkpoint: model.bin: fsync: …").
package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Cause drops the *os.PathError wrapper ("open /long/path/file: ") from err, for messages that name
// the file once, themselves.
func Cause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// TempPrefix starts the names of the temporary files WriteAtomic creates: ".dltrain-tmp-" followed by
// the target's base name, a dash and a random suffix.
const TempPrefix = ".dltrain-tmp-"

// beforeRename, when set by a test, runs between the temp file's fsync and the rename: the crash test
// kills the process there.
var beforeRename func()

// WriteAtomic writes b to path with the temp-file, fsync, rename, fsync-dir sequence. A crash at any
// point leaves either the old file or the new one, never a mixture; the temporary file a crash leaves
// is found by StaleTemps.
func WriteAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+"-*")
	if err != nil {
		return fmt.Errorf("%s: %w", base, Cause(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("%s: %w", base, Cause(err))
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("%s: %w", base, Cause(err))
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", base, Cause(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("%s: %w", base, Cause(err))
	}
	if beforeRename != nil {
		beforeRename()
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", base, Cause(err))
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("%s: fsync of directory: %w", base, derr)
		}
	}
	return nil
}

// RemoveStaleTemps deletes the temporary files that an interrupted WriteAtomic of out (or of a file
// next to it whose name starts with out's stem, such as its periodic checkpoints) left in out's
// directory, and returns their names.
func RemoveStaleTemps(out string) []string {
	dir, base := filepath.Split(out)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	matches, _ := filepath.Glob(filepath.Join(dir, TempPrefix+stem+"*"))
	var removed []string
	for _, m := range matches {
		if os.Remove(m) == nil {
			removed = append(removed, m)
		}
	}
	return removed
}
