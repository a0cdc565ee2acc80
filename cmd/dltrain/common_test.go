// common_test.go checks the flags every verb shares: a table of verb × flag, walked from the root
// command so that a new verb fails until it is listed, and each flag run on each verb. Also shell
// completion and the version flags.

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
)

// commonTable lists every verb with the shared flags it has: o is -o/--output, j --json, q -q/--quiet,
// d --device, t --threads. A verb that writes a file has o; every verb has j and q, since every verb
// prints something; the verbs that compute (train, eval, predict) have d and t. A new verb fails
// TestCommonFlags until it is listed here (and in commonRuns below).
var commonTable = map[string]string{
	"train":        "ojqdt",
	"eval":         "jqdt",
	"predict":      "jqdt",
	"export":       "ojq",
	"keygen":       "ojq",
	"plot":         "ojq",
	"inspect":      "jq",
	"data sample":  "ojq",
	"data preview": "ojq",
	"attack":       "jqdt",
	"verify":       "jqdt",
	"version":      "jq",
}

// commonFlagNames maps the table's letters to the flags' long names, in addCommon's order.
var commonFlagNames = []struct{ letter, name string }{{"o", "output"}, {"j", "json"}, {"q", "quiet"}, {"d", "device"}, {"t", "threads"}}

// verbs lists the runnable leaf commands of the tree under root ("train", "data sample"), leaving out
// cobra's own help and completion commands.
func verbs(root *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Name() == "help" || s.Name() == "completion" || s.Hidden {
				continue
			}
			if s.HasSubCommands() {
				walk(s)
				continue
			}
			if s.Runnable() {
				out[strings.TrimPrefix(s.CommandPath(), root.Name()+" ")] = s
			}
		}
	}
	walk(root)
	return out
}

// TestCommonFlags walks every verb of the command tree and checks its shared flags against
// commonTable: the verb is listed, it binds exactly the table's flags through addCommon, and each has
// the one spelling, shorthand, type, default and help that it has everywhere.
func TestCommonFlags(t *testing.T) {
	f, _, _ := testFactory()
	all := verbs(NewRootCmd(f))
	if len(all) < len(commonTable) {
		t.Fatalf("found verbs %v, fewer than the table's %d", keys(all), len(commonTable))
	}
	for verb, cmd := range all {
		want, ok := commonTable[verb]
		if !ok {
			t.Errorf("verb %q is not in commonTable: bind its shared flags with addCommon and list it there (and in commonRuns)", verb)
			continue
		}
		var names []string
		for _, c := range commonFlagNames {
			fl := cmd.Flags().Lookup(c.name)
			if !strings.Contains(want, c.letter) {
				if fl != nil {
					t.Errorf("%s has --%s, which the table does not give it", verb, c.name)
				}
				continue
			}
			names = append(names, c.name)
			if fl == nil {
				t.Errorf("%s lacks --%s", verb, c.name)
				continue
			}
			type spec struct{ short, typ, def, usage string }
			got := spec{fl.Shorthand, fl.Value.Type(), fl.DefValue, fl.Usage}
			var w spec
			switch c.name {
			case "output":
				w = spec{"o", "string", got.def, got.usage} // what the file is, and its default, are the verb's
				if got.usage == "" {
					t.Errorf("%s -o has no help", verb)
				}
			case "json":
				w = spec{"", "bool", "false", jsonHelp}
			case "quiet":
				w = spec{"q", "bool", "false", quietHelp}
			case "device":
				w = spec{"", "string", "auto", deviceHelp}
			case "threads":
				w = spec{"", "int", "0", threadsHelp}
			}
			if got != w {
				t.Errorf("%s --%s = %+v, want %+v", verb, c.name, got, w)
			}
		}
		if got := cmd.Annotations[commonAnnotation]; got != strings.Join(names, ",") {
			t.Errorf("%s: addCommon recorded %q, want %q", verb, got, strings.Join(names, ","))
		}
	}
	for verb := range commonTable {
		if all[verb] == nil {
			t.Errorf("commonTable lists %q, which the command tree does not have", verb)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// commonRuns is one successful invocation of each verb, for TestCommonFlagsBehave: in it, M is a
// trained model, J its metrics file, I a test digit as PNG, and OUT a new file or directory.
var commonRuns = map[string][]string{
	"train":        {"train", "--epochs", "1", "--hidden", "8", "-o", "OUT.bin"},
	"eval":         {"eval", "M"},
	"predict":      {"predict", "M", "I"},
	"export":       {"export", "M", "-o", "OUT.onnx"},
	"keygen":       {"keygen", "-o", "OUT.key"},
	"plot":         {"plot", "J", "-o", "OUT.png"},
	"inspect":      {"inspect", "M"},
	"data sample":  {"data", "sample", "-n", "2", "-o", "OUT"},
	"data preview": {"data", "preview", "-n", "2", "-o", "OUT.png"},
	"attack":       {"attack", "M", "--method", "fgsm", "-n", "50"},
	"verify":       {"verify", "M", "--method", "ibp", "-n", "20", "--steps", "2"},
	"version":      {"version"},
}

// TestCommonFlagsBehave runs every verb with each of its shared flags and checks that the flag does
// the same thing everywhere: --json prints exactly one JSON value on stdout; -q leaves stderr empty
// (and stdout too on the verbs whose output is only a confirmation of the file written); -o writes the
// file it names; --threads refuses a negative count, runs with a positive one and leaves GOMAXPROCS as
// it was; --device refuses what is not a device.
func TestCommonFlagsBehave(t *testing.T) {
	dir := t.TempDir()
	m, j := filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.jsonl")
	if code, _, e := run(t, "train", "--epochs", "2", "--hidden", "8", "-o", m, "--metrics", j, "-q"); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(t, "data", "sample", "-n", "1", "-o", filepath.Join(dir, "digits")); code != 0 {
		t.Fatal(e)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "digits", "*.png"))
	f, _, _ := testFactory()
	n := 0
	args := func(verb, tag string, extra ...string) []string {
		n++
		var a []string
		for _, s := range commonRuns[verb] {
			switch {
			case s == "M":
				s = m
			case s == "J":
				s = j
			case s == "I":
				s = imgs[0]
			case strings.HasPrefix(s, "OUT"):
				s = filepath.Join(dir, tag+strings.Repeat("x", n)+strings.TrimPrefix(s, "OUT"))
			}
			a = append(a, s)
		}
		return append(a, extra...)
	}
	procs := runtime.GOMAXPROCS(0)
	for verb, cmd := range verbs(NewRootCmd(f)) {
		if commonRuns[verb] == nil {
			t.Errorf("verb %q has no invocation in commonRuns", verb)
			continue
		}
		has := func(name string) bool { return cmd.Flags().Lookup(name) != nil }
		if code, out, e := run(t, args(verb, "plain")...); code != 0 {
			t.Errorf("%s: exit %d: %s %s", verb, code, out, e)
			continue
		}
		if has("json") {
			code, out, e := run(t, args(verb, "json", "--json")...)
			if code != 0 || !oneJSONValue(out) {
				t.Errorf("%s --json: exit %d, stdout %q (%s); want one JSON value", verb, code, out, e)
			}
		}
		if has("quiet") {
			code, out, e := run(t, args(verb, "quiet", "-q")...)
			if code != 0 || e != "" || has("output") && verb != "train" && out != "" {
				t.Errorf("%s -q: exit %d, stdout %q, stderr %q; want nothing on stderr (nor on stdout for a verb that only writes a file)", verb, code, out, e)
			}
		}
		if has("output") {
			a := args(verb, "out")
			if code, _, e := run(t, a...); code != 0 {
				t.Errorf("%s -o: exit %d: %s", verb, code, e)
			} else if _, err := os.Stat(a[len(a)-1]); err != nil && a[len(a)-2] == "-o" {
				t.Errorf("%s -o %s wrote nothing: %v", verb, a[len(a)-1], err)
			}
		}
		if has("threads") {
			if code, _, e := run(t, args(verb, "threads", "--threads", "-1")...); code != exitUsage || !strings.Contains(e, "--threads -1") {
				t.Errorf("%s --threads -1: exit %d, %q; want a usage error naming --threads", verb, code, e)
			}
			if code, _, e := run(t, args(verb, "threads", "--threads", "1")...); code != 0 {
				t.Errorf("%s --threads 1: exit %d: %s", verb, code, e)
			}
			if got := runtime.GOMAXPROCS(0); got != procs {
				t.Errorf("%s --threads 1 left GOMAXPROCS at %d, want %d", verb, got, procs)
				runtime.GOMAXPROCS(procs)
			}
		}
		if has("device") {
			if code, _, e := run(t, args(verb, "device", "--device", "gpu0")...); code != exitUsage || !strings.Contains(e, `--device: "gpu0" is not one of auto, cpu, cuda`) {
				t.Errorf("%s --device gpu0: exit %d, %q; want a usage error naming --device", verb, code, e)
			}
		}
	}
}

// oneJSONValue reports whether s is exactly one JSON value and a newline.
func oneJSONValue(s string) bool {
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF && strings.HasSuffix(s, "\n") && strings.Count(s, "\n") == 1
}

// TestThreadsSetsGOMAXPROCS: --threads N is GOMAXPROCS while the verb runs.
func TestThreadsSetsGOMAXPROCS(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, n := range []int{1, 3} {
		f, _, _ := testFactory()
		var seen int
		cmd := NewCmdEval(f, func(*EvalOptions) error { seen = runtime.GOMAXPROCS(0); return nil })
		cmd.SetArgs([]string{"m.bin", "--threads", strconv.Itoa(n)})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		runtime.GOMAXPROCS(procs)
		if seen != n {
			t.Errorf("eval --threads %d ran with GOMAXPROCS %d", n, seen)
		}
	}
}

// TestCompletion: the shell completes the values of the enumerated flags and directories for --data.
func TestCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--device", ""}, "auto\ncpu\ncuda\n:4\n"},
		{[]string{"eval", "--device", "c"}, "cpu\ncuda\n:4\n"}, // the shell filters the rest by prefix
		{[]string{"train", "--activation", ""}, "relu\nsigmoid\ntanh\n:4\n"},
		{[]string{"train", "--loss", ""}, "ce\nmse\n:4\n"},
		{[]string{"train", "--optimizer", ""}, "sgd\nnesterov\nadam\nadamw\n:4\n"},
		{[]string{"train", "--lr-schedule", ""}, "constant\nstep\nexp\ncosine\nonecycle\n:4\n"},
		{[]string{"train", "--dataset", ""}, "mnist\nfashion-mnist\nidx\n:4\n"},
		{[]string{"export", "m.bin", "--format", ""}, "onnx\nsafetensors\n:4\n"},
		{[]string{"predict", "--invert", ""}, "auto\nyes\nno\n:4\n"},
		{[]string{"train", "--data", ""}, ":16\n"},
		{[]string{"data", "sample", "-o", ""}, ":16\n"},
		{[]string{"train", "--metrics", ""}, "jsonl\n:8\n"},
	} {
		f, out, _ := testFactory()
		if code := Main(append([]string{"__complete"}, c.args...), f); code != 0 {
			t.Fatalf("__complete %q: exit %d", c.args, code)
		}
		got := out.String()
		if c.args[len(c.args)-1] == "c" { // cobra leaves filtering by prefix to the shell for fixed lists
			got = strings.Join(filterPrefix(strings.Split(got, "\n"), "c"), "\n")
		}
		if got != c.want {
			t.Errorf("complete %q = %q, want %q", c.args, got, c.want)
		}
	}
}

func filterPrefix(lines []string, p string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, p) || strings.HasPrefix(l, ":") || l == "" {
			out = append(out, l)
		}
	}
	return out
}

// TestVersion: --version prints the version line; version --json carries the version, and the
// build date when the binary was stamped with one.
func TestVersion(t *testing.T) {
	f, out, _ := testFactory()
	if code := Main([]string{"--version"}, f); code != 0 || out.String() != "dltrain "+buildVersion()+"\n" {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	defer func(d string) { buildDate = d }(buildDate)
	buildDate = "2026-11-30T12:00:00Z"
	f, out, _ = testFactory()
	if code := Main([]string{"version", "--json"}, f); code != 0 {
		t.Fatalf("version --json: exit %d", code)
	}
	var v versionJSON
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Version != buildVersion() || v.BuildDate != buildDate || v.Threads < 1 || v.CheckpointFormat == "" {
		t.Errorf("version --json = %+v (%v) from %s", v, err, out.String())
	}
	f, out, _ = testFactory()
	Main([]string{"version"}, f)
	if !bytes.Contains(out.Bytes(), []byte("built 2026-11-30T12:00:00Z")) {
		t.Errorf("version does not show the build date: %s", out.String())
	}

	// Every checkpoint records the version and the build date; inspect shows them. A binary not
	// stamped with a date records none.
	dir := t.TempDir()
	for _, date := range []string{"2026-11-30T12:00:00Z", ""} {
		buildDate = date
		m := trainSmall(t, dir, "m"+date+".bin")
		ck, err := checkpoint.Load(m, nil)
		if err != nil || ck.Version != buildVersion() || ck.BuildDate != date || ck.Keys["dltrain_build_date"] != date {
			t.Errorf("checkpoint of a build dated %q: version %q, build date %q (%v)", date, ck.Version, ck.BuildDate, err)
		}
		if _, ok := ck.Keys["dltrain_build_date"]; ok != (date != "") {
			t.Errorf("checkpoint of a build dated %q has the key dltrain_build_date: %v", date, ok)
		}
		code, out, _ := run(t, "inspect", m)
		if date != "" && (code != 0 || !strings.Contains(out, "written by dltrain "+buildVersion()+" (built "+date+")")) {
			t.Errorf("inspect: exit %d: %s", code, out)
		}
	}
}
