package export

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// ONNX versions written: opset 13 with IR version 7, which onnxruntime has loaded since 1.6 and
// gonnx's opset-13 runtime executes.
const (
	OpsetVersion = 13
	IRVersion    = 7
)

// ONNX builds the model as an ONNX graph:
//
//	input (N, 1, 28, 28), pixels in 0..1 as torchvision's ToTensor() gives them
//	  → Flatten(axis 1) → Sub(norm.mean) → Div(norm.std)         (N, 784), (x − 0.5)/0.5
//	  → Gemm(fcK.weight, fcK.bias, transB 1) → activation        for each hidden layer K
//	  → Gemm(fcL.weight, fcL.bias, transB 1)                     logits (N, 10)
//	  → Softmax(axis 1)                                          probabilities (N, 10)
//
// N is a dynamic dimension. Nodes are in topological order; initializers are named after the layers.
func ONNX(c checkpoint.Checkpoint) ([]byte, error) {
	m := c.Model
	cfg := m.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var actOp string
	switch cfg.Activation {
	case ops.ReLU:
		actOp = "Relu"
	case ops.Sigmoid:
		actOp = "Sigmoid"
	case ops.Tanh:
		actOp = "Tanh"
	}
	g := &onnx.GraphProto{Name: "dltrain_mlp_" + strings.ReplaceAll(cfg.Arch(), "-", "_")}
	g.Input = []*onnx.ValueInfoProto{valueInfo("input", "N", 1, 28, 28)}
	g.Output = []*onnx.ValueInfoProto{valueInfo("logits", "N", ops.Classes), valueInfo("probabilities", "N", ops.Classes)}
	g.Initializer = append(g.Initializer, floatTensor("norm.mean", []int64{1}, []float32{0.5}), floatTensor("norm.std", []int64{1}, []float32{0.5}))
	node := func(op, name string, in []string, out string, attrs ...*onnx.AttributeProto) {
		g.Node = append(g.Node, &onnx.NodeProto{OpType: op, Name: name, Input: in, Output: []string{out}, Attribute: attrs})
	}
	node("Flatten", "flatten", []string{"input"}, "flat", intAttr("axis", 1))
	node("Sub", "normalize_sub", []string{"flat", "norm.mean"}, "centered")
	node("Div", "normalize_div", []string{"centered", "norm.std"}, "x")
	x := "x"
	L := cfg.Layers()
	for l := range L {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		w, b := checkpoint.TensorName(l, false), checkpoint.TensorName(l, true)
		g.Initializer = append(g.Initializer,
			floatTensor(w, []int64{int64(out), int64(in)}, m.Weight(l)),
			floatTensor(b, []int64{int64(out)}, m.Bias(l)))
		fc := "fc" + strconv.Itoa(l+1)
		y := fc + ".out"
		if l == L-1 {
			y = "logits"
		}
		node("Gemm", fc, []string{x, w, b}, y, intAttr("transB", 1))
		x = y
		if l < L-1 {
			a := fc + "." + strings.ToLower(actOp)
			node(actOp, a, []string{y}, a)
			x = a
		}
	}
	node("Softmax", "softmax", []string{"logits"}, "probabilities", intAttr("axis", 1))

	ds, classes, err := classNames(c)
	if err != nil {
		return nil, err
	}
	acc := "unknown"
	if c.TestAccuracy >= 0 {
		acc = strconv.FormatFloat(c.TestAccuracy, 'f', 4, 64)
	}
	meta := map[string]string{
		"arch":          cfg.Arch(),
		"activation":    cfg.Activation.String(),
		"loss":          cfg.Loss.String(),
		"epochs":        strconv.Itoa(m.Epoch),
		"batch_size":    strconv.Itoa(c.Hyper.BatchSize),
		"lr":            strconv.FormatFloat(float64(c.Hyper.LR), 'g', -1, 32),
		"momentum":      strconv.FormatFloat(float64(c.Hyper.Momentum), 'g', -1, 32),
		"seed":          strconv.FormatUint(m.Seed, 10),
		"test_accuracy": acc,
		"normalization": "(x - 0.5) / 0.5 inside the graph; feed pixels in 0..1",
		"dataset":       ds.Name,
		"classes":       classes,
	}
	mp := &onnx.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*onnx.OperatorSetIdProto{{Domain: "", Version: OpsetVersion}},
		ProducerName:    "dltrain",
		ProducerVersion: checkpoint.Format + "/" + checkpoint.FormatVersion,
		DocString: fmt.Sprintf("dltrain MLP %s, %s hidden activation, trained on %s with %s loss for %s (%s, batch %d, seed %d); test accuracy %s. Input: (N, 1, 28, 28) pixels in 0..1; outputs: logits and softmax probabilities (N, 10) of the classes in metadata_props' classes.",
			cfg.Arch(), cfg.Activation, ds.Title, cfg.Loss, epochs(m.Epoch), optimizerDoc(c.Hyper, meta), c.Hyper.BatchSize, m.Seed, acc),
		Graph: g,
	}
	keys := []string{"arch", "activation", "loss", "epochs", "batch_size", "lr", "momentum", "seed", "test_accuracy", "normalization", "dataset", "classes"}
	// A model trained otherwise than with SGD (the first release's only optimizer, whose files keep
	// their keys) names its optimizer; Adam's betas stand where momentum would.
	if h := c.Hyper; h.Optimizer != model.SGD {
		f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
		meta["optimizer"] = h.Optimizer.String()
		extra := []string{"optimizer"}
		if h.Optimizer.IsAdam() {
			delete(meta, "momentum")
			keys = slices.DeleteFunc(keys, func(k string) bool { return k == "momentum" })
			meta["betas"] = f(h.Beta1) + "," + f(h.Beta2)
			extra = append(extra, "betas")
		}
		if h.WeightDecay != 0 {
			meta["weight_decay"] = f(h.WeightDecay)
			extra = append(extra, "weight_decay")
		}
		i := slices.Index(keys, "lr") + 1
		keys = slices.Insert(keys, i, extra...)
	}
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: meta[k]})
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("export: onnx: %w", err)
	}
	return b, nil
}

// valueInfo declares a float tensor; dims of 0 stand for the named dynamic dimension.
func valueInfo(name, dynamic string, dims ...int64) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: dynamic}})
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape}}}}
}

func floatTensor(name string, dims []int64, v []float32) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), RawData: checkpoint.F32Bytes(v)}
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// optimizerDoc names the optimizer and its settings for the model's doc string: "SGD lr 0.01,
// momentum 0.9" (the first release's wording, so that a default model's file is unchanged), or
// "adamw lr 0.001, betas 0.9/0.999, weight decay 0.01".
func optimizerDoc(h model.Hyper, meta map[string]string) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var s string
	switch h.Optimizer {
	case model.SGD:
		s = fmt.Sprintf("SGD lr %s, momentum %s", meta["lr"], meta["momentum"])
	case model.Nesterov:
		s = fmt.Sprintf("%v lr %s, momentum %s", h.Optimizer, meta["lr"], meta["momentum"])
	default:
		s = fmt.Sprintf("%v lr %s, betas %s/%s", h.Optimizer, meta["lr"], f(h.Beta1), f(h.Beta2))
	}
	if h.WeightDecay != 0 {
		s += ", weight decay " + f(h.WeightDecay)
	}
	return s
}

// epochs is "1 epoch" or "n epochs".
func epochs(n int) string {
	if n == 1 {
		return "1 epoch"
	}
	return strconv.Itoa(n) + " epochs"
}
