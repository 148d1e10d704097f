package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// PreviewMax is how many characters of a payload's repr Call and Outcome show before
// cutting it with "...".
const PreviewMax = 60

// Call returns the event's operation as Python would write the call, such as
// "connect(('127.5.0.2', 8080))" or "recv(1024, MSG_PEEK)". Sent data is shown from the
// event's payload (where the agent moves it), cut after PreviewMax characters.
func Call(ev *socklabv1.Event) string { return call(ev, PreviewMax) }

// Outcome returns what the event's operation returned, as Python would print it: "None",
// "5", "b'HELLO'", "(s2, ('127.0.0.1', 43210))"; or, when it raised, the error as
// "ECONNREFUSED [Errno 111] Connection refused" or "timeout: timed out". connect_ex
// returns its errno as a value, so its outcome is that number even when the event carries
// the error. Received data is cut after PreviewMax characters.
func Outcome(ev *socklabv1.Event) string { return outcome(ev, PreviewMax) }

// Bytes returns b as Python's repr prints a bytes object, cut after max characters (max
// > 0) and followed by "... (N bytes)" when it is only the first part of total bytes; see
// pyrepr.Bytes.
func Bytes(b []byte, total uint64, max int) string { return pyrepr.Bytes(b, total, max) }

// Address returns a as Python writes a socket address: ('127.0.0.1', 8080) for the inet
// families, the path's string for AF_UNIX, None when a is nil.
func Address(a *socklabv1.Address) string {
	if a == nil {
		return "None"
	}
	if a.GetPath() != "" {
		return pyrepr.Str(a.GetPath())
	}
	if strings.Contains(a.GetHost(), ":") { // AF_INET6: Python's 4-tuple
		return fmt.Sprintf("(%s, %d, 0, 0)", pyrepr.Str(a.GetHost()), a.GetPort())
	}
	return fmt.Sprintf("(%s, %d)", pyrepr.Str(a.GetHost()), a.GetPort())
}

// Error returns a socket error as Python shows it: "ECONNREFUSED [Errno 111] Connection
// refused", "timeout: timed out", or "name: message" for an error with no errno.
func Error(e *socklabv1.SocketError) string {
	switch {
	case e == nil:
		return ""
	case e.GetErrno() != 0 && e.GetHolder() != "":
		return fmt.Sprintf("%s [Errno %d] %s (held by %s, outside this run)", e.GetName(), e.GetErrno(), e.GetMessage(), e.GetHolder())
	case e.GetErrno() != 0:
		return strings.TrimSpace(fmt.Sprintf("%s [Errno %d] %s", e.GetName(), e.GetErrno(), e.GetMessage()))
	case e.GetName() == "":
		return e.GetMessage()
	case e.GetMessage() == "":
		return e.GetName()
	}
	return e.GetName() + ": " + e.GetMessage()
}

// handle returns a socket handle as a variable name, "s3".
func handle(h uint32) string { return "s" + strconv.FormatUint(uint64(h), 10) }

// call is Call with payload previews cut at max characters: the operation's name, from
// the Operation oneof, and its declared arguments. An event without a known operation
// shows its op name, or "?".
func call(ev *socklabv1.Event, max int) string {
	name, op, ok := operationOf(ev)
	if !ok {
		if name := ev.GetOp(); name != "" {
			return name + "()"
		}
		return "?"
	}
	var kept []string
	if op.args != nil {
		for _, a := range op.args(ev, max) {
			if a != "" {
				kept = append(kept, a)
			}
		}
	}
	return name + "(" + strings.Join(kept, ", ") + ")"
}

// returnsErrno reports whether the event is a connect_ex that returned its errno as a
// value, which Python does instead of raising.
func returnsErrno(ev *socklabv1.Event) bool {
	_, op, ok := operationOf(ev)
	return ok && op.errnoValue && (ev.GetError() == nil || ev.GetResult().GetValue() != 0)
}

// raised reports whether the event's operation raised its error (rather than returning it).
func raised(ev *socklabv1.Event) bool { return ev.GetError() != nil && !returnsErrno(ev) }

// outcome is Outcome with payload previews cut at max characters.
func outcome(ev *socklabv1.Event, max int) string {
	if raised(ev) {
		return Error(ev.GetError())
	}
	_, op, ok := operationOf(ev)
	if !ok || op.result == nil {
		return "None"
	}
	return op.result(ev, max)
}
