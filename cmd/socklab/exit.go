package main

import (
	"errors"
	"fmt"

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
	// detail is what gRPC said, for --debug.
	detail string
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

// controllerError is the exit for a controller's refusal or failure, said in the command
// line's terms: what was asked is wrong or unknown, or the token is refused (2), the run
// was cancelled (130), or the controller is unreachable or failed (3). token is the one
// the command sent ("" none).
func controllerError(addr, token string, err error) exitError {
	code := exitInfra
	msg := err.Error()
	switch {
	case errors.Is(err, errdefs.ErrUnreachable):
		msg = fmt.Sprintf("cannot reach the controller at %s: is it running? (%v)", addr, err)
	case errors.Is(err, errdefs.ErrUnauthenticated) && token == "":
		code = exitUsage
		msg = fmt.Sprintf("the controller at %s wants a token, and none was given: give --token-file FILE or $SOCKLAB_TOKEN", addr)
	case errors.Is(err, errdefs.ErrUnauthenticated):
		code = exitUsage
		msg = fmt.Sprintf("the controller at %s refused the token: check --token-file, --token or $SOCKLAB_TOKEN", addr)
	case errors.Is(err, errdefs.ErrTooLarge):
		code = exitUsage
		msg = fmt.Sprintf("%v: the controller at %s takes no larger message (its --max-message)", err, addr)
	case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrPermissionDenied):
		code = exitUsage
	case errors.Is(err, errdefs.ErrCanceled):
		code = exitInterrupted
	}
	return exitError{code: code, msg: "socklab: " + msg, detail: errdefs.Detail(err)}
}

// errorDetail is what gRPC said of err, for --debug: "" if err came from no gRPC call.
func errorDetail(err error) string {
	var ee exitError
	if errors.As(err, &ee) && ee.detail != "" {
		return ee.detail
	}
	return errdefs.Detail(err)
}
