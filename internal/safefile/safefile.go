// Package safefile is how dltrain touches files without losing data. It writes the files dltrain
// produces (checkpoints, exports) so that a crash never leaves a half-written one: a temporary file
// next to the target, fsync, rename over it, fsync of the directory. It names those temporary files
// so that a later run can tell exactly which output each belongs to and whether its writer is gone,
// and removes only those (RemoveStaleTemps). It holds an advisory lock on an output for the length of
// a run (lock_unix.go), opens inputs without blocking on special files and refuses anything but a
// regular file (open_unix.go), and reads with a bound (ReadAtMost).
//
// It is not a general file library: it knows nothing of checkpoints or data sets.
//
// Write errors name the file as the caller gave it (the whole path: the directory is often what is
// wrong) and the failed step, and carry no package prefix, as *os.PathError does not: the caller
// adds its own origin ("checkpoint: runs/model.bin: fsync: …").
package safefile

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cause drops the *os.PathError or *os.LinkError wrapper ("open /long/path/file: ", "rename a b: ")
// from err, for messages that name the file once, themselves.
func Cause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// TempPrefix starts the names of the temporary files WriteAtomic creates. The whole name is
//
//	TempPrefix + target's base name + "-" + writer's PID + "-" + 8 random hex digits
//
// for example ".dltrain-tmp-model.bin-4242-0a1b2c3d". ParseTemp reads it back.
const TempPrefix = ".dltrain-tmp-"

// TempName is the name of a temporary file for target base written by process pid.
func TempName(base string, pid int, rnd uint32) string {
	return fmt.Sprintf("%s%s-%d-%08x", TempPrefix, base, pid, rnd)
}

// maxName is the longest file name most file systems take (NAME_MAX).
const maxName = 255

// NameFits reports whether WriteAtomic can write a file named base: its temporary file's name (base,
// TempPrefix and 17 more bytes for the PID and random part) and its lock file's must stay within the
// 255 bytes a file name may have.
func NameFits(base string) bool {
	return len(TempName(base, 1<<22, 0)) <= maxName && len(LockPrefix+base) <= maxName
}

// ParseTemp reads a name written by TempName: the target's base name and the writer's PID. Only a
// name of exactly that shape parses: the last two dash-separated fields must be a decimal PID and 8
// hex digits, so the temporary files of "model.bin" and of "model.bin-2" can never be mistaken for
// each other.
func ParseTemp(name string) (base string, pid int, ok bool) {
	rest, found := strings.CutPrefix(name, TempPrefix)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 || len(rest)-i-1 != 8 || !isHex(rest[i+1:]) {
		return "", 0, false
	}
	rest = rest[:i]
	j := strings.LastIndexByte(rest, '-')
	if j < 1 || j == len(rest)-1 || len(rest)-j-1 > 9 || !isDigits(rest[j+1:]) {
		return "", 0, false
	}
	pid, err := strconv.Atoi(rest[j+1:])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return rest[:j], pid, true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// beforeRename, when set by a test, runs between the temp file's fsync and the rename: the crash test
// kills the process there.
var beforeRename func()

// WriteAtomic writes b to path with the temp-file, fsync, rename, fsync-dir sequence, creating the
// file as any other file is created (mode 0666 less the umask). A crash at any point leaves either
// the old file or the new one, never a mixture; the temporary file a crash leaves is what
// RemoveStaleTemps removes.
func WriteAtomic(path string, b []byte) error { return WriteAtomicMode(path, b, 0o666) }

// WriteAtomicMode is WriteAtomic with the permission bits to create the file with (the umask still
// applies): 0600 for a file only its owner may read.
func WriteAtomicMode(path string, b []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	for range 100 {
		var r [4]byte
		rand.Read(r[:])
		f, err = os.OpenFile(filepath.Join(dir, TempName(base, os.Getpid(), binary.LittleEndian.Uint32(r[:]))), os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, dirError(dir, Cause(err)))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("%s: %w", path, Cause(err))
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", path, Cause(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, Cause(err))
	}
	if beforeRename != nil {
		beforeRename()
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", path, Cause(err))
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("%s: fsync of directory: %w", path, derr)
		}
	}
	return nil
}

// dirError explains a failure to create a file in dir by what is wrong with dir, when that is the
// cause: it does not exist, is not a directory, or cannot be written.
func dirError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("directory %s does not exist", dir)
		}
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("directory %s is not writable (%v)", dir, err)
	}
	if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return err
}

// RemoveStaleTemps deletes the temporary files in dir that an interrupted WriteAtomic left behind for
// a target whose base name owns accepts, and returns their paths. A temporary file counts as stale
// when the process that wrote it is gone, or when it is older than since (the moment the caller took
// the lock on those targets: any writer that held the lock before has finished or died). A file whose
// name does not parse (ParseTemp) is never touched, nor one a live process may still be writing.
func RemoveStaleTemps(dir string, owns func(base string) bool, since time.Time) []string {
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		base, pid, ok := ParseTemp(e.Name())
		if !ok || !owns(base) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if processAlive(pid) && !info.ModTime().Before(since) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// Describe names the kind of a file that is not a regular one: "a directory", "a named pipe", …
func Describe(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// NotRegularError is returned when a regular file was needed and something else was found.
type NotRegularError struct{ Mode fs.FileMode }

func (e *NotRegularError) Error() string {
	return "not a regular file (" + Describe(e.Mode) + ")"
}

// ErrTooLarge is returned (wrapped) by ReadAtMost when the input holds more than its limit.
var ErrTooLarge = errors.New("larger than the limit")

// ReadAtMost reads all of r if it holds at most limit bytes, and fails with ErrTooLarge after reading
// limit+1 bytes otherwise: an endless input costs no more than the limit.
func ReadAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}
