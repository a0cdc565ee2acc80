// messages.go words the errors that users read in their own terms: a flag's bad value as
// `--lr: "abc" is not a number` instead of the parser's strconv error, a mistyped flag or verb with
// "did you mean", a wrong number of arguments with the verb's usage and its own help, and library
// errors without their package prefixes ("checkpoint: ", "mnist: ", …), which the library packages
// keep for their own callers. It changes how errors read, never which exit code they get.

package main

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagError rewords a flag parsing error of cmd and makes it a usage error that points at cmd's help.
func flagError(cmd *cobra.Command, err error) error {
	help := fmt.Sprintf("see '%s --help'", cmd.CommandPath())
	var (
		bad     *pflag.InvalidValueError
		missing *pflag.ValueRequiredError
		unknown *pflag.NotExistError
	)
	switch {
	case errors.As(err, &bad):
		return &exitErr{code: exitUsage, err: errors.New(badValue(bad.GetFlag(), bad.GetValue(), bad.Unwrap())), hint: help}
	case errors.As(err, &missing):
		name := "--" + missing.GetFlag().Name
		if missing.GetSpecifiedShortnames() != "" {
			name = "-" + missing.GetFlag().Shorthand
		}
		return &exitErr{code: exitUsage, err: fmt.Errorf("%s needs a value", name), hint: help}
	case errors.As(err, &unknown):
		typed, shorts := unknown.GetSpecifiedName(), unknown.GetSpecifiedShortnames()
		msg := "unknown flag --" + typed
		guess := typed
		if shorts != "" {
			msg = fmt.Sprintf("unknown flag -%s (in -%s)", typed[:1], shorts)
			guess = shorts // "-epochs" typed with one dash: pflag read it as -e -p -o …
		}
		if s := suggestFlags(cmd, guess); len(s) > 0 {
			return &exitErr{code: exitUsage, err: errors.New(msg), hint: "did you mean " + strings.Join(s, " or ") + "? " + help}
		}
		return &exitErr{code: exitUsage, err: errors.New(msg), hint: help}
	}
	return &exitErr{code: exitUsage, err: err, hint: help}
}

// badValue says why value is not a valid value of flag f, in the flag's own terms.
func badValue(f *pflag.Flag, value string, cause error) string {
	name := "--" + f.Name
	var ne *strconv.NumError
	rangeErr := errors.As(cause, &ne) && errors.Is(ne.Err, strconv.ErrRange)
	switch t := f.Value.Type(); {
	case rangeErr:
		return fmt.Sprintf("%s: %q is out of range", name, value)
	case t == "float64" || t == "float32":
		return fmt.Sprintf("%s: %q is not a number", name, value)
	case strings.HasPrefix(t, "int"):
		return fmt.Sprintf("%s: %q is not a whole number", name, value)
	case strings.HasPrefix(t, "uint"):
		return fmt.Sprintf("%s: %q is not a whole number of 0 or more", name, value)
	case t == "bool":
		return fmt.Sprintf("%s: %q is not true or false", name, value)
	case t == "duration":
		return fmt.Sprintf("%s: %q is not a duration (such as 90s or 5m)", name, value)
	}
	return fmt.Sprintf("%s: %q: %v", name, value, cause)
}

// suggestFlags lists the flags of cmd (as --name) whose names are close to typed: within two edits,
// or starting with it, or it starting with them.
func suggestFlags(cmd *cobra.Command, typed string) []string {
	var out []string
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if f.Hidden || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		if editDistance(typed, f.Name) <= 2 || len(typed) >= 3 && (strings.HasPrefix(f.Name, typed) || strings.HasPrefix(typed, f.Name)) {
			out = append(out, "--"+f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	sort.Slice(out, func(i, j int) bool {
		return editDistance(typed, out[i][2:]) < editDistance(typed, out[j][2:])
	})
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, by bytes, case-insensitively.
func editDistance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// argsRange accepts from min to max positional arguments (max < 0: no upper bound). Its error says
// what the verb takes, with the verb's usage line and its own help.
func argsRange(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		n := len(args)
		if n >= min && (max < 0 || n <= max) {
			return nil
		}
		verb := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		var msg string
		switch {
		case max == 0:
			msg = fmt.Sprintf("%s takes no arguments, got %s", verb, quoteArgs(args))
		case max >= 0 && n > max:
			msg = fmt.Sprintf("%s takes at most %s, got %d: %s", verb, plural(max, "argument"), n, quoteArgs(args))
		case n == 0:
			msg = fmt.Sprintf("%s needs %s", verb, argNames(cmd))
		default:
			msg = fmt.Sprintf("%s needs at least %s, got %d: %s", verb, plural(min, "argument"), n, quoteArgs(args))
		}
		return &exitErr{code: exitUsage, err: errors.New(msg),
			hint: fmt.Sprintf("usage: %s; see '%s --help'", cmd.UseLine(), cmd.CommandPath())}
	}
}

// argNames is the arguments part of cmd's usage ("MODEL", "[MODEL] IMAGE...").
func argNames(cmd *cobra.Command) string {
	_, rest, _ := strings.Cut(cmd.Use, " ")
	if rest == "" {
		return "arguments"
	}
	return rest
}

// plural writes "1 argument", "2 arguments".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// quoteArgs writes arguments as the user typed them, quoted where that is needed to see them.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// unknownCommand rewords cobra's "unknown command" error for root, whose text holds a multi-line
// suggestion list, into one line and a "did you mean" hint; ok is false for any other error.
func unknownCommand(root *cobra.Command, err error) (msg, hint string, ok bool) {
	m := unknownCommandRE.FindStringSubmatch(err.Error())
	if m == nil {
		return "", "", false
	}
	typed, parent := m[1], m[2]
	msg = fmt.Sprintf("unknown command %q for '%s'", typed, parent)
	hint = fmt.Sprintf("see '%s --help'", parent)
	if parent == root.Name() {
		if s := root.SuggestionsFor(typed); len(s) > 0 {
			for i := range s {
				s[i] = "'" + root.Name() + " " + s[i] + "'"
			}
			hint = "did you mean " + strings.Join(s, " or ") + "? " + hint
		}
	}
	return msg, hint, true
}

var unknownCommandRE = regexp.MustCompile(`^unknown command "((?:[^"\\]|\\.)*)" for "([^"]*)"`)

// packagePrefix matches the origin prefixes of dltrain's library packages (and of the CLI's own verb
// errors) at the start of a message or of a clause inside it.
var packagePrefix = regexp.MustCompile(`(^|: |; |\()(?:model|checkpoint|mnist|cuda|cpu|ops|export|safefile|figure|filekind|schedule|augment|verify|kernels|envelope|metadata|predict|train|keygen|plot|data sample|eval|inspect|attack): `)

// userMessage is an error's text as users read it: without the package prefixes that library errors
// carry for their callers ("checkpoint: m.bin: …" reads "m.bin: …"). Only one prefix is dropped at
// each place, so "mnist: mnist: …" (the package, then the data set) keeps the data set's name.
func userMessage(s string) string {
	return packagePrefix.ReplaceAllString(s, "$1")
}
