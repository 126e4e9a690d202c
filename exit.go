package main

// How a run ends: the errors that set the exit status, and the signals that
// stop a run cleanly.

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// usageError marks errors that are the caller's (exit status 2).
type usageError struct{ error }

func exitStatus(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	var ie interruptError
	if errors.As(err, &ie) {
		var sig caughtSignal
		if errors.As(ie.cause, &sig) {
			if n, ok := sig.Signal.(syscall.Signal); ok {
				return 128 + int(n) // as a shell reports a death by signal: 130 for Ctrl-C
			}
		}
	}
	return 1
}

// caughtSignal is the cause of the run's cancellation: SIGINT or SIGTERM.
type caughtSignal struct{ os.Signal }

func (s caughtSignal) Error() string { return s.String() }

// signalContext is cancelled, with a caughtSignal cause, by the first SIGINT
// or SIGTERM; the run then stops and cleans up instead of dying mid-write.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			cancel(caughtSignal{s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// interruptError ends a run stopped by a signal while input name was being
// restored; the exit status is 128 + the signal's number.
type interruptError struct {
	name  string
	cause error
}

func (e interruptError) Error() string { return e.name + ": interrupted" }

// silentError ends the run with status 1 after errors were already printed.
type silentError struct{}

func (silentError) Error() string { return "" }
