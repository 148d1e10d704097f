package lab

import (
	"errors"

	"go.starlark.net/starlark"
)

// The parts of Python's socket API that complete the everyday calls: a socket's family,
// type, proto and timeout attributes and its fileno(); the host's socketpair, select,
// create_connection and create_server; recv_into, sendfile and makefile.

// newSocketValue is the lab's value of socket handle on host h, made with socket(family,
// typ, proto): it blocks without a timeout, until startTimeout gives it the run's
// default.
func newSocketValue(h *hostValue, handle uint32, family, typ, proto int) *socketValue {
	return &socketValue{host: h, handle: handle, stream: typ == 1, family: family, typ: typ, proto: proto, timeout: starlark.None}
}

// socketFields are a socket's data attributes beyond host and handle, as Python's socket
// object has them. family and type are plain ints: they equal AF_INET and SOCK_STREAM
// and print as Python 3.11 prints its enums (2, 1), but their repr is the number, not
// <AddressFamily.AF_INET: 2>.
var socketFields = map[string]func(*socketValue) starlark.Value{
	"family": func(s *socketValue) starlark.Value { return starlark.MakeInt(s.family) },
	"type":   func(s *socketValue) starlark.Value { return starlark.MakeInt(s.typ) },
	"proto":  func(s *socketValue) starlark.Value { return starlark.MakeInt(s.proto) },
	"timeout": func(s *socketValue) starlark.Value {
		if s.timeout == nil {
			return starlark.None
		}
		return s.timeout
	},
}

func init() {
	socketMethods["fileno"] = (*socketValue).fileno
}

// setTimeoutHeld reports whether a settimeout or setblocking that returned err set the
// socket's timeout: it did unless the agent never performed it, as CPython sets it even
// on a closed socket, whose EBADF it raises all the same.
func setTimeoutHeld(err error) bool {
	var se *SocketError
	return err == nil || errors.As(err, &se)
}

// fileno() is the socket's handle, which plays the part of its file descriptor: select
// takes it; -1 once the socket is closed, as in Python.
func (s *socketValue) fileno(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs("fileno", args, kwargs); err != nil {
		return nil, err
	}
	if s.closed {
		return starlark.MakeInt(-1), nil
	}
	return starlark.MakeUint(uint(s.handle)), nil
}
