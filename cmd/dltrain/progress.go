package main

// This file is train's display: a progress bar per epoch on a terminal's stderr, and one line per
// epoch with the epoch's results.

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/dltrain/dltrain/internal/model"
)

// display draws training progress on w. With bar set (stderr is a terminal and not quiet), an epoch
// shows a progress bar; quiet prints no per-epoch lines.
type display struct {
	w      io.Writer
	quiet  bool
	bars   bool
	showLR bool // the rate changes over the run: print it on each epoch's line
	bar    *progressbar.ProgressBar
}

// progress is the Trainer's OnProgress when bars are on.
func (d *display) progress(p model.Progress) {
	if d.bar == nil {
		d.bar = progressbar.NewOptions(p.Total,
			progressbar.OptionSetWriter(d.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
	}
	d.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.2f%% %.0f samples/s",
		p.Epoch, p.Epochs, p.Loss, 100*p.Accuracy, p.SamplesPerSecond))
	d.bar.Set(p.Done)
}

// epoch ends the epoch's bar and prints its results.
func (d *display) epoch(r model.EpochResult, epochs int) {
	if d.bar != nil {
		d.bar.Finish()
		d.bar = nil
	}
	if d.quiet {
		return
	}
	val, lr, robust := "", "", ""
	if r.Validated {
		val = fmt.Sprintf("  val loss %.4f acc %.2f%%", r.ValLoss, 100*r.ValAccuracy)
		if r.Best {
			val += " (best)"
		}
	}
	if d.showLR {
		lr = fmt.Sprintf("  lr %.3g", r.LR)
	}
	if r.RobustAccuracy != nil {
		robust = fmt.Sprintf("  robust acc %.2f%%", 100**r.RobustAccuracy)
	}
	fmt.Fprintf(d.w, "epoch %d/%d  train loss %.4f acc %.2f%%%s  test loss %.4f acc %.2f%%%s%s  %.2fs  %.0f samples/s\n",
		r.Epoch, epochs, r.TrainLoss, 100*r.TrainAccuracy, val, r.TestLoss, 100*r.TestAccuracy, robust, lr, r.Seconds, r.SamplesPerSecond)
}
