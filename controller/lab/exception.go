package lab

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/socklab/socklab/controller/pyrepr"
)

// Exception is a Python exception other than OSError that a lab builtin raises where
// CPython's would, with CPython's message: a TypeError for an argument of the wrong type,
// a ValueError or OverflowError for a value out of range, a UnicodeDecodeError. t.raises
// and t.catch catch it; uncaught, it stops the lab as a mistake in the lab.
type Exception struct {
	// Type is its class: "TypeError".
	Type string
	// Msg is CPython's message, what str(e) shows: "'float' object cannot be
	// interpreted as an integer".
	Msg string
	// Hint, if any, follows the message when the exception stops the lab.
	Hint string
}

// Error formats the exception as Python's traceback ends: "TypeError: msg".
func (e *Exception) Error() string {
	if e.Hint != "" {
		return e.Type + ": " + e.Msg + " (" + e.Hint + ")"
	}
	return e.Type + ": " + e.Msg
}

func typeError(format string, args ...any) *Exception {
	return &Exception{Type: "TypeError", Msg: fmt.Sprintf(format, args...)}
}

func valueError(format string, args ...any) *Exception {
	return &Exception{Type: "ValueError", Msg: fmt.Sprintf(format, args...)}
}

func overflowError(format string, args ...any) *Exception {
	return &Exception{Type: "OverflowError", Msg: fmt.Sprintf(format, args...)}
}

// pyType is the name Python gives a value's type: str for a Starlark string.
func pyType(v starlark.Value) string {
	switch v.(type) {
	case starlark.String:
		return "str"
	case *starlark.Function:
		return "function"
	case *starlark.Builtin:
		return "builtin_function_or_method"
	}
	return v.Type()
}

// exceptionParents is the part of Python's exception hierarchy that labs' errors belong
// to: each class with its base class. A socket error's class is derived from its errno
// as CPython derives it (PEP 3151); an *Exception names its own.
var exceptionParents = map[string]string{
	"Exception":              "",
	"OSError":                "Exception",
	"BlockingIOError":        "OSError",
	"ChildProcessError":      "OSError",
	"ConnectionError":        "OSError",
	"BrokenPipeError":        "ConnectionError",
	"ConnectionAbortedError": "ConnectionError",
	"ConnectionRefusedError": "ConnectionError",
	"ConnectionResetError":   "ConnectionError",
	"FileExistsError":        "OSError",
	"FileNotFoundError":      "OSError",
	"InterruptedError":       "OSError",
	"IsADirectoryError":      "OSError",
	"NotADirectoryError":     "OSError",
	"PermissionError":        "OSError",
	"ProcessLookupError":     "OSError",
	"TimeoutError":           "OSError",
	"gaierror":               "OSError",
	"herror":                 "OSError",
	"TypeError":              "Exception",
	"ValueError":             "Exception",
	"UnicodeError":           "ValueError",
	"UnicodeDecodeError":     "UnicodeError",
	"UnicodeEncodeError":     "UnicodeError",
	"ArithmeticError":        "Exception",
	"OverflowError":          "ArithmeticError",
}

// exceptionAliases are other names Python gives a class: socket.error and IOError are
// OSError, socket.timeout is TimeoutError (since Python 3.10).
var exceptionAliases = map[string]string{
	"error":            "OSError",
	"IOError":          "OSError",
	"EnvironmentError": "OSError",
	"timeout":          "TimeoutError",
}

// errnoClasses are the OSError subclasses CPython raises for an errno (PEP 3151);
// every other errno raises OSError itself.
var errnoClasses = map[string][]string{
	"BlockingIOError":        {"EAGAIN", "EALREADY", "EINPROGRESS"},
	"ChildProcessError":      {"ECHILD"},
	"BrokenPipeError":        {"EPIPE", "ESHUTDOWN"},
	"ConnectionAbortedError": {"ECONNABORTED"},
	"ConnectionRefusedError": {"ECONNREFUSED"},
	"ConnectionResetError":   {"ECONNRESET"},
	"FileExistsError":        {"EEXIST"},
	"FileNotFoundError":      {"ENOENT"},
	"InterruptedError":       {"EINTR"},
	"IsADirectoryError":      {"EISDIR"},
	"NotADirectoryError":     {"ENOTDIR"},
	"PermissionError":        {"EACCES", "EPERM"},
	"ProcessLookupError":     {"ESRCH"},
	"TimeoutError":           {"ETIMEDOUT"},
}

// errnoClass maps an errno number to its class, from errnoClasses.
var errnoClass = func() map[int]string {
	m := map[int]string{}
	for class, names := range errnoClasses {
		for _, n := range names {
			m[errnoNumbers[n]] = class
		}
	}
	return m
}()

// class returns the Python class of a socket error: TimeoutError for a timeout, the
// errno's class (ConnectionRefusedError), gaierror, or OSError.
func (e *SocketError) class() string {
	switch {
	case e.Name == "timeout":
		return "TimeoutError"
	case e.Name == "gaierror" || e.Name == "herror":
		return e.Name
	}
	if c, ok := errnoClass[e.Errno]; ok && e.Errno > 0 {
		return c
	}
	return "OSError"
}

// isSubclass reports whether class is base or derives from it.
func isSubclass(class, base string) bool {
	for c := class; c != ""; c = exceptionParents[c] {
		if c == base {
			return true
		}
	}
	return false
}

// exceptionSpec is what t.raises expects: one or more names, each an errno's ("EAGAIN",
// "EWOULDBLOCK") or an exception class's ("OSError", "timeout", "ConnectionError"), as
// Python's except clause takes a class or a tuple of them.
type exceptionSpec []string

// parseExceptionSpec reads t.raises's first argument: a name or a tuple of names.
func parseExceptionSpec(v starlark.Value) (exceptionSpec, error) {
	const want = `an errno name such as "ECONNREFUSED", an exception such as "OSError" or "timeout", or a tuple of them`
	var items []starlark.Value
	switch v := v.(type) {
	case starlark.String:
		items = []starlark.Value{v}
	case starlark.Tuple:
		items = v
	default:
		return nil, fmt.Errorf("raises: give %s, not %s", want, v.Type())
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("raises: the tuple of errors is empty: give %s", want)
	}
	var spec exceptionSpec
	for _, it := range items {
		name, ok := starlark.AsString(it)
		if !ok {
			return nil, fmt.Errorf("raises: give %s, not a tuple holding %s", want, it.Type())
		}
		_, isErrno := errnoNumbers[name]
		_, isClass := exceptionParents[name]
		_, isAlias := exceptionAliases[name]
		if !isErrno && !isClass && !isAlias {
			return nil, fmt.Errorf("raises: %q is neither an errno name (ECONNREFUSED, EAGAIN, ...) nor an exception (OSError, timeout, ConnectionRefusedError, ...)", name)
		}
		spec = append(spec, name)
	}
	return spec, nil
}

// String is the spec as the lab wrote it: "ECONNREFUSED", or "EAGAIN or timeout".
func (s exceptionSpec) String() string { return strings.Join(s, " or ") }

// matches reports whether err is what one of the spec's names catches in Python: an
// errno name catches the errors of that number, whichever of its names the lab gave
// (e.errno == errno.EWOULDBLOCK holds for EAGAIN); a class catches its instances and its
// subclasses' (OSError every socket error, timeout ETIMEDOUT as well as a timeout).
func (s exceptionSpec) matches(err error) bool {
	var ex *Exception
	var se *SocketError
	for _, name := range s {
		n, isErrno := errnoNumbers[name]
		if c, ok := exceptionAliases[name]; ok {
			name = c
		}
		switch {
		case errors.As(err, &ex):
			if isSubclass(ex.Type, name) {
				return true
			}
		case !errors.As(err, &se):
			return false
		case isErrno:
			if se.Errno == n {
				return true
			}
		case isSubclass(se.class(), name):
			return true
		}
	}
	return false
}

// errorValue is an error as a lab holds it, what t.raises and t.catch return: its
// name, errno, strerror and the errno's other names, with Python's str() and repr().
type errorValue struct {
	class    string // Python's class, "ConnectionRefusedError"
	name     string // "ECONNREFUSED", "timeout"
	errno    int    // 0 when it has none
	strerror string
}

var (
	_ starlark.HasAttrs   = (*errorValue)(nil)
	_ starlark.Comparable = (*errorValue)(nil)
)

// raisedValue returns the error err raised as a lab value: a socket error's or an
// *Exception's; nil when err is no such error (a watchdog, a mistake in the lab).
func raisedValue(err error) starlark.Value {
	var se *SocketError
	var ex *Exception
	switch {
	case errors.As(err, &se):
		return &errorValue{class: se.class(), name: se.Name, errno: se.Errno, strerror: se.Message}
	case errors.As(err, &ex):
		return &errorValue{class: ex.Type, name: ex.Type, strerror: ex.Msg}
	}
	return nil
}

// String is Python's repr: ConnectionRefusedError(111, 'Connection refused'),
// TimeoutError('timed out').
func (e *errorValue) String() string {
	if e.errno != 0 {
		return fmt.Sprintf("%s(%d, %s)", e.class, e.errno, pyrepr.Str(e.strerror))
	}
	return fmt.Sprintf("%s(%s)", e.class, pyrepr.Str(e.strerror))
}

// pyStr is Python's str: [Errno 111] Connection refused, timed out.
func (e *errorValue) pyStr() string {
	if e.errno != 0 {
		return fmt.Sprintf("[Errno %d] %s", e.errno, e.strerror)
	}
	return e.strerror
}

func (e *errorValue) Type() string         { return "error" }
func (e *errorValue) Freeze()              {}
func (e *errorValue) Truth() starlark.Bool { return true }
func (e *errorValue) Hash() (uint32, error) {
	return starlark.String(e.class + " " + e.name + " " + e.strerror).Hash()
}
func (e *errorValue) AttrNames() []string { return []string{"aliases", "errno", "name", "strerror"} }

func (e *errorValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(e.name), nil
	case "errno":
		return starlark.MakeInt(e.errno), nil
	case "strerror":
		return starlark.String(e.strerror), nil
	case "aliases":
		return errnoAliases(e.errno), nil
	}
	return nil, nil
}

// CompareSameType compares two errors by what they hold, as the structs labs had did.
func (e *errorValue) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	eq := *e == *y.(*errorValue)
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s %s %s not supported", e.Type(), op, y.Type())
}
