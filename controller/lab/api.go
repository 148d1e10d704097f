package lab

import (
	"errors"
	"fmt"
	"math"

	"go.starlark.net/starlark"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
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

// hostMethods are the host's methods declared outside its Attr switch.
var hostMethods = map[string]func(*hostValue, *starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
	"socketpair": (*hostValue).socketpair,
}

// apiFamilies and apiTypes map a lab's AF_* and SOCK_* values onto the API's.
var (
	apiFamilies = map[int]socklabv1.Family{2: socklabv1.Family_FAMILY_INET, 10: socklabv1.Family_FAMILY_INET6, 1: socklabv1.Family_FAMILY_UNIX}
	apiTypes    = map[int]socklabv1.SocketType{1: socklabv1.SocketType_SOCKET_TYPE_STREAM, 2: socklabv1.SocketType_SOCKET_TYPE_DGRAM}
)

// socketpair(family = AF_UNIX, type = SOCK_STREAM, proto = 0) makes two connected sockets
// on this host and returns them as a tuple, as Python's socket.socketpair.
func (h *hostValue) socketpair(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var familyArg, wd starlark.Value = starlark.None, starlark.None
	typ, proto := 1, 0
	if err := starlark.UnpackArgs("socketpair", args, kwargs, "family?", &familyArg, "type?", &typ, "proto?", &proto, "watchdog?", &wd); err != nil {
		return nil, err
	}
	family := 1 // None is AF_UNIX, as in Python
	if familyArg != starlark.None {
		if err := starlark.AsInt(familyArg, &family); err != nil {
			return nil, fmt.Errorf("socketpair: TypeError: family must be an int or None, not %s", familyArg.Type())
		}
	}
	fam, ok := apiFamilies[family]
	if !ok {
		return nil, fmt.Errorf("socketpair: family %d is not AF_UNIX, AF_INET or AF_INET6", family)
	}
	st, ok := apiTypes[typ]
	if !ok {
		return nil, fmt.Errorf("socketpair: type %d is not SOCK_STREAM or SOCK_DGRAM", typ)
	}
	if proto < 0 || proto > math.MaxInt32 {
		return nil, fmt.Errorf("socketpair: proto %d is out of range", proto)
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Socketpair{Socketpair: &socklabv1.SocketPairOp{Family: fam, Type: st, Proto: int32(proto)}}}
	resp, err := h.do(th, 0, op, "socketpair", wd)
	if err != nil {
		return nil, err
	}
	hs := resp.GetEvent().GetResult().GetHandles()
	if len(hs) != 2 {
		return nil, &InfraError{Host: h.role, Err: fmt.Errorf("socketpair returned %d handles, not 2", len(hs))}
	}
	return starlark.Tuple{newSocketValue(h, hs[0], family, typ, proto), newSocketValue(h, hs[1], family, typ, proto)}, nil
}
