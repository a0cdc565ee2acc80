package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
	"github.com/dltrain/dltrain/internal/schedule"
)

// adamCheckpoint is a checkpoint that uses every format version 2 feature.
func adamCheckpoint(t *testing.T) checkpoint.Checkpoint {
	t.Helper()
	m, err := model.NewInit(model.NewConfig([]int{8, 4}, ops.ReLU, model.CrossEntropy), 5, model.Init{Kind: model.InitUniform, A: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	P := m.Config.NumParams()
	m.ExpAvg, m.ExpAvgSq = make([]float32, P), make([]float32, P)
	for i := range P {
		m.ExpAvg[i], m.ExpAvgSq[i] = float32(i)*1e-3, float32(i)*1e-6
	}
	m.Epoch, m.Step, m.EpochStep = 3, 1810, 10
	m.Best = model.Best{Epoch: 2, Accuracy: 0.96, Loss: 0.125}
	var freeze model.LayerSet
	freeze.Add(0)
	h := model.Hyper{Epochs: 10, BatchSize: 100, LR: 1e-3, Momentum: 0.9, Optimizer: model.AdamW, WeightDecay: 0.01,
		Beta1: 0.8, Beta2: 0.99, Eps: 1e-7, Schedule: schedule.Params{Kind: schedule.Step, Warmup: 0.5, Min: 1e-6, StepEpochs: 3, Gamma: 0.5},
		ValSplit: 5000, Patience: 4, Freeze: freeze}
	return checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: h, TestAccuracy: 0.97, Init: model.Init{Kind: model.InitUniform, A: 0.05}, InitFrom: "base.bin"}}
}

func metadata(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var hdr struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(b[8:8+binary.LittleEndian.Uint64(b)], &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Meta
}

// TestAdamCheckpointRoundTrip: every setting, the best epoch and Adam's moments come back as they
// went in; the file is format version 2 and holds Adam's moments under PyTorch's names, not momentum.
func TestAdamCheckpointRoundTrip(t *testing.T) {
	c := adamCheckpoint(t)
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hyper != c.Hyper || got.Best != c.Best || got.Init != c.Init || got.InitFrom != c.InitFrom ||
		got.Epoch != 3 || got.Step != 1810 || got.EpochStep != 10 {
		t.Fatalf("Decode(Encode(c)) = %+v %+v, want %+v %+v", got.Meta, *got.Model, c.Meta, *c.Model)
	}
	if !opstest.SameBits(got.Params, c.Params) || !opstest.SameBits(got.ExpAvg, c.ExpAvg) || !opstest.SameBits(got.ExpAvgSq, c.ExpAvgSq) {
		t.Fatal("Decode(Encode(c)): tensors differ")
	}
	if v := metadata(t, b)["format_version"]; v != "2" {
		t.Fatalf("format_version %q, want 2", v)
	}
	st, _ := safetensors.Deserialize(b)
	names := strings.Join(st.Names(), " ")
	if st.Len() != 18 || !strings.Contains(names, "fc1.weight.exp_avg_sq") || strings.Contains(names, "momentum") {
		t.Fatalf("tensors %s, want weight, bias, exp_avg, exp_avg_sq of 3 layers", names)
	}
	// Encode(Decode(b)) reproduces b.
	again, _ := checkpoint.Encode(got)
	if !bytes.Equal(again, b) {
		t.Fatal("Encode(Decode(b)) differs from b")
	}
}

// TestDefaultCheckpointIsVersion1: a default SGD checkpoint carries no version 2 key and says
// format_version 1; the same with Nesterov does not.
func TestDefaultCheckpointIsVersion1(t *testing.T) {
	c := checkpointOf(t)
	b, _ := checkpoint.Encode(c)
	md := metadata(t, b)
	if md["format_version"] != "1" || md["optimizer"] != "" || md["lr_schedule"] != "" || len(md) != 17 {
		t.Fatalf("default checkpoint metadata %v, want the 17 keys of version 1", md)
	}
	c.Hyper.Optimizer = model.Nesterov
	b, _ = checkpoint.Encode(c)
	if md := metadata(t, b); md["format_version"] != "2" || md["optimizer"] != "nesterov" {
		t.Fatalf("nesterov checkpoint: format_version %q, optimizer %q", md["format_version"], md["optimizer"])
	}
}

// TestVersion1FileStillLoads: a checkpoint written by the first release (a committed fuzz seed, made
// before version 2 existed) loads as SGD with the defaults, and encodes back to the same bytes.
func TestVersion1FileStillLoads(t *testing.T) {
	raw, err := os.ReadFile("testdata/fuzz/FuzzDecode/valid-784-10")
	if err != nil {
		t.Fatal(err)
	}
	// The corpus file is "go test fuzz v1" then []byte("…") as a Go string literal.
	lit := strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[1])
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(version 1 file) = %v", err)
	}
	if c.Hyper.Optimizer != model.SGD || c.Hyper.Schedule != (schedule.Params{}) || c.Hyper.ValSplit != 0 || c.ExpAvg != nil || !c.Hyper.Freeze.Empty() {
		t.Fatalf("version 1 file decoded to %+v", c.Hyper)
	}
	again, err := checkpoint.Encode(c)
	if err != nil || !bytes.Equal(again, []byte(s)) {
		t.Fatalf("Encode(Decode(version 1 file)) differs from the file (%v)", err)
	}
}

// TestVersionRules: a version 1 file must not carry version 2 keys; unknown versions, optimizers and
// schedules are refused; an Adam checkpoint without its moments is refused by name.
func TestVersionRules(t *testing.T) {
	good, _ := checkpoint.Encode(checkpointOf(t))
	adam, _ := checkpoint.Encode(adamCheckpoint(t))
	for _, c := range []struct {
		file     []byte
		old, new string
		want     string
	}{
		{good, `"format_version":"1"`, `"format_version":"4"`, `format version "4", this build reads 1, 2, 3`},
		{good, `"lr":"0.01"`, `"lr":"0.01","optimizer":"adam"`, "optimizer in a format version 1 checkpoint"},
		{adam, `"optimizer":"adamw"`, `"optimizer":"adamx"`, `"adamx" is not one of sgd, nesterov, adam, adamw`},
		{adam, `"lr_schedule":"step"`, `"lr_schedule":"linear"`, `"linear" is not one of constant`},
		{adam, `"freeze":"fc1"`, `"freeze":"fc1,x"`, `bad layer name "x"`},
		{adam, `"beta2":"0.99"`, `"beta2":"2"`, `bad beta2 "2"`},
		{adam, `"optimizer":"adamw"`, `"optimizer":"nesterov"`, "missing tensor fc1.weight.momentum"},
	} {
		if !bytes.Contains(c.file, []byte(c.old)) {
			t.Fatalf("no %s in the file", c.old)
		}
		// Same-length edits keep the header length right; others go through a fresh header length.
		b := bytes.Replace(c.file, []byte(c.old), []byte(c.new), 1)
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(c.file)+uint64(len(c.new)-len(c.old)))
		if _, err := checkpoint.Decode(b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s → %s) = %v, want an error with %q", c.old, c.new, err, c.want)
		}
	}
}

// TestHyperLimitsRoundTrip: the largest validation split and patience that model.Hyper accepts are
// written and read back; the reader and the writer agree on the limits.
func TestHyperLimitsRoundTrip(t *testing.T) {
	c := adamCheckpoint(t)
	c.Hyper.ValSplit, c.Hyper.Patience = model.MaxValSplit, model.MaxPatience
	if err := c.Hyper.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Decode(b)
	if err != nil {
		t.Fatalf("Decode of a checkpoint with the largest val split and patience: %v", err)
	}
	if got.Hyper != c.Hyper {
		t.Fatalf("Decode(Encode(c)).Hyper = %+v, want %+v", got.Hyper, c.Hyper)
	}
}
