package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/checkpoint"
)

// TestAugmentCheckpointRoundTrip: a run with augmentation is format version 3, records the mode and
// the ranges it uses (the elastic keys only in elastic mode) and decodes to the same settings and
// bytes, alone and on top of every version 2 feature.
func TestAugmentCheckpointRoundTrip(t *testing.T) {
	elastic := augment.Params{Mode: augment.Elastic, Rotation: 12.5, Scale: 0.1, Shear: 0.2, Translate: 1.5, Sigma: 5, Alpha: 30}
	affine := augment.Default(augment.Affine)
	affine.Sigma, affine.Alpha = 0, 0 // unused in affine mode, and not recorded (train leaves them 0)
	for _, c := range []struct {
		name string
		base checkpoint.Checkpoint
		a    augment.Params
		keys int // metadata keys: version 1's 17, the 8 version 2 keys of an SGD run, the augment keys
	}{
		{"sgd + affine", checkpointOf(t), affine, 25 + 5},
		{"sgd + elastic", checkpointOf(t), elastic, 25 + 7},
		{"adamw, schedule, split, freeze + elastic", adamCheckpoint(t), elastic, 0},
	} {
		ck := c.base
		ck.Hyper.Augment = c.a
		b, err := checkpoint.Encode(ck)
		if err != nil {
			t.Fatal(err)
		}
		md := metadata(t, b)
		if md["format_version"] != "3" || md["augment"] != c.a.Mode.String() {
			t.Fatalf("%s: format_version %q, augment %q; want 3, %v", c.name, md["format_version"], md["augment"], c.a.Mode)
		}
		if _, ok := md["elastic_sigma"]; ok != (c.a.Mode == augment.Elastic) {
			t.Fatalf("%s: elastic_sigma present = %v in %v mode", c.name, ok, c.a.Mode)
		}
		if c.keys > 0 && len(md) != c.keys {
			t.Fatalf("%s: %d metadata keys, want %d: %v", c.name, len(md), c.keys, md)
		}
		got, err := checkpoint.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", c.name, err)
		}
		if got.Hyper != ck.Hyper {
			t.Fatalf("%s: Decode(Encode(c)).Hyper = %+v, want %+v", c.name, got.Hyper, ck.Hyper)
		}
		if again, _ := checkpoint.Encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s: Encode(Decode(b)) differs from b", c.name)
		}
	}
}

// TestAugmentVersionRules: augment keys in a version 1 or 2 file, a version 3 file without them or
// with bad values, and elastic keys in affine mode are all refused, each by name.
func TestAugmentVersionRules(t *testing.T) {
	plain, _ := checkpoint.Encode(checkpointOf(t))
	v2c := checkpointOf(t)
	v2c.Hyper.WeightDecay = 1e-4
	v2, _ := checkpoint.Encode(v2c)
	ec := checkpointOf(t)
	ec.Hyper.Augment = augment.Default(augment.Elastic)
	elastic, _ := checkpoint.Encode(ec)
	ac := checkpointOf(t)
	ac.Hyper.Augment = augment.Default(augment.Affine)
	affine, _ := checkpoint.Encode(ac)
	for _, c := range []struct {
		file     []byte
		old, new string
		want     string
	}{
		{plain, `"lr":"0.01"`, `"lr":"0.01","augment":"elastic"`, "augment in a format version 1 checkpoint"},
		{v2, `"lr":"0.01"`, `"lr":"0.01","rotate":"15"`, "rotate in a format version 2 checkpoint"},
		{elastic, `"augment":"elastic"`, `"augment":"elastik"`, `bad augment "elastik"`},
		{elastic, `"augment":"elastic"`, `"augment":"none"`, `bad augment "none"`},
		{elastic, `"augment":"elastic",`, ``, `bad augment ""`},
		{elastic, `"rotate":"15"`, `"rotate":"95"`, "rotation 95° out of range"},
		{elastic, `"elastic_alpha":"36"`, `"elastic_alpha":"NaN"`, `bad elastic_alpha "NaN"`},
		{elastic, `"elastic_sigma":"6",`, ``, `bad elastic_sigma ""`},
		{elastic, `"shift":"2"`, `"shift":"x"`, `bad shift "x"`},
		{affine, `"rotate":"15"`, `"rotate":"15","elastic_alpha":"36"`, "elastic_alpha with augment affine"},
		{elastic, `"format_version":"3"`, `"format_version":"2"`, "augment in a format version 2 checkpoint"},
	} {
		if !bytes.Contains(c.file, []byte(c.old)) {
			t.Fatalf("no %s in the file", c.old)
		}
		b := bytes.Replace(c.file, []byte(c.old), []byte(c.new), 1)
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(c.file)+uint64(len(c.new)-len(c.old)))
		if _, err := checkpoint.Decode(b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s → %s) = %v, want an error with %q", c.old, c.new, err, c.want)
		}
	}
}
