package main

// This file is train's periodic checkpoints: with --checkpoint-every N, OUT-epochNNNN.EXT is saved
// next to --out every N epochs, and --keep K prunes all but the K newest. Names are matched exactly
// (OUT-epoch, then the epoch in at least 4 digits as epochPath writes it, then EXT: never a glob), and
// epochs compare as numbers.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// epochPath names the periodic checkpoint of an epoch: model.bin → model-epoch0004.bin.
func epochPath(out string, epoch int) string {
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s-epoch%04d%s", strings.TrimSuffix(out, ext), epoch, ext)
}

// epochOf reads the epoch from base when it is exactly the name epochPath gives a periodic checkpoint
// of out: "model-epoch0012.bin" → 12; "model-epoch0001-best.bin", "model-epoch12.bin" → not one.
func epochOf(out, base string) (int, bool) {
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(filepath.Base(out), ext)
	rest, ok := strings.CutPrefix(base, stem+"-epoch")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, ext)
	if !ok || len(digits) < 4 || len(digits) > 9 || strings.Trim(digits, "0123456789") != "" ||
		len(digits) > 4 && digits[0] == '0' {
		return 0, false
	}
	e, err := strconv.Atoi(digits)
	return e, err == nil
}

// isEpochName reports whether base names a periodic checkpoint of out (in out's directory).
func isEpochName(out, base string) bool {
	_, ok := epochOf(out, base)
	return ok
}

// pruneEpochFiles returns the periodic checkpoints of out, up to epoch upTo, beyond the keep newest
// (keep 0: none), leaving out any that protect names (the inputs of the run). Files of later epochs
// belong to another run's history and are never counted or removed.
func pruneEpochFiles(out string, keep, upTo int, protect func(path string) bool) []string {
	if keep <= 0 {
		return nil
	}
	dir := filepath.Dir(out)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type periodic struct {
		path  string
		epoch int
	}
	var found []periodic
	for _, e := range ents {
		if ep, ok := epochOf(out, e.Name()); ok && ep <= upTo && e.Type().IsRegular() {
			found = append(found, periodic{filepath.Join(dir, e.Name()), ep})
		}
	}
	slices.SortFunc(found, func(a, b periodic) int { return a.epoch - b.epoch })
	var old []string
	for _, p := range found[:max(0, len(found)-keep)] {
		if protect == nil || !protect(p.path) {
			old = append(old, p.path)
		}
	}
	return old
}

// pruneEpochs removes the periodic checkpoints of out beyond the keep newest (pruneEpochFiles).
func pruneEpochs(out string, keep, upTo int, protect func(string) bool) {
	for _, old := range pruneEpochFiles(out, keep, upTo, protect) {
		os.Remove(old)
	}
}
