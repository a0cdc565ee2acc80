package main

// readme_test.go runs the README's examples as a user pastes them: every sh code block of README.md
// that is marked <!-- test: run --> on the line before its fence, line by line and in order, each line
// through sh in one fresh directory, which holds what `make install` and `make data` would have set
// up: dltrain on PATH and the MNIST files in data/. The README is parsed here, so the examples cannot
// drift from what the test runs. Every sh block must be marked, run or skip (with a reason), so a new
// example is never left out by accident.
//
// What stands in for what, and why: the dltrain on PATH is this test binary (TestMain runs Main, the
// CLI of bin/dltrain, when DLTRAIN_TEST_MAIN is set), linked under the name dltrain. data/ holds the
// committed real-MNIST subset (3,000 training and 1,000 test images) under the official file names;
// since MNIST's and Fashion-MNIST's content digests rightly refuse those files, the binary's loader
// reads the subset for those two sets directly (DLTRAIN_TEST_README). `--dataset idx` has no digests
// and reads the files it is given exactly as for any user. So the test checks that every command,
// flag and file name of the examples works in sequence; it does not reproduce the accuracies that
// the full data set gives.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/mnist"
)

// readmeBlock is one sh code block of the README.
type readmeBlock struct {
	line   int    // of its opening fence, from 1
	marker string // "run", or "skip (reason)"
	cmds   []readmeCmd
}

// readmeCmd is one command of a block: a line, with its continuation lines joined.
type readmeCmd struct {
	line int
	text string
}

var readmeMarker = regexp.MustCompile(`^<!-- test: (run|skip \(.+\)) -->$`)

// parseReadme parses the sh code blocks of a README; problems lists the blocks without a marker,
// and one left open.
func parseReadme(r io.Reader) (blocks []readmeBlock, problems []string, err error) {
	var cur *readmeBlock
	prev := ""
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimRight(sc.Text(), " \t")
		switch {
		case cur == nil && l == "```sh":
			m := readmeMarker.FindStringSubmatch(prev)
			if m == nil {
				problems = append(problems, fmt.Sprintf("line %d: a sh block without <!-- test: run --> or <!-- test: skip (why) --> on the line before", n))
				m = []string{"", "unmarked"}
			}
			blocks = append(blocks, readmeBlock{line: n, marker: m[1]})
			cur = &blocks[len(blocks)-1]
		case cur != nil && strings.HasPrefix(l, "```"):
			cur = nil
		case cur != nil:
			text := strings.TrimSpace(l)
			if k := len(cur.cmds) - 1; k >= 0 && strings.HasSuffix(cur.cmds[k].text, "\\") {
				cur.cmds[k].text = strings.TrimSuffix(cur.cmds[k].text, "\\") + " " + text
				continue
			}
			if text != "" && !strings.HasPrefix(text, "#") {
				cur.cmds = append(cur.cmds, readmeCmd{line: n, text: text})
			}
		}
		if l != "" {
			prev = l
		}
	}
	if cur != nil {
		problems = append(problems, fmt.Sprintf("line %d: the sh block is not closed", cur.line))
	}
	return blocks, problems, sc.Err()
}

// readmeLoader is the data loader of the dltrain that the README test runs: the committed subset for
// the sets whose digests would refuse it under the official names, and the real loader for idx.
func readmeLoader(ds mnist.Dataset, dir string) (train, test *mnist.Set, err error) {
	if ds.ExplicitOnly {
		return loadData(ds, dir)
	}
	return ds.Load(mnist.SubsetFiles(subsetDir))
}

func TestReadmeExamples(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, problems, err := parseReadme(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("README.md: %s", p)
	}
	var cmds []readmeCmd
	for _, b := range blocks {
		if b.marker == "run" {
			cmds = append(cmds, b.cmds...)
		}
	}
	if len(cmds) < 20 {
		t.Fatalf("README.md has %d commands marked to run, want the examples (20 or more)", len(cmds))
	}

	dir, bin := t.TempDir(), t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(bin, "dltrain")); err != nil {
		t.Skipf("cannot link the test binary as dltrain: %v", err)
	}
	// data/: what make data puts there, as the committed subset.
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	sub := mnist.SubsetFiles(subsetDir)
	for _, r := range []mnist.Role{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
		copyFile(t, filepath.Join(dir, "data", r.Base()+".gz"), sub.Path(r))
	}
	var env []string
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != "DLTRAIN_DATA" && k != "DLTRAIN_KEY_FILE" && k != "PATH" && k != "HOME" {
			env = append(env, e)
		}
	}
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir,
		"DLTRAIN_TEST_MAIN=1", "DLTRAIN_TEST_README=1", "DLTRAIN_TEST_SUBSET="+subsetDir)

	start := time.Now()
	for _, c := range cmds {
		sh := exec.Command("sh", "-c", c.text)
		sh.Dir, sh.Env = dir, env
		t0 := time.Now()
		out, err := sh.CombinedOutput()
		if os.Getenv("DLTRAIN_README_TIMES") != "" {
			t.Logf("README.md:%d %v: %s", c.line, time.Since(t0).Round(time.Millisecond), c.text)
		}
		if err != nil {
			t.Fatalf("README.md:%d: %s\n%v\n%s", c.line, c.text, err, out)
		}
		if strings.Contains(string(out), "panic") {
			t.Fatalf("README.md:%d: %s\n%s", c.line, c.text, out)
		}
	}
	t.Logf("%d README commands ran in %v", len(cmds), time.Since(start).Round(time.Millisecond))
}

// TestParseReadme checks the parser on a README of its own: markers, continuation lines, comments,
// other languages' blocks, and an unmarked block.
func TestParseReadme(t *testing.T) {
	b, problems, err := parseReadme(strings.NewReader("x\n<!-- test: run -->\n```sh\ndltrain a   # note\n# comment\n\ndltrain b \\\n  --c\n```\n" +
		"<!-- test: skip (needs a GPU) -->\n\n```sh\nmake gpu\n```\n```python\nprint(1)\n```\n"))
	if err != nil || len(problems) != 0 || len(b) != 2 || b[0].marker != "run" || b[1].marker != "skip (needs a GPU)" || len(b[0].cmds) != 2 ||
		b[0].cmds[0].text != "dltrain a   # note" || b[0].cmds[1].text != "dltrain b  --c" || b[0].cmds[1].line != 7 {
		t.Errorf("parseReadme = %+v, %q, %v", b, problems, err)
	}
	for _, bad := range []string{"```sh\nls\n```\n", "<!-- test: skip -->\n```sh\nls\n```\n", "<!-- test: run -->\n```sh\nls\n"} {
		if _, problems, _ := parseReadme(strings.NewReader(bad)); len(problems) != 1 {
			t.Errorf("parseReadme(%q): problems %q, want one", bad, problems)
		}
	}
}
