package model

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKillDuringSave: a process killed with SIGKILL in the middle of Save (after writing and syncing
// the temp file, before the rename) leaves the previous checkpoint intact and loadable.
func TestKillDuringSave(t *testing.T) {
	if path := os.Getenv("DLTRAIN_CRASH_SAVE"); path != "" {
		// The child: save a different model and die at the worst moment.
		beforeRename = func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		m, _ := New(NewConfig([]int{8}, ReLU, CrossEntropy), 2)
		Save(path, Checkpoint{Model: m}, nil)
		t.Fatal("Save returned after SIGKILL")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.bin")
	old, _ := New(NewConfig([]int{8}, ReLU, CrossEntropy), 1)
	if err := Save(path, Checkpoint{Model: old}, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringSave$")
	cmd.Env = append(os.Environ(), "DLTRAIN_CRASH_SAVE="+path)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want death by SIGKILL", err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load after a crash mid-save: %v", err)
	}
	if got.Params[0] != old.Params[0] || got.Seed != 1 {
		t.Fatal("the checkpoint changed although the save never completed")
	}
	ents, _ := os.ReadDir(dir)
	var temps []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix+"model.bin-") {
			temps = append(temps, e.Name())
		}
	}
	if len(temps) != 1 {
		t.Fatalf("directory holds %v; want the checkpoint and the dead save's one temp file", ents)
	}
}
