// Package errdefs is socklab's one vocabulary of request errors, and its mapping onto
// gRPC status codes at every gRPC boundary: ToGRPC on the server side, FromGRPC on the
// client side. Nothing above a client reads gRPC codes or matches message text; it asks
// errors.Is(err, errdefs.ErrNotFound).
//
// Socket errors are not request errors: they are results, carried in events.
package errdefs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The kinds of request errors. Each maps to one gRPC status code.
var (
	// ErrInvalidArgument is a malformed request: a missing operation, a bad address.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound is an unknown session, handle or run.
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied is a request the owner's policy refuses.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted is a request over a limit: sockets, bytes, sessions.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrFailedPrecondition is a request that cannot run in the current state.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnauthenticated is a missing or wrong token.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrUnavailable is a peer that cannot be reached, or a connection that broke.
	ErrUnavailable = errors.New("unavailable")
	// ErrDeadlineExceeded is a call that ran out of time; errors.Is also matches
	// context.DeadlineExceeded.
	ErrDeadlineExceeded = errors.New("deadline exceeded")
	// ErrCanceled is a call cancelled by its caller; errors.Is also matches
	// context.Canceled.
	ErrCanceled = errors.New("canceled")
	// ErrInternal is a fault of the server's own.
	ErrInternal = errors.New("internal")
	// ErrNotImplemented is a call the server does not offer (an older version).
	ErrNotImplemented = errors.New("not implemented")
	// ErrUnknown is any other failure of a call.
	ErrUnknown = errors.New("unknown")
)

// Finer kinds: each is also one of the kinds above, and errors.Is matches both.
var (
	// ErrUnreachable is an ErrUnavailable whose connection was never made: nothing
	// listens at the address, or the name does not resolve. Its message is the cause
	// ("connection refused").
	ErrUnreachable = errors.New("unreachable")
	// ErrTooLarge is an ErrResourceExhausted of gRPC's bound on one message. Its message
	// says how large the message was and the bound.
	ErrTooLarge = errors.New("message too large")
)

// kinds pairs each kind with its status code.
var kinds = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrPermissionDenied, codes.PermissionDenied},
	{ErrResourceExhausted, codes.ResourceExhausted},
	{ErrFailedPrecondition, codes.FailedPrecondition},
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrUnavailable, codes.Unavailable},
	{ErrDeadlineExceeded, codes.DeadlineExceeded},
	{ErrCanceled, codes.Canceled},
	{ErrInternal, codes.Internal},
	{ErrNotImplemented, codes.Unimplemented},
}

// Error is a request error of one kind, with the message that says what to change.
type Error struct {
	// Kind is one of the Err* values.
	Kind error
	// Msg says what is wrong and what to change.
	Msg string
	// Sub is a finer kind (ErrUnreachable, ErrTooLarge), or nil.
	Sub error
	// Detail is the gRPC status the error came from, as gRPC words it ("rpc error: code
	// = Unavailable desc = ..."): for --debug, never for the message.
	Detail string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, so errors.Is(err, ErrNotFound) holds.
func (e *Error) Unwrap() error { return e.Kind }

// Is lets a cancelled or timed-out call match the context package's errors too.
func (e *Error) Is(target error) bool {
	switch {
	case e.Kind == ErrCanceled && target == context.Canceled:
		return true
	case e.Kind == ErrDeadlineExceeded && target == context.DeadlineExceeded:
		return true
	case e.Sub != nil && target == e.Sub:
		return true
	}
	return false
}

// Errorf returns an error of kind with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Code returns the status code for err's kind: the context's errors map to Canceled and
// DeadlineExceeded, an error of no kind to Unknown.
func Code(err error) codes.Code {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// ToGRPC turns err into a gRPC status error for a handler to return: its kind's code and
// its message. A status error passes through; nil stays nil.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
}

// FromGRPC turns an error a gRPC call returned into an *Error whose kind matches its code
// and whose message is the status's own (never "rpc error: code = ..."); the status as
// gRPC words it is kept in Detail. gRPC's own failures are said in plain words: a
// connection never made is ErrUnreachable with its cause ("connection refused"), a
// message over gRPC's bound is ErrTooLarge with its size and the bound. An error that is
// not a status passes through; nil stays nil.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	kind := ErrUnknown
	for _, k := range kinds {
		if k.code == st.Code() {
			kind = k.err
			break
		}
	}
	e := &Error{Kind: kind, Msg: st.Message(), Detail: err.Error()}
	switch {
	case kind == ErrUnavailable && strings.HasPrefix(e.Msg, "connection error:"):
		e.Sub, e.Msg = ErrUnreachable, dialCause(e.Msg)
	case kind == ErrResourceExhausted:
		if m := tooLarge.FindStringSubmatch(e.Msg); m != nil {
			size, _ := strconv.Atoi(m[1])
			limit, _ := strconv.Atoi(m[2])
			e.Sub, e.Msg = ErrTooLarge, fmt.Sprintf("the message is larger than the %s limit (%s)", Size(limit), Size(size))
		}
	}
	return e
}

// tooLarge matches gRPC's words for a message over its bound, sent or received.
var tooLarge = regexp.MustCompile(`message larger than max \((\d+) vs\. (\d+)\)`)

// dialCause returns the cause at the end of gRPC's words for a connection it could not
// make: `connection error: desc = "transport: Error while dialing: dial tcp
// 127.0.0.1:1: connect: connection refused"` is "connection refused".
func dialCause(msg string) string {
	msg = strings.TrimRight(msg, `"`)
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// Size writes a byte count as limits are given: "4 MiB", "10.0 MiB", "512 KiB", "100 bytes".
func Size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Detail returns the gRPC status err came from, as gRPC words it, or "" if it came from
// none.
func Detail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return ""
}
