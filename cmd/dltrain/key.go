package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/safefile"
)

// keyFlagHelp is shared by every verb that reads or writes checkpoints.
const keyFlagHelp = "AES-256 key file for encrypted checkpoints (default $DLTRAIN_KEY_FILE)"

// keyPath is the key file named by --key-file, else $DLTRAIN_KEY_FILE, with how it was named; "" when
// neither is set.
func keyPath(flag string) (name, path string) {
	if flag != "" {
		return "--key-file", flag
	}
	return "$DLTRAIN_KEY_FILE", os.Getenv("DLTRAIN_KEY_FILE")
}

// addKey adds the key file, if any, to a command's paths.
func addKey(fs *files, flag string) {
	if name, path := keyPath(flag); path != "" {
		fs.input(name, path, exitUsage)
	}
}

// loadKey reads the key named by --key-file, else $DLTRAIN_KEY_FILE; nil when neither is set.
func loadKey(flag string) ([]byte, error) {
	_, path := keyPath(flag)
	if path == "" {
		return nil, nil
	}
	k, err := checkpoint.ReadKeyFile(path)
	if err != nil {
		return nil, withCode(exitUsage, err, "create a key with 'dltrain keygen -o FILE'")
	}
	return k, nil
}

// modelArg is the MODEL argument of eval, inspect, attack and verify: the first argument, else
// model.bin.
func modelArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "model.bin"
}

// loadModel reads a checkpoint with the key named by keyFlag (or $DLTRAIN_KEY_FILE), if any, for verb.
func loadModel(verb, path, keyFlag string) (checkpoint.Checkpoint, error) {
	key, err := loadKey(keyFlag)
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	ck, err := checkpoint.Load(path, key)
	if err != nil {
		return checkpoint.Checkpoint{}, modelErr(verb, err)
	}
	return ck, nil
}

// wants says what verb reads as a model, for a file of another kind.
var wants = map[string]string{
	"eval":        "eval wants a checkpoint written by 'dltrain train'",
	"export":      "export converts a checkpoint written by 'dltrain train'",
	"predict":     "predict wants the checkpoint first: dltrain predict MODEL IMAGE...",
	"--resume":    "--resume wants a checkpoint written by 'dltrain train'",
	"--init-from": "--init-from wants a checkpoint written by 'dltrain train'",
	"inspect":     "inspect reads a checkpoint written by 'dltrain train'",
	"verify":      "verify proves properties of a checkpoint written by 'dltrain train'",
	"attack":      "attack wants a checkpoint written by 'dltrain train'",
}

// modelErr classifies a checkpoint load failure for verb, saying what verb wants when the file is
// not a checkpoint, with a hint for the encrypted cases.
func modelErr(verb string, err error) error {
	switch {
	case errors.Is(err, checkpoint.ErrEncrypted):
		return withCode(exitModel, err, "pass --key-file FILE or set DLTRAIN_KEY_FILE")
	case errors.Is(err, checkpoint.ErrNotCheckpoint) && wants[verb] != "":
		return withCode(exitModel, fmt.Errorf("%w; %s", err, wants[verb]), "")
	}
	return withCode(exitModel, err, "")
}

// KeygenOptions are the inputs of 'dltrain keygen'.
type KeygenOptions struct {
	IO    *IO
	Out   string
	JSON  bool
	Quiet bool
}

// NewCmdKeygen builds 'dltrain keygen'.
func NewCmdKeygen(f *Factory, runF func(*KeygenOptions) error) *cobra.Command {
	opts := &KeygenOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create a random AES-256 key file for encrypted checkpoints",
		Long: `Create a random 256-bit key, written as 64 hex characters to a new file readable only by you
(mode 0600). It never overwrites a file. Missing directories above it are created, readable only by
you (mode 0700). Keep the key away from the models it protects: anyone with both can read and
replace the weights, and a lost key makes its models unreadable.

--json prints {file, mode} instead of the line that names the file written.`,
		Example: `  dltrain keygen -o ~/.config/dltrain/model.key
  dltrain train --key-file ~/.config/dltrain/model.key
  DLTRAIN_KEY_FILE=~/.config/dltrain/model.key dltrain eval model.bin`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return keygenRun(opts)
		},
	}
	addCommon(cmd, commonFlags{Output: &opts.Out, OutputHelp: "key file to create (required; never overwritten)", JSON: &opts.JSON, Quiet: &opts.Quiet})
	fileFlag(cmd, "output", "key")
	return cmd
}

func keygenRun(opts *KeygenOptions) error {
	out := opts.Out
	if out == "" {
		return usageErr("keygen needs -o FILE")
	}
	if _, err := os.Lstat(out); err == nil {
		return withCode(exitUsage, fmt.Errorf("keygen: %s already exists; a key is never overwritten", out), "give -o a new file")
	}
	// The directories above the key, where missing, are the user's own: readable by nobody else.
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return withCode(exitUsage, fmt.Errorf("keygen: %w", safefile.Cause(err)), "")
		}
	}
	k, err := checkpoint.NewKey()
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("keygen: %w", err), "")
	}
	if _, err := fh.Write(k); err != nil {
		fh.Close()
		os.Remove(out)
		return withCode(exitError, fmt.Errorf("keygen: %s: %w", out, safefile.Cause(err)), "")
	}
	if err := fh.Close(); err != nil {
		os.Remove(out)
		return withCode(exitError, fmt.Errorf("keygen: %s: %w", out, safefile.Cause(err)), "")
	}
	switch {
	case opts.JSON:
		return printJSON(opts.IO, object{{"file", out}, {"mode", "0600"}})
	case !opts.Quiet:
		fmt.Fprintf(opts.IO.Out, "wrote a new key to %s (mode 0600); keep it apart from the models it protects\n", printable(out))
	}
	return nil
}
