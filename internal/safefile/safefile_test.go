package safefile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseTemp(t *testing.T) {
	for _, c := range []struct {
		name string
		base string
		pid  int
		ok   bool
	}{
		{TempName("model.bin", 4242, 0x0a1b2c3d), "model.bin", 4242, true},
		{TempName("model.bin-2", 7, 0), "model.bin-2", 7, true},
		{TempName("a-1-2", 1, 0xffffffff), "a-1-2", 1, true},
		{TempName("[x]*.bin", 99, 5), "[x]*.bin", 99, true},
		{".dltrain-tmp-model.bin-123456789", "", 0, false}, // the old CreateTemp names: no PID field
		{".dltrain-tmp-model.bin-12-0a1b2c3", "", 0, false},
		{".dltrain-tmp-model.bin-12-0A1B2C3D", "", 0, false},
		{".dltrain-tmp-model.bin-x-0a1b2c3d", "", 0, false},
		{".dltrain-tmp--12-0a1b2c3d", "", 0, false},
		{".dltrain-tmp-m-0-0a1b2c3d", "", 0, false},
		{"model.bin", "", 0, false},
		{".dltrain-lock-model.bin", "", 0, false},
	} {
		base, pid, ok := ParseTemp(c.name)
		if base != c.base || pid != c.pid || ok != c.ok {
			t.Errorf("ParseTemp(%q) = %q, %d, %v; want %q, %d, %v", c.name, base, pid, ok, c.base, c.pid, c.ok)
		}
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	return cmd.Process.Pid
}

// TestRemoveStaleTemps: the sweep removes exactly the temporary files of the targets it owns whose
// writer is dead or that are older than the lock, and nothing else.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	dead, live := deadPID(t), os.Getpid()
	since := time.Now().Add(-time.Minute) // file times are coarser than time.Now
	old := since.Add(-time.Hour)
	files := []struct {
		name    string
		old     bool
		removed bool
	}{
		{TempName("model.bin", dead, 1), false, true},           // writer gone
		{TempName("model.bin", live, 2), true, true},            // older than the lock
		{TempName("model.bin", live, 3), false, false},          // a live writer, newer than the lock
		{TempName("model-epoch0002.bin", dead, 4), false, true}, // owned too
		{TempName("model2.bin", dead, 5), false, false},         // another output
		{TempName("model.bin-2", dead, 6), false, false},        // another output
		{".dltrain-tmp-model.bin-123456789", true, false},       // not one of ours by name
		{"model.bin", true, false},                              // the output itself
		{"model-epoch0001-best.bin", true, false},               // a user's file
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.name), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.old {
			os.Chtimes(p, old, old)
		}
	}
	owns := func(b string) bool { return b == "model.bin" || b == "model-epoch0002.bin" }
	var got []string
	for _, p := range RemoveStaleTemps(dir, owns, since) {
		got = append(got, filepath.Base(p))
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		gone := errors.Is(err, os.ErrNotExist)
		if gone != f.removed || slices.Contains(got, f.name) != f.removed {
			t.Errorf("RemoveStaleTemps: %s removed %v (reported %v), want %v", f.name, gone, got, f.removed)
		}
	}
}

// TestWriteAtomicUmask: files are created as any other file is (0666 less the umask), or 0600 when
// asked, and replacing a file does not keep its old mode.
func TestWriteAtomicUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, c := range []struct {
		perm, want os.FileMode
	}{{0o666, 0o640}, {0o600, 0o600}} {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, nil, 0o777)
		os.Chmod(p, 0o777)
		if err := WriteAtomicMode(p, []byte("x"), c.perm); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != c.want {
			t.Errorf("WriteAtomicMode(perm %04o) under umask 027 made mode %04o, want %04o", c.perm, st.Mode().Perm(), c.want)
		}
	}
}

// TestWriteAtomicNamesTheDirectory: a write into a missing directory says which directory, with the
// path as given.
func TestWriteAtomicNamesTheDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "m.bin")
	err := WriteAtomic(p, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), p+": directory "+filepath.Dir(p)+"/ does not exist") {
		t.Fatalf("WriteAtomic(%s) = %v, want the missing directory named", p, err)
	}
}

// TestLock: a second Acquire of the same output fails with the holder's PID while the first holds
// it, through another spelling of the same path too; Release removes the lock file and frees it.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "m.bin")
	l, err := Acquire(target)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{target, filepath.Join(dir, ".", "m.bin")} {
		_, err := Acquire(other)
		var busy *BusyError
		if !errors.As(err, &busy) || busy.PID != os.Getpid() || !strings.Contains(err.Error(), "pid ") {
			t.Fatalf("Acquire(%s) while held = %v, want a BusyError with pid %d", other, err, os.Getpid())
		}
	}
	l.Release()
	l.Release()
	if _, err := os.Stat(LockPath(target)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file left after Release: %v", err)
	}
	l2, err := Acquire(target)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()

	missing := filepath.Join(dir, "nope", "m.bin")
	if _, err := Acquire(missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Acquire(%s) = %v, want the missing directory named", missing, err)
	}
}

// TestSpecialFilesDoNotBlock: opening a named pipe nobody writes (or reads) fails at once, naming
// what it is; an endless input costs no more than the limit.
func TestSpecialFilesDoNotBlock(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	// One open at a time: a read-open in flight is a reader, and a write-open that finds one is
	// (rightly) accepted, so running the two together would race.
	opens := []struct {
		name string
		open func() error
	}{
		{"OpenRegular", func() error { _, _, err := OpenRegular(fifo); return err }},
		{"OpenOutput", func() error { _, err := OpenOutput(fifo, os.O_APPEND|os.O_CREATE, 0o666); return err }},
	}
	for _, o := range opens {
		done := make(chan error, 1)
		go func() { done <- o.open() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("%s of a named pipe = %v, want an error naming it", o.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s of a named pipe blocked", o.name)
		}
	}
	if _, _, err := OpenRegular(t.TempDir()); err == nil || !strings.Contains(err.Error(), "a directory") {
		t.Errorf("OpenRegular(dir) = %v", err)
	}
	if f, err := OpenOutput(os.DevNull, os.O_APPEND, 0); err != nil {
		t.Errorf("OpenOutput(%s) = %v, want a character device accepted", os.DevNull, err)
	} else {
		f.Close()
	}

	b, err := ReadAtMost(endless{}, 1024)
	if !errors.Is(err, ErrTooLarge) || b != nil {
		t.Fatalf("ReadAtMost(endless, 1024) = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
	b, err = ReadAtMost(strings.NewReader("abc"), 3)
	if err != nil || string(b) != "abc" {
		t.Fatalf("ReadAtMost(abc, 3) = %q, %v", b, err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'k'
	}
	return len(p), nil
}

var _ io.Reader = endless{}
