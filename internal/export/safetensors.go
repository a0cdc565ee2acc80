// Package export writes a trained model in formats other tools read: safetensors named as PyTorch
// names the layers, and ONNX (opset 13) with the normalization inside the graph. Both carry the data
// set and its class names in their metadata.
package export

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nlpodyssey/safetensors"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
)

// classNames returns the data set c was trained on and its ten class names as a JSON array (the
// metadata value "classes": ["0", "1", …] for MNIST, ["T-shirt/top", "Trouser", …] for
// Fashion-MNIST), index i naming output i.
func classNames(c checkpoint.Checkpoint) (mnist.Dataset, string, error) {
	ds, err := mnist.Lookup(c.DatasetName())
	if err != nil {
		return mnist.Dataset{}, "", fmt.Errorf("export: %w", err)
	}
	b, err := json.Marshal(ds.Classes)
	if err != nil {
		return mnist.Dataset{}, "", fmt.Errorf("export: %w", err)
	}
	return ds, string(b), nil
}

// Safetensors encodes the weights alone, named and shaped as PyTorch names the layers of an
// nn.Module with attributes fc1…fcL: fcN.weight (OC, C) and fcN.bias (OC), float32. The seed's Net
// loads the result with load_state_dict(safetensors.torch.load_file(path)).
func Safetensors(c checkpoint.Checkpoint) ([]byte, error) {
	m := c.Model
	ds, classes, err := classNames(c)
	if err != nil {
		return nil, err
	}
	views := map[string]safetensors.TensorView{}
	for l := range m.Config.Layers() {
		in, out := m.Config.Sizes[l], m.Config.Sizes[l+1]
		w, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(out), uint64(in)}, checkpoint.F32Bytes(m.Weight(l)))
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		b, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(out)}, checkpoint.F32Bytes(m.Bias(l)))
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		views[checkpoint.TensorName(l, false)] = w
		views[checkpoint.TensorName(l, true)] = b
	}
	meta := map[string]string{
		"format":        "pt",
		"producer":      "dltrain",
		"arch":          m.Config.Arch(),
		"activation":    m.Config.Activation.String(),
		"loss":          m.Config.Loss.String(),
		"normalization": "(x/255 - 0.5) / 0.5",
		"epoch":         strconv.Itoa(m.Epoch),
		"test_accuracy": strconv.FormatFloat(c.TestAccuracy, 'g', -1, 64),
		"dataset":       ds.Name,
		"classes":       classes,
	}
	return safetensors.Serialize(views, meta)
}
