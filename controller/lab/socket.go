package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/runner"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// SocketError is a socket call's error, raised in the lab as Python would raise OSError.
type SocketError struct {
	// Name is the errno's name ("ECONNREFUSED") or "timeout".
	Name string
	// Errno is its number (0 for a timeout).
	Errno int
	// Message is the C library's text ("Connection refused").
	Message string
	// Call says where: "connect on client/s1".
	Call string
	// Held, for a bind's EADDRINUSE whose address a process outside the run holds, says
	// which and what to do: an environment problem, not the lab's.
	Held string
}

// Environment reports whether the error is the machine's, not the lab's: the runner
// ends a run it stops with exit code 3, verdict error.
func (e *SocketError) Environment() bool { return e.Held != "" }

// Error formats the error as Python prints an OSError, with the call that raised it; an
// error without an errno (a process that ended before what a wait waited for) shows its
// name and message.
func (e *SocketError) Error() string {
	switch {
	case e.Name == "timeout":
		return fmt.Sprintf("timeout: timed out (%s)", e.Call)
	case e.Errno == 0:
		return fmt.Sprintf("%s: %s (%s)", e.Name, e.Message, e.Call)
	}
	if e.Held != "" {
		return fmt.Sprintf("%s: [Errno %d] %s (%s): %s", e.Name, e.Errno, e.Message, e.Call, e.Held)
	}
	return fmt.Sprintf("%s: [Errno %d] %s (%s)", e.Name, e.Errno, e.Message, e.Call)
}

// WatchdogError is a blocking operation that outlived the lab's watchdog.
type WatchdogError struct {
	// Op is the operation ("recv").
	Op string
	// Where is "client/s2".
	Where string
	// Waited is the watchdog's bound.
	Waited string
}

// Error says what waited where.
func (e *WatchdogError) Error() string {
	return fmt.Sprintf("watchdog: %s on %s waited %s", e.Op, e.Where, e.Waited)
}

// ExpectError is a t.raises expectation that did not hold.
type ExpectError struct {
	// Msg says what was expected and what happened.
	Msg string
}

// Error returns the message.
func (e *ExpectError) Error() string { return e.Msg }

// InfraError is an agent that could not be reached, was lost, or failed a call.
type InfraError = runner.InfraError

// hostValue is t.<role>: a lab host.
type hostValue struct {
	r    *run
	role string
	ip   string
}

var _ starlark.HasAttrs = (*hostValue)(nil)

func (h *hostValue) String() string        { return "<host " + h.role + " " + h.ip + ">" }
func (h *hostValue) Type() string          { return "host" }
func (h *hostValue) Freeze()               {}
func (h *hostValue) Truth() starlark.Bool  { return true }
func (h *hostValue) Hash() (uint32, error) { return starlark.String(h.role).Hash() }
func (h *hostValue) AttrNames() []string {
	names := []string{"build", "clear_faults", "connect_many", "fault", "ip", "name", "netstat", "reset_link", "socket", "spawn", "ss", "sysctl"}
	for k := range hostMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (h *hostValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(h.role), nil
	case "ip":
		return starlark.String(h.ip), nil
	case "socket":
		return starlark.NewBuiltin("socket", h.socket), nil
	case "ss":
		return starlark.NewBuiltin("ss", h.ss), nil
	case "connect_many":
		return starlark.NewBuiltin("connect_many", h.connectMany), nil
	case "sysctl":
		return starlark.NewBuiltin("sysctl", h.sysctl), nil
	case "spawn":
		return starlark.NewBuiltin("spawn", h.spawn), nil
	case "build":
		return starlark.NewBuiltin("build", h.build), nil
	case "netstat":
		return starlark.NewBuiltin("netstat", h.netstat), nil
	case "fault":
		return starlark.NewBuiltin("fault", h.fault), nil
	case "clear_faults":
		return starlark.NewBuiltin("clear_faults", h.clearFaults), nil
	case "reset_link":
		return starlark.NewBuiltin("reset_link", h.resetLink), nil
	}
	if m, ok := hostMethods[name]; ok {
		return starlark.NewBuiltin(name, func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return m(h, th, b, args, kwargs)
		}), nil
	}
	return nil, nil
}

// ss(port = 0, state = "", proto = "", host = "") lists the host kernel's sockets, as the
// ss tool does: a list of structs (proto, state, local, peer, recv_q, send_q, inode).
func (h *hostValue) ss(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	var state, proto, host string
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("ss", args, kwargs, "port?", &port, "state?", &state, "proto?", &proto, "host?", &host, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("ss: port must be 0-65535")
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{Port: uint32(port), State: state, Protocol: proto, Host: host}}}
	resp, err := h.do(th, 0, op, "ss", wd)
	if err != nil {
		return nil, err
	}
	return socketRows(resp.GetEvent().GetResult().GetSockets()), nil
}

// socketRows is the kernel's socket rows as ss and wait_listening return them: a list of
// structs (proto, state, local, peer, recv_q, send_q, inode).
func socketRows(rows []*socklabv1.KernelSocket) *starlark.List {
	list := make([]starlark.Value, len(rows))
	for i, r := range rows {
		list[i] = starlarkstruct.FromStringDict(starlark.String("socket_row"), starlark.StringDict{
			"proto": starlark.String(r.GetProtocol()), "state": starlark.String(r.GetState()),
			"local": inetAddr(r.GetLocal()), "peer": inetAddr(r.GetPeer()),
			"recv_q": starlark.MakeUint64(r.GetRecvQueue()), "send_q": starlark.MakeUint64(r.GetSendQueue()),
			"inode": starlark.MakeUint64(r.GetInode()),
		})
	}
	return starlark.NewList(list)
}

func inetAddr(a *socklabv1.Address) starlark.Value {
	if a == nil {
		return starlark.None
	}
	return starlark.Tuple{starlark.String(a.GetHost()), starlark.MakeInt(int(a.GetPort()))}
}

// sysctl(name) reads a network sysctl knob of the host; None when it does not exist.
func (h *hostValue) sysctl(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("sysctl", args, kwargs, "name", &name, "watchdog?", &wd); err != nil {
		return nil, err
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: name}}}
	resp, err := h.do(th, 0, op, "sysctl", wd)
	if err != nil {
		return nil, err
	}
	if !resp.GetEvent().GetResult().GetFound() {
		return starlark.None, nil
	}
	return starlark.String(resp.GetEvent().GetResult().GetText()), nil
}

// netstat(name) reads one of the host kernel's network counters ("Tcp.RetransSegs"); None
// when this kernel has no such counter.
func (h *hostValue) netstat(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("netstat", args, kwargs, "name", &name, "watchdog?", &wd); err != nil {
		return nil, err
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Netstat{Netstat: &socklabv1.NetstatOp{Name: name}}}
	resp, err := h.do(th, 0, op, "netstat", wd)
	if err != nil {
		return nil, err
	}
	if !resp.GetEvent().GetResult().GetFound() {
		return starlark.None, nil
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

// socket(family = AF_INET, type = SOCK_STREAM, proto = 0) makes a socket on this host.
func (h *hostValue) socket(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	family, typ, proto := 2, 1, 0
	var wd starlark.Value = starlark.None
	if err := unpackArgs("socket", args, kwargs, "family?", &family, "type?", &typ, "proto?", &proto, "watchdog?", &wd); err != nil {
		return nil, err
	}
	fam := map[int]socklabv1.Family{2: socklabv1.Family_FAMILY_INET, 10: socklabv1.Family_FAMILY_INET6, 1: socklabv1.Family_FAMILY_UNIX}[family]
	st := map[int]socklabv1.SocketType{1: socklabv1.SocketType_SOCKET_TYPE_STREAM, 2: socklabv1.SocketType_SOCKET_TYPE_DGRAM}[typ]
	if fam == socklabv1.Family_FAMILY_UNSPECIFIED {
		return nil, fmt.Errorf("socket: family %d is not AF_INET, AF_INET6 or AF_UNIX", family)
	}
	if st == socklabv1.SocketType_SOCKET_TYPE_UNSPECIFIED {
		return nil, fmt.Errorf("socket: type %d is not SOCK_STREAM or SOCK_DGRAM", typ)
	}
	switch {
	case proto == -1:
		proto = 0 // Python's "the family's default"
	case proto > math.MaxInt32 || proto < math.MinInt32:
		return nil, fmt.Errorf("socket: %w", overflowError("Python int too large to convert to C int"))
	case proto < 0:
		return nil, &SocketError{Name: "EINVAL", Errno: 22, Message: "Invalid argument", Call: "socket on " + h.role}
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: fam, Type: st, Proto: int32(proto)}}}
	resp, err := h.do(th, 0, op, "socket", wd)
	if err != nil {
		return nil, err
	}
	s := newSocketValue(h, resp.GetEvent().GetResult().GetHandle(), family, typ, proto)
	if err := s.startTimeout(th); err != nil {
		return nil, err
	}
	return s, nil
}

// startTimeout gives a socket the lab just made the run's default timeout
// (setdefaulttimeout), as CPython gives it to every socket object it makes; a socket
// starts blocking, so there is nothing to do while the default is None.
func (s *socketValue) startTimeout(th *starlark.Thread) error {
	d := s.host.r.defaultTimeout
	if d == nil {
		return nil
	}
	if _, err := s.call(th, "settimeout", client.SetTimeout(*d), starlark.None); err != nil {
		return err
	}
	s.timeout = starlark.Float(*d)
	return nil
}

// do performs one operation of the host (handle 0) or of one of its sockets; see perform.
func (h *hostValue) do(th *starlark.Thread, handle uint32, op *socklabv1.Operation, name string, wdArg starlark.Value) (*socklabv1.PerformResponse, error) {
	where := h.role
	if handle != 0 {
		where = fmt.Sprintf("%s/s%d", h.role, handle)
	}
	return h.perform(th, handle, where, op, name, "watchdog", wdArg)
}

// perform performs one operation on handle under the watchdog with the GIL released, and
// raises the socket error it reports (except connect_ex's errno, which it returns). where names
// the handle in errors ("client/s1", "server/p3"); wdArg, the call's keyword wdName, bounds
// the call instead of the lab's watchdog unless it is None.
func (h *hostValue) perform(th *starlark.Thread, handle uint32, where string, op *socklabv1.Operation, name, wdName string, wdArg starlark.Value) (*socklabv1.PerformResponse, error) {
	r := h.r
	wd := r.lab.Watchdog
	if wdArg != nil && wdArg != starlark.None {
		d, err := seconds(wdArg)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: %s must be a positive number of seconds", name, wdName)
		}
		wd = d
	}
	pos := callerPos(th)
	var resp *socklabv1.PerformResponse
	var err error
	r.unlocked(func() {
		ctx, end := r.watchdogs.start(r.ctx, wd)
		defer end()
		resp, err = r.env.Do(ctx, h.role, handle, op, pos)
		// The watchdog fired if the call's deadline passed while the run goes on: seen here
		// first, or first where the call was made (a sandboxed lab's parent keeps a copy of
		// the deadline, and answers DeadlineExceeded).
		if err != nil && r.ctx.Err() == nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, errdefs.ErrDeadlineExceeded)) {
			err = &WatchdogError{Op: name, Where: where, Waited: wd.String()}
			if wdName == "timeout" && wdArg != nil && wdArg != starlark.None {
				// A wait's own timeout expired: an outcome of the program under test, raised
				// as Python's Popen.wait(timeout) raises TimeoutExpired, for t.catch.
				err = &SocketError{Name: "timeout", Message: "timed out after " + wd.String(), Call: name + " on " + where}
			}
		}
	})
	var timedOut *SocketError
	if errors.As(err, &timedOut) {
		return nil, err
	}
	if err != nil {
		var we *WatchdogError
		var le *Error
		switch {
		case errors.As(err, &we), errors.As(err, &le):
			return nil, err
		case r.ctx.Err() != nil:
			return nil, context.Cause(r.ctx)
		}
		var ie *InfraError
		switch {
		case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrPermissionDenied),
			errors.Is(err, errdefs.ErrResourceExhausted), errors.Is(err, errdefs.ErrFailedPrecondition):
			// The agent refused what the lab asked: a mistake in the lab, not a lost agent.
			return nil, &Error{Msg: fmt.Sprintf("%s on %s: the agent refused: %s", name, where, err.Error())}
		case errors.As(err, &ie):
			return nil, err
		}
		return nil, &InfraError{Host: h.role, Err: err}
	}
	// connect_ex returns the errno of its connect, as Python's does; what has no errno
	// (an address that does not resolve: gaierror) it raises.
	if e := resp.GetEvent().GetError(); e != nil && (name != "connect_ex" || e.GetErrno() <= 0) {
		se := &SocketError{Name: errnoName(int(e.GetErrno()), e.GetName()), Errno: int(e.GetErrno()), Message: e.GetMessage(), Call: name + " on " + where}
		if holder := e.GetHolder(); holder != "" {
			se.Held = h.r.held(op.GetBind().GetAddress().GetPort(), holder)
		}
		return resp, se
	}
	return resp, nil
}

// socketValue is a socket on a lab host, with Python's methods.
type socketValue struct {
	host   *hostValue
	handle uint32
	stream bool
	family int // 2 AF_INET, 10 AF_INET6, 1 AF_UNIX
	typ    int // 1 SOCK_STREAM, 2 SOCK_DGRAM
	proto  int // socket()'s third argument: 0, or IPPROTO_TCP as create_connection gives

	// timeout is what the lab's settimeout and setblocking calls on the socket set: None
	// (nil too), 0.0 or a positive float; closed is set by its close. The lab knows them
	// without asking the agent, as Python's socket object does.
	timeout starlark.Value
	closed  bool
}

var _ starlark.HasAttrs = (*socketValue)(nil)

func (s *socketValue) String() string {
	return fmt.Sprintf("<socket %s/s%d>", s.host.role, s.handle)
}
func (s *socketValue) Type() string          { return "socket" }
func (s *socketValue) Freeze()               {}
func (s *socketValue) Truth() starlark.Bool  { return true }
func (s *socketValue) Hash() (uint32, error) { return uint32(s.handle) ^ 0x9e3779b9, nil }

// socketMethods are the methods of a lab socket, as in Python.
var socketMethods = map[string]func(*socketValue, *starlark.Thread, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
	"bind":        (*socketValue).bind,
	"listen":      (*socketValue).listen,
	"accept":      (*socketValue).accept,
	"connect":     (*socketValue).connect,
	"connect_ex":  (*socketValue).connectEx,
	"send":        (*socketValue).send,
	"sendall":     (*socketValue).sendall,
	"sendto":      (*socketValue).sendto,
	"recv":        (*socketValue).recv,
	"recvfrom":    (*socketValue).recvfrom,
	"shutdown":    (*socketValue).shutdown,
	"close":       (*socketValue).close,
	"getsockname": (*socketValue).getsockname,
	"getpeername": (*socketValue).getpeername,
	"setsockopt":  (*socketValue).setsockopt,
	"getsockopt":  (*socketValue).getsockopt,
	"settimeout":  (*socketValue).settimeout,
	"setblocking": (*socketValue).setblocking,
	"gettimeout":  (*socketValue).gettimeout,
	"getblocking": (*socketValue).getblocking,
	"serve":       (*socketValue).serve,
	"send_bulk":   (*socketValue).sendBulk,
	"drain":       (*socketValue).drain,
}

func (s *socketValue) AttrNames() []string {
	names := []string{"handle", "host"}
	for k := range socketFields {
		names = append(names, k)
	}
	for k := range socketMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (s *socketValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "host":
		return s.host, nil
	case "handle":
		return starlark.MakeUint(uint(s.handle)), nil
	}
	if f, ok := socketFields[name]; ok {
		return f(s), nil
	}
	m, ok := socketMethods[name]
	if !ok {
		return nil, nil
	}
	return starlark.NewBuiltin(name, func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return m(s, th, args, kwargs)
	}), nil
}

// address reads a Python address for the socket's family: (host, port) for AF_INET,
// (host, port[, flowinfo[, scope_id]]) for AF_INET6, a path for AF_UNIX. A wrong one
// raises CPython's TypeError or OverflowError.
func (s *socketValue) address(fn string, v starlark.Value) (*socklabv1.Address, error) {
	if s.family == 1 {
		switch p := v.(type) {
		case starlark.String:
			return &socklabv1.Address{Path: string(p)}, nil
		case starlark.Bytes:
			return &socklabv1.Address{Path: string(p)}, nil
		}
		return nil, fmt.Errorf("%s: %w", fn, typeError("a bytes-like object is required, not '%s'", pyType(v)))
	}
	fam := "AF_INET"
	if s.family == 10 {
		fam = "AF_INET6"
	}
	t, ok := v.(starlark.Tuple)
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: %w", fn, typeError("%s(): %s address must be tuple, not %s", fn, fam, pyType(v)))
	case s.family == 10 && (len(t) < 2 || len(t) > 4):
		return nil, fmt.Errorf("%s: %w", fn, typeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])"))
	case s.family != 10 && len(t) != 2:
		return nil, fmt.Errorf("%s: %w", fn, typeError("AF_INET address must be a pair (host, port)"))
	}
	var host string
	switch h := t[0].(type) {
	case starlark.String:
		host = string(h)
	case starlark.Bytes:
		host = string(h)
	default:
		return nil, fmt.Errorf("%s: %w", fn, typeError("str, bytes or bytearray expected, not %s", pyType(h)))
	}
	port, ex := pyIndex(t[1])
	if ex == nil && (port < 0 || port > 65535) {
		ex = overflowError("%s(): port must be 0-65535.", fn)
	}
	if ex != nil {
		return nil, fmt.Errorf("%s: %w", fn, ex)
	}
	return &socklabv1.Address{Host: host, Port: uint32(port)}, nil
}

// addressValue is an address as Python returns it for the socket's family.
func (s *socketValue) addressValue(a *socklabv1.Address) starlark.Value {
	switch {
	case a == nil && s.family == 1:
		return starlark.String("")
	case a == nil:
		return starlark.None
	case a.GetPath() != "" || s.family == 1:
		return starlark.String(a.GetPath())
	case s.family == 10:
		return starlark.Tuple{starlark.String(a.GetHost()), starlark.MakeInt(int(a.GetPort())), starlark.MakeInt(0), starlark.MakeInt(0)}
	}
	return starlark.Tuple{starlark.String(a.GetHost()), starlark.MakeInt(int(a.GetPort()))}
}

// data reads the bytes to send; a str is Python 3's TypeError.
func data(v starlark.Value) ([]byte, error) {
	switch v := v.(type) {
	case starlark.Bytes:
		return []byte(v), nil
	case starlark.String:
		return nil, &Exception{Type: "TypeError", Msg: "a bytes-like object is required, not 'str'", Hint: `encode it: encode(s) or b"..."`}
	}
	return nil, typeError("a bytes-like object is required, not '%s'", pyType(v))
}

func (s *socketValue) call(th *starlark.Thread, name string, op *socklabv1.Operation, wd starlark.Value) (*socklabv1.PerformResponse, error) {
	return s.host.do(th, s.handle, op, name, wd)
}

func (s *socketValue) bind(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var addr, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("bind", args, kwargs, "address", &addr, "watchdog?", &wd); err != nil {
		return nil, err
	}
	a, err := s.address("bind", addr)
	if err != nil {
		return nil, err
	}
	_, err = s.call(th, "bind", &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: a}}}, wd)
	return starlark.None, err
}

func (s *socketValue) listen(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var backlog, wd starlark.Value = starlark.None, starlark.None
	if err := unpackArgs("listen", args, kwargs, "backlog?", &backlog, "watchdog?", &wd); err != nil {
		return nil, err
	}
	l := &socklabv1.ListenOp{}
	if backlog != starlark.None {
		n, ex := pyIndex(backlog)
		switch {
		case ex != nil:
		case n > math.MaxInt32:
			ex = overflowError("signed integer is greater than maximum")
		case n < math.MinInt32:
			ex = overflowError("signed integer is less than minimum")
		}
		if ex != nil {
			return nil, fmt.Errorf("listen: %w", ex)
		}
		b := int32(n)
		l.Backlog = &b
	}
	_, err := s.call(th, "listen", &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: l}}, wd)
	return starlark.None, err
}

func (s *socketValue) accept(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var wd starlark.Value = starlark.None
	if err := unpackArgs("accept", args, kwargs, "watchdog?", &wd); err != nil {
		return nil, err
	}
	resp, err := s.call(th, "accept", client.Accept(), wd)
	if err != nil {
		return nil, err
	}
	res := resp.GetEvent().GetResult()
	conn := newSocketValue(s.host, res.GetHandle(), s.family, s.typ, s.proto)
	if err := conn.startTimeout(th); err != nil {
		return nil, err
	}
	return starlark.Tuple{conn, s.addressValue(res.GetAddress())}, nil
}

func (s *socketValue) connect(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var addr, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("connect", args, kwargs, "address", &addr, "watchdog?", &wd); err != nil {
		return nil, err
	}
	a, err := s.address("connect", addr)
	if err != nil {
		return nil, err
	}
	_, err = s.call(th, "connect", &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: a}}}, wd)
	return starlark.None, err
}

func (s *socketValue) connectEx(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var addr, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("connect_ex", args, kwargs, "address", &addr, "watchdog?", &wd); err != nil {
		return nil, err
	}
	a, err := s.address("connect_ex", addr)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(th, "connect_ex", &socklabv1.Operation{Op: &socklabv1.Operation_ConnectEx{ConnectEx: &socklabv1.ConnectOp{Address: a}}}, wd)
	if err != nil {
		return nil, err
	}
	if v := resp.GetEvent().GetResult().GetValue(); v != 0 || resp.GetEvent().GetError() == nil {
		return starlark.MakeInt64(v), nil
	}
	return starlark.MakeInt(int(resp.GetEvent().GetError().GetErrno())), nil
}

func (s *socketValue) sendArgs(name string, args starlark.Tuple, kwargs []starlark.Tuple) ([]byte, int, starlark.Value, error) {
	var d, wd starlark.Value = nil, starlark.None
	flags := 0
	if err := unpackArgs(name, args, kwargs, "data", &d, "flags?", &flags, "watchdog?", &wd); err != nil {
		return nil, 0, nil, err
	}
	b, err := data(d)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, flags, wd, nil
}

func (s *socketValue) send(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	b, flags, wd, err := s.sendArgs("send", args, kwargs)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(th, "send", client.Send(b, flags), wd)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

func (s *socketValue) sendall(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	b, flags, wd, err := s.sendArgs("sendall", args, kwargs)
	if err != nil {
		return nil, err
	}
	_, err = s.call(th, "sendall", client.SendAll(b, flags), wd)
	return starlark.None, err
}

// sendto(data, address) or sendto(data, flags, address).
func (s *socketValue) sendto(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d, addr, wd starlark.Value = nil, nil, starlark.None
	flags := 0
	var err error
	if len(args) == 3 {
		err = unpackArgs("sendto", args, kwargs, "data", &d, "flags", &flags, "address", &addr, "watchdog?", &wd)
	} else {
		err = unpackArgs("sendto", args, kwargs, "data", &d, "address", &addr, "watchdog?", &wd)
	}
	if err != nil {
		return nil, err
	}
	b, err := data(d)
	if err != nil {
		return nil, fmt.Errorf("sendto: %w", err)
	}
	a, err := s.address("sendto", addr)
	if err != nil {
		return nil, err
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: b, Flags: int32(flags), Address: a}}}
	resp, err := s.call(th, "sendto", op, wd)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

func (s *socketValue) recvArgs(name string, args starlark.Tuple, kwargs []starlark.Tuple) (int, int, starlark.Value, error) {
	var bufsize, flags int
	var wd starlark.Value = starlark.None
	if err := unpackArgs(name, args, kwargs, "bufsize", &bufsize, "flags?", &flags, "watchdog?", &wd); err != nil {
		return 0, 0, nil, err
	}
	if bufsize < 0 {
		return 0, 0, nil, fmt.Errorf("%s: %w", name, valueError("negative buffersize in %s", name))
	}
	return bufsize, flags, wd, nil
}

func (s *socketValue) recv(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n, flags, wd, err := s.recvArgs("recv", args, kwargs)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(th, "recv", client.Recv(n, flags), wd)
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(resp.GetData()), nil
}

func (s *socketValue) recvfrom(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n, flags, wd, err := s.recvArgs("recvfrom", args, kwargs)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(th, "recvfrom", client.RecvFrom(n, flags), wd)
	if err != nil {
		return nil, err
	}
	// A sender without an address (a stream's peer, an unbound AF_UNIX socket) is None,
	// as Python's recvfrom gives it when the kernel returns no address at all; an unnamed
	// AF_UNIX socket's own address is "" (addressValue).
	var from starlark.Value = starlark.None
	if a := resp.GetEvent().GetResult().GetAddress(); a != nil {
		from = s.addressValue(a)
	}
	return starlark.Tuple{starlark.Bytes(resp.GetData()), from}, nil
}

func (s *socketValue) shutdown(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var how int
	var wd starlark.Value = starlark.None
	if err := unpackArgs("shutdown", args, kwargs, "how", &how, "watchdog?", &wd); err != nil {
		return nil, err
	}
	h := map[int]socklabv1.ShutdownHow{0: socklabv1.ShutdownHow_SHUTDOWN_HOW_RD, 1: socklabv1.ShutdownHow_SHUTDOWN_HOW_WR, 2: socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR}
	sh, ok := h[how]
	if !ok {
		return nil, fmt.Errorf("shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
	}
	_, err := s.call(th, "shutdown", client.Shutdown(sh), wd)
	return starlark.None, err
}

// simple performs an operation that takes no arguments but the watchdog.
func (s *socketValue) simple(th *starlark.Thread, name string, op *socklabv1.Operation, args starlark.Tuple, kwargs []starlark.Tuple) (*socklabv1.PerformResponse, error) {
	var wd starlark.Value = starlark.None
	if err := unpackArgs(name, args, kwargs, "watchdog?", &wd); err != nil {
		return nil, err
	}
	return s.call(th, name, op, wd)
}

func (s *socketValue) close(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, err := s.simple(th, "close", client.Close(), args, kwargs)
	if err == nil {
		s.closed = true
	}
	return starlark.None, err
}

func (s *socketValue) getsockname(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	resp, err := s.simple(th, "getsockname", client.GetSockName(), args, kwargs)
	if err != nil {
		return nil, err
	}
	return s.addressValue(resp.GetEvent().GetResult().GetAddress()), nil
}

func (s *socketValue) getpeername(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	resp, err := s.simple(th, "getpeername", client.GetPeerName(), args, kwargs)
	if err != nil {
		return nil, err
	}
	return s.addressValue(resp.GetEvent().GetResult().GetAddress()), nil
}

func (s *socketValue) setsockopt(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var level, name int
	var value, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("setsockopt", args, kwargs, "level", &level, "optname", &name, "value", &value, "watchdog?", &wd); err != nil {
		return nil, err
	}
	var op *socklabv1.Operation
	switch v := value.(type) {
	case starlark.Bytes:
		op = client.SetSockOptBytes(level, name, []byte(v))
	case starlark.Bool, starlark.Int:
		// CPython reads an int that fits a C int, else wants bytes.
		n, ex := pyIndex(v)
		if ex != nil || n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("setsockopt: %w", typeError("a bytes-like object is required, not 'int'"))
		}
		op = client.SetSockOpt(level, name, n)
	default:
		return nil, fmt.Errorf("setsockopt: %w", typeError("a bytes-like object is required, not '%s'", pyType(value)))
	}
	_, err := s.call(th, "setsockopt", op, wd)
	return starlark.None, err
}

func (s *socketValue) getsockopt(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var level, name, buflen int
	var wd starlark.Value = starlark.None
	if err := unpackArgs("getsockopt", args, kwargs, "level", &level, "optname", &name, "buflen?", &buflen, "watchdog?", &wd); err != nil {
		return nil, err
	}
	op := client.GetSockOpt(level, name)
	if buflen > 0 {
		op = client.GetSockOptBytes(level, name, buflen)
	}
	resp, err := s.call(th, "getsockopt", op, wd)
	if err != nil {
		return nil, err
	}
	if buflen > 0 {
		return starlark.Bytes(resp.GetEvent().GetResult().GetBytesValue()), nil
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

func (s *socketValue) settimeout(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("settimeout", args, kwargs, "value", &v, "watchdog?", &wd); err != nil {
		return nil, err
	}
	timeout, ex := pyTimeout(v)
	if ex != nil {
		return nil, fmt.Errorf("settimeout: %w", ex)
	}
	op := client.SetTimeoutNone()
	var recorded starlark.Value = starlark.None
	if timeout != nil {
		op = client.SetTimeout(*timeout)
		recorded = starlark.Float(*timeout)
	}
	_, err := s.call(th, "settimeout", op, wd)
	if setTimeoutHeld(err) {
		s.timeout = recorded
	}
	return starlark.None, err
}

func (s *socketValue) setblocking(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var flag, wd starlark.Value = nil, starlark.None
	if err := unpackArgs("setblocking", args, kwargs, "flag", &flag, "watchdog?", &wd); err != nil {
		return nil, err
	}
	_, err := s.call(th, "setblocking", client.SetBlocking(bool(flag.Truth())), wd)
	if setTimeoutHeld(err) {
		s.timeout = starlark.None
		if !flag.Truth() {
			s.timeout = starlark.Float(0)
		}
	}
	return starlark.None, err
}

func (s *socketValue) gettimeout(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	resp, err := s.simple(th, "gettimeout", client.GetTimeout(), args, kwargs)
	if err != nil {
		return nil, err
	}
	if t := resp.GetEvent().GetResult().TimeoutSeconds; t != nil {
		return starlark.Float(*t), nil
	}
	return starlark.None, nil
}

func (s *socketValue) getblocking(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	resp, err := s.simple(th, "getblocking", client.GetBlocking(), args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(resp.GetEvent().GetResult().GetValue() != 0), nil
}

// connect_many(address, count) opens count TCP connections from this host to address and
// returns them as a list of sockets; the agent opens them itself, in one call.
func (h *hostValue) connectMany(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var addr, wd starlark.Value = nil, starlark.None
	var count int
	if err := starlark.UnpackArgs("connect_many", args, kwargs, "address", &addr, "count", &count, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if count < 1 {
		return nil, fmt.Errorf("connect_many: count must be at least 1")
	}
	probe := newSocketValue(h, 0, 2, 1, 0)
	a, err := probe.address("connect_many", addr)
	if err != nil {
		return nil, err
	}
	if strings.Contains(a.GetHost(), ":") {
		probe.family = 10
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_ConnectMany{ConnectMany: &socklabv1.ConnectManyOp{Address: a, Count: uint32(count)}}}
	resp, err := h.do(th, 0, op, "connect_many", wd)
	if err != nil {
		return nil, err
	}
	hs := resp.GetEvent().GetResult().GetHandles()
	list := make([]starlark.Value, len(hs))
	for i, handle := range hs {
		s := newSocketValue(h, handle, probe.family, 1, 0)
		if err := s.startTimeout(th); err != nil {
			return nil, err
		}
		list[i] = s
	}
	return starlark.NewList(list), nil
}

// serve(behaviour) serves this listening socket in the background: "echo", "upper",
// "discard" or "chat". Its traffic shows in the transcript as the agent's own.
func (s *socketValue) serve(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("serve", args, kwargs, "behaviour", &name, "watchdog?", &wd); err != nil {
		return nil, err
	}
	b, ok := map[string]socklabv1.Behaviour{
		"echo": socklabv1.Behaviour_BEHAVIOUR_ECHO, "upper": socklabv1.Behaviour_BEHAVIOUR_UPPER,
		"discard": socklabv1.Behaviour_BEHAVIOUR_DISCARD, "chat": socklabv1.Behaviour_BEHAVIOUR_CHAT,
	}[name]
	if !ok {
		return nil, fmt.Errorf("serve: behaviour %q: use \"echo\", \"upper\", \"discard\" or \"chat\"", name)
	}
	_, err := s.call(th, "serve", &socklabv1.Operation{Op: &socklabv1.Operation_Serve{Serve: &socklabv1.ServeOp{Behaviour: b}}}, wd)
	return starlark.None, err
}

// send_bulk(count) sends count generated bytes (byte i is i % 251) and returns the count.
func (s *socketValue) sendBulk(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var count int64
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("send_bulk", args, kwargs, "count", &count, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, fmt.Errorf("send_bulk: count must not be negative")
	}
	resp, err := s.call(th, "send_bulk", &socklabv1.Operation{Op: &socklabv1.Operation_SendBulk{SendBulk: &socklabv1.SendBulkOp{Count: uint64(count)}}}, wd)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

// drain(count) receives count bytes (fewer if the stream ends) and returns
// (received, checksum): the CRC-32 of what arrived.
func (s *socketValue) drain(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var count int64
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("drain", args, kwargs, "count", &count, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, fmt.Errorf("drain: count must not be negative")
	}
	resp, err := s.call(th, "drain", &socklabv1.Operation{Op: &socklabv1.Operation_Drain{Drain: &socklabv1.DrainOp{Count: uint64(count)}}}, wd)
	if err != nil {
		return nil, err
	}
	r := resp.GetEvent().GetResult()
	return starlark.Tuple{starlark.MakeInt64(r.GetValue()), starlark.MakeUint64(uint64(r.GetChecksum()))}, nil
}

// held says that a process outside the run holds port, and which lab parameter to change
// (the one whose value is port), for a bind's EADDRINUSE.
func (r *run) held(port uint32, holder string) string {
	param := "NAME"
	for _, name := range r.t.params.AttrNames() {
		v, _ := r.t.params.Attr(name)
		if i, ok := v.(starlark.Int); ok {
			if p, ok := i.Uint64(); ok && p == uint64(port) {
				param = name
				break
			}
		}
	}
	return fmt.Sprintf("port %d is held by %s, outside this run: choose another with --param %s=N", port, holder, param)
}
