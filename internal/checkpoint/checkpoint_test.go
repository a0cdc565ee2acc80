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
