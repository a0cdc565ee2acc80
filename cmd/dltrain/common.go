// common.go binds the flags that every verb shares, in one place, so that each is spelled and means
// the same on every verb: -o/--output (the file the verb writes), --json (the result as JSON on
// stdout), -q/--quiet (no progress, notes or confirmations), --device (cpu, cuda or auto; auto by
// default) and --threads (GOMAXPROCS). A verb binds the ones it has with addCommon, which also records
// them on the command; common_test.go walks the command tree and checks every verb against its table,
// so a new verb is checked when it lands. It does not bind a verb's own flags.

package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Help of the shared flags: the same words on every verb.
const (
	jsonHelp    = "print the result as JSON on stdout (one object, or one array)"
	quietHelp   = "quiet: no progress, notes or confirmations; only results, warnings and errors"
	deviceHelp  = "cpu, cuda, or auto (the GPU when this build has CUDA and one is usable)"
	threadsHelp = "CPU threads to compute with (sets GOMAXPROCS); 0: all cores"
)

// dataHelp is the help of --data on every verb that reads a data set.
const dataHelp = "data directory (default $DLTRAIN_DATA, else ./data; see --dataset)"

// commonAnnotation is the command annotation that lists the shared flags a verb bound through
// addCommon (comma-separated long names), for the table test.
const commonAnnotation = "dltrain.common-flags"

// commonFlags names the fields a verb binds the shared flags to; a nil field leaves that flag out.
type commonFlags struct {
	// Output is -o/--output: what the verb writes. OutputDefault is its default ("" when the verb
	// derives it or needs it), OutputHelp what the file is ("checkpoint to write").
	Output        *string
	OutputDefault string
	OutputHelp    string

	JSON    *bool
	Quiet   *bool
	Device  *string
	Threads *int
}

// addCommon binds the shared flags that c names to cmd, records them in cmd's annotations, registers
// the completion of --device, and makes --threads set GOMAXPROCS before the verb runs (Main restores
// it afterwards).
func addCommon(cmd *cobra.Command, c commonFlags) {
	fl := cmd.Flags()
	var names []string
	if c.Output != nil {
		fl.StringVarP(c.Output, "output", "o", c.OutputDefault, c.OutputHelp)
		names = append(names, "output")
	}
	if c.JSON != nil {
		fl.BoolVar(c.JSON, "json", false, jsonHelp)
		names = append(names, "json")
	}
	if c.Quiet != nil {
		fl.BoolVarP(c.Quiet, "quiet", "q", false, quietHelp)
		names = append(names, "quiet")
	}
	if c.Device != nil {
		fl.StringVar(c.Device, "device", "auto", deviceHelp)
		enumFlag(cmd, "device", "auto", "cpu", "cuda")
		names = append(names, "device")
	}
	if c.Threads != nil {
		fl.IntVar(c.Threads, "threads", 0, threadsHelp)
		names = append(names, "threads")
		threads := c.Threads
		prev := cmd.PreRunE
		cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
			if err := applyThreads(*threads); err != nil {
				return err
			}
			if prev != nil {
				return prev(cmd, args)
			}
			return nil
		}
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[commonAnnotation] = strings.Join(names, ",")
}

// maxThreads bounds --threads: every thread may get a worker, and Go stops a program at 10,000 OS
// threads with a stack trace of each.
const maxThreads = 1024

// applyThreads sets GOMAXPROCS to n (0 leaves it at the number of cores).
func applyThreads(n int) error {
	if n < 0 || n > maxThreads {
		return usageErr("--threads %d: want 0 (all cores) to %d", n, maxThreads)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return nil
}

// enumFlag makes the shell complete flag name of cmd with values.
func enumFlag(cmd *cobra.Command, name string, values ...string) {
	if err := cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(fmt.Sprintf("completion of --%s: %v", name, err)) // a flag bound twice: a programming error
	}
}

// dirFlag makes the shell complete flag name of cmd with directories.
func dirFlag(cmd *cobra.Command, name string) {
	if err := cmd.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}); err != nil {
		panic(fmt.Sprintf("completion of --%s: %v", name, err))
	}
}

// fileFlag makes the shell complete flag name of cmd with files ending in one of exts ("bin", "key");
// none: any file.
func fileFlag(cmd *cobra.Command, name string, exts ...string) {
	if err := cmd.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if len(exts) == 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return exts, cobra.ShellCompDirectiveFilterFileExt
	}); err != nil {
		panic(fmt.Sprintf("completion of --%s: %v", name, err))
	}
}

// outAlias lets train keep --out, its name for -o/--output before every verb shared -o.
func outAlias(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "out" {
		return "output"
	}
	return pflag.NormalizedName(name)
}
