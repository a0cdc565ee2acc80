package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/safefile"
)

// TestMain lets the test binary stand in for dltrain itself (with the MNIST subset as its data), so
// that tests can send real signals to a real process.
func TestMain(m *testing.M) {
	if os.Getenv("DLTRAIN_TEST_MAIN") == "1" {
		f, _, _ := testFactory()
		f.IO = stdIO()
		if os.Getenv("DLTRAIN_TEST_README") == "1" {
			f.LoadData = readmeLoader
		}
		if d, err := time.ParseDuration(os.Getenv("DLTRAIN_TEST_SLOW_SAVE")); err == nil {
			beforeFinalSave = func() { time.Sleep(d) }
		}
		if d, err := time.ParseDuration(os.Getenv("DLTRAIN_TEST_SLOW_LOAD")); err == nil {
			load := f.LoadData
			f.LoadData = func(ds mnist.Dataset, dir string) (*mnist.Set, *mnist.Set, error) {
				fmt.Fprintln(os.Stderr, "test: loading slowly")
				time.Sleep(d)
				return load(ds, dir)
			}
		}
		os.Exit(Main(os.Args[1:], f))
	}
	os.Exit(m.Run())
}

// tensorsOf returns a checkpoint's tensor bytes (the data section), for byte-equality checks.
func tensorsOf(t *testing.T, path string, key []byte) []byte {
	t.Helper()
	ck, err := checkpoint.Load(path, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Encode(checkpoint.Checkpoint{Model: &model.Model{Config: ck.Config, Params: ck.Params, Velocity: ck.Velocity}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	f, out, errb := testFactory()
	code := Main(args, f)
	return code, out.String(), errb.String()
}

// TestResumeByteIdentical: 4 epochs straight, 2 + resume to 4, and a run interrupted mid-epoch by a
// signal then resumed to 4 all give byte-identical weights and momentum.
func TestResumeByteIdentical(t *testing.T) {
	dir := t.TempDir()
	straight, split, cut := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin"), filepath.Join(dir, "c.bin")
	common := []string{"--device", "cpu", "--hidden", "32", "--seed", "5"}
	if code, _, e := run(t, append([]string{"train", "--epochs", "4", "-o", straight}, common...)...); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, append([]string{"train", "--epochs", "2", "-o", split}, common...)...); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, "train", "--resume", split, "--epochs", "4", "-o", split, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	want := tensorsOf(t, straight, nil)
	if !bytes.Equal(want, tensorsOf(t, split, nil)) {
		t.Fatal("2 epochs + resume 2 differs from 4 epochs straight")
	}

	// Interrupted in the middle of epoch 2 by an injected SIGINT.
	f, _, errb := testFactory()
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdTrain(f, func(o *TrainOptions) error {
		o.Signals = sigs
		o.Set = func(string) bool { return false }
		// Deliver the signal once epoch 1 is done: the OnEpoch line is written to stdout.
		o.IO = &IO{Out: &signalAfter{w: f.IO.Out, marker: "epoch 1/4", sig: sigs}, Err: f.IO.Err}
		return trainRun(o)
	})
	cmd.SetArgs(append([]string{"--epochs", "4", "-o", cut}, common...))
	err := cmd.Execute()
	var ee *exitErr
	if !errors.As(err, &ee) || ee.code != exitInterrupted || !strings.Contains(ee.hint, "--resume "+cut) {
		t.Fatalf("interrupted train = %v (%s), want exit 130 with a resume hint", err, errb.String())
	}
	ck, err := checkpoint.Load(cut, nil)
	if err != nil || ck.Epoch < 1 || ck.Epoch >= 4 {
		t.Fatalf("interrupted checkpoint: %v, epoch %d; want a run stopped after epoch 1 and before the end", err, ck.Epoch)
	}
	t.Logf("interrupted at epoch %d + %d steps", ck.Epoch, ck.EpochStep)
	if code, _, e := run(t, "train", "--resume", cut, "--epochs", "4", "-o", cut, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	if !bytes.Equal(want, tensorsOf(t, cut, nil)) {
		t.Fatal("interrupted + resumed run differs from 4 epochs straight")
	}
}

// signalAfter passes writes through and sends sig once marker has been written.
type signalAfter struct {
	w      interface{ Write([]byte) (int, error) }
	marker string
	sig    chan os.Signal
	sent   bool
}

func (s *signalAfter) Write(p []byte) (int, error) {
	if !s.sent && bytes.Contains(p, []byte(s.marker)) {
		s.sent = true
		s.sig <- syscall.SIGINT
	}
	return s.w.Write(p)
}

func TestResumeRefusals(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "16", "-o", p, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--epochs", "1"}, "already has 1 epochs"},
		{[]string{"--epochs", "3", "--hidden", "64"}, "--hidden cannot change"},
		{[]string{"--epochs", "3", "--seed", "9"}, "--seed cannot change"},
	} {
		code, _, e := run(t, append([]string{"train", "--resume", p, "--device", "cpu", "-o", p}, c.args...)...)
		if code != exitUsage || !strings.Contains(e, c.want) {
			t.Errorf("resume %v: exit %d, %q; want %d and %q", c.args, code, e, exitUsage, c.want)
		}
	}
}

// startTrain runs the test binary as 'dltrain train' with args and returns it with a line scanner
// over its stderr.
func startTrain(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"train", "--device", "cpu"}, args...)...)
	cmd.Env = append(os.Environ(), "DLTRAIN_TEST_MAIN=1")
	// stdout (the epoch lines) and stderr (notes, the interrupt message) in one pipe, in order.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); r.Close() })
	return cmd, bufio.NewScanner(r)
}

func waitFor(t *testing.T, sc *bufio.Scanner, marker string) []string {
	t.Helper()
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), marker) {
			return lines
		}
	}
	t.Fatalf("process ended before printing %q: %v", marker, lines)
	return nil
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatal("process did not exit within 60 s of the signal")
	}
	return -1
}

// TestSIGINTSavesAndExits130: a real SIGINT to a running 'dltrain train' saves a loadable checkpoint,
// prints how to resume and exits 130; SIGTERM exits 143.
func TestSIGINTSavesAndExits130(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		out := filepath.Join(t.TempDir(), "m.bin")
		cmd, sc := startTrain(t, "--epochs", "5000", "--hidden", "16", "-o", out)
		waitFor(t, sc, "epoch 2/5000")
		cmd.Process.Signal(c.sig)
		rest := waitFor(t, sc, "hint: resume with: dltrain train --resume "+out+" --epochs 5000")
		if code := exitCode(t, cmd); code != c.code {
			t.Fatalf("%v: exit %d, want %d (%v)", c.sig, code, c.code, rest)
		}
		ck, err := checkpoint.Load(out, nil)
		if err != nil || ck.Epoch < 2 {
			t.Fatalf("%v: checkpoint %v at epoch %d, want a loadable one past epoch 2", c.sig, err, ck.Epoch)
		}
	}
}

// TestSecondSignalExitsAtOnce: a second SIGINT more than a second after the first, while the final
// save is under way (slowed down to 20 s here), ends the process at once without that save; the
// periodic checkpoints written before stay loadable.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	t.Setenv("DLTRAIN_TEST_SLOW_SAVE", "20s")
	cmd, sc := startTrain(t, "--epochs", "5000", "--hidden", "16", "-o", out, "--checkpoint-every", "1", "--keep", "2")
	waitFor(t, sc, "epoch 3/5000")
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, sc, "finishing this step and saving")
	time.Sleep(repeatWindow + 200*time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != 130 {
		t.Fatalf("exit %d, want 130", code)
	}
	t.Logf("exited %v after the second signal", time.Since(sent).Round(time.Millisecond))
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the final save happened (%v) although the second signal came first", err)
	}
	if _, err := os.Stat(safefile.LockPath(out)); !os.IsNotExist(err) {
		t.Fatalf("the lock file is left after a forced exit (%v)", err)
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "m-epoch*.bin"))
	if len(ents) == 0 || len(ents) > 2 {
		t.Fatalf("periodic checkpoints %v, want 1 or 2 (--keep 2)", ents)
	}
	for _, p := range ents {
		if _, err := checkpoint.Load(p, nil); err != nil {
			t.Fatalf("periodic checkpoint after a forced exit: %v", err)
		}
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	stale := filepath.Join(dir, safefile.TempName("m.bin", dead.Process.Pid, 1))
	os.WriteFile(stale, []byte("half a checkpoint"), 0o644)
	code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "-o", out, "--device", "cpu")
	if code != 0 || !strings.Contains(e, "removed "+stale) {
		t.Fatalf("exit %d, stderr %q; want the stale temp file reported", code, e)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale temp file still there")
	}
}

func TestDivergenceExit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	code, _, e := run(t, "train", "--epochs", "3", "--lr", "1e20", "-o", out, "--device", "cpu")
	if code != exitDiverged || !strings.Contains(e, "diverged: the loss is NaN at epoch 1, step ") || !strings.Contains(e, "nothing was saved") {
		t.Fatalf("exit %d, stderr %q; want %d naming the epoch", code, e, exitDiverged)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a diverged run wrote its checkpoint")
	}
}

// TestEncryptedCheckpoint: train with a key; eval and export need it; a wrong key, a flipped byte and
// a missing key are refused with clear errors.
func TestEncryptedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	key, key2 := filepath.Join(dir, "k"), filepath.Join(dir, "k2")
	for _, k := range []string{key, key2} {
		if code, out, e := run(t, "keygen", "-o", k); code != 0 || !strings.Contains(out, "mode 0600") {
			t.Fatalf("keygen: %d %s %s", code, out, e)
		}
	}
	if code, _, _ := run(t, "keygen", "-o", key); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
	out := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "16", "-o", out, "--device", "cpu", "--key-file", key); code != 0 {
		t.Fatal(e)
	}
	raw, _ := os.ReadFile(out)
	if !checkpoint.IsEncrypted(raw) || bytes.Contains(raw, []byte("fc1.weight")) {
		t.Fatal("the checkpoint is not encrypted")
	}
	if code, _, e := run(t, "eval", out, "--key-file", key); code != 0 {
		t.Fatalf("eval with the key: %s", e)
	}
	t.Setenv("DLTRAIN_KEY_FILE", key)
	if code, _, e := run(t, "eval", out); code != 0 {
		t.Fatalf("eval with DLTRAIN_KEY_FILE: %s", e)
	}
	t.Setenv("DLTRAIN_KEY_FILE", "")
	// Its export is plain (ONNX cannot be encrypted): created 0600 whatever the umask, with a note.
	onnx := filepath.Join(dir, "m.onnx")
	if code, _, e := run(t, "export", out, "--key-file", key, "-o", onnx); code != 0 || !strings.Contains(e, "holds its weights unencrypted") {
		t.Fatalf("export of an encrypted model: exit %d, %q; want 0 and a note", code, e)
	}
	if st, err := os.Stat(onnx); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export of an encrypted model: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	flipped := filepath.Join(dir, "flipped.bin")
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 0x10
	os.WriteFile(flipped, bad, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", out}, "encrypted and no key was given"},
		{[]string{"eval", out, "--key-file", key2}, "wrong key, or the file was modified"},
		{[]string{"eval", flipped, "--key-file", key}, "wrong key, or the file was modified"},
		{[]string{"export", out, "-o", filepath.Join(dir, "x.onnx")}, "encrypted and no key was given"},
		{[]string{"train", "--resume", out, "--epochs", "2", "--device", "cpu", "--key-file", key2}, "wrong key"},
	} {
		code, _, e := run(t, c.args...)
		if code != exitModel || !strings.Contains(e, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, e, exitModel, c.want)
		}
	}
	// A key file others can read is refused.
	os.Chmod(key2, 0o644)
	if code, _, e := run(t, "eval", out, "--key-file", key2); code != exitUsage || !strings.Contains(e, "chmod 600") {
		t.Errorf("world-readable key: exit %d, %q", code, e)
	}
}

// TestInterruptedResumeKeepsTestAccuracy: a resumed run interrupted before its first epoch ends saves
// the test accuracy the resumed file recorded, not "unknown". The signal goes in as the run announces
// itself, when the training's watcher is already running; an epoch of this net on the subset takes
// some 0.3 s, so the watcher cancels the run long before it ends, and if a loaded machine lets the
// epoch finish first the test tries again.
func TestInterruptedResumeKeepsTestAccuracy(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "1024,1024", "-o", base, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	before, err := checkpoint.Load(base, nil)
	if err != nil || !(before.TestAccuracy > 0) {
		t.Fatalf("after 1 epoch: %v, test accuracy %v", err, before.TestAccuracy)
	}
	b, _ := os.ReadFile(base)
	for try := 1; ; try++ {
		p := filepath.Join(dir, fmt.Sprintf("try%d.bin", try))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f, _, errb := testFactory()
		sigs := make(chan os.Signal, 1)
		cmd := NewCmdTrain(f, func(o *TrainOptions) error {
			o.Signals = sigs
			o.IO = &IO{Out: f.IO.Out, Err: &signalAfter{w: f.IO.Err, marker: "resuming", sig: sigs}}
			return trainRun(o)
		})
		cmd.SetArgs([]string{"--resume", p, "--epochs", "3", "--device", "cpu"})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "before training") {
			t.Fatalf("interrupted resume = %v (%s), want it interrupted in training", err, errb.String())
		}
		after, err := checkpoint.Load(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if after.Epoch != 1 && try < 5 {
			t.Logf("try %d: the epoch ended before the interruption (epoch %d); again", try, after.Epoch)
			continue
		}
		if after.Epoch != 1 || after.TestAccuracy != before.TestAccuracy {
			t.Fatalf("after an interrupted resume: epoch %d, test accuracy %v; want epoch 1 and %v", after.Epoch, after.TestAccuracy, before.TestAccuracy)
		}
		return
	}
}

// failingWriter fails every write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestReportWriteFailure: a text report that cannot be written (a full disk) fails the command with
// one line; a reader that went away (EPIPE, as '| head' leaves it) does not.
func TestReportWriteFailure(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "-o", p, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	for _, args := range [][]string{{"eval", p}, {"inspect", p}, {"version"}, {"eval", "--json", p}, {"inspect", "--json", p}, {"version", "--json"}} {
		f, _, errb := testFactory()
		f.IO.Out = failingWriter{&os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}}
		if code := Main(args, f); code != exitError || errb.String() != "dltrain: writing to standard output: no space left on device\n" {
			t.Errorf("%v with a full stdout: exit %d, stderr %q; want exit 1 and one line", args, code, errb.String())
		}
		f, _, errb = testFactory()
		f.IO.Out = failingWriter{&os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}}
		if code := Main(args, f); code != exitOK {
			t.Errorf("%v with a closed stdout pipe: exit %d (%s), want 0", args, code, errb.String())
		}
	}
}

// TestResumeMetricsAfterTornLine: a metrics file left without its last newline, or with half a line,
// is mended before a resumed run appends to it, and every line of it is then one JSON object. Text
// that is not a metrics line is never removed: it only gets its newline.
func TestResumeMetricsAfterTornLine(t *testing.T) {
	for _, c := range []struct {
		name  string
		cut   int // bytes cut off the end of the 2-epoch file
		lines int // lines after resuming to 3 epochs
	}{{"newline only", 1, 3}, {"half a line", 20, 2}} {
		dir := t.TempDir()
		p, mp := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
		if code, _, e := run(t, "train", "--epochs", "2", "--hidden", "8", "-o", p, "--metrics", mp, "--device", "cpu"); code != 0 {
			t.Fatal(e)
		}
		b, _ := os.ReadFile(mp)
		if err := os.WriteFile(mp, b[:len(b)-c.cut], 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, e := run(t, "train", "--resume", p, "--epochs", "3", "--metrics", mp, "--device", "cpu")
		if code != 0 {
			t.Fatalf("%s: resume: %s", c.name, e)
		}
		if c.cut > 1 && !strings.Contains(e, "dropped an incomplete last line") {
			t.Errorf("%s: no note of the dropped line in %q", c.name, e)
		}
		b, _ = os.ReadFile(mp)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		for i, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("%s: line %d is not JSON: %q", c.name, i+1, l)
			}
		}
		if len(lines) != c.lines {
			t.Errorf("%s: %d lines, want %d", c.name, len(lines), c.lines)
		}
	}
	dir := t.TempDir()
	p, notes := filepath.Join(dir, "m.bin"), filepath.Join(dir, "notes.txt")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "-o", p, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	if err := os.WriteFile(notes, []byte("first line\nsecond line, no newline"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, e := run(t, "train", "--resume", p, "--epochs", "2", "--metrics", notes, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	b, _ := os.ReadFile(notes)
	if !strings.HasPrefix(string(b), "first line\nsecond line, no newline\n{\"epoch\":2,") {
		t.Errorf("a foreign text file resumed into: %q, want its text kept", b)
	}
}

// TestResumeOnSmallerTrainingSet: a run resumed on a training set too small for the validation split
// it recorded names the checkpoint, not a --val-split the user never gave.
func TestResumeOnSmallerTrainingSet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.bin")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "--val-split", "2000", "-o", p, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	f, _, errb := testFactory()
	load := f.LoadData
	f.LoadData = func(ds mnist.Dataset, dir string) (*mnist.Set, *mnist.Set, error) {
		train, test, err := load(ds, dir)
		if err == nil {
			train = &mnist.Set{Images: train.Images[:1000*mnist.Pixels], Labels: train.Labels[:1000], N: 1000}
		}
		return train, test, err
	}
	code := Main([]string{"train", "--resume", p, "--epochs", "2", "--device", "cpu"}, f)
	if code != exitData || !strings.Contains(errb.String(), p+" holds out 2000 validation images, but this training set has only 1000") ||
		strings.Contains(errb.String(), "--val-split 2000") {
		t.Fatalf("resume on a smaller set: exit %d, %q", code, errb.String())
	}
}

// TestSignalDuringSetup: SIGINT while the data loads ends the run once the load is done, before
// anything is written: exit 130, a line that says so, an existing --out and --metrics as they were, no
// lock file left. A second SIGINT more than a second later quits at once.
func TestSignalDuringSetup(t *testing.T) {
	for _, twice := range []bool{false, true} {
		dir := t.TempDir()
		out, mp := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
		for _, p := range []string{out, mp} {
			if err := os.WriteFile(p, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		load := "3s" // the slack the test has to deliver its signal during the load
		if twice {
			load = "6s" // long enough to see the second signal end it early
		}
		t.Setenv("DLTRAIN_TEST_SLOW_LOAD", load)
		var second time.Time
		cmd, sc := startTrain(t, "--epochs", "1", "--hidden", "8", "-o", out, "--metrics", mp)
		waitFor(t, sc, "test: loading slowly")
		cmd.Process.Signal(syscall.SIGINT)
		lines := waitFor(t, sc, "stopping before training starts")
		if twice {
			time.Sleep(repeatWindow + 200*time.Millisecond)
			second = time.Now()
			cmd.Process.Signal(syscall.SIGINT)
			lines = append(lines, waitFor(t, sc, "quitting; nothing was written")...)
		} else {
			lines = append(lines, waitFor(t, sc, "interrupted by SIGINT before training started; nothing was written")...)
		}
		if code := exitCode(t, cmd); code != 130 {
			t.Fatalf("twice %v: exit %d, want 130 (%q)", twice, code, lines)
		}
		if twice && time.Since(second) > 3*time.Second {
			t.Errorf("a second SIGINT during the load took %v to quit, want it at once", time.Since(second))
		}
		for _, p := range []string{out, mp} {
			if b, _ := os.ReadFile(p); string(b) != "precious" {
				t.Errorf("twice %v: %s now holds %q", twice, p, b)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".dltrain-lock-*")); len(left) != 0 {
			t.Errorf("twice %v: lock files left: %v", twice, left)
		}
	}
}
