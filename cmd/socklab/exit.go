package main

import (
	"errors"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/transcript"
)

// The command line's exit codes: a run's own (from the run record), which the other
// commands share.
const (
	exitOK          = transcript.ExitPassed      // all went well
	exitFailed      = transcript.ExitFailed      // a check failed; an unexpected error
	exitUsage       = transcript.ExitBadLab      // a bad lab, a bad flag, an unknown run
	exitInfra       = transcript.ExitInfra       // an agent or controller unreachable, lost or refusing
	exitInterrupted = transcript.ExitInterrupted // Ctrl-C, or a run cancelled
)

// exitError ends the command with code, after printing msg (if any) to stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// usageError marks errors of the command line itself (exit code 2).
type usageError struct{ error }

// exitCode is the process's exit code for what a command returned.
func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// remoteError is the exit for a controller's refusal or failure: what was asked is wrong
// or unknown (2), the run was cancelled (130), or the controller failed (3).
func remoteError(err error) exitError {
	code := exitInfra
	switch {
	case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrNotFound):
		code = exitUsage
	case errors.Is(err, errdefs.ErrCanceled):
		code = exitInterrupted
	}
	return exitError{code: code, msg: err.Error()}
}
