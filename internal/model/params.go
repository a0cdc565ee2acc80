package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Model is an MLP's configuration and its host-side state: the flat parameter vector, the optimizer's
// state (same layout) and where training stands. Config.Layout gives the offsets.
type Model struct {
	Config   Config
	Params   []float32 // (NumParams)
	Velocity []float32 // (NumParams), SGD's momentum buffers; nil in a model loaded from an Adam checkpoint
	// ExpAvg and ExpAvgSq are Adam's first and second moments (NumParams each), PyTorch's exp_avg and
	// exp_avg_sq; nil for a model never trained with Adam.
	ExpAvg, ExpAvgSq []float32
	Epoch            int // epochs completed
	Step             int // optimizer steps taken (Adam's step count t is Step+1 for the next update)
	// EpochStep is the number of steps already taken in epoch Epoch+1: 0 at an epoch boundary, more
	// when training stopped mid-epoch. Resuming replays that epoch's order from this step.
	EpochStep int
	Seed      uint64
	// Best is the best validation epoch so far (its Epoch is 0 before any), for --save-best and
	// --patience.
	Best Best
}

// Best records the epoch with the best validation accuracy (ties go to the lower validation loss).
type Best struct {
	Epoch    int
	Accuracy float64
	Loss     float64
}

// New allocates a Model initialized as PyTorch initializes nn.Linear (InitPyTorch).
func New(cfg Config, seed uint64) (*Model, error) { return NewInit(cfg, seed, Init{}) }

// NewInit allocates a Model and initializes its parameters with init. Draws come from a PCG seeded by
// seed, layer by layer, the weight then the bias (for the schemes that draw biases).
func NewInit(cfg Config, seed uint64, init Init) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := init.Validate(); err != nil {
		return nil, err
	}
	n := cfg.NumParams()
	m := &Model{Config: cfg, Params: make([]float32, n), Velocity: make([]float32, n), Seed: seed}
	rng := rand.New(rand.NewPCG(seed, 0x646c747261696e)) // "dltrain"
	wOff, bOff, _ := cfg.Layout()
	for l := 0; l < cfg.Layers(); l++ {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		wBound, bBound := init.bounds(in, out)
		for i := range out * in {
			m.Params[wOff[l]+i] = float32((rng.Float64()*2 - 1) * wBound)
		}
		if bBound == 0 {
			continue // zero biases: nothing to draw
		}
		for i := range out {
			m.Params[bOff[l]+i] = float32((rng.Float64()*2 - 1) * bBound)
		}
	}
	return m, nil
}

// Weight returns layer l's weight (OC, C) as a slice of m.Params.
func (m *Model) Weight(l int) []float32 {
	wOff, bOff, _ := m.Config.Layout()
	return m.Params[wOff[l]:bOff[l]]
}

// Bias returns layer l's bias (OC) as a slice of m.Params.
func (m *Model) Bias(l int) []float32 {
	_, bOff, _ := m.Config.Layout()
	return m.Params[bOff[l] : bOff[l]+m.Config.Sizes[l+1]]
}

// CheckFinite reports the first NaN or Inf parameter.
func (m *Model) CheckFinite() error {
	for i, v := range m.Params {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("model: parameter %d is %v", i, v)
		}
	}
	return nil
}

// TakeWeights copies the parameters of src, a model of the same layer shapes, into m: transfer
// learning's starting point. Only the weights and biases move; m keeps its own optimizer state,
// position and seed. Shapes that differ are refused with both architectures named.
func (m *Model) TakeWeights(src *Model) error {
	if !slices.Equal(src.Config.Sizes, m.Config.Sizes) {
		return fmt.Errorf("model: the weights of a %s net do not fit a %s net (%s)", src.Config.Arch(), m.Config.Arch(), firstMismatch(src.Config, m.Config))
	}
	copy(m.Params, src.Params)
	return nil
}

// firstMismatch names the first tensor whose shape differs between a (there) and b (here).
func firstMismatch(a, b Config) string {
	for l := range min(a.Layers(), b.Layers()) {
		if a.Sizes[l] != b.Sizes[l] || a.Sizes[l+1] != b.Sizes[l+1] {
			return fmt.Sprintf("fc%d.weight is [%d %d] there, [%d %d] here", l+1, a.Sizes[l+1], a.Sizes[l], b.Sizes[l+1], b.Sizes[l])
		}
	}
	return fmt.Sprintf("%d layers there, %d here", a.Layers(), b.Layers())
}

// ResetHead re-initializes the output layer (its weight and bias) with init, to exactly the values a
// fresh NewInit(m.Config, m.Seed, init) gives that layer; the other layers keep their values.
func (m *Model) ResetHead(init Init) error {
	fresh, err := NewInit(m.Config, m.Seed, init)
	if err != nil {
		return err
	}
	L := m.Config.Layers() - 1
	copy(m.Weight(L), fresh.Weight(L))
	copy(m.Bias(L), fresh.Bias(L))
	return nil
}
