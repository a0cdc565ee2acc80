package main

// The tests of issue 11, one per class of data loss: each runs the command line (in-process, or as a
// child process where signals or pipes are the point), and checks the exit code, the one line that
// names the file, and that every file that was there before is byte-identical afterwards.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/export"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/safefile"
)

var small struct {
	once sync.Once
	b    []byte
	err  error
}

// smallModel is a 784-16-10 checkpoint trained for one epoch on the subset, made once.
func smallModelBytes(t *testing.T) []byte {
	t.Helper()
	small.once.Do(func() {
		p := filepath.Join(os.TempDir(), fmt.Sprintf("dltrain-small-%d.bin", os.Getpid()))
		defer os.Remove(p)
		if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "16", "--device", "cpu", "-o", p, "-q"); code != 0 {
			small.err = errors.New(e)
			return
		}
		small.b, small.err = os.ReadFile(p)
	})
	if small.err != nil {
		t.Fatal(small.err)
	}
	return small.b
}

// write puts b at dir/name with mode and returns the path.
func write(t *testing.T, dir, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot records every regular file under dir.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	files := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			files[p] = sha256.Sum256(b)
		}
		return nil
	})
	return files
}

// unchanged fails unless every file of before is still there with the same bytes, and no lock or
// temporary file was left behind.
func unchanged(t *testing.T, name, dir string, before map[string][32]byte) {
	t.Helper()
	after := snapshot(t, dir)
	for p, sum := range before {
		if got, ok := after[p]; !ok {
			t.Errorf("%s: %s was removed", name, p)
		} else if got != sum {
			t.Errorf("%s: %s was changed", name, p)
		}
	}
	for p := range after {
		if b := filepath.Base(p); strings.HasPrefix(b, safefile.TempPrefix) || strings.HasPrefix(b, safefile.LockPrefix) {
			t.Errorf("%s: left %s behind", name, p)
		}
	}
}

// oneLine fails unless stderr's first line is dltrain's error naming file and containing want, with
// at most a hint after it.
func oneLine(t *testing.T, name string, code, wantCode int, stderr, file, want string) {
	t.Helper()
	// The error is the last line dltrain prints, but for its hint; warnings come before it.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var first string
	for _, l := range lines {
		if strings.HasPrefix(l, "dltrain: ") && !strings.HasPrefix(l, "dltrain: warning") {
			first = l
		}
	}
	if code != wantCode || !strings.Contains(first, file) || !strings.Contains(first, want) || strings.Contains(stderr, "panic") {
		t.Errorf("%s: exit %d, stderr %q; want exit %d and a line naming %s with %q", name, code, stderr, wantCode, file, want)
	}
}

// fakeData makes a data directory holding the four official names (their contents do not matter to
// the path checks, which run before the data is read).
func fakeData(t *testing.T, dir string) []string {
	t.Helper()
	d := filepath.Join(dir, "data")
	os.Mkdir(d, 0o755)
	var ps []string
	for _, n := range []string{mnist.TrainImagesName, mnist.TrainLabelsName, mnist.TestImagesName, mnist.TestLabelsName} {
		ps = append(ps, write(t, d, n+".gz", []byte("data file "+n), 0o644))
	}
	return ps
}

// TestClass1OutputsNeverOverwriteInputs: an output that is an input, the key, a data file or another
// output, under whatever spelling, is refused before any work.
func TestClass1OutputsNeverOverwriteInputs(t *testing.T) {
	dir := t.TempDir()
	base := write(t, dir, "base.bin", smallModelBytes(t), 0o644)
	key := write(t, dir, "k.key", []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	data := fakeData(t, dir)
	os.Link(base, filepath.Join(dir, "hard.bin"))
	os.Symlink(".", filepath.Join(dir, "here"))
	m := filepath.Join(dir, "m.bin")
	for _, c := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"export -o ./MODEL", []string{"export", base, "-o", filepath.Join(dir, ".", "base.bin")}, "base.bin", "is the same file as MODEL"},
		{"export -o a hard link of MODEL", []string{"export", base, "-o", filepath.Join(dir, "hard.bin")}, "hard.bin", "is the same file as MODEL"},
		{"export -o the key", []string{"export", base, "--key-file", key, "-o", key}, "k.key", "destroy the key"},
		{"train --out the key", []string{"train", "--key-file", key, "-o", key}, "k.key", "destroy the key"},
		{"train --metrics the key", []string{"train", "--key-file", key, "-o", m, "--metrics", key}, "k.key", "destroy the key"},
		{"train --out the key through a linked directory", []string{"train", "--key-file", key, "-o", filepath.Join(dir, "here", "k.key")}, "k.key", "destroy the key"},
		{"train --metrics --out", []string{"train", "-o", m, "--metrics", filepath.Join(dir, "here", "m.bin")}, "m.bin", "both would be written to the same file"},
		{"train --out a data file", []string{"train", "--data", filepath.Dir(data[0]), "-o", data[0]}, filepath.Base(data[0]), "is the same file as data file"},
		{"train --metrics the resumed checkpoint", []string{"train", "--resume", base, "-o", m, "--metrics", base}, "base.bin", "is the same file as --resume"},
		{"train --metrics named as a periodic checkpoint", []string{"train", "-o", m, "--checkpoint-every", "1", "--metrics", filepath.Join(dir, "m-epoch0001.bin")}, "m-epoch0001.bin", "periodic checkpoint"},
	} {
		args := c.args
		if args[0] == "train" {
			args = append(args, "--device", "cpu")
		}
		before := snapshot(t, dir)
		code, _, e := run(t, args...)
		oneLine(t, c.name, code, exitUsage, e, c.file, c.want)
		unchanged(t, c.name, dir, before)
	}
}

// splitShell splits a command line as a POSIX shell (and bash's $'…') would, for the quoting the
// resume hint uses.
func splitShell(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '$' && i+1 < len(s) && s[i+1] == '\'':
			i += 2
			for ; s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
					if s[i] == 'x' {
						v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
						cur.WriteByte(byte(v))
						i += 2
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			in = true
		case c == '\\':
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestClass2ResumeHintContinuesTheSameFiles: the hint after an interrupt is a complete, quoted
// command; run as printed (from the same directory) it continues the same checkpoint, metrics and
// periodic files, and touches no ./model.bin. --resume without --out writes the resumed file.
func TestClass2ResumeHintContinuesTheSameFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	unrelated := write(t, dir, "model.bin", []byte("an unrelated model"), 0o644)
	sub := filepath.Join(dir, "my runs")
	os.Mkdir(sub, 0o755)
	out := filepath.Join("my runs", "run 7's.bin")
	metrics := filepath.Join("my runs", "run7.jsonl")
	f, _, errb := testFactory()
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdTrain(f, func(o *TrainOptions) error {
		o.Signals = sigs
		o.IO = &IO{Out: &signalAfter{w: f.IO.Out, marker: "epoch 1/3", sig: sigs}, Err: f.IO.Err}
		return trainRun(o)
	})
	cmd.SetArgs([]string{"--epochs", "3", "--hidden", "16", "--device", "cpu", "-o", out, "--metrics", metrics, "--data", "some data dir", "--checkpoint-every", "1", "--keep", "2"})
	err := cmd.Execute()
	var ee *exitErr
	if !errors.As(err, &ee) || ee.code != exitInterrupted {
		t.Fatalf("interrupted train = %v (%s), want exit 130", err, errb.String())
	}
	hint, ok := strings.CutPrefix(ee.hint, "resume with: ")
	want := `dltrain train --resume 'my runs/run 7'\''s.bin' --epochs 3 --metrics 'my runs/run7.jsonl' --data 'some data dir' --checkpoint-every 1 --keep 2 --device cpu`
	if !ok || hint != want {
		t.Fatalf("resume hint\n%q\nwant\n%q", hint, want)
	}
	args := splitShell(t, hint)
	if args[0] != "dltrain" {
		t.Fatalf("hint %q does not start with dltrain", hint)
	}
	if code, _, e := run(t, args[1:]...); code != 0 {
		t.Fatalf("the hint, run as printed: exit %d: %s", code, e)
	}
	ck, err := checkpoint.Load(out, nil)
	if err != nil || ck.Epoch != 3 {
		t.Fatalf("after the resume: %v, epoch %d; want %s at epoch 3", err, ck.Epoch, out)
	}
	b, _ := os.ReadFile(metrics)
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Fatalf("metrics has %d lines after the resume, want 3 (one per epoch): %s", n, b)
	}
	if b, _ := os.ReadFile(unrelated); string(b) != "an unrelated model" {
		t.Fatal("the resume wrote ./model.bin")
	}
	eps, _ := filepath.Glob(filepath.Join(sub, "run 7's-epoch*.bin"))
	if len(eps) != 2 {
		t.Fatalf("periodic checkpoints %v, want the 2 newest (epochs 1 and 2)", eps)
	}
}

// TestShellQuote: quoted words come back as they were through a real shell.
func TestShellQuote(t *testing.T) {
	words := []string{"plain-word_1.bin", "with space", "it's", "", "$HOME `x` \"q\"", "tab\there", "new\nline", "é"}
	for _, sh := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		var q []string
		for _, w := range words {
			if sh == "sh" && strings.ContainsAny(w, "\t\n") {
				continue // $'…' is bash's, zsh's and POSIX.1-2024's, not dash's
			}
			q = append(q, shellQuote(w))
		}
		outb, err := exec.Command(sh, "-c", `for a in `+strings.Join(q, " ")+`; do printf '%s\0' "$a"; done`).Output()
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(outb), "\x00"), "\x00")
		i := 0
		for _, w := range words {
			if sh == "sh" && strings.ContainsAny(w, "\t\n") {
				continue
			}
			if got[i] != w {
				t.Errorf("%s: shellQuote(%q) = %s came back as %q", sh, w, shellQuote(w), got[i])
			}
			i++
		}
	}
}

// TestClass3SweepAndPruneOnlyTheirOwn: the stale-temp sweep leaves another output's temporary file
// and a live writer's alone; --keep removes only exact periodic names, up to the run's epoch, in
// numeric order, and never an input.
func TestClass3SweepAndPruneOnlyTheirOwn(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "model.bin")
	dead := exec.Command("true")
	dead.Run()
	others := []string{
		write(t, dir, safefile.TempName("model2.bin", os.Getpid(), 1), []byte("model2 is being saved"), 0o644),
		write(t, dir, safefile.TempName("model.bin-2", dead.Process.Pid, 2), []byte("another output's"), 0o644),
		write(t, dir, safefile.TempName("model.bin", os.Getpid(), 3), []byte("a live writer, newer than the lock"), 0o644),
		write(t, dir, "model-epoch0001-best.bin", []byte("the user's best"), 0o644),
		write(t, dir, "model-epoch[0-9].bin", []byte("brackets"), 0o644),
		write(t, dir, "model-epoch0100.bin", []byte("another run's history"), 0o644),
		write(t, dir, "model-epoch12.bin", []byte("not our format"), 0o644),
	}
	stale := write(t, dir, safefile.TempName("model.bin", dead.Process.Pid, 4), []byte("a dead save"), 0o644)
	// The live writer's file must be newer than the lock: give it a future time.
	future := time.Now().Add(time.Hour)
	os.Chtimes(others[2], future, future)
	before := snapshot(t, dir)
	delete(before, stale)
	code, _, e := run(t, "train", "--epochs", "4", "--hidden", "8", "--device", "cpu", "-o", out, "--checkpoint-every", "1", "--keep", "2")
	if code != 0 || !strings.Contains(e, "removed "+stale) {
		t.Fatalf("train: exit %d, %s; want the dead save's temp file removed", code, e)
	}
	unchangedExcept(t, "sweep and prune", dir, before, others[2])
	for ep, want := range map[int]bool{1: false, 2: true, 3: true} {
		if _, err := os.Stat(epochPath(out, ep)); (err == nil) != want {
			t.Errorf("periodic checkpoint of epoch %d exists %v, want %v", ep, err == nil, want)
		}
	}

	// Resuming from a periodic checkpoint with --keep 1 leaves that input alone.
	in := epochPath(out, 2)
	before = snapshot(t, dir)
	if code, _, e := run(t, "train", "--resume", in, "-o", out, "--epochs", "5", "--device", "cpu", "--checkpoint-every", "1", "--keep", "1"); code != 0 {
		t.Fatalf("resume: %s", e)
	}
	if _, err := os.Stat(in); err != nil {
		t.Fatalf("--keep 1 removed the checkpoint the run resumed from: %v", err)
	}
}

// unchangedExcept is unchanged, ignoring the temporary file a live writer may still own.
func unchangedExcept(t *testing.T, name, dir string, before map[string][32]byte, live string) {
	t.Helper()
	after := snapshot(t, dir)
	for p, sum := range before {
		if got, ok := after[p]; !ok || got != sum {
			t.Errorf("%s: %s was removed or changed", name, p)
		}
	}
	for p := range after {
		if b := filepath.Base(p); p != live && (strings.HasPrefix(b, safefile.TempPrefix) && before[p] == [32]byte{} || strings.HasPrefix(b, safefile.LockPrefix)) {
			t.Errorf("%s: left %s behind", name, p)
		}
	}
}

// TestPruneNumericOrder: past epoch 9999 names grow a digit; the newest are still the largest.
func TestPruneNumericOrder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	for _, e := range []int{9998, 9999, 10000, 10001, 10002} {
		write(t, dir, filepath.Base(epochPath(out, e)), nil, 0o644)
	}
	got := pruneEpochFiles(out, 2, 10001, nil)
	want := []string{epochPath(out, 9998), epochPath(out, 9999)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pruneEpochFiles(keep 2, up to 10001) = %v, want %v (10002 is later than this run)", got, want)
	}
	for _, c := range []struct {
		base string
		ep   int
		ok   bool
	}{{"m-epoch0001.bin", 1, true}, {"m-epoch10000.bin", 10000, true}, {"m-epoch012345.bin", 0, false}, {"m-epoch0001-best.bin", 0, false}, {"m-epoch001.bin", 0, false}, {"m-epoch0001.bin.bin", 0, false}} {
		if ep, ok := epochOf(out, c.base); ep != c.ep || ok != c.ok {
			t.Errorf("epochOf(%s) = %d, %v; want %d, %v", c.base, ep, ok, c.ep, c.ok)
		}
	}
}

// TestClass4OneWriterPerOutput: while a run writes --out (or --metrics), a second run with the same
// file is refused, naming the first one's PID, and the file is left to the first.
func TestClass4OneWriterPerOutput(t *testing.T) {
	dir := t.TempDir()
	out, metrics := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
	child, sc := startTrain(t, "--epochs", "5000", "--hidden", "16", "-o", out, "--metrics", metrics)
	waitFor(t, sc, "epoch 1/5000")
	for _, c := range []struct {
		name string
		args []string
		file string
	}{
		{"same --out", []string{"-o", out}, out},
		{"same --out, another spelling", []string{"-o", filepath.Join(dir, ".", "m.bin")}, "m.bin"},
		{"same --metrics", []string{"-o", filepath.Join(dir, "other.bin"), "--metrics", metrics}, metrics},
	} {
		code, _, e := run(t, append([]string{"train", "--epochs", "1", "--hidden", "8", "--device", "cpu"}, c.args...)...)
		oneLine(t, c.name, code, exitModel, e, c.file, fmt.Sprintf("being written by another dltrain process (pid %d)", child.Process.Pid))
		if _, err := os.Stat(filepath.Join(dir, "other.bin")); err == nil {
			t.Errorf("%s: the refused run wrote other.bin", c.name)
		}
	}
	child.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, child); code != 130 {
		t.Fatalf("first run: exit %d, want 130", code)
	}
	if _, err := checkpoint.Load(out, nil); err != nil {
		t.Fatalf("the first run's checkpoint: %v", err)
	}
}

// TestClass5TimeoutSaves: GNU timeout sends its signal to the child and then to the process group;
// dltrain takes the pair as one request and saves.
func TestClass5TimeoutSaves(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("no timeout(1)")
	}
	out := filepath.Join(t.TempDir(), "m.bin")
	cmd := exec.Command("timeout", "--preserve-status", "-s", "TERM", "1.5", os.Args[0], "train", "--device", "cpu", "--epochs", "5000", "--hidden", "16", "-o", out)
	cmd.Env = append(os.Environ(), "DLTRAIN_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("timeout -s TERM: %v, want exit 143 (%s)", err, errb.String())
	}
	if _, err := checkpoint.Load(out, nil); err != nil {
		t.Fatalf("checkpoint after timeout: %v (%s)", err, errb.String())
	}
}

// TestClass5RepeatedSignalIsOneRequest: two SIGTERMs back to back save and exit 143.
func TestClass5RepeatedSignalIsOneRequest(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.bin")
	cmd, sc := startTrain(t, "--epochs", "5000", "--hidden", "16", "-o", out)
	waitFor(t, sc, "epoch 1/5000")
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	if code := exitCode(t, cmd); code != 143 {
		t.Fatalf("exit %d, want 143", code)
	}
	if _, err := checkpoint.Load(out, nil); err != nil {
		t.Fatalf("checkpoint after two SIGTERMs in a row: %v", err)
	}
}

// TestSignalWindow: a repeat within a second of the first signal is ignored; a later one quits with
// that signal's status.
func TestSignalWindow(t *testing.T) {
	sigs := make(chan os.Signal)
	exited := make(chan int, 1)
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cancelled := make(chan struct{})
	in := watchSignals(sigs, func(c int) { exited <- c }, func() { close(cancelled) }, &bytes.Buffer{}, "m.bin", clock)
	defer in.stop()
	sigs <- syscall.SIGTERM
	<-cancelled
	sigs <- syscall.SIGTERM // 0 s later: GNU timeout's second delivery
	mu.Lock()
	now = now.Add(900 * time.Millisecond)
	mu.Unlock()
	sigs <- syscall.SIGINT
	select {
	case c := <-exited:
		t.Fatalf("exit(%d) on a repeat within a second", c)
	default:
	}
	mu.Lock()
	now = now.Add(200 * time.Millisecond)
	mu.Unlock()
	sigs <- syscall.SIGINT
	select {
	case c := <-exited:
		if c != 130 {
			t.Fatalf("exit(%d) on a second SIGINT, want 130", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal 1.1 s after the first did not quit")
	}
	if in.first() != syscall.SIGTERM {
		t.Fatalf("first() = %v, want SIGTERM", in.first())
	}
}

// TestClass5SigpipeDoesNotKillTraining: with stdout and stderr pipes closed by their reader (as
// dltrain train | head -2 does), training goes on and saves.
func TestClass5SigpipeDoesNotKillTraining(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.bin")
	cmd := exec.Command(os.Args[0], "train", "--device", "cpu", "--epochs", "40", "--hidden", "16", "-o", out)
	cmd.Env = append(os.Environ(), "DLTRAIN_TEST_MAIN=1")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	stderr.Read(buf) // the first line or so
	stderr.Close()
	stdout.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("train with its output pipes closed: %v, want exit 0", err)
	}
	if ck, err := checkpoint.Load(out, nil); err != nil || ck.Epoch != 40 {
		t.Fatalf("checkpoint: %v, epoch %d; want all 40 epochs saved", err, ck.Epoch)
	}
}

// TestClass6SideOutputsDoNotLoseTheModel: a --metrics that fails (a full disk) or a periodic
// checkpoint that cannot be written is reported at once, training goes on, --out is saved, and the
// command fails naming the file; an --out whose directory is missing is refused before training,
// named in full.
func TestClass6SideOutputsDoNotLoseTheModel(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	if _, err := os.Stat("/dev/full"); err == nil {
		code, _, e := run(t, "train", "--epochs", "2", "--hidden", "8", "--device", "cpu", "-o", out, "--metrics", "/dev/full")
		oneLine(t, "--metrics /dev/full", code, exitError, e, "/dev/full", "no space left on device")
		if ck, err := checkpoint.Load(out, nil); err != nil || ck.Epoch != 2 {
			t.Errorf("--metrics /dev/full: checkpoint %v at epoch %d, want both epochs saved", err, ck.Epoch)
		}
	}
	os.Mkdir(filepath.Join(dir, "m2-epoch0001.bin"), 0o755) // the periodic save of epoch 1 fails
	out2 := filepath.Join(dir, "m2.bin")
	code, _, e := run(t, "train", "--epochs", "3", "--hidden", "8", "--device", "cpu", "-o", out2, "--checkpoint-every", "1")
	oneLine(t, "periodic save fails", code, exitError, e, "m2-epoch0001.bin", "model written to "+out2)
	if ck, err := checkpoint.Load(out2, nil); err != nil || ck.Epoch != 3 {
		t.Errorf("periodic save fails: checkpoint %v at epoch %d, want all 3 epochs saved", err, ck.Epoch)
	}

	missing := filepath.Join(dir, "no", "such", "m.bin")
	before := snapshot(t, dir)
	code, _, e = run(t, "train", "--epochs", "2", "--device", "cpu", "-o", missing)
	oneLine(t, "--out in a missing directory", code, exitModel, e, missing, "directory "+filepath.Dir(missing)+" does not exist")
	unchanged(t, "--out in a missing directory", dir, before)
	if !strings.Contains(e, "dltrain: -o "+missing) || strings.Contains(e, "epoch 1/") {
		t.Errorf("--out in a missing directory: %q; want the refusal before any epoch", e)
	}

	long := filepath.Join(dir, strings.Repeat("n", 230)+".bin")
	code, _, e = run(t, "train", "--epochs", "2", "--device", "cpu", "-o", long)
	oneLine(t, "--out with a name too long for its temporary file", code, exitModel, e, long, "too long to be written safely")
	long = filepath.Join(dir, strings.Repeat("n", 220)+".bin")
	code, _, e = run(t, "train", "--epochs", "2", "--device", "cpu", "-o", long, "--checkpoint-every", "1")
	oneLine(t, "--out with a name too long for its periodic checkpoints", code, exitModel, e, long, "too long for its periodic checkpoints")
	unchanged(t, "names too long", dir, before)

	if os.Geteuid() != 0 { // root writes into read-only directories
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		code, _, e = run(t, "train", "--epochs", "2", "--device", "cpu", "-o", filepath.Join(ro, "m.bin"))
		oneLine(t, "--out in a read-only directory", code, exitModel, e, ro, "not writable")
	}
}

// TestClass7WriterAndReaderAgree: flags beyond what a checkpoint may record are refused before
// training.
func TestClass7WriterAndReaderAgree(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.bin")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--epochs", "3000000000000"}, "epochs 3000000000000, want 1..1048576"},
		{[]string{"--hidden", "65536,65536"}, "more than the 268435456 (2^28) a checkpoint may hold"},
		{[]string{"--batch-size", "70000"}, "batch size 70000, want 1..65536"},
	} {
		before := snapshot(t, dir)
		code, _, e := run(t, append([]string{"train", "--device", "cpu", "-o", out}, c.args...)...)
		oneLine(t, strings.Join(c.args, " "), code, exitUsage, e, "", c.want)
		unchanged(t, strings.Join(c.args, " "), dir, before)
	}
}

// TestClass8MemoryBudget: a configuration whose estimate exceeds the memory is refused in one line
// with the estimate, before anything is allocated.
func TestClass8MemoryBudget(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.bin")
	code, _, e := run(t, "train", "--device", "cpu", "-o", out, "--hidden", "65536", "--batch-size", "65536", "--memory-limit", "8GiB")
	oneLine(t, "65536 wide at batch 65536", code, exitUsage, e, "784-65536-10", "needs about 36.9 GB of memory")
	if !strings.Contains(e, "activations 34.6 GB") || !strings.Contains(e, "more than the 8.6 GB allowed by --memory-limit") || strings.Count(e, "\n") != 2 {
		t.Errorf("memory refusal: %q", e)
	}
	if code, _, e := run(t, "train", "--device", "cpu", "-o", out, "--memory-limit", "lots"); code != exitUsage || !strings.Contains(e, `bad size "lots"`) {
		t.Errorf("--memory-limit lots: exit %d, %q", code, e)
	}
	for s, want := range map[string]int64{"512M": 512 << 20, "8GiB": 8 << 30, "1.5g": 3 << 29, "1000": 1000, "2KB": 2048} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}

// TestClass9SpecialFilesNeverBlock: a named pipe (or a device) as key file, model, image or metrics
// is refused at once, naming what it is.
func TestClass9SpecialFilesNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	good := write(t, dir, "good.bin", smallModelBytes(t), 0o644)
	png := write(t, dir, "d.png", digitPNG(make([]uint8, 784), false), 0o644)
	// A named pipe with an endless writer: a reader that read it would never stop.
	endless := filepath.Join(dir, "endless")
	syscall.Mkfifo(endless, 0o600)
	w, err := os.OpenFile(endless, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		b := bytes.Repeat([]byte("k"), 4096)
		for {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}()
	for _, c := range []struct {
		name string
		args []string
		code int
		file string
		want string
	}{
		{"fifo as key file", []string{"eval", good, "--key-file", fifo}, exitUsage, "fifo", "not a regular file (a named pipe)"},
		{"endless pipe as key file", []string{"eval", good, "--key-file", endless}, exitUsage, "endless", "not a regular file (a named pipe)"},
		{"/dev/zero as key file", []string{"eval", good, "--key-file", "/dev/zero"}, exitUsage, "/dev/zero", "not a regular file (a character device)"},
		{"fifo as model", []string{"eval", fifo}, exitModel, "fifo", "not a regular file (a named pipe)"},
		{"fifo as --resume", []string{"train", "--resume", fifo, "-o", filepath.Join(dir, "x.bin")}, exitModel, "fifo", "named pipe"},
		{"fifo as image", []string{"predict", good, fifo}, exitData, "fifo", "not a regular file (a named pipe)"},
		{"fifo among images", []string{"predict", good, png, fifo}, exitData, "1 of 2 images", "could not be read (named above); the others were classified"},
		{"fifo as --metrics, nobody reading", []string{"train", "--epochs", "1", "--hidden", "8", "-o", filepath.Join(dir, "y.bin"), "--metrics", fifo}, exitModel, "fifo", "a named pipe that nobody reads"},
		{"fifo as --out", []string{"train", "-o", fifo}, exitModel, "fifo", "not a regular file (a named pipe)"},
		{"/dev/null as --out", []string{"train", "-o", "/dev/null"}, exitModel, "/dev/null", "not a regular file (a character device)"},
	} {
		args := c.args
		if args[0] != "eval" {
			args = append(args, "--device", "cpu")
		}
		done := make(chan [3]string, 1)
		go func() {
			code, out, e := run(t, args...)
			done <- [3]string{strconv.Itoa(code), out, e}
		}()
		select {
		case r := <-done:
			code, _ := strconv.Atoi(r[0])
			oneLine(t, c.name, code, c.code, r[2], c.file, c.want)
			if strings.Contains(r[2], "training 784") {
				t.Errorf("%s: refused only after loading the data: %q", c.name, r[2])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: blocked", c.name)
		}
	}
}

// TestClass10ReadersBoundedByTheInput: a checkpoint file of 3 GiB (sparse) whose header describes a
// small model is refused from its header; a legal header of 20 MB of whitespace loads; a 4,000,000×1
// image is predicted. (The memory each costs is measured by bench/rss.sh.)
func TestClass10ReadersBoundedByTheInput(t *testing.T) {
	dir := t.TempDir()
	b := smallModelBytes(t)
	hl := binary.LittleEndian.Uint64(b)
	sparse := write(t, dir, "sparse.bin", b[:8+hl], 0o644)
	if err := os.Truncate(sparse, 3<<30); err != nil {
		t.Skip("sparse file:", err)
	}
	before := snapshot2(t, dir)
	code, _, e := run(t, "eval", sparse)
	oneLine(t, "3 GiB sparse checkpoint", code, exitModel, e, "sparse.bin", "incomplete buffer")

	pad := 20 << 20
	padded := append(binary.LittleEndian.AppendUint64(nil, hl+uint64(pad)), b[8:8+hl]...)
	padded = append(append(padded, bytes.Repeat([]byte{' '}, pad)...), b[8+hl:]...)
	big := write(t, dir, "padded.bin", padded, 0o644)
	if code, _, e := run(t, "eval", big); code != 0 {
		t.Fatalf("eval of a checkpoint with a legal 20 MB header: exit %d, %s", code, e)
	}

	wide := image.NewGray(image.Rect(0, 0, 4_000_000, 1))
	var pb bytes.Buffer
	if err := png.Encode(&pb, wide); err != nil {
		t.Fatal(err)
	}
	p := write(t, dir, "wide.png", pb.Bytes(), 0o644)
	if code, _, e := run(t, "predict", big, p); code != 0 || !strings.Contains(e, "no ink") {
		t.Fatalf("predict of a 4000000x1 blank image: exit %d, %s; want a prediction with a warning", code, e)
	}
	if after := snapshot2(t, dir); after["sparse.bin"] != before["sparse.bin"] {
		t.Fatal("sparse.bin changed")
	}
}

// snapshot2 records size and modification time of the files in dir (hashing a 3 GiB file would cost
// more than the test).
func snapshot2(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if i, err := e.Info(); err == nil {
			out[e.Name()] = fmt.Sprint(i.Size(), i.ModTime().UnixNano())
		}
	}
	return out
}

// overflowing is a checkpoint whose weights are finite but so large that the logits are NaN: every
// hidden unit is +Inf (MNIST's background, -1 after normalization, times a large negative weight),
// and each output adds two of them with opposite signs.
func overflowing(t *testing.T) []byte {
	m, err := model.New(model.NewConfig([]int{4}, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	clear(m.Params)
	for i := range m.Weight(0) {
		m.Weight(0)[i] = -3e38
	}
	for i := range m.Weight(1) {
		m.Weight(1)[i] = float32(3e38 * float64(1-2*(i%2)))
	}
	b, err := checkpoint.Encode(checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}, TestAccuracy: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClass11NoSilentlyWrongOutput: --json stays valid JSON when a value is not finite; a file of
// another kind given as a model is named, with what the verb wants; checkpoint metadata errors on
// --resume are model errors naming the file.
func TestClass11NoSilentlyWrongOutput(t *testing.T) {
	dir := t.TempDir()
	huge := write(t, dir, "huge.bin", overflowing(t), 0o644)
	img := write(t, dir, "d.png", digitPNG(make([]uint8, 784), false), 0o644)
	code, out, e := run(t, "eval", huge, "--json")
	var ev map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ev) != nil || ev["loss"] != nil || !strings.Contains(e, "writes them as null") {
		t.Errorf("eval --json of an overflowing model: exit %d, %q, %q; want valid JSON with loss null and a warning", code, out, e)
	}
	code, out, e = run(t, "predict", huge, img, "--json")
	var preds []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &preds) != nil || len(preds) != 1 {
		t.Errorf("predict --json of an overflowing model: exit %d, %q, %q; want valid JSON", code, out, e)
	}

	// Files of other kinds where a checkpoint is wanted.
	ck, err := checkpoint.Load(write(t, dir, "good.bin", smallModelBytes(t), 0o644), nil)
	if err != nil {
		t.Fatal(err)
	}
	onnx, _ := export.ONNX(ck)
	weights, _ := export.Safetensors(ck)
	idx, _ := os.ReadFile("../../testdata/mnist-subset/test1000-labels-idx1-ubyte.gz")
	kinds := []struct {
		file, want string
		b          []byte
	}{
		{"m.onnx", "an ONNX model, not a dltrain checkpoint", onnx},
		{"d2.png", "a PNG image, not a dltrain checkpoint", digitPNG(make([]uint8, 784), true)},
		{"labels.gz", "a gzipped IDX labels file (MNIST data), not a dltrain checkpoint", idx},
		{"run.jsonl", "JSON lines (a --metrics file?), not a dltrain checkpoint", []byte(`{"epoch":1,"train_loss":0.5}` + "\n" + `{"epoch":2,"train_loss":0.4}` + "\n")},
		{"w.safetensors", "a weights-only safetensors export (dltrain export --format safetensors), not a dltrain checkpoint", weights},
	}
	for _, k := range kinds {
		p := write(t, dir, k.file, k.b, 0o644)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"eval", p}, "eval wants a checkpoint"},
			{[]string{"export", p, "-o", filepath.Join(dir, "x.onnx")}, "export converts a checkpoint"},
			{[]string{"predict", p, img}, "predict wants the checkpoint first"},
			{[]string{"train", "--resume", p, "-o", filepath.Join(dir, "x.bin"), "--device", "cpu"}, "--resume wants a checkpoint"},
		} {
			before := snapshot(t, dir)
			code, _, e := run(t, c.args...)
			name := c.args[0] + " " + k.file
			if c.args[0] == "predict" && k.file == "d2.png" {
				// An image first is an image to classify, with model.bin (missing here) as the model.
				oneLine(t, name, code, exitModel, e, "model.bin", "no MODEL given, and model.bin does not exist")
				unchanged(t, name, dir, before)
				continue
			}
			oneLine(t, name, code, exitModel, e, k.file, k.want+"; "+c.want)
			unchanged(t, name, dir, before)
		}
	}
	// The arguments of predict swapped: the image is named as not a model, the model as not an image.
	code, _, e = run(t, "predict", img, filepath.Join(dir, "good.bin"))
	oneLine(t, "predict IMAGE MODEL", code, exitModel, e, "d.png", "a PNG image, not a dltrain checkpoint; predict wants the checkpoint first")

	// A checkpoint or a text file where an image is wanted.
	code, _, e = run(t, "predict", filepath.Join(dir, "good.bin"), filepath.Join(dir, "good.bin"))
	oneLine(t, "predict MODEL MODEL", code, exitData, e, "good.bin", "not a PNG, JPEG or GIF image: it is a safetensors file (a dltrain checkpoint or export)")
	notes := write(t, dir, "notes.png", []byte("remember the milk\n"), 0o644)
	code, _, e = run(t, "predict", filepath.Join(dir, "good.bin"), notes)
	oneLine(t, "predict MODEL TEXT", code, exitData, e, "notes.png", "not a PNG, JPEG or GIF image: it is a text file")

	// Metadata beyond the limits in a checkpoint given to --resume: a model error naming the file.
	hdr, data := splitCk(smallModelBytes(t))
	var h map[string]any
	json.Unmarshal(hdr, &h)
	h["__metadata__"].(map[string]any)["lr"] = "NaN"
	hb, _ := json.Marshal(h)
	bad := write(t, dir, "bad-lr.bin", append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), data...), 0o644)
	code, _, e = run(t, "train", "--resume", bad, "--epochs", "3", "--device", "cpu", "-o", filepath.Join(dir, "x.bin"))
	oneLine(t, "--resume with a NaN learning rate", code, exitModel, e, "bad-lr.bin", "learning rate NaN")
}

func splitCk(b []byte) ([]byte, []byte) {
	n := binary.LittleEndian.Uint64(b)
	return b[8 : 8+n], b[8+n:]
}

// TestClass12PredictRealWorldImages: a digit drawn on a transparent canvas reads as drawn; an
// upside-down JPEG whose EXIF says so reads upright; a blank image is flagged; a file name with
// control characters cannot forge a line.
func TestClass12PredictRealWorldImages(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "10", "--device", "cpu", "-o", ckpt, "-q"); code != 0 {
		t.Fatal(e)
	}
	_, test, _ := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	var args []string
	var labels []int
	for i := 0; len(labels) < 10 && i < test.N; i++ {
		pix := test.Images[i*mnist.Pixels : (i+1)*mnist.Pixels]
		// Black strokes on a transparent 280×280 canvas, as an HTML canvas saves them.
		canvas := image.NewNRGBA(image.Rect(0, 0, 280, 280))
		for y := range 280 {
			for x := range 280 {
				canvas.SetNRGBA(x, y, color.NRGBA{A: pix[(y/10)*28+x/10]})
			}
		}
		var b bytes.Buffer
		png.Encode(&b, canvas)
		args = append(args, write(t, dir, fmt.Sprintf("canvas%d.png", i), b.Bytes(), 0o644))
		// The same digit photographed upside down, the camera's EXIF saying so (orientation 3).
		flipped := image.NewGray(image.Rect(0, 0, 280, 280))
		for y := range 280 {
			for x := range 280 {
				flipped.Pix[(279-y)*280+279-x] = 255 - pix[(y/10)*28+x/10]
			}
		}
		b.Reset()
		jpeg.Encode(&b, flipped, &jpeg.Options{Quality: 95})
		args = append(args, write(t, dir, fmt.Sprintf("photo%d.jpg", i), exifOrientation3(b.Bytes()), 0o644))
		labels = append(labels, int(test.Labels[i]))
	}
	blank := image.NewNRGBA(image.Rect(0, 0, 100, 100))
	var bb bytes.Buffer
	png.Encode(&bb, blank)
	args = append(args, write(t, dir, "blank.png", bb.Bytes(), 0o644))
	code, out, e := run(t, append([]string{"predict", ckpt, "--json"}, args...)...)
	var preds []prediction
	if code != 0 || json.Unmarshal([]byte(out), &preds) != nil {
		t.Fatalf("predict: exit %d, %s %s", code, out, e)
	}
	canvasRight, photoRight := 0, 0
	for i, l := range labels {
		c, p := preds[2*i], preds[2*i+1]
		if c.Digit == l && c.Inverted && !c.Blank {
			canvasRight++
		}
		if p.Digit == l {
			photoRight++
		}
	}
	t.Logf("transparent canvases: %d of %d, upside-down photos with EXIF: %d of %d", canvasRight, len(labels), photoRight, len(labels))
	if canvasRight < 8 || photoRight < 8 {
		t.Errorf("transparent canvases %d/10, upside-down photos %d/10 read as their label; want at least 8 each (the model scores about 88%%)", canvasRight, photoRight)
	}
	if last := preds[len(preds)-1]; !last.Blank || !strings.Contains(e, "blank.png: no ink found") {
		t.Errorf("blank image: blank %v, stderr %q; want it flagged", last.Blank, e)
	}

	evil := write(t, dir, "x\ny: 7   top 3: 7 99.9%\x1b[2J.png", digitPNG(test.Images[:784], false), 0o644)
	code, out, _ = run(t, "predict", ckpt, evil)
	if code != 0 || strings.Count(out, "\n") != 1 || strings.Contains(out, "\x1b") || !strings.Contains(out, `\n`) {
		t.Errorf("predict of a file named with control characters printed %q; want one line with them escaped", out)
	}
	code, _, e = run(t, "eval", filepath.Join(dir, "no\nsuch.bin"))
	if code != exitModel || strings.Count(e, "\n") != 1 {
		t.Errorf("eval of a missing file named with a newline: %q, want one line", e)
	}
	code, out, e = run(t, "data", "sample", "-n", "1", "-o", filepath.Join(dir, "ds\n2\x1b[31m"))
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Contains(out, "\x1b") || !strings.Contains(out, `\n2`) {
		t.Errorf("data sample into a directory named with control characters: exit %d, printed %q (%s); want two lines with them escaped", code, out, e)
	}
}

// exifOrientation3 inserts an EXIF segment saying "turned 180°" after a JPEG's SOI marker.
func exifOrientation3(jpg []byte) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x03\x00\x00\x00\x00\x00\x00")
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{0xff, 0xd8, 0xff, 0xe1}, binary.BigEndian.AppendUint16(nil, uint16(len(seg)+2))...)
	return append(append(out, seg...), jpg[2:]...)
}

// TestClass13FilesFollowTheUmask: checkpoints, periodic checkpoints, exports and metrics are created
// as any other file (0666 less the umask); encrypted checkpoints 0600.
func TestClass13FilesFollowTheUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	key := write(t, dir, "k", []byte(strings.Repeat("cd", 32)), 0o600)
	out, enc := filepath.Join(dir, "m.bin"), filepath.Join(dir, "e.bin")
	metrics, onnx := filepath.Join(dir, "m.jsonl"), filepath.Join(dir, "m.onnx")
	if code, _, e := run(t, "train", "--epochs", "2", "--hidden", "8", "--device", "cpu", "-o", out, "--metrics", metrics, "--checkpoint-every", "1"); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "--device", "cpu", "-o", enc, "--key-file", key); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, "export", out, "-o", onnx); code != 0 {
		t.Fatal(e)
	}
	for p, want := range map[string]os.FileMode{out: 0o640, epochPath(out, 1): 0o640, metrics: 0o640, onnx: 0o640, enc: 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %04o under umask 027", filepath.Base(p), st.Mode().Perm(), err, want)
		}
	}
}

// TestMetricsThroughALink: --metrics /dev/stdout (or any link) into a file is written through the
// link and locked as that file, without creating anything next to the link.
func TestMetricsThroughALink(t *testing.T) {
	dir, linkDir := t.TempDir(), t.TempDir()
	target := filepath.Join(dir, "log.jsonl")
	link := filepath.Join(linkDir, "metrics")
	os.WriteFile(target, nil, 0o644)
	os.Symlink(target, link)
	os.Chmod(linkDir, 0o555) // nothing may be created next to the link
	defer os.Chmod(linkDir, 0o755)
	out := filepath.Join(dir, "m.bin")
	if code, _, e := run(t, "train", "--epochs", "2", "--hidden", "8", "--device", "cpu", "-o", out, "--metrics", link); code != 0 {
		t.Fatalf("train --metrics LINK: exit %d, %s", code, e)
	}
	if b, _ := os.ReadFile(target); bytes.Count(b, []byte("\n")) != 2 {
		t.Fatalf("the link's file holds %q, want 2 metrics lines", b)
	}
	if ents, _ := os.ReadDir(linkDir); len(ents) != 1 {
		t.Fatalf("files next to the link: %v, want the link alone", ents)
	}
}

// TestPictureOutputsReplaceOnlyPictures: plot, eval, inspect and attack write their pictures over an
// existing PNG, but never over a checkpoint or a metrics file that a slip of -o named.
func TestPictureOutputsReplaceOnlyPictures(t *testing.T) {
	dir := t.TempDir()
	m, metrics := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
	if code, _, e := run(t, "train", "--epochs", "1", "--hidden", "8", "-o", m, "--metrics", metrics, "--device", "cpu"); code != 0 {
		t.Fatal(e)
	}
	victim := filepath.Join(dir, "other.bin")
	ck, _ := os.ReadFile(m)
	os.WriteFile(victim, ck, 0o644)
	pic := filepath.Join(dir, "p.png")
	for _, c := range []struct {
		args   []string
		target string
	}{
		{[]string{"plot", metrics, "-o"}, ""},
		{[]string{"eval", m, "--device", "cpu", "--confusion-png"}, ""},
		{[]string{"inspect", m, "--weights-png"}, ""},
		{[]string{"attack", m, "-n", "20", "--device", "cpu", "--examples-png"}, ""},
	} {
		for _, target := range []string{victim, metrics} {
			before, _ := os.ReadFile(target)
			code, _, e := run(t, append(c.args, target)...)
			refused := strings.Contains(e, "not replaced by a picture") || strings.Contains(e, "is the same file as")
			if after, _ := os.ReadFile(target); code != exitUsage || !refused || !bytes.Equal(before, after) {
				t.Errorf("%v %s: exit %d, %q; want it refused and the file kept", c.args, target, code, e)
			}
		}
		os.Remove(pic)
		for range 2 { // a new picture, then one over the picture
			if code, _, e := run(t, append(c.args, pic)...); code != 0 {
				t.Errorf("%v %s: exit %d, %q", c.args, pic, code, e)
			}
		}
	}
}
