package session

import "fmt"

// Kind classifies what is wrong with a request (never a socket error: those are results).
type Kind int

// The kinds of request errors; the gRPC layer maps each to one status code.
const (
	// Invalid is a malformed request: a missing operation, a bad address, a bad flag.
	Invalid Kind = iota + 1
	// NotFound is an unknown or ended session, or an unknown handle.
	NotFound
	// Denied is a request the owner's policy refuses.
	Denied
	// Exhausted is a request over a limit: sockets, bytes, sessions.
	Exhausted
	// Precondition is a request that cannot run in the current state (an operation that
	// waited for an earlier sequence number that never came, a second event stream).
	Precondition
)

// Error is a request error: a Kind and a message that says what to change.
type Error struct {
	// Kind classifies the error.
	Kind Kind
	// Msg says what is wrong and what to change.
	Msg string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
