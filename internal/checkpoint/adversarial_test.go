package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
)

// TestAdversarialCheckpoint: an adversarially trained checkpoint records its recipe (format version
// 2, even with SGD), decodes to the same settings and encodes back to the same bytes; a plain one has
// none of the keys; and broken or partial records are refused by name.
func TestAdversarialCheckpoint(t *testing.T) {
	c := checkpointOf(t)
	plain, _ := checkpoint.Encode(c)
	for k := range metadata(t, plain) {
		if strings.HasPrefix(k, "adv") {
			t.Fatalf("a plain checkpoint has %s", k)
		}
	}
	c.Hyper.Adversarial = model.Adversarial{Method: attack.PGD, Eps: 0.1, Steps: 7, StepSize: 0.03, Ratio: 0.5}
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	md := metadata(t, b)
	if md["format_version"] != "2" || md["adversarial"] != "pgd" || md["adv_eps"] != "0.1" || md["adv_steps"] != "7" ||
		md["adv_step_size"] != "0.03" || md["adv_ratio"] != "0.5" {
		t.Fatalf("adversarial checkpoint metadata %v", md)
	}
	got, err := checkpoint.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hyper != c.Hyper {
		t.Fatalf("Decode(Encode(c)).Hyper = %+v, want %+v", got.Hyper, c.Hyper)
	}
	if again, _ := checkpoint.Encode(got); !bytes.Equal(again, b) {
		t.Fatal("Encode(Decode(b)) differs from b")
	}
	for _, e := range []struct{ old, new, want string }{
		{`"adversarial":"pgd"`, `"adversarial":"cw"`, `unknown method "cw"`},
		{`"adv_eps":"0.1"`, `"adv_eps":"1.5"`, "ε 1.5"},
		{`"adv_eps":"0.1"`, `"adv_eps":"0"`, `bad adv_eps "0"`},
		{`"adv_eps":"0.1"`, `"adv_eps":"x"`, `bad adv_eps "x"`},
		{`"adv_ratio":"0.5"`, `"adv_ratio":"2"`, "ratio 2"},
		{`"adv_steps":"7",`, ``, "adversarial training needs all of"},
		{`"format_version":"2"`, `"format_version":"1"`, "in a format version 1 checkpoint"},
	} {
		if !bytes.Contains(b, []byte(e.old)) {
			t.Fatalf("no %s in the file", e.old)
		}
		bad := bytes.Replace(b, []byte(e.old), []byte(e.new), 1)
		binary.LittleEndian.PutUint64(bad, binary.LittleEndian.Uint64(b)+uint64(len(e.new)-len(e.old)))
		if _, err := checkpoint.Decode(bad); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("Decode(%s → %s) = %v, want an error with %q", e.old, e.new, err, e.want)
		}
	}
}

// TestTinyAdversarialRatioStillLoads: a ratio that attacks no image of a batch is refused for training
// (model.Hyper.CheckAdversarial), but a checkpoint an earlier build wrote with one still loads.
func TestTinyAdversarialRatioStillLoads(t *testing.T) {
	c := checkpointOf(t)
	c.Hyper.Adversarial = model.Adversarial{Method: attack.FGSM, Eps: 0.1, Steps: 1, Ratio: 0.004}
	if c.Hyper.CheckAdversarial() == nil {
		t.Fatalf("batch %d, ratio 0.004: CheckAdversarial accepted it", c.Hyper.BatchSize)
	}
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := checkpoint.Decode(b); err != nil || got.Hyper != c.Hyper {
		t.Fatalf("Decode: %v (%+v)", err, got.Hyper)
	}
}
