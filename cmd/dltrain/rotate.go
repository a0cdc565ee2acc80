package main

// This file is train's periodic checkpoints: with --checkpoint-every N, OUT-epochNNNN.EXT is saved
// next to --out every N epochs, and --keep K prunes all but the K newest.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// epochPath names the periodic checkpoint of an epoch: model.bin → model-epoch0004.bin.
func epochPath(out string, epoch int) string {
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s-epoch%04d%s", strings.TrimSuffix(out, ext), epoch, ext)
}

// pruneEpochFiles returns the periodic checkpoints of out beyond the keep newest (keep 0: none).
func pruneEpochFiles(out string, keep int) []string {
	if keep <= 0 {
		return nil
	}
	ext := filepath.Ext(out)
	matches, _ := filepath.Glob(strings.TrimSuffix(out, ext) + "-epoch[0-9][0-9][0-9][0-9]*" + ext)
	sort.Strings(matches) // zero-padded epochs sort in order
	if len(matches) <= keep {
		return nil
	}
	return matches[:len(matches)-keep]
}

// pruneEpochs removes the periodic checkpoints of out beyond the keep newest.
func pruneEpochs(out string, keep int) {
	for _, old := range pruneEpochFiles(out, keep) {
		os.Remove(old)
	}
}

// isEpochName reports whether base names a periodic checkpoint of out (in out's directory).
func isEpochName(out, base string) bool {
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(filepath.Base(out), ext)
	rest, ok := strings.CutPrefix(base, stem+"-epoch")
	if !ok {
		return false
	}
	digits, ok := strings.CutSuffix(rest, ext)
	return ok && len(digits) >= 4 && strings.Trim(digits, "0123456789") == ""
}
