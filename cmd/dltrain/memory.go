package main

// This file is train's memory budget: the estimate of what a configuration needs (model.EstimateMemory)
// against what the machine has left (availableMemory, or --memory-limit), checked before anything is
// allocated, so that a net or batch too big for the machine is refused in one line instead of ending
// in the Go runtime's out-of-memory crash.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// mnistBytes is what the official data set takes in memory: 70,000 images of 784 bytes and their
// labels. The estimate is made before the data is read.
const mnistBytes = 70_000 * (ops.Input + 1)

// checkMemory refuses a run whose estimate exceeds limit (0: the memory available now; unknown
// available memory: no check). On a GPU only the host's share is counted here: the backend's own
// allocation fails with its own error.
func checkMemory(cfg model.Config, h model.Hyper, device string, limit int64) error {
	est := model.EstimateMemory(cfg, h, 1000, mnistBytes)
	total := est.Total()
	if device != "cpu" {
		total = est.Host + est.Save + est.Data + est.Attack // the attack's buffers are mostly the host's
	}
	what := "available"
	if limit == 0 {
		limit = availableMemory()
	} else {
		what = "allowed by --memory-limit"
	}
	if limit <= 0 || total <= limit {
		return nil
	}
	return &exitErr{code: exitUsage,
		err: fmt.Errorf("train: %s at batch %d needs about %s of memory (parameters and gradients %s, optimizer state %s, activations %s, host copies and saving %s, data %s), more than the %s %s",
			cfg.Arch(), h.BatchSize, gb(total), gb(est.Params+est.Grads), gb(est.State), gb(est.Activations+est.Attack), gb(est.Host+est.Save), gb(est.Data), gb(limit), what),
		hint: "use a smaller --batch-size or --hidden (or --memory-limit if this estimate is wrong for your machine)"}
}

// gb writes a byte count in GB with one decimal, or in MB below 1 GB.
func gb(n int64) string {
	if n < 1e9 {
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// parseSize reads a byte count: a number with an optional unit k, M, G or T (powers of 1024, "KiB",
// "MB", "g" all accepted), or plain bytes. "" is 0.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgt", t[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || !(v > 0) || v*mult > 1<<62 {
		return 0, fmt.Errorf("bad size %q (want a number of bytes, or with a unit: 512M, 8GiB)", s)
	}
	return int64(v * mult), nil
}
