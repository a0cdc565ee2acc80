package main

// This file is train's signal handling: the first SIGINT or SIGTERM asks training to stop after the
// current step (so that --out is saved and the run can be resumed); a second one, more than a second
// after the first, quits at once and leaves the last complete checkpoint as it was. A repeat within
// the second is taken as the same request: GNU timeout, for one, sends its signal to the process and
// then to its whole process group, and a shell may pass one Ctrl-C to several processes. SIGPIPE on
// the progress streams is ignored, so that a closed pipe (dltrain train | head -2) costs the progress
// lines and not the training.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// repeatWindow is how long after the first signal a second one is taken as the same request.
const repeatWindow = time.Second

// interrupts watches for the two signals of a training run.
type interrupts struct {
	caught chan os.Signal // the first signal, once it arrived
	done   chan struct{}  // closed by stop
	stopN  func()         // stops signal delivery, for the process's own signals
}

// watchSignals starts watching sigs (nil: the process's own SIGINT and SIGTERM, and SIGPIPE is then
// ignored). The first signal prints what happens next and calls cancel; a later one, more than
// repeatWindow after it by now (nil: time.Now), prints that it quits and calls exit with the shell's
// status for that signal (nil exit: os.Exit). out names the checkpoint being saved.
func watchSignals(sigs <-chan os.Signal, exit func(int), cancel context.CancelFunc, errw io.Writer, out string, now func() time.Time) *interrupts {
	in := &interrupts{caught: make(chan os.Signal, 1), done: make(chan struct{}), stopN: func() {}}
	if sigs == nil {
		signal.Ignore(syscall.SIGPIPE)
		c := make(chan os.Signal, 4)
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		in.stopN = func() { signal.Stop(c) }
		sigs = c
	}
	if exit == nil {
		exit = os.Exit
	}
	if now == nil {
		now = time.Now
	}
	go func() {
		var first time.Time
		select {
		case s := <-sigs:
			first = now()
			in.caught <- s
			fmt.Fprintf(errw, "dltrain: %s: finishing this step and saving %s (send it again to quit at once)\n", signalName(s), printable(out))
			cancel()
		case <-in.done:
			return
		}
		for {
			select {
			case s := <-sigs:
				if now().Sub(first) <= repeatWindow {
					continue // the same request, delivered twice
				}
				fmt.Fprintf(errw, "dltrain: %s again: quitting without saving; the last complete checkpoint is intact\n", signalName(s))
				exit(signalCode(s))
				return
			case <-in.done:
				return
			}
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

// signalName is the usual name of s: SIGINT, SIGTERM.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// processSignals delivers the process's own SIGINT and SIGTERM on a channel from now on, and ignores
// SIGPIPE; stop restores the default handling.
func processSignals() (sigs chan os.Signal, stop func()) {
	signal.Ignore(syscall.SIGPIPE)
	c := make(chan os.Signal, 4)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c, func() { signal.Stop(c) }
}

// setupWatch watches sigs while train sets up (loading the data, building the model), before
// anything is written: the first signal is kept for stop to return, so that the run ends without
// training; a second one, more than repeatWindow later, calls quit with the shell's status for it at
// once (a data load that hangs can still be left).
type setupWatch struct {
	done    chan struct{}
	stopped chan struct{}
	caught  os.Signal
}

func watchSetup(sigs <-chan os.Signal, errw io.Writer, quit func(int)) *setupWatch {
	w := &setupWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		var first time.Time
		for {
			select {
			case s := <-sigs:
				switch {
				case w.caught == nil:
					w.caught, first = s, time.Now()
					fmt.Fprintf(errw, "dltrain: %s: stopping before training starts (send it again to quit at once)\n", signalName(s))
				case time.Since(first) > repeatWindow:
					fmt.Fprintf(errw, "dltrain: %s again: quitting; nothing was written\n", signalName(s))
					quit(signalCode(s))
					return
				}
			case <-w.done:
				return
			}
		}
	}()
	return w
}

// stop ends the watch (it may be called again) and returns the first signal it caught, or nil.
func (w *setupWatch) stop() os.Signal {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
	return w.caught
}
