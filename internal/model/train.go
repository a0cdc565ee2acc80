package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/schedule"
)

// Hyper holds the optimization settings. The zero value of each field added after the first release
// (Optimizer and below) is the old behaviour: SGD, no weight decay, a constant rate, no validation.
type Hyper struct {
	Epochs    int     // train until this many epochs are complete (counting epochs already in the model)
	BatchSize int     // rows per step; the last batch of an epoch may be smaller
	LR        float64 // the base learning rate (the peak of a onecycle schedule)
	Momentum  float64 // μ of SGD and Nesterov

	Optimizer Optimizer
	// WeightDecay is λ: coupled L2 (added to the gradient) for SGD, Nesterov and Adam, decoupled for
	// AdamW, as in PyTorch.
	WeightDecay float64
	// Beta1, Beta2 and Eps are Adam's and AdamW's (DefaultBeta1, DefaultBeta2, DefaultEps).
	Beta1, Beta2, Eps float64
	// Schedule sets the learning rate of each step from LR (schedule.Params.LR).
	Schedule schedule.Params
	// ValSplit holds that many training images out for validation (Split), evaluated every epoch;
	// the best validation epoch is tracked in Model.Best.
	ValSplit int
	// Patience stops training after this many epochs without a better validation accuracy (0: never).
	Patience int
	// Freeze names the layers whose parameters and optimizer state stay as they are.
	Freeze LayerSet
	// Adversarial trains on attacked batches (adversarial.go); its zero value is none.
	Adversarial Adversarial

	// Augment deforms the training images on the fly (internal/augment): each image of each epoch
	// gets a fresh deformation keyed by (the model's seed, the epoch from 1, the image's index in the
	// training set, after ValSplit), so a resumed run deforms exactly as an uninterrupted one. The
	// validation and test images are never deformed. The zero value (mode none) is no augmentation.
	Augment augment.Params
}

// Validate checks the settings on their own, against the limits a checkpoint may record
// (MaxEpochs, MaxBatchSize); Check adds what depends on the model and data.
func (h Hyper) Validate() error {
	switch {
	case h.Epochs < 1 || h.Epochs > MaxEpochs:
		return fmt.Errorf("model: epochs %d, want 1..%d", h.Epochs, MaxEpochs)
	case h.BatchSize < 1 || h.BatchSize > MaxBatchSize:
		return fmt.Errorf("model: batch size %d, want 1..%d", h.BatchSize, MaxBatchSize)
	case !(h.LR > 0) || !finite32(h.LR):
		return fmt.Errorf("model: learning rate %v, want > 0", h.LR)
	case !(h.Momentum >= 0 && h.Momentum < 1):
		return fmt.Errorf("model: momentum %v, want 0 ≤ μ < 1", h.Momentum)
	case h.Optimizer < SGD || h.Optimizer > AdamW:
		return fmt.Errorf("model: unknown optimizer %d", int(h.Optimizer))
	case h.Optimizer == Nesterov && h.Momentum == 0:
		return errors.New("model: nesterov needs a momentum > 0 (as PyTorch does)")
	case !(h.WeightDecay >= 0) || !finite32(h.WeightDecay):
		return fmt.Errorf("model: weight decay %v, want ≥ 0", h.WeightDecay)
	case h.Optimizer.IsAdam() && !(h.Beta1 >= 0 && h.Beta1 < 1 && h.Beta2 >= 0 && h.Beta2 < 1):
		return fmt.Errorf("model: Adam's betas %v, %v, want each in [0, 1)", h.Beta1, h.Beta2)
	case h.Optimizer.IsAdam() && (!(h.Eps >= 0) || !finite32(h.Eps)):
		return fmt.Errorf("model: Adam's eps %v, want ≥ 0", h.Eps)
	case h.ValSplit < 0 || h.ValSplit > MaxValSplit:
		return fmt.Errorf("model: validation split %d, want 0..%d", h.ValSplit, MaxValSplit)
	case h.Patience < 0 || h.Patience > MaxPatience:
		return fmt.Errorf("model: patience %d, want 0..%d", h.Patience, MaxPatience)
	case h.Patience > 0 && h.ValSplit == 0:
		return errors.New("model: patience needs a validation split")
	}
	if err := h.Schedule.Validate(h.LR); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := h.Augment.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return h.Adversarial.Validate()
}

// Check validates the settings against a model configuration and a training set of n images.
func (h Hyper) Check(cfg Config, n int) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if err := h.CheckAdversarial(); err != nil {
		return err
	}
	if h.ValSplit >= n {
		return fmt.Errorf("model: validation split %d leaves nothing of the %d training images to train on", h.ValSplit, n)
	}
	return h.CheckFreeze(cfg)
}

// CheckAdversarial refuses an adversarial ratio that attacks no image of a full batch: a batch
// attacks round(ratio·B) images (adversarial.go), and none would be no adversarial training at all,
// under a name that says there is. It is a rule for training, not for reading: a checkpoint that an
// earlier build wrote with such a ratio still loads.
func (h Hyper) CheckAdversarial() error {
	if a := h.Adversarial; a.On() && math.Round(a.Ratio*float64(h.BatchSize)) < 1 {
		return fmt.Errorf("model: adversarial ratio %v attacks no image of a batch of %d; want at least %v (one image a batch)", a.Ratio, h.BatchSize, 1/float64(h.BatchSize))
	}
	return nil
}

// CheckFreeze refuses frozen layers that cfg does not have, and freezing all of them.
func (h Hyper) CheckFreeze(cfg Config) error {
	all := true
	for l := range maxLayerSet {
		if h.Freeze.Has(l) && l >= cfg.Layers() {
			return fmt.Errorf("model: cannot freeze fc%d: %s has %d layers (fc1…fc%d)", l+1, cfg.Arch(), cfg.Layers(), cfg.Layers())
		}
		if l < cfg.Layers() && !h.Freeze.Has(l) {
			all = false
		}
	}
	if all {
		return fmt.Errorf("model: every layer of %s is frozen; nothing would train", cfg.Arch())
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

// EpochResult is what one epoch produced; its JSON form is the --metrics line format. The keys of
// the first release come first and keep their meaning; lr is always there, val_loss and val_accuracy
// when the run holds out a validation set.
type EpochResult struct {
	Epoch            int     `json:"epoch"`
	TrainLoss        float64 `json:"train_loss"`
	TrainAccuracy    float64 `json:"train_accuracy"`
	TestLoss         float64 `json:"test_loss"`
	TestAccuracy     float64 `json:"test_accuracy"`
	Seconds          float64 `json:"seconds"`
	SamplesPerSecond float64 `json:"samples_per_second"`
	// LR is the learning rate of the epoch's last step (PyTorch's get_last_lr() before the last
	// scheduler step).
	LR float64 `json:"lr"`
	// ValLoss and ValAccuracy are the held-out set's scores, when Validated.
	ValLoss     float64 `json:"val_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	Validated   bool    `json:"-"`
	// Best marks the best validation epoch so far (Model.Best now points at it).
	Best bool `json:"-"`
	// RobustAccuracy is the test images' robust accuracy under Trainer.Robust's attack, when asked
	// (nil otherwise, and the key is left out).
	RobustAccuracy *float64 `json:"robust_accuracy,omitempty"`
}

// MarshalJSON writes the metrics line, leaving out the validation keys when there is no validation.
func (r EpochResult) MarshalJSON() ([]byte, error) {
	type line EpochResult // no methods: the default encoding
	if r.Validated {
		return json.Marshal(line(r))
	}
	type plain struct {
		line
		ValLoss     float64 `json:"val_loss,omitempty"`
		ValAccuracy float64 `json:"val_accuracy,omitempty"`
	}
	return json.Marshal(plain{line: line(r)})
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
	// StoppedEarly is set when Run stopped before Hyper.Epochs because the validation accuracy had
	// not improved for Hyper.Patience epochs; Model.Best holds the best epoch.
	StoppedEarly bool
	// Robust, when its N is not 0, measures robust accuracy on the test set after every epoch.
	Robust RobustEval
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
// evaluating on the held-out validation images (Hyper.ValSplit) and on test after every epoch. It
// stops between steps when ctx is cancelled and returns ctx's error; the model then holds the weights,
// optimizer state and position of the last complete step, so saving and resuming it continues exactly
// where it stopped. With Hyper.Patience it may stop early (StoppedEarly) and return nil.
//
// Each step's learning rate comes from Hyper.Schedule at the step's position in the run, (epoch −
// 1)·steps per epoch + step, so a resumed run follows the same schedule.
func (t *Trainer) Run(ctx context.Context, train, test *mnist.Set) error {
	h, m, be := t.Hyper, t.Model, t.Backend
	if err := h.Validate(); err != nil {
		return err
	}
	if train.N == 0 || test.N == 0 {
		return errors.New("model: empty training or test set")
	}
	if err := h.Check(m.Config, train.N); err != nil {
		return err
	}
	var val *mnist.Set
	if h.ValSplit > 0 {
		var err error
		if train, val, err = Split(train, h.ValSplit, m.Seed); err != nil {
			return err
		}
	}
	net, err := NewNet(be, m.Config, max(h.BatchSize, min(evalBatch, test.N)))
	if err != nil {
		return err
	}
	if err := net.SetOptimizer(h); err != nil {
		return err
	}
	if err := net.Load(m); err != nil {
		return err
	}
	dtrain, err := be.Resident(train)
	if err != nil {
		return err
	}
	if h.Augment.Mode != augment.None {
		if err := be.SetAugment(dtrain, OpsAugment(h.Augment), m.Seed); err != nil {
			return err
		}
	}
	dtest, err := be.Resident(test)
	if err != nil {
		return err
	}
	var dval ops.Data
	if val != nil {
		if dval, err = be.Resident(val); err != nil {
			return err
		}
	}
	every := t.ProgressEvery
	if every <= 0 {
		every = 20
	}
	order := make([]int32, 0, train.N)
	steps := (train.N + h.BatchSize - 1) / h.BatchSize
	r := newReplayer(t, net, dtrain)
	var adv *advTrainer
	if h.Adversarial.On() {
		// Adversarial batches come in as pixels from the host, which a recorded step cannot replay.
		r.g = nil
		if adv, err = newAdvTrainer(net, dtrain, train, h, m.Seed); err != nil {
			return err
		}
	}
	if t.Robust.N > 0 {
		if err := t.Robust.Attack.Validate(); err != nil {
			return fmt.Errorf("model: robust accuracy: %w", err)
		}
	}
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
		be.SetEpoch(dtrain, epoch) // keys this epoch's deformations (none without augmentation)
		net.ResetStats()
		t0 := time.Now()
		var lr float64
		for s := first; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return t.stop(net, err)
			}
			start := s * h.BatchSize
			B := min(h.BatchSize, train.N-start)
			lr = h.Schedule.LR(h.LR, (epoch-1)*steps+s, steps, h.Epochs)
			net.SetStep(lr, m.Step+1)
			if adv != nil {
				err = adv.step(order, epoch, start, B)
			} else {
				err = r.step(start, B)
			}
			if err != nil {
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
		// After a mid-epoch resume, the training figures cover the samples this run saw.
		seen := float64(train.N - first*h.BatchSize)
		res := EpochResult{Epoch: epoch, TrainLoss: loss / seen, TrainAccuracy: float64(correct) / seen,
			Seconds: secs, SamplesPerSecond: seen / secs, LR: lr}
		if dval != nil {
			ev, err := net.Evaluate(dval)
			if err != nil {
				return err
			}
			res.ValLoss, res.ValAccuracy, res.Validated = ev.Loss, ev.Accuracy, true
			if b := m.Best; b.Epoch == 0 || ev.Accuracy > b.Accuracy || (ev.Accuracy == b.Accuracy && ev.Loss < b.Loss) {
				m.Best, res.Best = Best{Epoch: epoch, Accuracy: ev.Accuracy, Loss: ev.Loss}, true
			}
		}
		ev, err := net.Evaluate(dtest)
		if err != nil {
			return err
		}
		res.TestLoss, res.TestAccuracy = ev.Loss, ev.Accuracy
		if n := min(t.Robust.N, test.N); n > 0 {
			first := &mnist.Set{Images: test.Images[:n*mnist.Pixels], Labels: test.Labels[:n], N: n}
			rep, err := net.Robust(dtest, first, t.Robust.Attack, attack.Options{})
			if err != nil {
				return err
			}
			res.RobustAccuracy = &rep.Robust
		}
		if t.OnEpoch != nil {
			if err := t.OnEpoch(res); err != nil {
				return err
			}
		}
		if h.Patience > 0 && epoch-m.Best.Epoch >= h.Patience && epoch < h.Epochs {
			t.StoppedEarly = true
			return nil
		}
	}
	return nil
}

// OpsAugment is p in the op contract's form (ops.Augment has augment.Params's fields).
func OpsAugment(p augment.Params) ops.Augment {
	return ops.Augment{Mode: ops.AugmentMode(p.Mode), Rotation: p.Rotation, Scale: p.Scale, Shear: p.Shear,
		Translate: p.Translate, Sigma: p.Sigma, Alpha: p.Alpha}
}

// valStream separates the validation split's RNG from the initialization and shuffle RNGs.
const valStream = 0x76616c6964 // "valid"

// Split holds n images of s out for validation: a permutation of 0..N−1 is drawn from a PCG seeded by
// (seed, "valid"), its last n entries are the validation images and the others the training images,
// each set kept in the original order of s. The same seed always gives the same split, and the split
// does not depend on the number of epochs or on the batch size. The pixels are copied.
func Split(s *mnist.Set, n int, seed uint64) (train, val *mnist.Set, err error) {
	if n < 1 || n >= s.N {
		return nil, nil, fmt.Errorf("model: cannot hold out %d of %d training images for validation", n, s.N)
	}
	perm := rand.New(rand.NewPCG(seed, valStream)).Perm(s.N)
	held := make([]bool, s.N)
	for _, i := range perm[s.N-n:] {
		held[i] = true
	}
	pick := func(want bool, k int) *mnist.Set {
		out := &mnist.Set{Images: make([]uint8, 0, k*mnist.Pixels), Labels: make([]uint8, 0, k), N: k}
		for i := range s.N {
			if held[i] == want {
				out.Images = append(out.Images, s.Images[i*mnist.Pixels:(i+1)*mnist.Pixels]...)
				out.Labels = append(out.Labels, s.Labels[i])
			}
		}
		return out
	}
	return pick(false, s.N-n), pick(true, n), nil
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
	r.net.Forward(r.d, start, B)
	r.net.Loss(r.d, start, B)
	r.net.Backward(B)
	r.net.Update()
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
