package checkpoint_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/ops/opstest"

	"github.com/nlpodyssey/safetensors"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

func checkpointOf(t *testing.T) checkpoint.Checkpoint {
	t.Helper()
	m, err := model.New(model.NewConfig([]int{8, 4}, ops.Tanh, model.MSE), 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Velocity {
		m.Velocity[i] = float32(i) * 1e-3
	}
	m.Epoch, m.Step = 3, 1800
	return checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 10, BatchSize: 100, LR: 0.01, Momentum: 0.9}, TestAccuracy: 0.97}}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := checkpointOf(t)
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := checkpoint.Save(path, c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Arch() != "784-8-4-10" || got.Config.Activation != ops.Tanh || got.Config.Loss != model.MSE ||
		got.Epoch != 3 || got.Step != 1800 || got.Seed != 5 || got.Hyper != c.Hyper || got.TestAccuracy != 0.97 {
		t.Fatalf("Load = %+v %+v, want %+v %+v", got.Model, got.Meta, c.Model, c.Meta)
	}
	if !opstest.SameBits(got.Params, c.Params) || !opstest.SameBits(got.Velocity, c.Velocity) {
		t.Fatal("Load: tensors differ from what was saved")
	}
	// No temp files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after Save, want 1", len(ents))
	}
}

// TestCheckpointStandardReader: an independent safetensors reader opens the file and sees the
// weights under PyTorch's names.
func TestCheckpointStandardReader(t *testing.T) {
	c := checkpointOf(t)
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	tv, ok := st.Tensor("fc1.weight")
	if !ok || tv.DType() != safetensors.F32 || len(tv.Shape()) != 2 || tv.Shape()[0] != 8 || tv.Shape()[1] != 784 {
		t.Fatalf("fc1.weight = %v %v %v", ok, tv.DType(), tv.Shape())
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(tv.Data())); got != c.Weight(0)[0] {
		t.Fatalf("fc1.weight[0][0] = %v, want %v", got, c.Weight(0)[0])
	}
	if st.Len() != 12 {
		t.Fatalf("checkpoint holds %d tensors, want 12 (3 layers × weight, bias × param, momentum)", st.Len())
	}
}

func TestCheckpointFlippedByteRejected(t *testing.T) {
	c := checkpointOf(t)
	b, _ := checkpoint.Encode(c)
	dir := t.TempDir()
	// Flip one byte in the tensor data (the last byte), and one in the header's JSON.
	for _, pos := range []int{len(b) - 1, len(b) - 4000} {
		bad := append([]byte(nil), b...)
		bad[pos] ^= 0x01
		p := filepath.Join(dir, "flipped.bin")
		os.WriteFile(p, bad, 0o644)
		_, err := checkpoint.Load(p, nil)
		if err == nil || !strings.Contains(err.Error(), "flipped.bin") || !strings.Contains(err.Error(), "SHA-256") {
			t.Fatalf("Load(byte %d flipped) = %v, want a SHA-256 error naming the file", pos, err)
		}
	}
}

func TestCheckpointRejectsNaN(t *testing.T) {
	c := checkpointOf(t)
	c.Params[5] = float32(math.NaN())
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Decode(b); err == nil || !strings.Contains(err.Error(), "NaN at index 5") {
		t.Fatalf("Decode(NaN weight) = %v, want NaN error", err)
	}
}

// TestCheckpointDataset: the data set is recorded when it is not MNIST, and an MNIST checkpoint is
// byte for byte what it was before data sets (no dataset key), whether Dataset is "" or "mnist".
func TestCheckpointDataset(t *testing.T) {
	c := checkpointOf(t)
	plain, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, c2 := range []struct {
		dataset, version string
		same             bool   // same bytes as plain
		want             string // DatasetName after Decode
	}{
		{"", "", true, "mnist"},
		{"mnist", "", true, "mnist"},
		{"fashion-mnist", "", false, "fashion-mnist"},
		{"idx", "v1.2.3-dirty", false, "idx"},
	} {
		c.Dataset, c.Version = c2.dataset, c2.version
		b, err := checkpoint.Encode(c)
		if err != nil {
			t.Fatalf("Encode(dataset %q) = %v", c2.dataset, err)
		}
		if same := string(b) == string(plain); same != c2.same {
			t.Errorf("Encode(dataset %q, version %q) same bytes as the default = %v, want %v", c2.dataset, c2.version, same, c2.same)
		}
		got, err := checkpoint.Decode(b)
		if err != nil || got.DatasetName() != c2.want || got.Version != c2.version {
			t.Errorf("Decode(Encode(dataset %q, version %q)) = %q %q, %v; want %q %q", c2.dataset, c2.version, got.DatasetName(), got.Version, err, c2.want, c2.version)
			continue
		}
		if _, ok := got.Keys["dataset"]; ok == c2.same {
			t.Errorf("Encode(dataset %q) has a dataset key: %v, want %v", c2.dataset, ok, !c2.same)
		}
		if got.Keys["arch"] != "784-8-4-10" {
			t.Errorf("Decode(...).Keys[arch] = %q, want 784-8-4-10", got.Keys["arch"])
		}
	}
	for _, bad := range []string{"fashion mnist", "a\nb", strings.Repeat("x", 65)} {
		c.Dataset = bad
		if _, err := checkpoint.Encode(c); err == nil || !strings.Contains(err.Error(), "bad dataset") {
			t.Errorf("Encode(dataset %q) = %v, want a bad dataset error", bad, err)
		}
	}
}

// TestCheckpointBuildDate: the build date is written only when set (a library-made checkpoint keeps
// its bytes), read back as written, and refused when it is not an RFC 3339 time, on either side.
func TestCheckpointBuildDate(t *testing.T) {
	c := checkpointOf(t)
	plain, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Version, c.BuildDate = "v1.2.3", "2026-11-30T12:34:56Z"
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Decode(b)
	if err != nil || got.BuildDate != c.BuildDate || got.Keys["dltrain_build_date"] != c.BuildDate || got.Version != "v1.2.3" {
		t.Errorf("Decode(Encode(build date %q)) = %q, %v", c.BuildDate, got.BuildDate, err)
	}
	c.BuildDate = ""
	c.Version = ""
	if b, _ := checkpoint.Encode(c); string(b) != string(plain) {
		t.Error("Encode with no build date changed the bytes")
	}
	for _, bad := range []string{"yesterday", "2026-11-30", "2026-11-30 12:00:00"} {
		c.BuildDate = bad
		if _, err := checkpoint.Encode(c); err == nil || !strings.Contains(err.Error(), "bad dltrain_build_date") {
			t.Errorf("Encode(build date %q) = %v, want a bad dltrain_build_date error", bad, err)
		}
		c.BuildDate = ""
		if _, err := checkpoint.Decode(withMeta(t, c, "dltrain_build_date", bad)); err == nil || !strings.Contains(err.Error(), "metadata: bad dltrain_build_date") {
			t.Errorf("Decode(build date %q) = %v, want a bad dltrain_build_date error", bad, err)
		}
	}
}

// TestCheckpointDatasetRead: a dataset key written by hand (another writer, a newer dltrain) is read
// as it is when it is name-like, and refused otherwise, naming the key.
func TestCheckpointDatasetRead(t *testing.T) {
	c := checkpointOf(t)
	for _, c2 := range []struct{ value, want string }{
		{"mnist", ""},
		{"cifar-10", ""},
		{"", `metadata: bad dataset ""`},
		{"../../etc", `metadata: bad dataset "../../etc"`},
	} {
		b := withMeta(t, c, "dataset", c2.value)
		got, err := checkpoint.Decode(b)
		switch {
		case c2.want == "" && (err != nil || got.DatasetName() != c2.value):
			t.Errorf("Decode(dataset %q) = %q, %v; want %q, nil", c2.value, got.DatasetName(), err, c2.value)
		case c2.want != "" && (err == nil || !strings.Contains(err.Error(), c2.want)):
			t.Errorf("Decode(dataset %q) = %v, want %q", c2.value, err, c2.want)
		}
	}
}

// withMeta re-encodes c's safetensors bytes with one metadata key set to value, keeping the
// tensors (and so their hash) as they are.
func withMeta(t *testing.T, c checkpoint.Checkpoint, key, value string) []byte {
	t.Helper()
	b, err := checkpoint.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	_, md, err := safetensors.ReadMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	meta := md.Metadata()
	meta[key] = value
	views := map[string]safetensors.TensorView{}
	for _, n := range st.Names() {
		tv, _ := st.Tensor(n)
		views[n] = tv
	}
	out, err := safetensors.Serialize(views, meta)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadEnvelope(t *testing.T) {
	key := make([]byte, checkpoint.KeySize)
	env, err := checkpoint.Encrypt(key, []byte("plain bytes"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := checkpoint.ReadEnvelope(env[:checkpoint.EnvelopeHeaderLen], int64(len(env)))
	if err != nil || e.Version != 1 || e.AlgorithmName() != "AES-256-GCM" || len(e.Nonce) != 12 || e.Size != int64(len("plain bytes")+16) {
		t.Fatalf("ReadEnvelope = %+v, %v; want version 1, AES-256-GCM, a 12-byte nonce, %d bytes", e, err, len("plain bytes")+16)
	}
	env[9] = 7
	if e, err := checkpoint.ReadEnvelope(env, int64(len(env))); err != nil || e.AlgorithmName() != "unknown algorithm 7" {
		t.Errorf("ReadEnvelope(algorithm 7) = %q, %v; want unknown algorithm 7", e.AlgorithmName(), err)
	}
	for _, c := range []struct {
		head []byte
		size int64
		want string
	}{
		{[]byte("DLTRAINE\x01"), 9, "truncated"},
		{env[:checkpoint.EnvelopeHeaderLen], checkpoint.EnvelopeHeaderLen + 3, "truncated"},
		{[]byte("{\"a\":1}"), 7, "not an encrypted"},
	} {
		if _, err := checkpoint.ReadEnvelope(c.head, c.size); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadEnvelope(%q, %d) = %v, want %q", c.head, c.size, err, c.want)
		}
	}
}
