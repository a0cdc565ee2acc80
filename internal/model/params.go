package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is an MLP's configuration and its host-side state: the flat parameter vector, the SGD momentum
// buffers (same layout) and where training stands. Config.Layout gives the offsets.
type Model struct {
	Config   Config
	Params   []float32 // (NumParams)
	Velocity []float32 // (NumParams), momentum buffers
	Epoch    int       // epochs completed
	Step     int       // optimizer steps taken
	// EpochStep is the number of steps already taken in epoch Epoch+1: 0 at an epoch boundary, more
	// when training stopped mid-epoch. Resuming replays that epoch's order from this step.
	EpochStep int
	Seed      uint64
}

// New allocates a Model and initializes it as PyTorch's nn.Linear does: every weight and bias drawn
// from U(−1/√fan_in, 1/√fan_in). (PyTorch's kaiming_uniform_ with a=√5 gives gain √(1/3) and bound
// gain·√(3/fan_in) = 1/√fan_in.) Draws come from a PCG seeded by seed, layer by layer, weights then bias.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.NumParams()
	m := &Model{Config: cfg, Params: make([]float32, n), Velocity: make([]float32, n), Seed: seed}
	rng := rand.New(rand.NewPCG(seed, 0x646c747261696e)) // "dltrain"
	wOff, bOff, _ := cfg.Layout()
	for l := 0; l < cfg.Layers(); l++ {
		in, out := cfg.Sizes[l], cfg.Sizes[l+1]
		bound := 1 / math.Sqrt(float64(in))
		for i := range out * in {
			m.Params[wOff[l]+i] = float32((rng.Float64()*2 - 1) * bound)
		}
		for i := range out {
			m.Params[bOff[l]+i] = float32((rng.Float64()*2 - 1) * bound)
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
