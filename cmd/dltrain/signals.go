package main

// This file is train's signal handling: the first SIGINT or SIGTERM asks training to stop after the
// current step (so that --out is saved and the run can be resumed); a second one quits at once and
// leaves the last complete checkpoint as it was.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// interrupts watches for the two signals of a training run.
type interrupts struct {
	caught chan os.Signal // the first signal, once it arrived
	done   chan struct{}  // closed by stop
	stopN  func()         // stops signal delivery, for the process's own signals
}

// watchSignals starts watching sigs (nil: the process's own SIGINT and SIGTERM). The first signal
// prints what happens next and calls cancel; a second prints that it quits and calls exit with the
// shell's status for that signal (nil exit: os.Exit). out names the checkpoint being saved.
func watchSignals(sigs <-chan os.Signal, exit func(int), cancel context.CancelFunc, errw io.Writer, out string) *interrupts {
	in := &interrupts{caught: make(chan os.Signal, 1), done: make(chan struct{}), stopN: func() {}}
	if sigs == nil {
		c := make(chan os.Signal, 2)
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		in.stopN = func() { signal.Stop(c) }
		sigs = c
	}
	if exit == nil {
		exit = os.Exit
	}
	go func() {
		select {
		case s := <-sigs:
			in.caught <- s
			fmt.Fprintf(errw, "\ndltrain: %v: finishing this step and saving %s (send it again to quit at once)\n", s, out)
			cancel()
		case <-in.done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(errw, "dltrain: %v again: quitting without saving; the last complete checkpoint is intact\n", s)
			exit(signalCode(s))
		case <-in.done:
		}
	}()
	return in
}

// first returns the first signal if one arrived, else nil.
func (in *interrupts) first() os.Signal {
	select {
	case s := <-in.caught:
		in.caught <- s
		return s
	default:
		return nil
	}
}

// stop ends the watch.
func (in *interrupts) stop() {
	in.stopN()
	close(in.done)
}

// signalCode is the shell's exit status for a process ended by s: 128 + the signal number.
func signalCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return 143
	}
	return exitInterrupted
}
