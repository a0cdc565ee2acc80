package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/nlpodyssey/safetensors"
	"gorgonia.org/tensor"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/export"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

func trained(t *testing.T, cfg model.Config) (checkpoint.Checkpoint, *mnist.Set) {
	t.Helper()
	train, test, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	h := model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.05, Momentum: 0.9}
	var acc float64
	tr := &model.Trainer{Backend: &cpu.Backend{}, Model: m, Hyper: h,
		OnEpoch: func(r model.EpochResult) error { acc = r.TestAccuracy; return nil }}
	if err := tr.Run(context.Background(), train, test); err != nil {
		t.Fatal(err)
	}
	return checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: h, TestAccuracy: acc}}, test
}

// dltrainLogits runs dltrain's own forward pass over the first n test images.
func dltrainLogits(t *testing.T, m *model.Model, s *mnist.Set, n int) []float32 {
	t.Helper()
	be := &cpu.Backend{}
	net, err := model.NewNet(be, m.Config, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Load(m); err != nil {
		t.Fatal(err)
	}
	d, _ := be.Resident(s)
	order := make([]int32, s.N)
	for i := range order {
		order[i] = int32(i)
	}
	be.SetOrder(d, order)
	net.Forward(d, 0, n)
	out := make([]float32, n*ops.Classes)
	if err := net.Logits(out, n); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestONNXMatchesForward runs the exported graph in gonnx, a pure-Go ONNX runtime, on 256 real test
// images fed as raw 0..1 pixels, and compares its logits with dltrain's forward pass.
func TestONNXMatchesForward(t *testing.T) {
	for _, cfg := range []model.Config{
		model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy),
		model.NewConfig([]int{64, 48, 32}, ops.Tanh, model.CrossEntropy),
		model.NewConfig([]int{32}, ops.Sigmoid, model.MSE),
	} {
		ck, test := trained(t, cfg)
		b, err := export.ONNX(ck)
		if err != nil {
			t.Fatal(err)
		}
		om, err := gonnx.NewModelFromBytes(b)
		if err != nil {
			t.Fatalf("%s: gonnx cannot load the export: %v", cfg.Arch(), err)
		}
		const n = 256
		pix := make([]float32, n*mnist.Pixels)
		for i := range pix {
			pix[i] = float32(test.Images[i]) / 255
		}
		out, err := om.Run(gonnx.Tensors{"input": tensor.New(tensor.WithShape(n, 1, 28, 28), tensor.WithBacking(pix))})
		if err != nil {
			t.Fatalf("%s: gonnx run: %v", cfg.Arch(), err)
		}
		got := out["logits"].Data().([]float32)
		want := dltrainLogits(t, ck.Model, test, n)
		if len(got) != len(want) {
			t.Fatalf("%s: %d logits, want %d", cfg.Arch(), len(got), len(want))
		}
		var maxDiff float64
		for i := range want {
			d := math.Abs(float64(got[i] - want[i]))
			maxDiff = max(maxDiff, d)
			if d > 1e-5+1e-5*math.Abs(float64(want[i])) {
				t.Fatalf("%s: logit %d: onnx %v, dltrain %v", cfg.Arch(), i, got[i], want[i])
			}
		}
		probs := out["probabilities"].Data().([]float32)
		for r := range n {
			s := float32(0)
			for _, p := range probs[r*10 : r*10+10] {
				s += p
			}
			if math.Abs(float64(s-1)) > 1e-5 {
				t.Fatalf("%s: probabilities of row %d sum to %v", cfg.Arch(), r, s)
			}
		}
		t.Logf("%s %v: max |onnx − dltrain| over %d×10 logits = %.2g", cfg.Arch(), cfg.Activation, n, maxDiff)
	}
}

func TestONNXStructure(t *testing.T) {
	ck, _ := trained(t, model.NewConfig([]int{16, 8}, ops.Tanh, model.CrossEntropy))
	b, err := export.ONNX(ck)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := gonnx.ModelProtoFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if mp.IrVersion != 7 || mp.OpsetImport[0].Version != 13 || mp.ProducerName != "dltrain" {
		t.Fatalf("ir %d opset %d producer %q", mp.IrVersion, mp.OpsetImport[0].Version, mp.ProducerName)
	}
	var ops []string
	for _, n := range mp.Graph.Node {
		ops = append(ops, n.OpType)
	}
	want := "Flatten Sub Div Gemm Tanh Gemm Tanh Gemm Softmax"
	if got := joinOps(ops); got != want {
		t.Fatalf("nodes %q, want %q", got, want)
	}
	var inits []string
	for _, in := range mp.Graph.Initializer {
		inits = append(inits, in.Name)
	}
	if joinOps(inits) != "norm.mean norm.std fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias" {
		t.Fatalf("initializers %v", inits)
	}
	// Softmax's axis is explicit, and the doc string carries the configuration and accuracy.
	sm := mp.Graph.Node[len(mp.Graph.Node)-1]
	if len(sm.Attribute) != 1 || sm.Attribute[0].Name != "axis" || sm.Attribute[0].I != 1 {
		t.Fatalf("softmax attributes %v", sm.Attribute)
	}
	if !bytes.Contains([]byte(mp.DocString), []byte("784-16-8-10")) || !bytes.Contains([]byte(mp.DocString), []byte("test accuracy 0.")) ||
		!bytes.Contains([]byte(mp.DocString), []byte("(SGD lr 0.05, momentum 0.9, batch 100")) {
		t.Fatalf("doc string %q", mp.DocString)
	}

	// The doc string names the optimizer the model was trained with.
	ck.Hyper.Optimizer, ck.Hyper.LR, ck.Hyper.Beta1, ck.Hyper.Beta2, ck.Hyper.WeightDecay = model.AdamW, 0.001, 0.9, 0.999, 0.01
	if b, err = export.ONNX(ck); err != nil {
		t.Fatal(err)
	}
	if mp, err = gonnx.ModelProtoFromBytes(b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mp.DocString, "(adamw lr 0.001, betas 0.9/0.999, weight decay 0.01, batch 100") || strings.Contains(mp.DocString, "SGD") {
		t.Fatalf("doc string of an AdamW model %q", mp.DocString)
	}
	var props []string
	for _, p := range mp.MetadataProps {
		props = append(props, p.Key+"="+p.Value)
	}
	if got := strings.Join(props[4:10], " "); got != "batch_size=100 lr=0.001 optimizer=adamw betas=0.9,0.999 weight_decay=0.01 seed=3" {
		t.Fatalf("metadata of an AdamW model: %v", props)
	}
}

func joinOps(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// TestSafetensorsExport reads the export back with the safetensors library and checks names, shapes
// and bytes against the checkpoint.
func TestSafetensorsExport(t *testing.T) {
	ck, _ := trained(t, model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy))
	b, err := export.Safetensors(ck)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]uint64{"fc1.weight": {128, 784}, "fc1.bias": {128}, "fc2.weight": {10, 128}, "fc2.bias": {10}}
	if st.Len() != len(want) {
		t.Fatalf("tensors %v, want %v", st.Names(), want)
	}
	for name, shape := range want {
		tv, ok := st.Tensor(name)
		if !ok || tv.DType() != safetensors.F32 || len(tv.Shape()) != len(shape) {
			t.Fatalf("%s: %v %v %v", name, ok, tv.DType(), tv.Shape())
		}
		for i := range shape {
			if tv.Shape()[i] != shape[i] {
				t.Fatalf("%s shape %v, want %v", name, tv.Shape(), shape)
			}
		}
	}
	for l := range 2 {
		w, _ := st.Tensor(checkpoint.TensorName(l, false))
		bi, _ := st.Tensor(checkpoint.TensorName(l, true))
		if !bytes.Equal(w.Data(), checkpoint.F32Bytes(ck.Weight(l))) || !bytes.Equal(bi.Data(), checkpoint.F32Bytes(ck.Bias(l))) {
			t.Fatalf("layer %d bytes differ from the checkpoint", l+1)
		}
	}
}

// TestExportClasses: both formats name the data set and its ten classes in their metadata, index i
// naming output i, and refuse a data set this build does not know.
func TestExportClasses(t *testing.T) {
	ck, _ := trained(t, model.NewConfig([]int{8}, ops.ReLU, model.CrossEntropy))
	for _, c := range []struct {
		dataset, wantName string
		want              []string
	}{
		{"", "mnist", []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{"fashion-mnist", "fashion-mnist", []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
	} {
		ck.Dataset = c.dataset
		b, err := export.ONNX(ck)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := gonnx.ModelProtoFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		onnxMeta := map[string]string{}
		for _, e := range mp.MetadataProps {
			onnxMeta[e.Key] = e.Value
		}
		b, err = export.Safetensors(ck)
		if err != nil {
			t.Fatal(err)
		}
		_, md, err := safetensors.ReadMetadata(b)
		if err != nil {
			t.Fatal(err)
		}
		for format, meta := range map[string]map[string]string{"onnx": onnxMeta, "safetensors": md.Metadata()} {
			var got []string
			if err := json.Unmarshal([]byte(meta["classes"]), &got); err != nil || !slices.Equal(got, c.want) || meta["dataset"] != c.wantName {
				t.Errorf("%s export of a %q model: dataset %q, classes %q (%v); want %q, %q", format, c.dataset, meta["dataset"], meta["classes"], err, c.wantName, c.want)
			}
		}
	}
	ck.Dataset = "cifar-10"
	for format, f := range map[string]func(checkpoint.Checkpoint) ([]byte, error){"onnx": export.ONNX, "safetensors": export.Safetensors} {
		if _, err := f(ck); err == nil || !strings.Contains(err.Error(), `unknown data set "cifar-10"`) {
			t.Errorf("%s export of a cifar-10 model = %v, want an unknown data set error", format, err)
		}
	}
}
