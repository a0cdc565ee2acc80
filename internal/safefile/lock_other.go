//go:build !unix

package safefile

// This file stands in for lock_unix.go on systems without flock(2) (Windows): Acquire always
// succeeds and excludes nothing, so two runs that write the same output are not detected there.

import (
	"fmt"
	"path/filepath"
	"time"
)

// LockPrefix starts the name of the lock file of an output (none is created on this system).
const LockPrefix = ".dltrain-lock-"

// Lock is a lock that excludes nothing on this system.
type Lock struct {
	// Since is when the lock was taken.
	Since time.Time
}

// BusyError says that another process holds the lock on Target (never returned on this system).
type BusyError struct {
	Target string
	PID    int
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is being written by another dltrain process (pid %d)", e.Target, e.PID)
}

// LockPath is the lock file of target.
func LockPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, LockPrefix+base)
}

// Acquire returns a Lock that excludes nothing: this system has no flock.
func Acquire(target string) (*Lock, error) { return &Lock{Since: time.Now()}, nil }

// Release does nothing.
func (l *Lock) Release() {}
