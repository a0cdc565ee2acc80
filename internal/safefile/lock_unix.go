//go:build unix

package safefile

// This file is the advisory lock on an output (flock(2) on a lock file next to it), so that two runs
// that write the same file cannot both believe they succeeded.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockPrefix starts the name of the lock file of an output: ".dltrain-lock-model.bin" locks
// "model.bin" in the same directory.
const LockPrefix = ".dltrain-lock-"

// Lock is an advisory lock on an output file, held until Release or the end of the process.
type Lock struct {
	f    *os.File
	path string // the lock file
	// Since is when the lock was taken: a temporary file of the output older than this was left by
	// a writer that no longer holds the lock.
	Since time.Time
}

// BusyError says that another process holds the lock on Target.
type BusyError struct {
	Target string
	PID    int // the holder's PID as it wrote it in the lock file; 0 if unknown
}

func (e *BusyError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is being written by another dltrain process (pid %d)", e.Target, e.PID)
	}
	return fmt.Sprintf("%s is being written by another dltrain process", e.Target)
}

// LockPath is the lock file of target.
func LockPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, LockPrefix+base)
}

// Acquire takes the lock on target without waiting: it creates (or reuses) the lock file next to
// target, locks it with flock(LOCK_EX|LOCK_NB) and writes its PID into it. When another process holds
// the lock it fails with a *BusyError naming that process; when target's directory is missing or not
// writable it fails saying so. The lock goes with the process: a crash releases it, and the lock file
// left behind is reused by the next run.
//
// flock locks are advisory and per open file: they exclude other dltrain processes (and anything else
// that takes the same lock), not a program that writes the file regardless. On NFS, Linux emulates
// flock with fcntl byte-range locks, which also work across machines.
func Acquire(target string) (*Lock, error) {
	lp := LockPath(target)
	for range 10 {
		f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o666)
		if err != nil {
			if _, serr := os.Lstat(lp); serr == nil {
				return nil, fmt.Errorf("%s: its lock file %s: %w", target, lp, Cause(err))
			}
			return nil, fmt.Errorf("%s: %w", target, dirError(filepath.Dir(lp), Cause(err)))
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			f.Close()
			return nil, fmt.Errorf("%s: its lock file %s is not a regular file", target, lp)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			pid := readPID(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &BusyError{Target: target, PID: pid}
			}
			return nil, fmt.Errorf("%s: locking %s: %w", target, lp, err)
		}
		// Release removes the lock file while holding the lock. A process that opened the file before
		// that removal and locked it after holds a lock on a file no longer in the directory: it must
		// start again with the file now there.
		held, err1 := f.Stat()
		now, err2 := os.Stat(lp)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &Lock{f: f, path: lp, Since: time.Now()}, nil
	}
	return nil, fmt.Errorf("%s: its lock file %s keeps being replaced", target, lp)
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// Release removes the lock file and drops the lock. It is safe to call on a nil Lock and more than
// once.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.path)
	l.f.Close()
	l.f = nil
}
