package main

// This file writes train's resume hint: the whole command line that continues an interrupted run
// with the same files, quoted for a POSIX shell.

import (
	"strconv"
	"strings"
)

// resumeCommand is the command that continues opts's run to epochs: the same checkpoint (--resume,
// which --out then defaults to), metrics file, data, periodic checkpoints, key, device, memory limit
// and verbosity. Architecture, seed and optimizer settings come from the checkpoint.
func resumeCommand(opts *TrainOptions, epochs int) string {
	args := []string{"dltrain", "train", "--resume", opts.Out, "--epochs", strconv.Itoa(epochs)}
	set := opts.isSet
	if opts.Metrics != "" {
		args = append(args, "--metrics", opts.Metrics)
	}
	if opts.Data != "" {
		args = append(args, "--data", opts.Data)
	}
	if opts.CheckpointEvery > 0 {
		args = append(args, "--checkpoint-every", strconv.Itoa(opts.CheckpointEvery), "--keep", strconv.Itoa(opts.Keep))
	}
	if opts.KeyFile != "" {
		args = append(args, "--key-file", opts.KeyFile)
	}
	if set("device") {
		args = append(args, "--device", opts.Device)
	}
	if set("precision") {
		args = append(args, "--precision", opts.Precision)
	}
	if set("memory-limit") {
		args = append(args, "--memory-limit", opts.MemoryLimit)
	}
	if opts.SaveBest {
		args = append(args, "--save-best") // an output flag: the checkpoint does not record it
	}
	if opts.Quiet {
		args = append(args, "--quiet")
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it: single quotes, or $'…' (bash, zsh, ksh and
// POSIX.1-2024 sh) when s holds control characters, which single quotes would carry raw.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f {
			var b strings.Builder
			b.WriteString("$'")
			for _, c := range []byte(s) {
				switch {
				case c == '\\' || c == '\'':
					b.WriteByte('\\')
					b.WriteByte(c)
				case c < 0x20 || c >= 0x7f:
					b.WriteString(`\x` + strconv.FormatUint(uint64(c)|0x100, 16)[1:])
				default:
					b.WriteByte(c)
				}
			}
			b.WriteByte('\'')
			return b.String()
		}
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
