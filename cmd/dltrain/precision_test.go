package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/cuda"
)

// TestPrecisionFlag: --precision on train and eval. tf32 is a GPU setting: refused with --device cpu,
// ignored with a note when --device auto runs on the CPU, and an unknown value is a usage error.
func TestPrecisionFlag(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	f, _, errb := testFactory()
	if code := Main([]string{"train", "--device", "cpu", "--epochs", "1", "-q", "-o", model}, f); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errb.String())
	}
	cases := []struct {
		args string
		code int
		want string // in stderr
	}{
		{"train --device cpu --precision tf32", exitUsage, "--precision tf32 needs the GPU"},
		{"train --device cpu --precision fp16", exitUsage, `unknown precision "fp16"`},
		{"eval " + model + " --device cpu --precision tf32", exitUsage, "--precision tf32 needs the GPU"},
		{"eval " + model + " --device cpu --precision fp32", 0, ""},
	}
	if !cuda.Built {
		// In a build without CUDA, auto always runs on the CPU: tf32 is noted and ignored.
		cases = append(cases,
			struct {
				args string
				code int
				want string
			}{"train --device auto --precision tf32 --epochs 1 -o " + filepath.Join(dir, "a.bin"), 0, "--precision tf32 applies to the GPU only"})
	}
	for _, c := range cases {
		f, _, errb := testFactory()
		code := Main(strings.Fields(c.args), f)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("dltrain %s: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
