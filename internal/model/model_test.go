package model_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/nlpodyssey/safetensors"
)

func subset(t testing.TB) (train, test *mnist.Set) {
	t.Helper()
	train, test, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

func TestParseHidden(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"128", []int{128}, true},
		{"512,256", []int{512, 256}, true},
		{" 64 , 32 ", []int{64, 32}, true},
		{"", nil, true},
		{"0", nil, false},
		{"-3", nil, false},
		{"12x", nil, false},
		{"100000", nil, false},
	} {
		got, err := model.ParseHidden(c.in)
		if (err == nil) != c.ok || len(got) != len(c.want) {
			t.Errorf("ParseHidden(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("ParseHidden(%q) = %v, want %v", c.in, got, c.want)
			}
		}
	}
}

func TestInitPyTorchBounds(t *testing.T) {
	m, err := model.New(model.NewConfig([]int{128}, model.ReLU, model.CrossEntropy), 7)
	if err != nil {
		t.Fatal(err)
	}
	for l, fanIn := range []int{784, 128} {
		bound := float32(1 / math.Sqrt(float64(fanIn)))
		var maxAbs float32
		for _, v := range append(append([]float32(nil), m.Weight(l)...), m.Bias(l)...) {
			maxAbs = max(maxAbs, float32(math.Abs(float64(v))))
		}
		// All inside the bound, and the largest close to it (the draw is uniform over the whole range).
		if maxAbs > bound || maxAbs < 0.95*bound {
			t.Errorf("layer %d: max |param| = %v, want just under %v", l, maxAbs, bound)
		}
	}
	m2, _ := model.New(m.Config, 7)
	m3, _ := model.New(m.Config, 8)
	if !equalF32(m.Params, m2.Params) || equalF32(m.Params, m3.Params) {
		t.Error("New: same seed must give the same parameters, a different seed different ones")
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func trainSubset(t testing.TB, cfg model.Config, epochs int, seed uint64) (*model.Model, []model.EpochResult) {
	return trainSubsetLR(t, cfg, epochs, seed, 0.01)
}

func trainSubsetLR(t testing.TB, cfg model.Config, epochs int, seed uint64, lr float32) (*model.Model, []model.EpochResult) {
	t.Helper()
	train, test := subset(t)
	m, err := model.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	var res []model.EpochResult
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m,
		Hyper:   model.Hyper{Epochs: epochs, BatchSize: 100, LR: lr, Momentum: 0.9},
		OnEpoch: func(r model.EpochResult) error { res = append(res, r); return nil }}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	return m, res
}

// TestTrainSubsetAccuracy: the real model learns real digits: 10 epochs on 3000 images clear 85% (they reach about 88%).
func TestTrainSubsetAccuracy(t *testing.T) {
	m, res := trainSubset(t, model.NewConfig([]int{128}, model.ReLU, model.CrossEntropy), 10, 1)
	last := res[len(res)-1]
	t.Logf("subset test accuracy after epoch 1, 5, 10: %.4f %.4f %.4f", res[0].TestAccuracy, res[4].TestAccuracy, res[9].TestAccuracy)
	if last.TestAccuracy < 0.85 {
		t.Fatalf("test accuracy after 10 epochs = %.4f, want ≥ 0.85", last.TestAccuracy)
	}
	if m.Epoch != 10 || m.Step != 300 {
		t.Fatalf("model at epoch %d step %d, want 10, 300", m.Epoch, m.Step)
	}
	if !(res[9].TrainLoss < res[0].TrainLoss) {
		t.Fatalf("train loss did not fall: %v", res)
	}
}

// TestEveryArchitectureLearns: each activation and loss, and a deeper net, beat chance clearly.
func TestEveryArchitectureLearns(t *testing.T) {
	for _, c := range []model.Config{
		model.NewConfig([]int{64, 32}, model.Tanh, model.CrossEntropy),
		model.NewConfig([]int{64}, model.Sigmoid, model.CrossEntropy),
		model.NewConfig([]int{64}, model.ReLU, model.MSE),
		model.NewConfig(nil, model.ReLU, model.CrossEntropy),
	} {
		_, res := trainSubsetLR(t, c, 2, 3, 0.1)
		if acc := res[len(res)-1].TestAccuracy; acc < 0.6 {
			t.Errorf("%s %v/%v: test accuracy %.3f after 2 epochs, want ≥ 0.6", c.Arch(), c.Activation, c.Loss, acc)
		}
	}
}

// TestSameSeedSameBytes: two runs with the same seed give byte-identical checkpoints, and so do runs
// with GOMAXPROCS 1 and 2.
func TestSameSeedSameBytes(t *testing.T) {
	cfg := model.NewConfig([]int{32}, model.ReLU, model.CrossEntropy)
	var files [][]byte
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{2, 2, 1} {
		runtime.GOMAXPROCS(procs)
		m, _ := trainSubset(t, cfg, 2, 42)
		b, err := model.Encode(model.Checkpoint{Model: m})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two runs with the same seed gave different checkpoints")
	}
	if !bytes.Equal(files[0], files[2]) {
		t.Fatal("GOMAXPROCS=1 and GOMAXPROCS=2 gave different checkpoints")
	}
}

// TestPartialLastBatch: 3000 images in batches of 128 end with a batch of 56; every sample is seen once.
func TestPartialLastBatch(t *testing.T) {
	train, test := subset(t)
	m, _ := model.New(model.NewConfig([]int{16}, model.ReLU, model.CrossEntropy), 1)
	var last model.Progress
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: model.Hyper{Epochs: 1, BatchSize: 128, LR: 0.01, Momentum: 0.9},
		OnProgress: func(p model.Progress) { last = p }, ProgressEvery: 1}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	if m.Step != 24 || last.Done != 3000 || last.Total != 3000 {
		t.Fatalf("steps %d, done %d of %d; want 24 steps, 3000 of 3000", m.Step, last.Done, last.Total)
	}
}

func TestEpochOrderIsAPermutation(t *testing.T) {
	o := model.EpochOrder(1, 1, 1000, nil)
	seen := make([]bool, 1000)
	for _, v := range o {
		if seen[v] {
			t.Fatalf("EpochOrder repeats %d", v)
		}
		seen[v] = true
	}
	o2 := model.EpochOrder(1, 2, 1000, nil)
	same := 0
	for i := range o {
		if o[i] == o2[i] {
			same++
		}
	}
	if same > 20 {
		t.Fatalf("epochs 1 and 2 share %d positions: not a fresh shuffle", same)
	}
}

func TestDivergenceStops(t *testing.T) {
	train, test := subset(t)
	m, _ := model.New(model.NewConfig([]int{32}, model.ReLU, model.CrossEntropy), 1)
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: model.Hyper{Epochs: 2, BatchSize: 100, LR: 1e20, Momentum: 0.9}, ProgressEvery: 1}
	err := tr.Run(context.Background(), train, test)
	var div *model.DivergedError
	if !errors.As(err, &div) || div.Epoch != 1 || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("Run with lr 1e20 = %v, want a divergence error in epoch 1", err)
	}
}

func checkpointOf(t *testing.T) model.Checkpoint {
	t.Helper()
	m, err := model.New(model.NewConfig([]int{8, 4}, model.Tanh, model.MSE), 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Velocity {
		m.Velocity[i] = float32(i) * 1e-3
	}
	m.Epoch, m.Step = 3, 1800
	return model.Checkpoint{Model: m, Meta: model.Meta{Hyper: model.Hyper{Epochs: 10, BatchSize: 100, LR: 0.01, Momentum: 0.9}, TestAccuracy: 0.97}}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := checkpointOf(t)
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := model.Save(path, c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := model.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Arch() != "784-8-4-10" || got.Config.Activation != model.Tanh || got.Config.Loss != model.MSE ||
		got.Epoch != 3 || got.Step != 1800 || got.Seed != 5 || got.Hyper != c.Hyper || got.TestAccuracy != 0.97 {
		t.Fatalf("Load = %+v %+v, want %+v %+v", got.Model, got.Meta, c.Model, c.Meta)
	}
	if !equalF32(got.Params, c.Params) || !equalF32(got.Velocity, c.Velocity) {
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
	b, err := model.Encode(c)
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
	b, _ := model.Encode(c)
	dir := t.TempDir()
	// Flip one byte in the tensor data (the last byte), and one in the header's JSON.
	for _, pos := range []int{len(b) - 1, len(b) - 4000} {
		bad := append([]byte(nil), b...)
		bad[pos] ^= 0x01
		p := filepath.Join(dir, "flipped.bin")
		os.WriteFile(p, bad, 0o644)
		_, err := model.Load(p, nil)
		if err == nil || !strings.Contains(err.Error(), "flipped.bin") || !strings.Contains(err.Error(), "SHA-256") {
			t.Fatalf("Load(byte %d flipped) = %v, want a SHA-256 error naming the file", pos, err)
		}
	}
}

func TestCheckpointRejectsNaN(t *testing.T) {
	c := checkpointOf(t)
	c.Params[5] = float32(math.NaN())
	b, err := model.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.Decode(b); err == nil || !strings.Contains(err.Error(), "NaN at index 5") {
		t.Fatalf("Decode(NaN weight) = %v, want NaN error", err)
	}
}

// TestEvaluateMatchesTraining: evaluating the saved weights reproduces the last epoch's test accuracy
// and loss exactly.
func TestEvaluateMatchesTraining(t *testing.T) {
	m, res := trainSubset(t, model.NewConfig([]int{128}, model.ReLU, model.CrossEntropy), 2, 9)
	b, _ := model.Encode(model.Checkpoint{Model: m})
	c, err := model.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	_, test := subset(t)
	ev, err := model.Evaluate(&cpu.Backend{}, c.Model, test)
	if err != nil {
		t.Fatal(err)
	}
	last := res[len(res)-1]
	if ev.Accuracy != last.TestAccuracy || ev.Loss != last.TestLoss {
		t.Fatalf("Evaluate = acc %v loss %v, training reported %v %v", ev.Accuracy, ev.Loss, last.TestAccuracy, last.TestLoss)
	}
	total := 0
	for _, row := range ev.Confusion {
		for _, k := range row {
			total += k
		}
	}
	if total != test.N {
		t.Fatalf("confusion matrix counts %d samples, want %d", total, test.N)
	}
}
