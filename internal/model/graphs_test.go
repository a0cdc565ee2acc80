package model_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/dltrain/dltrain/internal/cpu"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// replayCPU gives the CPU backend the Graphs contract the way CUDA implements it: Record keeps the
// step without running it; while a replay runs, Gather and the loss ops add the cursor to their start,
// and SetScalars fails the test (on CUDA its values would be frozen into the recording).
type replayCPU struct {
	*cpu.Backend
	t                testing.TB
	step             func()
	batch, cursor    int
	replaying        bool
	records, replays int
}

func (r *replayCPU) Record(step func(), batch int) error {
	r.step, r.batch = step, batch
	r.records++
	return nil
}

func (r *replayCPU) SetCursor(start int) error { r.cursor = start; return nil }

func (r *replayCPU) Replay() error {
	r.replaying = true
	r.step()
	r.replaying = false
	r.cursor += r.batch
	r.replays++
	return nil
}

func (r *replayCPU) off(start int) int {
	if r.replaying {
		return start + r.cursor
	}
	return start
}

func (r *replayCPU) SetScalars(dst ops.Tensor, vals []float32) {
	if r.replaying {
		r.t.Fatal("SetScalars inside a recorded step")
	}
	r.Backend.SetScalars(dst, vals)
}

func (r *replayCPU) Gather(x ops.Tensor, d ops.Data, start, B int) {
	r.Backend.Gather(x, d, r.off(start), B)
}

func (r *replayCPU) CrossEntropy(dl, st, lg ops.Tensor, d ops.Data, start, B, K int) {
	r.Backend.CrossEntropy(dl, st, lg, d, r.off(start), B, K)
}

func (r *replayCPU) MSE(dl, st, lg ops.Tensor, d ops.Data, start, B, K int) {
	r.Backend.MSE(dl, st, lg, d, r.off(start), B, K)
}

// TestGraphReplayMatchesPlainSteps: training through the Graphs path (record once, replay with a
// cursor, a partial last batch run plainly, epochs restarting the cursor) gives the same bytes as
// plain steps, for a full and a ragged batch size, for a run resumed mid-epoch, and for optimizers
// whose scalars change every step (Adam under a schedule, with a frozen layer).
func TestGraphReplayMatchesPlainSteps(t *testing.T) {
	train, test := subset(t)
	adam := adamHyper(3)
	adam.Freeze.Add(1)
	for _, c := range []struct {
		batch  int
		loss   model.Loss
		resume int // steps into epoch 2 to stop and resume at; 0 for none
		adam   bool
	}{{100, model.CrossEntropy, 0, false}, {128, model.MSE, 0, false}, {100, model.CrossEntropy, 7, false}, {128, model.CrossEntropy, 5, true}} {
		run := func(be ops.Backend) ([]byte, *replayCPU) {
			m, _ := model.New(model.NewConfig([]int{32, 16}, ops.Tanh, c.loss), 4)
			h := model.Hyper{Epochs: 3, BatchSize: c.batch, LR: 0.05, Momentum: 0.9}
			if c.adam {
				h = adam
				h.BatchSize = c.batch
			}
			if c.resume > 0 {
				// Stop mid-epoch 2 by cancelling from the progress callback, then resume.
				ctx, cancel := context.WithCancel(context.Background())
				tr := &model.Trainer{Backend: be, Model: m, Hyper: h, ProgressEvery: 1,
					OnProgress: func(p model.Progress) {
						if p.Epoch == 2 && p.Done >= c.resume*c.batch {
							cancel()
						}
					}}
				if err := tr.Run(ctx, train, test); err != context.Canceled {
					t.Fatalf("interrupted run: %v", err)
				}
			}
			tr := &model.Trainer{Backend: be, Model: m, Hyper: h}
			if err := tr.Run(context.Background(), train, test); err != nil {
				t.Fatal(err)
			}
			b := encode(t, m, h)
			r, _ := be.(*replayCPU)
			return b, r
		}
		plain, _ := run(&cpu.Backend{})
		graphed, r := run(&replayCPU{Backend: &cpu.Backend{}, t: t})
		if !bytes.Equal(plain, graphed) {
			t.Fatalf("batch %d %v resume %d: replayed steps differ from plain steps", c.batch, c.loss, c.resume)
		}
		if r.replays < 40 || r.records == 0 {
			t.Fatalf("batch %d: %d records, %d replays; the replay path was not used", c.batch, r.records, r.replays)
		}
	}
}
