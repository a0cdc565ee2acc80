// Package checkpoint is dltrain's model file: a safetensors file holding an MLP's parameters and
// optimizer state, with its configuration and training position in the metadata and a SHA-256 of
// the tensor data, optionally sealed in an AES-256-GCM envelope (envelope.go), with the key files
// that go with it. Files are written atomically through internal/safefile.
//
// It reads and writes internal/model's types; it does not train, evaluate or export (internal/export
// turns a checkpoint into ONNX or PyTorch-named safetensors).
package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nlpodyssey/safetensors"

	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/safefile"
)

// The checkpoint is a safetensors file (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header, then the raw little-endian float32 tensor bytes.
// Tensors: fcN.weight (OC, C) and fcN.bias (OC) for layers N = 1…L, named as PyTorch names
// nn.Linear attributes fc1…fcL, and the optimizer's state for each: fcN.weight.momentum /
// fcN.bias.momentum, SGD's momentum buffers, or fcN.weight.exp_avg, fcN.weight.exp_avg_sq, … Adam's
// moments under PyTorch's names. The header's __metadata__ holds the keys below (and those of
// optim.go); tensors_sha256 is the SHA-256 of the whole data section and is checked on load. Two
// keys are optional and written only when they say something: dataset (absent means MNIST) and
// dltrain_version (absent means not recorded).

// ReadableVersions are the format versions this build reads: 1 (the first release's SGD), 2 (the
// optimizers, schedules, validation, frozen layers and adversarial training of optim.go and
// adversarial.go) and 3 (augmentation, augment.go). A file is written at the lowest version that
// records everything it holds.
var ReadableVersions = []string{FormatVersion, FormatVersion2, FormatVersion3}

// Format and FormatVersion identify dltrain checkpoints.
const (
	Format        = "dltrain.mlp"
	FormatVersion = "1"
	// maxHeader is safetensors' own limit on the JSON header.
	maxHeader = 100_000_000
)

// Meta is what a checkpoint records besides the tensors.
type Meta struct {
	Hyper        model.Hyper
	TestAccuracy float64 // after the last completed epoch; −1 if unknown
	// Init is how the weights were first initialized, and InitFrom the base name of the checkpoint
	// they were taken from (--init-from), if any; both for the record only.
	Init     model.Init
	InitFrom string
	// Dataset names the data set the model was trained on ("mnist", "fashion-mnist", "idx"; see
	// mnist.Lookup). "" means DefaultDataset. It is written as the metadata key "dataset" only when it
	// is not the default, so MNIST checkpoints are byte for byte what they were before data sets, and
	// a file without the key reads as DefaultDataset.
	Dataset string
	// Version is the dltrain version that wrote the file (key "dltrain_version"); "" when unknown.
	// It is written only when not empty: the library leaves it empty, the CLI sets it.
	Version string
	// BuildDate is when that dltrain was built, in RFC 3339 (key "dltrain_build_date"); "" when
	// unknown. Like Version it is written only when not empty: the CLI sets it when its build was
	// stamped with a date (by the Makefile), so library-made checkpoints keep their bytes.
	BuildDate string
	// Keys is every __metadata__ key and value as Decode read them, also those this build does not
	// interpret (for 'dltrain inspect'); nil for a checkpoint made in memory. Encode ignores it.
	Keys map[string]string
}

// DefaultDataset is the data set of a checkpoint whose metadata names none: every checkpoint written
// before data sets existed was trained on MNIST.
const DefaultDataset = "mnist"

// DatasetName is the data set c was trained on: c.Dataset, or DefaultDataset when that is empty.
func (m Meta) DatasetName() string {
	if m.Dataset == "" {
		return DefaultDataset
	}
	return m.Dataset
}

// Checkpoint is a model.Model with the training settings it was saved with.
type Checkpoint struct {
	*model.Model
	Meta
}

// TensorName is the checkpoint name of layer l's (0-based) weight or bias: "fc1.weight", "fc2.bias"…
func TensorName(l int, bias bool) string {
	if bias {
		return "fc" + strconv.Itoa(l+1) + ".bias"
	}
	return "fc" + strconv.Itoa(l+1) + ".weight"
}

const momentumSuffix = ".momentum"

// F32Bytes is v as little-endian float32 bytes, the layout of safetensors' F32 and ONNX raw_data.
func F32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Encode serializes a checkpoint to safetensors bytes.
func Encode(c Checkpoint) ([]byte, error) {
	m := c.Model
	if err := m.Config.Validate(); err != nil {
		return nil, err
	}
	views := map[string]safetensors.TensorView{}
	for _, t := range tensorSpecs(m.Config, c.Hyper.Optimizer) {
		src := vector(m, t.in)
		if len(src) != m.Config.NumParams() {
			return nil, fmt.Errorf("checkpoint: the model has no %s state for %s", c.Hyper.Optimizer, t.name)
		}
		tv, err := safetensors.NewTensorView(safetensors.F32, t.shape, F32Bytes(src[t.off:t.off+t.n]))
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", t.name, err)
		}
		views[t.name] = tv
	}
	meta := map[string]string{
		"format":         Format,
		"format_version": FormatVersion,
		"arch":           m.Config.Arch(),
		"activation":     m.Config.Activation.String(),
		"loss":           m.Config.Loss.String(),
		"norm_mean":      "0.5",
		"norm_std":       "0.5",
		"epoch":          strconv.Itoa(m.Epoch),
		"step":           strconv.Itoa(m.Step),
		"epoch_step":     strconv.Itoa(m.EpochStep),
		"seed":           strconv.FormatUint(m.Seed, 10),
		"epochs":         strconv.Itoa(c.Hyper.Epochs),
		"batch_size":     strconv.Itoa(c.Hyper.BatchSize),
		"lr":             ftoa(c.Hyper.LR),
		"momentum":       ftoa(c.Hyper.Momentum),
		"test_accuracy":  strconv.FormatFloat(c.TestAccuracy, 'g', -1, 64),
	}
	meta["format_version"] = putAugment(meta, c.Hyper, putTraining(meta, c))
	if ds := c.DatasetName(); ds != DefaultDataset {
		if err := checkName("dataset", ds); err != nil {
			return nil, fmt.Errorf("checkpoint: %v", err)
		}
		meta["dataset"] = ds
	}
	if c.Version != "" {
		if err := checkName("dltrain_version", c.Version); err != nil {
			return nil, fmt.Errorf("checkpoint: %v", err)
		}
		meta["dltrain_version"] = c.Version
	}
	if c.BuildDate != "" {
		if err := checkDate("dltrain_build_date", c.BuildDate); err != nil {
			return nil, fmt.Errorf("checkpoint: %v", err)
		}
		meta["dltrain_build_date"] = c.BuildDate
	}
	// The data section does not depend on the metadata, so hash it from a first pass.
	first, err := safetensors.Serialize(views, meta)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	hl := binary.LittleEndian.Uint64(first)
	sum := sha256.Sum256(first[8+hl:])
	meta["tensors_sha256"] = hex.EncodeToString(sum[:])
	out, err := safetensors.Serialize(views, meta)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return out, nil
}

// Save writes a checkpoint to path atomically (safefile.WriteAtomic): a crash at any point leaves
// either the old file or the new one, never a mixture.
//
// With a key, the safetensors bytes are sealed in the AES-256-GCM envelope (envelope.go).
//
// It refuses a checkpoint outside the limits Load accepts (model's MaxEpochs, MaxParams, …), so it
// never writes a file that dltrain would then refuse. The file is created as any other file is
// (0666 less the umask), or 0600 when encrypted.
func Save(path string, c Checkpoint, key []byte) error {
	if err := c.check(); err != nil {
		return fmt.Errorf("checkpoint: %s: refusing to write what this build could not read back: %w", path, err)
	}
	b, err := Encode(c)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o666)
	if key != nil {
		if b, err = Encrypt(key, b); err != nil {
			return fmt.Errorf("checkpoint: %s: %w", path, err)
		}
		mode = 0o600
	}
	if err := safefile.WriteAtomicMode(path, b, mode); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// fromMetadata reads and checks a checkpoint's __metadata__: the format, the configuration, the
// training position and settings (within the limits train's flags are held to, so that what the
// writer writes the reader reads, and nothing else), and the tensors' SHA-256. It returns a Model
// with no tensors yet.
func fromMetadata(md map[string]string) (Checkpoint, []byte, error) {
	if md["format"] != Format {
		if md["producer"] == "dltrain" && md["format"] == "pt" {
			return Checkpoint{}, nil, fmt.Errorf("a weights-only safetensors export (dltrain export --format safetensors), %w", ErrNotCheckpoint)
		}
		return Checkpoint{}, nil, fmt.Errorf("%w (format %q, want %q)", ErrNotCheckpoint, md["format"], Format)
	}
	version := md["format_version"]
	if !slices.Contains(ReadableVersions, version) {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint format version %q, this build reads %s", version, strings.Join(ReadableVersions, ", "))
	}
	sizes, err := model.ParseArch(md["arch"])
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
	}
	act, err := ops.ParseActivation(md["activation"])
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
	}
	loss, err := model.ParseLoss(md["loss"])
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
	}
	cfg := model.Config{Sizes: sizes, Activation: act, Loss: loss}
	if err := cfg.Validate(); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
	}
	if md["norm_mean"] != "0.5" || md["norm_std"] != "0.5" {
		return Checkpoint{}, nil, fmt.Errorf("metadata: normalization mean %q std %q, this build uses 0.5/0.5", md["norm_mean"], md["norm_std"])
	}
	var ints [5]int64
	for i, k := range []string{"epoch", "step", "epochs", "batch_size", "epoch_step"} {
		v, err := strconv.ParseInt(md[k], 10, 64)
		if err != nil || v < 0 || v > model.MaxSteps {
			return Checkpoint{}, nil, fmt.Errorf("metadata: bad %s %q", k, md[k])
		}
		ints[i] = v
	}
	seed, err := strconv.ParseUint(md["seed"], 10, 64)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: bad seed %q", md["seed"])
	}
	var floats [3]float64
	for i, k := range []string{"lr", "momentum", "test_accuracy"} {
		v, err := strconv.ParseFloat(md[k], 64)
		if err != nil {
			return Checkpoint{}, nil, fmt.Errorf("metadata: bad %s %q", k, md[k])
		}
		floats[i] = v
	}
	h := model.Hyper{Epochs: int(ints[2]), BatchSize: int(ints[3]), LR: floats[0], Momentum: floats[1]}
	var best model.Best
	var c Checkpoint
	if err := getTraining(md, version, &h, &best, &c); err != nil {
		return Checkpoint{}, nil, err
	}
	if err := getAugment(md, version, &h); err != nil {
		return Checkpoint{}, nil, err
	}
	want, err := hex.DecodeString(md["tensors_sha256"])
	if err != nil || len(want) != sha256.Size {
		return Checkpoint{}, nil, fmt.Errorf("metadata: bad tensors_sha256 %q", md["tensors_sha256"])
	}
	m := &model.Model{Config: cfg, Epoch: int(ints[0]), Step: int(ints[1]), EpochStep: int(ints[4]), Seed: seed, Best: best}
	c.Model, c.Hyper, c.TestAccuracy = m, h, floats[2]
	c.Keys = maps.Clone(md)
	for _, k := range []struct {
		key string
		dst *string
	}{{"dataset", &c.Dataset}, {"dltrain_version", &c.Version}} {
		v, ok := md[k.key]
		if !ok {
			continue
		}
		if err := checkName(k.key, v); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
		}
		*k.dst = v
	}
	if v, ok := md["dltrain_build_date"]; ok {
		if err := checkDate("dltrain_build_date", v); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
		}
		c.BuildDate = v
	}
	if c.Dataset == DefaultDataset {
		c.Dataset = ""
	}
	if err := c.check(); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("metadata: %v", err)
	}
	return c, want, nil
}

// check holds a checkpoint's settings and position to the limits train's flags are held to: the
// writer refuses what the reader would reject.
func (c Checkpoint) check() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Hyper.Validate(); err != nil {
		return err
	}
	if err := c.Hyper.CheckFreeze(c.Config); err != nil {
		return err
	}
	if err := model.CheckPosition(c.Epoch, c.Step, c.EpochStep); err != nil {
		return err
	}
	if a := c.TestAccuracy; a != -1 && !(a >= 0 && a <= 1) {
		return fmt.Errorf("test accuracy %v, want -1 (unknown) or 0..1", a)
	}
	return nil
}

// maxName bounds the length of a name-like metadata value (a data set's name, a version).
const maxName = 64

// checkDate refuses a metadata date that is not an RFC 3339 time ("2026-11-30T12:00:00Z").
func checkDate(key, v string) error {
	if len(v) > maxName {
		return fmt.Errorf("bad %s: longer than %d bytes", key, maxName)
	}
	if _, err := time.Parse(time.RFC3339, v); err != nil {
		return fmt.Errorf("bad %s %q: want an RFC 3339 time such as 2026-11-30T12:00:00Z", key, v)
	}
	return nil
}

// checkName accepts a short name-like metadata value: 1..maxName characters from [A-Za-z0-9._+-].
// What it means (a data set this build knows, say) is for the caller to judge; this only keeps
// control characters, spaces and long strings out of messages.
func checkName(key, v string) error {
	if v == "" || len(v) > maxName {
		return fmt.Errorf("bad %s %q: want 1..%d characters", key, v, maxName)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '+' || r == '-') {
			return fmt.Errorf("bad %s %q: want letters, digits and . _ + -", key, v)
		}
	}
	return nil
}

// tensorSpec is one tensor of a checkpoint: its name, its shape, and the n floats at off in the
// model's vector in (Params, or one of the optimizer's state vectors) that it holds.
type tensorSpec struct {
	name   string
	shape  []uint64
	off, n int
	in     int
}

// tensorSpecs lists every tensor a checkpoint of cfg trained with opt holds: per layer the weight and
// bias, each followed by its optimizer state (SGD's momentum, or Adam's exp_avg and exp_avg_sq).
func tensorSpecs(cfg model.Config, opt model.Optimizer) []tensorSpec {
	type stateTensor struct {
		suffix string
		in     int
	}
	state := []stateTensor{{momentumSuffix, inVelocity}}
	if opt.IsAdam() {
		state = []stateTensor{{expAvgSuffix, inExpAvg}, {expAvgSqSuffix, inExpAvgSq}}
	}
	wOff, bOff, _ := cfg.Layout()
	var specs []tensorSpec
	for l := range cfg.Layers() {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		for _, t := range []tensorSpec{
			{name: TensorName(l, false), shape: []uint64{uint64(out), uint64(in)}, off: wOff[l], n: out * in},
			{name: TensorName(l, true), shape: []uint64{uint64(out)}, off: bOff[l], n: out},
		} {
			specs = append(specs, t)
			for _, st := range state {
				s := t
				s.name, s.in = t.name+st.suffix, st.in
				specs = append(specs, s)
			}
		}
	}
	return specs
}

func equalShape(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
