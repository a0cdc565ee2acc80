// inspect.go is 'dltrain inspect': what a checkpoint holds, for people (--json for programs), and the
// first layer's weights as a picture (--weights-png). It reads the file and nothing else: no data, no
// backend. An encrypted file without its key is described from its envelope header alone.

package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/figure"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/safefile"
)

// InspectOptions are the inputs of 'dltrain inspect'.
type InspectOptions struct {
	IO *IO

	Model      string
	KeyFile    string
	JSON       bool
	Quiet      bool
	WeightsPNG string
	WeightsMax int
}

// NewCmdInspect builds 'dltrain inspect'.
func NewCmdInspect(f *Factory, runF func(*InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "inspect [MODEL]",
		Short: "Show what a checkpoint holds: architecture, data set, training settings, accuracy",
		Long: `Show what a checkpoint (MODEL, default model.bin) holds: its architecture and parameter count, the data set it was trained
on and its classes, the training settings and position (epoch, step, batch size, learning rate,
momentum, seed), its test accuracy, whether it is encrypted, and which dltrain wrote it (when the
file records it). Metadata keys this dltrain does not interpret are listed as they are.

An encrypted checkpoint needs its key (--key-file or $DLTRAIN_KEY_FILE) for all that; without one,
inspect shows what the envelope header says (version, algorithm, nonce), which is only checked when
the file is decrypted.

--weights-png FILE draws the first layer's weights: each hidden unit's 784 input weights as a 28x28
image, blue negative, red positive, white zero, all units on one shared scale (so a unit that barely
moved from its random start looks pale next to one that learned a strong pattern). At most
--weights-max units are drawn.

--json prints one object: file, size, encrypted, envelope (when encrypted), reader_version, and,
when the model could be read, model with its fields and the raw metadata.`,
		Example: `  dltrain inspect model.bin
  dltrain inspect model.bin --json | jq .model.dataset
  dltrain inspect model.bin --weights-png fc1.png
  dltrain inspect secret.bin --key-file my.key`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = modelArg(args)
			if runF != nil {
				return runF(opts)
			}
			return inspectRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KeyFile, "key-file", "", keyFlagHelp)
	addCommon(cmd, commonFlags{JSON: &opts.JSON, Quiet: &opts.Quiet})
	fl.StringVar(&opts.WeightsPNG, "weights-png", "", "draw the first layer's weights into this PNG file")
	fl.IntVar(&opts.WeightsMax, "weights-max", 256, fmt.Sprintf("most units --weights-png draws (1..%d)", maxWeightTiles))
	fileFlag(cmd, "key-file")
	fileFlag(cmd, "weights-png", "png")
	return cmd
}

// maxWeightTiles bounds --weights-max: 1024 tiles of 28x28 at zoom 3 fit figure's 4096-pixel sides.
const maxWeightTiles = 1024

// inspectJSON is the --json format.
type inspectJSON struct {
	File          string        `json:"file"`
	Size          int64         `json:"size"`
	Encrypted     bool          `json:"encrypted"`
	Envelope      *envelopeJSON `json:"envelope,omitempty"`
	ReaderVersion string        `json:"reader_version"`
	Model         *modelJSON    `json:"model,omitempty"`
}

type envelopeJSON struct {
	Version   int    `json:"version"`
	Algorithm string `json:"algorithm"`
	Nonce     string `json:"nonce"`
}

type layerJSON struct {
	Name       string `json:"name"`
	In         int    `json:"in"`
	Out        int    `json:"out"`
	Parameters int    `json:"parameters"`
}

type modelJSON struct {
	Format         string            `json:"format"`
	FormatVersion  string            `json:"format_version"`
	DltrainVersion string            `json:"dltrain_version"`              // "" when the file does not record it
	BuildDate      string            `json:"dltrain_build_date,omitempty"` // when that dltrain was built, if recorded
	Arch           string            `json:"arch"`
	Activation     string            `json:"activation"`
	Loss           string            `json:"loss"`
	Parameters     int               `json:"parameters"`
	Layers         []layerJSON       `json:"layers"`
	Dataset        string            `json:"dataset"`
	DatasetTitle   string            `json:"dataset_title"` // "" for a set this dltrain does not know
	Classes        []string          `json:"classes"`       // nil for a set this dltrain does not know
	Epoch          int               `json:"epoch"`
	Step           int               `json:"step"`
	EpochStep      int               `json:"epoch_step"`
	Epochs         int               `json:"epochs"`
	BatchSize      int               `json:"batch_size"`
	Optimizer      string            `json:"optimizer"`
	LR             float64           `json:"lr"`
	Momentum       float64           `json:"momentum"`
	Seed           uint64            `json:"seed"`
	TestAccuracy   *float64          `json:"test_accuracy"` // null when not known
	TensorsSHA256  string            `json:"tensors_sha256"`
	Metadata       map[string]string `json:"metadata"`
}

// knownKeys are the metadata keys inspect shows in their own lines; others are listed as they are.
var knownKeys = []string{"format", "format_version", "arch", "activation", "loss", "norm_mean", "norm_std", "epoch", "step",
	"epoch_step", "seed", "epochs", "batch_size", "optimizer", "lr", "momentum", "test_accuracy", "tensors_sha256", "dataset", "dltrain_version", "dltrain_build_date"}

func inspectRun(opts *InspectOptions) error {
	if opts.WeightsMax < 1 || opts.WeightsMax > maxWeightTiles {
		return usageErr("--weights-max %d: want 1..%d", opts.WeightsMax, maxWeightTiles)
	}
	if err := checkOutputs("MODEL", exitModel, []string{opts.Model}, []string{"--weights-png"}, opts.WeightsPNG); err != nil {
		return err
	}
	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return err
	}
	size, head, err := fileHead(opts.Model, checkpoint.EnvelopeHeaderLen)
	if err != nil {
		return withCode(exitModel, fmt.Errorf("checkpoint: %s: %w", filepath.Base(opts.Model), err), "")
	}
	res := inspectJSON{File: opts.Model, Size: size, Encrypted: checkpoint.IsEncrypted(head), ReaderVersion: buildVersion()}
	var env checkpoint.Envelope
	if res.Encrypted {
		if env, err = checkpoint.ReadEnvelope(head, size); err != nil {
			return withCode(exitModel, fmt.Errorf("checkpoint: %s: %w", filepath.Base(opts.Model), err), "")
		}
		res.Envelope = &envelopeJSON{Version: env.Version, Algorithm: env.AlgorithmName(), Nonce: hex.EncodeToString(env.Nonce)}
	}
	if res.Encrypted && key == nil {
		if opts.WeightsPNG != "" {
			return withCode(exitModel, fmt.Errorf("checkpoint: %s: %w", filepath.Base(opts.Model), checkpoint.ErrEncrypted), "pass --key-file FILE or set DLTRAIN_KEY_FILE to draw its weights")
		}
		return printInspect(opts, res, nil, env)
	}
	ck, err := checkpoint.Load(opts.Model, key)
	if err != nil {
		return modelErr("inspect", err)
	}
	res.Model = describeModel(ck)
	if opts.WeightsPNG != "" {
		if err := writeWeightsPNG(opts, ck); err != nil {
			return err
		}
	}
	return printInspect(opts, res, &ck, env)
}

// fileHead returns a regular file's size and its first n bytes (fewer if it is shorter), refusing
// special files before opening them.
func fileHead(path string, n int) (int64, []byte, error) {
	if st, err := os.Stat(path); err != nil {
		return 0, nil, safefile.Cause(err)
	} else if !st.Mode().IsRegular() {
		return 0, nil, errors.New("not a regular file")
	}
	fh, err := os.Open(path)
	if err != nil {
		return 0, nil, safefile.Cause(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return 0, nil, safefile.Cause(err)
	}
	head := make([]byte, n)
	k, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, nil, safefile.Cause(err)
	}
	return st.Size(), head[:k], nil
}

// describeModel gathers what inspect shows of a readable checkpoint.
func describeModel(ck checkpoint.Checkpoint) *modelJSON {
	cfg := ck.Config
	m := &modelJSON{
		Format: ck.Keys["format"], FormatVersion: ck.Keys["format_version"], DltrainVersion: ck.Version, BuildDate: ck.BuildDate,
		Arch: cfg.Arch(), Activation: cfg.Activation.String(), Loss: cfg.Loss.String(), Parameters: cfg.NumParams(),
		Dataset: ck.DatasetName(), Epoch: ck.Epoch, Step: ck.Step, EpochStep: ck.EpochStep, Epochs: ck.Hyper.Epochs,
		BatchSize: ck.Hyper.BatchSize, LR: ck.Hyper.LR, Momentum: ck.Hyper.Momentum, Optimizer: ck.Hyper.Optimizer.String(), Seed: ck.Seed,
		TensorsSHA256: ck.Keys["tensors_sha256"], Metadata: ck.Keys,
	}
	for l := range cfg.Layers() {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		m.Layers = append(m.Layers, layerJSON{Name: "fc" + strconv.Itoa(l+1), In: in, Out: out, Parameters: in*out + out})
	}
	if ds, err := mnist.Lookup(m.Dataset); err == nil {
		m.DatasetTitle, m.Classes = ds.Title, ds.Classes[:]
	}
	if a := ck.TestAccuracy; a >= 0 && a <= 1 {
		m.TestAccuracy = &a
	}
	return m
}

func printInspect(opts *InspectOptions, res inspectJSON, ck *checkpoint.Checkpoint, env checkpoint.Envelope) error {
	out := opts.IO.Out
	if opts.JSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
		return nil
	}
	line := func(k, format string, a ...any) { fmt.Fprintf(out, "%-12s%s\n", k, fmt.Sprintf(format, a...)) }
	line("file", "%s (%s bytes)", res.File, thousands(int(res.Size)))
	if res.Encrypted {
		line("encryption", "%s envelope v%d, nonce %x", env.AlgorithmName(), env.Version, env.Nonce)
	} else {
		line("encryption", "none")
	}
	m := res.Model
	if m == nil {
		line("", "the header is not authenticated until the file is decrypted; the model inside needs its key:")
		line("", "pass --key-file FILE or set DLTRAIN_KEY_FILE to see it")
		return nil
	}
	written := "not recorded"
	if m.DltrainVersion != "" {
		written = "dltrain " + m.DltrainVersion
	}
	if m.BuildDate != "" {
		written += " (built " + m.BuildDate + ")"
	}
	line("format", "%s v%s (safetensors), written by %s, read by dltrain %s", m.Format, m.FormatVersion, written, res.ReaderVersion)
	line("arch", "%s, %s hidden activation, %s loss", m.Arch, m.Activation, m.Loss)
	var parts []string
	for _, l := range m.Layers {
		parts = append(parts, fmt.Sprintf("%s %d×%d+%d", l.Name, l.Out, l.In, l.Out))
	}
	state := "and as many momentum values (" + m.Optimizer + ")"
	if ck.Hyper.Optimizer.IsAdam() {
		state = "and twice as many moments (" + m.Optimizer + "'s exp_avg, exp_avg_sq)"
	}
	line("parameters", "%s (%s), %s", thousands(m.Parameters), strings.Join(parts, ", "), state)
	if m.DatasetTitle == "" {
		line("data set", "%q (not a data set this dltrain knows)", m.Dataset)
	} else {
		line("data set", "%s (--dataset %s): %s", m.DatasetTitle, m.Dataset, strings.Join(m.Classes, ", "))
	}
	pos := fmt.Sprintf("epoch %d of %d, step %d", m.Epoch, m.Epochs, m.Step)
	if m.EpochStep > 0 {
		pos += fmt.Sprintf(" (stopped %d steps into epoch %d)", m.EpochStep, m.Epoch+1)
	}
	line("training", "%s", pos)
	line("", "%s, batch %d, seed %d; inputs (x/255 − %s)/%s", describe(ck.Hyper), m.BatchSize, m.Seed, m.Metadata["norm_mean"], m.Metadata["norm_std"])
	if m.TestAccuracy != nil {
		line("accuracy", "%.2f %% on the test set after epoch %d", 100**m.TestAccuracy, m.Epoch)
	} else {
		line("accuracy", "not recorded")
	}
	line("tensors", "SHA-256 %s (checked)", m.TensorsSHA256)
	var other []string
	for k := range m.Metadata {
		if !slices.Contains(knownKeys, k) {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	for i, k := range other {
		head := ""
		if i == 0 {
			head = "other"
		}
		line(head, "%s = %q", k, m.Metadata[k])
	}
	if opts.WeightsPNG != "" && ck != nil && !opts.Quiet {
		fmt.Fprintf(out, "\nfirst-layer weights drawn to %s\n", opts.WeightsPNG)
	}
	return nil
}

// thousands writes n with a comma every three digits: 101,770.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// writeWeightsPNG draws fc1's rows as 28×28 tiles on one shared scale.
//
// Why shared: per-tile scaling stretches every unit to full colour, so a unit whose weights are still
// close to their random start shows as loud red-and-blue noise, as strong as one that learned a clean
// stroke. One scale for all shows what the layer learned and how strongly. The scale is the 99.5th
// percentile of |w| over the layer rather than its maximum, so that a handful of large weights do not
// wash every tile out; the few beyond it are drawn at full colour.
func writeWeightsPNG(opts *InspectOptions, ck checkpoint.Checkpoint) error {
	cfg := ck.Config
	w := ck.Weight(0) // (out, 784)
	units := cfg.Sizes[1]
	limit := percentileAbs(w, 0.995)
	var names []string
	if cfg.Layers() == 1 { // no hidden layer: fc1's rows are the classes' templates
		if ds, err := mnist.Lookup(ck.DatasetName()); err == nil {
			names = ds.Classes[:]
		}
	}
	n := min(units, opts.WeightsMax)
	tiles := make([]figure.Tile, n)
	for u := range n {
		caption := "unit " + strconv.Itoa(u)
		if names != nil {
			caption = names[u]
		}
		tiles[u] = figure.Tile{Pix: w[u*784 : (u+1)*784], H: 28, W: 28, Caption: caption, Mapping: figure.Signed, Limit: limit}
	}
	what := "hidden unit's"
	if cfg.Layers() == 1 {
		what = "class's"
	}
	title := fmt.Sprintf("fc1 of %s (%s, %s, epoch %d): each %s 784 input weights; blue < 0 < red, full colour at ±%.3g",
		filepath.Base(opts.Model), cfg.Arch(), datasetTitle(ck), ck.Epoch, what, limit)
	if n < units {
		title += fmt.Sprintf(" (the first %d of %d units)", n, units)
	}
	cols := int(math.Ceil(math.Sqrt(float64(n) * 1.6))) // wider than tall, as screens are
	return writePicture(opts.WeightsPNG, func(b *bytes.Buffer) error {
		return figure.Grid(b, tiles, cols, figure.GridOptions{Title: title, MaxTiles: n})
	})
}

// percentileAbs is the q-quantile (0..1) of |v|; 0 for an empty v.
func percentileAbs(v []float32, q float64) float32 {
	if len(v) == 0 {
		return 0
	}
	a := make([]float32, len(v))
	for i, x := range v {
		a[i] = float32(math.Abs(float64(x)))
	}
	slices.Sort(a)
	return a[min(len(a)-1, int(q*float64(len(a))))]
}

func datasetTitle(ck checkpoint.Checkpoint) string {
	if ds, err := mnist.Lookup(ck.DatasetName()); err == nil {
		return ds.Title
	}
	return ck.DatasetName()
}
