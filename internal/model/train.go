package model

import (
	"github.com/dltrain/dltrain/internal/ops"

	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/dltrain/dltrain/internal/mnist"
)

// Hyper holds the optimization settings.
type Hyper struct {
	Epochs    int     // train until this many epochs are complete (counting epochs already in the model)
	BatchSize int     // rows per step; the last batch of an epoch may be smaller
	LR        float32 // SGD learning rate
	Momentum  float32 // SGD momentum μ
}

// Validate checks the settings against the limits a checkpoint may record (MaxEpochs, MaxBatchSize).
func (h Hyper) Validate() error {
	switch {
	case h.Epochs < 1 || h.Epochs > MaxEpochs:
		return fmt.Errorf("model: epochs %d, want 1..%d", h.Epochs, MaxEpochs)
	case h.BatchSize < 1 || h.BatchSize > MaxBatchSize:
		return fmt.Errorf("model: batch size %d, want 1..%d", h.BatchSize, MaxBatchSize)
	case !(h.LR > 0) || math.IsInf(float64(h.LR), 0):
		return fmt.Errorf("model: learning rate %v, want > 0", h.LR)
	case !(h.Momentum >= 0 && h.Momentum < 1):
		return fmt.Errorf("model: momentum %v, want 0 ≤ μ < 1", h.Momentum)
	}
	return nil
}

// Progress is a running view of the current epoch, handed to Trainer.OnProgress.
type Progress struct {
	Epoch, Epochs    int
	Done, Total      int     // samples seen this epoch, of Total
	Loss             float64 // mean training loss so far this epoch
	Accuracy         float64 // training accuracy so far this epoch, 0..1
	SamplesPerSecond float64
}

// EpochResult is what one epoch produced; its JSON form is the --metrics line format.
type EpochResult struct {
	Epoch            int     `json:"epoch"`
	TrainLoss        float64 `json:"train_loss"`
	TrainAccuracy    float64 `json:"train_accuracy"`
	TestLoss         float64 `json:"test_loss"`
	TestAccuracy     float64 `json:"test_accuracy"`
	Seconds          float64 `json:"seconds"`
	SamplesPerSecond float64 `json:"samples_per_second"`
}

// DivergedError reports a NaN or Inf training loss.
type DivergedError struct {
	Epoch, Step int
	Loss        float64
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("model: training diverged: loss is %v at epoch %d, step %d", e.Loss, e.Epoch, e.Step)
}

// Trainer trains a Model on a Backend. Progress goes out only through the callbacks.
type Trainer struct {
	Backend ops.Backend
	Model   *Model
	Hyper   Hyper

	// OnProgress, if set, is called every ProgressEvery steps (default 20) and after the last step of
	// each epoch. On a GPU each call costs a small device-to-host read.
	OnProgress    func(Progress)
	ProgressEvery int
	// OnEpoch, if set, is called after each epoch's evaluation; the model's Params hold that epoch's
	// weights. An error stops training and is returned.
	OnEpoch func(EpochResult) error
	// NoGraphs turns off step replay on backends that offer it (Graphs); the weights are the same
	// either way.
	NoGraphs bool
	// GraphErr is why replay was not used on a backend that offers it, if it failed to record.
	GraphErr error
}

// shuffleStream separates the shuffle RNG from the initialization RNG of the same seed.
const shuffleStream = 0x73687566666c65 // "shuffle"

// EpochOrder returns the sample order for one epoch: a permutation of 0..n-1 from a PCG seeded by
// (seed, epoch), so any epoch's order can be recomputed without replaying earlier ones.
func EpochOrder(seed uint64, epoch, n int, order []int32) []int32 {
	order = order[:0]
	for i := range n {
		order = append(order, int32(i))
	}
	rng := rand.New(rand.NewPCG(seed, shuffleStream+uint64(epoch)))
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// evalBatch is the batch size used for evaluation.
const evalBatch = 1000

// Run trains from the model's current position (Epoch, EpochStep) until Hyper.Epochs are complete,
// evaluating on test after every epoch. It stops between steps when ctx is cancelled and returns ctx's
// error; the model then holds the weights, momentum and position of the last complete step, so saving
// and resuming it continues exactly where it stopped.
func (t *Trainer) Run(ctx context.Context, train, test *mnist.Set) error {
	h, m, be := t.Hyper, t.Model, t.Backend
	if err := h.Validate(); err != nil {
		return err
	}
	if train.N == 0 || test.N == 0 {
		return errors.New("model: empty training or test set")
	}
	net, err := NewNet(be, m.Config, max(h.BatchSize, min(evalBatch, test.N)))
	if err != nil {
		return err
	}
	if err := net.Load(m); err != nil {
		return err
	}
	dtrain, err := be.Resident(train)
	if err != nil {
		return err
	}
	dtest, err := be.Resident(test)
	if err != nil {
		return err
	}
	every := t.ProgressEvery
	if every <= 0 {
		every = 20
	}
	order := make([]int32, 0, train.N)
	steps := (train.N + h.BatchSize - 1) / h.BatchSize
	r := newReplayer(t, net, dtrain)
	for m.Epoch < h.Epochs {
		epoch := m.Epoch + 1
		first := m.EpochStep // > 0 when resuming mid-epoch
		if first < 0 || first >= steps {
			return fmt.Errorf("model: the model is %d steps into epoch %d, which has %d steps at batch size %d", first, epoch, steps, h.BatchSize)
		}
		order = EpochOrder(m.Seed, epoch, train.N, order)
		if err := setOrder(be, dtrain, order); err != nil {
			return err
		}
		net.ResetStats()
		t0 := time.Now()
		for s := first; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return t.stop(net, err)
			}
			start := s * h.BatchSize
			B := min(h.BatchSize, train.N-start)
			if err := r.step(start, B); err != nil {
				return err
			}
			m.Step++
			m.EpochStep = s + 1
			if (s+1)%every == 0 || s == steps-1 {
				loss, correct, err := net.Stats()
				if err != nil {
					return err
				}
				done := start + B
				seen := float64(done - first*h.BatchSize)
				if math.IsNaN(loss) || math.IsInf(loss, 0) {
					return &DivergedError{Epoch: epoch, Step: m.Step, Loss: loss}
				}
				if t.OnProgress != nil {
					t.OnProgress(Progress{Epoch: epoch, Epochs: h.Epochs, Done: done, Total: train.N,
						Loss: loss / seen, Accuracy: float64(correct) / seen,
						SamplesPerSecond: seen / time.Since(t0).Seconds()})
				}
			}
		}
		if err := be.Sync(); err != nil {
			return err
		}
		secs := time.Since(t0).Seconds()
		loss, correct, err := net.Stats()
		if err != nil {
			return err
		}
		if err := net.Store(m); err != nil {
			return err
		}
		m.Epoch, m.EpochStep = epoch, 0
		ev, err := net.Evaluate(dtest)
		if err != nil {
			return err
		}
		// After a mid-epoch resume, the training figures cover the samples this run saw.
		seen := float64(train.N - first*h.BatchSize)
		res := EpochResult{Epoch: epoch, TrainLoss: loss / seen, TrainAccuracy: float64(correct) / seen,
			TestLoss: ev.Loss, TestAccuracy: ev.Accuracy, Seconds: secs, SamplesPerSecond: seen / secs}
		if t.OnEpoch != nil {
			if err := t.OnEpoch(res); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop saves the weights of the last complete step into the model before returning err.
func (t *Trainer) stop(net *Net, err error) error {
	if serr := net.Store(t.Model); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// replayer runs training steps, through the backend's Graphs when it has them: the first full-batch
// step runs plainly (backends warm up on it), the second is recorded, and every full batch after that
// is a replay. A partial last batch always runs plainly. If recording fails, training goes on plainly
// and the reason is kept in Trainer.GraphErr.
type replayer struct {
	t        *Trainer
	net      *Net
	d        ops.Data
	g        ops.Graphs
	warm     bool
	recorded bool
	cursor   int // the backend's cursor, as far as the host knows; −1 unknown
}

func newReplayer(t *Trainer, net *Net, d ops.Data) *replayer {
	r := &replayer{t: t, net: net, d: d, cursor: -1}
	if g, ok := t.Backend.(ops.Graphs); ok && !t.NoGraphs {
		r.g = g
	}
	return r
}

func (r *replayer) plain(start, B int) {
	h := r.t.Hyper
	r.net.Forward(r.d, start, B)
	r.net.Loss(r.d, start, B)
	r.net.Backward(B)
	r.net.Update(h.LR, h.Momentum)
}

func (r *replayer) step(start, B int) error {
	h := r.t.Hyper
	if r.g == nil || B != h.BatchSize || !r.warm {
		r.plain(start, B)
		r.warm = r.warm || B == h.BatchSize
		return nil
	}
	if !r.recorded {
		err := r.g.Record(func() { r.plain(0, B) }, B)
		if err != nil {
			r.t.GraphErr = err
			r.g = nil
			r.plain(start, B)
			return nil
		}
		r.recorded = true
	}
	if r.cursor != start {
		if err := r.g.SetCursor(start); err != nil {
			return err
		}
	}
	if err := r.g.Replay(); err != nil {
		return err
	}
	r.cursor = start + B
	return nil
}
