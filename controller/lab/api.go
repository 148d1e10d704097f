package lab

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The parts of Python's socket API that complete the everyday calls: a socket's family,
// type, proto and timeout attributes and its fileno(); the host's socketpair, select,
// create_connection and create_server; recv_into, sendfile and makefile.

// apiBuiltins are the top-level names the lab API's additions bring: struct, which the
// selectors of labs/lib/selectors.star are made of, and bytearray, which recv_into fills.
var apiBuiltins = starlark.StringDict{
	"struct":    starlark.NewBuiltin("struct", starlarkstruct.Make),
	"bytearray": starlark.NewBuiltin("bytearray", bytearrayBuiltin),
}

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
	if err := unpackArgs("fileno", args, kwargs); err != nil {
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
	"select":     (*hostValue).selectReady,
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
	if err := unpackArgs("socketpair", args, kwargs, "family?", &familyArg, "type?", &typ, "proto?", &proto, "watchdog?", &wd); err != nil {
		return nil, err
	}
	family := 1 // None is AF_UNIX, as in Python
	if familyArg != starlark.None {
		n, ex := pyIndex(familyArg)
		if ex != nil {
			return nil, fmt.Errorf("socketpair: %w", ex)
		}
		family = int(n)
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
	pair := starlark.Tuple{}
	for _, hd := range hs {
		s := newSocketValue(h, hd, family, typ, proto)
		if err := s.startTimeout(th); err != nil {
			return nil, err
		}
		pair = append(pair, s)
	}
	return pair, nil
}

// selectable is a value select waits on: a socket, or what stands for one (a makefile
// reader), as Python's select takes any object with a fileno() method.
type selectable interface {
	// selectHandle returns the handle of the socket on host h, or the error Python's
	// select raises for it.
	selectHandle(h *hostValue) (uint32, error)
}

func (s *socketValue) selectHandle(h *hostValue) (uint32, error) {
	if s.closed {
		return 0, valueError("file descriptor cannot be a negative integer (-1)")
	}
	if s.host != h {
		return 0, valueError("%s is a socket of host %s: select waits on the sockets of one host (%s)", s.String(), s.host.role, h.role)
	}
	return s.handle, nil
}

// select(rlist, wlist, xlist, timeout = None) waits until sockets of this host are ready
// to read or to write, or have an exceptional condition, as Python's select.select: the
// agent polls them. It returns three lists of the values given (sockets, or the handles
// fileno() returned) that are ready, in their lists' order; three empty lists once the
// timeout expires.
func (h *hostValue) selectReady(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var rlist, wlist, xlist starlark.Value
	var timeout, wd starlark.Value = starlark.None, starlark.None
	if err := unpackArgs("select", args, kwargs, "rlist", &rlist, "wlist", &wlist, "xlist", &xlist, "timeout?", &timeout, "watchdog?", &wd); err != nil {
		return nil, err
	}
	op := &socklabv1.SelectOp{}
	if timeout != starlark.None {
		f, ok := starlark.AsFloat(timeout)
		if !ok {
			return nil, fmt.Errorf("select: %w", typeError("timeout must be a float or None"))
		}
		if f < 0 || math.IsNaN(f) {
			return nil, fmt.Errorf("select: %w", valueError("timeout must be non-negative"))
		}
		op.TimeoutSeconds = &f
	}
	var items [3][]starlark.Value
	for i, list := range []starlark.Value{rlist, wlist, xlist} {
		seq, ok := list.(starlark.Iterable)
		if !ok {
			return nil, fmt.Errorf("select: %w", typeError("arguments 1-3 must be sequences"))
		}
		it := seq.Iterate()
		var x starlark.Value
		for it.Next(&x) {
			items[i] = append(items[i], x)
		}
		it.Done()
	}
	handles := [3]*[]uint32{&op.Read, &op.Write, &op.Exceptional}
	for i := range items {
		for _, x := range items[i] {
			hd, err := h.selectItem(x)
			if err != nil {
				return nil, fmt.Errorf("select: %w", err)
			}
			*handles[i] = append(*handles[i], hd)
		}
	}
	resp, err := h.do(th, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Select{Select: op}}, "select", wd)
	if err != nil {
		return nil, err
	}
	r := resp.GetEvent().GetResult().GetReady()
	ready := [3][]uint32{r.GetRead(), r.GetWrite(), r.GetExceptional()}
	out := make(starlark.Tuple, 3)
	for i := range items {
		isReady := map[uint32]bool{}
		for _, hd := range ready[i] {
			isReady[hd] = true
		}
		var list []starlark.Value
		for j, x := range items[i] {
			if isReady[(*handles[i])[j]] {
				list = append(list, x)
			}
		}
		out[i] = starlark.NewList(list)
	}
	return out, nil
}

// selectItem returns the handle an item of select's lists names, or Python's error for it.
func (h *hostValue) selectItem(x starlark.Value) (uint32, error) {
	if s, ok := x.(selectable); ok {
		return s.selectHandle(h)
	}
	if i, ok := x.(starlark.Int); ok {
		n, ok := i.Int64()
		switch {
		case ok && n < 0:
			return 0, valueError("file descriptor cannot be a negative integer (%d)", n)
		case !ok || n > math.MaxUint32:
			return 0, overflowError("file descriptor %s is too large", i.String())
		}
		return uint32(n), nil
	}
	return 0, typeError("argument must be an int, or have a fileno() method.")
}

func init() {
	hostMethods["create_connection"] = (*hostValue).createConnection
	hostMethods["create_server"] = (*hostValue).createServer
}

// watchdogKw passes a call's watchdog keyword on to the calls it makes.
func watchdogKw(wd starlark.Value) []starlark.Tuple {
	if wd == nil || wd == starlark.None {
		return nil
	}
	return []starlark.Tuple{{starlark.String("watchdog"), wd}}
}

// createConnection is Python's socket.create_connection(address, timeout, source_address):
// a TCP socket of the address's family (an IPv6 literal makes AF_INET6, anything else
// AF_INET), with IPPROTO_TCP as getaddrinfo gives it, its timeout set if one is given,
// bound to source_address if given, and connected. A failing step closes the socket and
// raises its error. The agents resolve no names, so one address is tried, not a list.
func (h *hostValue) createConnection(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var address, timeout, source starlark.Value // timeout nil: not given, Python's default timeout (None) left alone
	var wd starlark.Value = starlark.None
	allErrors := false
	source = starlark.None
	if err := unpackArgs("create_connection", args, kwargs, "address", &address, "timeout?", &timeout,
		"source_address?", &source, "all_errors?", &allErrors, "watchdog?", &wd); err != nil {
		return nil, err
	}
	t, ok := address.(starlark.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("create_connection: %w", typeError("address must be a (host, port) tuple, not %s", address.String()))
	}
	host, ok := starlark.AsString(t[0])
	if !ok {
		return nil, fmt.Errorf("create_connection: %w", typeError("address host must be a string, not %s", t[0].Type()))
	}
	if host == "" {
		return nil, &SocketError{Name: "gaierror", Errno: -2, Message: "Name or service not known", Call: "create_connection on " + h.role}
	}
	family := 2
	if strings.Contains(host, ":") {
		family = 10
	}
	sv, err := h.socket(th, nil, starlark.Tuple{starlark.MakeInt(family), starlark.MakeInt(1), starlark.MakeInt(6)}, watchdogKw(wd))
	if err != nil {
		return nil, err
	}
	s := sv.(*socketValue)
	steps := []func() error{
		func() error {
			if timeout == nil {
				return nil
			}
			_, err := s.settimeout(th, starlark.Tuple{timeout}, watchdogKw(wd))
			return err
		},
		func() error {
			if source == starlark.None || !source.Truth() {
				return nil
			}
			_, err := s.bind(th, starlark.Tuple{source}, watchdogKw(wd))
			return err
		},
		func() error {
			_, err := s.connect(th, starlark.Tuple{address}, watchdogKw(wd))
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, closeAfter(th, s, wd, err)
		}
	}
	return s, nil
}

// closeAfter closes s after err stopped what was being done with it, as Python's
// create_connection and create_server do, and returns err.
func closeAfter(th *starlark.Thread, s *socketValue, wd starlark.Value, err error) error {
	var se *SocketError
	if errors.As(err, &se) { // a socket error: the lab may catch it, and goes on
		_, _ = s.close(th, nil, watchdogKw(wd))
	}
	return err
}

// createServer is Python's socket.create_server(address, *, family = AF_INET, backlog =
// None, reuse_port = False, dualstack_ipv6 = False): a listening TCP socket, with
// SO_REUSEADDR set (and SO_REUSEPORT, and IPV6_V6ONLY for AF_INET6) as Python sets them. A
// bind that fails raises its errno with Python's words, "Address already in use (while
// attempting to bind on address ('127.0.0.1', 8080))".
func (h *hostValue) createServer(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 1 {
		return nil, fmt.Errorf("create_server: %w", typeError("create_server() takes 1 positional argument but %d were given", len(args)))
	}
	var address, backlog starlark.Value = nil, starlark.None
	var wd starlark.Value = starlark.None
	family := 2
	reusePort, dualstack := false, false
	if err := unpackArgs("create_server", args, kwargs, "address", &address, "family?", &family, "backlog?", &backlog,
		"reuse_port?", &reusePort, "dualstack_ipv6?", &dualstack, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if dualstack && family != 10 {
		return nil, fmt.Errorf("create_server: %w", valueError("dualstack_ipv6 requires AF_INET6 family"))
	}
	sv, err := h.socket(th, nil, starlark.Tuple{starlark.MakeInt(family), starlark.MakeInt(1)}, watchdogKw(wd))
	if err != nil {
		return nil, err
	}
	s := sv.(*socketValue)
	setopt := func(level, name, value int) error {
		_, err := s.setsockopt(th, starlark.Tuple{starlark.MakeInt(level), starlark.MakeInt(name), starlark.MakeInt(value)}, watchdogKw(wd))
		return err
	}
	steps := []func() error{
		func() error {
			err := setopt(Constants["SOL_SOCKET"], Constants["SO_REUSEADDR"], 1)
			var se *SocketError
			if errors.As(err, &se) {
				return nil // Python ignores a socket that refuses it
			}
			return err
		},
		func() error {
			if !reusePort {
				return nil
			}
			return setopt(Constants["SOL_SOCKET"], Constants["SO_REUSEPORT"], 1)
		},
		func() error {
			if family != 10 {
				return nil
			}
			v6only := 1
			if dualstack {
				v6only = 0
			}
			return setopt(Constants["IPPROTO_IPV6"], Constants["IPV6_V6ONLY"], v6only)
		},
		func() error {
			_, err := s.bind(th, starlark.Tuple{address}, watchdogKw(wd))
			var se *SocketError
			if errors.As(err, &se) {
				bound := *se
				bound.Message = fmt.Sprintf("%s (while attempting to bind on address %s)", se.Message, repr(address))
				return &bound
			}
			return err
		},
		func() error {
			listenArgs := starlark.Tuple{}
			if backlog != starlark.None {
				listenArgs = starlark.Tuple{backlog}
			}
			_, err := s.listen(th, listenArgs, watchdogKw(wd))
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, closeAfter(th, s, wd, err)
		}
	}
	return s, nil
}

func init() {
	socketMethods["recv_into"] = (*socketValue).recvInto
}

// recv_into(buffer, nbytes = 0, flags = 0) receives up to nbytes bytes (0: len(buffer))
// into buffer, a bytearray, and returns how many came, as Python's recv_into. The agent
// receives them as recv does; the lab writes them into the buffer.
func (s *socketValue) recvInto(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var buffer starlark.Value
	var nbytes, flags int
	var wd starlark.Value = starlark.None
	if err := unpackArgs("recv_into", args, kwargs, "buffer", &buffer, "nbytes?", &nbytes, "flags?", &flags, "watchdog?", &wd); err != nil {
		return nil, err
	}
	buf, ok := buffer.(*byteArray)
	if !ok {
		return nil, fmt.Errorf("recv_into: %w", &Exception{Type: "TypeError", Msg: fmt.Sprintf("recv_into() argument 1 must be read-write bytes-like object, not %s", pyType(buffer)), Hint: "make one with bytearray(n)"})
	}
	switch {
	case nbytes < 0:
		return nil, fmt.Errorf("recv_into: %w", valueError("negative buffersize in recv_into"))
	case nbytes > buf.Len():
		return nil, fmt.Errorf("recv_into: %w", valueError("buffer too small for requested bytes"))
	case nbytes == 0:
		nbytes = buf.Len()
	}
	if err := buf.checkMutable("receive into"); err != nil {
		return nil, fmt.Errorf("recv_into: %w", err)
	}
	resp, err := s.call(th, "recv_into", client.RecvInto(nbytes, flags), wd)
	if err != nil {
		return nil, err
	}
	data := resp.GetData()
	if err := buf.fill(data); err != nil { // another thread froze or iterates it meanwhile
		return nil, fmt.Errorf("recv_into: %w", err)
	}
	return starlark.MakeInt(len(data)), nil
}

func init() {
	socketMethods["sendfile"] = (*socketValue).sendfile
}

// sendfile(file, offset = 0, count = None) sends a file of the host's session directory
// (named by its name there) on this stream and returns the bytes sent, as Python's
// socket.sendfile(open(file, "rb"), offset, count): the agent sends it with sendfile(2).
func (s *socketValue) sendfile(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var file, countArg starlark.Value
	var wd starlark.Value = starlark.None
	countArg = starlark.None
	offset := 0
	if err := unpackArgs("sendfile", args, kwargs, "file", &file, "offset?", &offset, "count?", &countArg, "watchdog?", &wd); err != nil {
		return nil, err
	}
	name, ok := file.(starlark.String)
	if !ok {
		return nil, fmt.Errorf("sendfile: %w", typeError("file must be the name of a file of the session's directory (a str), not %s", pyType(file)))
	}
	var count *uint64
	if countArg != starlark.None {
		n, ok := countArg.(starlark.Int)
		if !ok {
			return nil, fmt.Errorf("sendfile: %w", typeError("count must be a positive integer (got %s)", repr(countArg)))
		}
		c, ok := n.Uint64()
		if !ok || c == 0 {
			return nil, fmt.Errorf("sendfile: %w", valueError("count must be a positive integer (got %s)", n.String()))
		}
		count = &c
	}
	switch {
	case !s.stream:
		return nil, fmt.Errorf("sendfile: %w", valueError("only SOCK_STREAM type sockets are supported"))
	case s.timeout != nil && s.timeout != starlark.None && !bool(s.timeout.Truth()):
		return nil, fmt.Errorf("sendfile: %w", valueError("non-blocking sockets are not supported"))
	case offset < 0:
		return nil, &SocketError{Name: "EINVAL", Errno: 22, Message: "Invalid argument", Call: "sendfile on " + s.where()}
	}
	resp, err := s.call(th, "sendfile", client.SendFile(string(name), uint64(offset), count), wd)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

// where names the socket in errors: "client/s1".
func (s *socketValue) where() string { return fmt.Sprintf("%s/s%d", s.host.role, s.handle) }

// FileAttrs returns the attributes and methods of what socket.makefile returns, sorted.
func FileAttrs() []string { return (&fileValue{}).AttrNames() }
