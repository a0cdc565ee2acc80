package safefile

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringWrite: a process killed with SIGKILL in the middle of WriteAtomic (after writing and
// syncing the temp file, before the rename) leaves the previous file intact, and its one temporary
// file is what RemoveStaleTemps removes.
func TestKillDuringWrite(t *testing.T) {
	if path := os.Getenv("DLTRAIN_CRASH_SAVE"); path != "" {
		// The child: write different bytes and die at the worst moment.
		beforeRename = func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		WriteAtomic(path, []byte("the new contents"))
		t.Fatal("WriteAtomic returned after SIGKILL")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.bin")
	old := []byte("the old contents")
	if err := WriteAtomic(path, old); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringWrite$")
	cmd.Env = append(os.Environ(), "DLTRAIN_CRASH_SAVE="+path)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want death by SIGKILL", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the file after a crash mid-write: %v", err)
	}
	if !bytes.Equal(got, old) {
		t.Fatalf("the file holds %q after a write that never completed, want %q", got, old)
	}
	ents, _ := os.ReadDir(dir)
	var temps []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix+"model.bin-") {
			temps = append(temps, e.Name())
		}
	}
	if len(temps) != 1 {
		t.Fatalf("directory holds %v; want the file and the dead write's one temp file", ents)
	}
	removed := RemoveStaleTemps(dir, func(b string) bool { return b == "model.bin" }, time.Now())
	if len(removed) != 1 || filepath.Base(removed[0]) != temps[0] {
		t.Fatalf("RemoveStaleTemps(%s) = %v, want [%s]", path, removed, temps[0])
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("after RemoveStaleTemps the directory holds %v, want only model.bin", ents)
	}
}
