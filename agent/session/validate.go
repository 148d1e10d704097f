package session

import (
	"math"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Flags each operation accepts; anything else is refused, so a request cannot reach
// kernel behaviour the agent does not model.
const (
	sendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL | unix.MSG_MORE | unix.MSG_OOB
	recvFlags = unix.MSG_PEEK | unix.MSG_WAITALL | unix.MSG_DONTWAIT | unix.MSG_OOB
)

// Validate checks a request's shape and limits without touching any socket. It is what a
// malformed request meets first; it never panics, whatever the message holds.
func Validate(req *socklabv1.PerformRequest, pol *policy.Policy) error {
	op := req.GetOperation()
	if op == nil || op.GetOp() == nil {
		return errorf(Invalid, "operation is missing: set one of socket, bind, connect, send, recv, ...")
	}
	if hostLevel(op) != (req.GetHandle() == 0) {
		if hostLevel(op) {
			return errorf(Invalid, "%s concerns the host, not a socket: leave handle at 0 (it is %d)", opName(op), req.GetHandle())
		}
		return errorf(Invalid, "%s needs a handle: the one socket or accept returned", opName(op))
	}
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Socket:
		if _, ok := families[o.Socket.GetFamily()]; !ok {
			return errorf(Invalid, "socket: family %s is not valid; use FAMILY_INET, FAMILY_INET6 or FAMILY_UNIX", o.Socket.GetFamily())
		}
		switch o.Socket.GetType() {
		case socklabv1.SocketType_SOCKET_TYPE_STREAM, socklabv1.SocketType_SOCKET_TYPE_DGRAM:
		default:
			return errorf(Invalid, "socket: type %s is not supported; use SOCKET_TYPE_STREAM or SOCKET_TYPE_DGRAM", o.Socket.GetType())
		}
	case *socklabv1.Operation_Setsockopt:
		opt, ok := sock.LookupOption(int(o.Setsockopt.GetLevel()), int(o.Setsockopt.GetName()))
		if !ok {
			return errorf(Invalid, "setsockopt: option level %d name %d is not supported by this agent", o.Setsockopt.GetLevel(), o.Setsockopt.GetName())
		}
		if opt.ReadOnly {
			return errorf(Invalid, "setsockopt: %s can only be read", opt.Symbol)
		}
		switch v := o.Setsockopt.GetValue().(type) {
		case nil:
			return errorf(Invalid, "setsockopt %s: value is missing: set int_value or bytes_value", opt.Symbol)
		case *socklabv1.SetSockOptOp_IntValue:
			if v.IntValue < math.MinInt32 || v.IntValue > math.MaxInt32 {
				return errorf(Invalid, "setsockopt %s: value %d does not fit a C int", opt.Symbol, v.IntValue)
			}
		case *socklabv1.SetSockOptOp_BytesValue:
			if len(v.BytesValue) > 1024 {
				return errorf(Invalid, "setsockopt %s: %d bytes is too long a buffer (at most 1024)", opt.Symbol, len(v.BytesValue))
			}
		}
	case *socklabv1.Operation_Getsockopt:
		if _, ok := sock.LookupOption(int(o.Getsockopt.GetLevel()), int(o.Getsockopt.GetName())); !ok {
			return errorf(Invalid, "getsockopt: option level %d name %d is not supported by this agent", o.Getsockopt.GetLevel(), o.Getsockopt.GetName())
		}
		if o.Getsockopt.GetBuflen() > 1024 {
			return errorf(Invalid, "getsockopt: buflen %d is too large (at most 1024)", o.Getsockopt.GetBuflen())
		}
	case *socklabv1.Operation_Bind:
		if _, err := parseAddr("bind", o.Bind.GetAddress()); err != nil {
			return err
		}
	case *socklabv1.Operation_Listen:
	case *socklabv1.Operation_Connect:
		if _, err := parseAddr("connect", o.Connect.GetAddress()); err != nil {
			return err
		}
	case *socklabv1.Operation_ConnectEx:
		if _, err := parseAddr("connect_ex", o.ConnectEx.GetAddress()); err != nil {
			return err
		}
	case *socklabv1.Operation_Send:
		return checkSend("send", o.Send.GetData(), o.Send.GetFlags(), pol)
	case *socklabv1.Operation_Sendall:
		return checkSend("sendall", o.Sendall.GetData(), o.Sendall.GetFlags(), pol)
	case *socklabv1.Operation_Sendto:
		if _, err := parseAddr("sendto", o.Sendto.GetAddress()); err != nil {
			return err
		}
		return checkSend("sendto", o.Sendto.GetData(), o.Sendto.GetFlags(), pol)
	case *socklabv1.Operation_Recv:
		return checkRecv("recv", o.Recv, pol)
	case *socklabv1.Operation_Recvfrom:
		return checkRecv("recvfrom", o.Recvfrom, pol)
	case *socklabv1.Operation_Shutdown:
		if _, ok := shutdownHow[o.Shutdown.GetHow()]; !ok {
			return errorf(Invalid, "shutdown: how %s is not valid; use SHUTDOWN_HOW_RD, SHUTDOWN_HOW_WR or SHUTDOWN_HOW_RDWR", o.Shutdown.GetHow())
		}
	case *socklabv1.Operation_Settimeout:
		if o.Settimeout.Seconds != nil {
			s := o.Settimeout.GetSeconds()
			if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 || s > 1e9 {
				return errorf(Invalid, "settimeout: timeout %v is out of range: use None, 0 or a positive number of seconds", s)
			}
		}
	case *socklabv1.Operation_Ss:
		if p := o.Ss.GetProtocol(); p != "" && p != "tcp" && p != "udp" {
			return errorf(Invalid, "ss: protocol %q: use \"tcp\", \"udp\" or \"\" for both", p)
		}
		if o.Ss.GetPort() > 65535 {
			return errorf(Invalid, "ss: port must be 0-65535 (got %d)", o.Ss.GetPort())
		}
		if h := o.Ss.GetHost(); h != "" {
			if _, err := netip.ParseAddr(h); err != nil {
				return errorf(Invalid, "ss: host %q is not an IP address", h)
			}
		}
	case *socklabv1.Operation_Sysctl:
		if n := o.Sysctl.GetName(); !strings.HasPrefix(n, "net.") || strings.ContainsAny(n, "/ ") || strings.Contains(n, "..") {
			return errorf(Invalid, "sysctl: %q is not a network knob such as net.ipv4.tcp_tw_reuse", n)
		}
	case *socklabv1.Operation_SendBulk:
		if o.SendBulk.GetCount() > maxBulk {
			return errorf(Exhausted, "send_bulk: %d bytes is over the limit of %d", o.SendBulk.GetCount(), uint64(maxBulk))
		}
	case *socklabv1.Operation_Drain:
		if o.Drain.GetCount() > maxBulk {
			return errorf(Exhausted, "drain: %d bytes is over the limit of %d", o.Drain.GetCount(), uint64(maxBulk))
		}
	case *socklabv1.Operation_ConnectMany:
		if _, err := parseAddr("connect_many", o.ConnectMany.GetAddress()); err != nil {
			return err
		}
		if n := o.ConnectMany.GetCount(); n == 0 || int64(n) > int64(pol.MaxSockets) {
			return errorf(Exhausted, "connect_many: count %d: want 1 to %d (this agent's socket limit)", n, pol.MaxSockets)
		}
	case *socklabv1.Operation_Serve:
		if _, ok := behaviours[o.Serve.GetBehaviour()]; !ok {
			return errorf(Invalid, "serve: behaviour %s is not valid; use BEHAVIOUR_ECHO, _UPPER, _DISCARD or _CHAT", o.Serve.GetBehaviour())
		}
	case *socklabv1.Operation_Accept, *socklabv1.Operation_Close, *socklabv1.Operation_Getsockname,
		*socklabv1.Operation_Getpeername, *socklabv1.Operation_Setblocking, *socklabv1.Operation_Gettimeout:
	default:
		return errorf(Invalid, "operation %T is not supported by this agent", o)
	}
	return nil
}

// maxBulk bounds one send_bulk or drain: 64 GiB, far more than any lab moves.
const maxBulk = 64 << 30

// behaviours are the built-in behaviours of a background server.
var behaviours = map[socklabv1.Behaviour]string{
	socklabv1.Behaviour_BEHAVIOUR_ECHO:    "echo",
	socklabv1.Behaviour_BEHAVIOUR_UPPER:   "upper",
	socklabv1.Behaviour_BEHAVIOUR_DISCARD: "discard",
	socklabv1.Behaviour_BEHAVIOUR_CHAT:    "chat",
}

// families maps the API's families onto Linux's.
var families = map[socklabv1.Family]int{
	socklabv1.Family_FAMILY_INET:  unix.AF_INET,
	socklabv1.Family_FAMILY_INET6: unix.AF_INET6,
	socklabv1.Family_FAMILY_UNIX:  unix.AF_UNIX,
}

var shutdownHow = map[socklabv1.ShutdownHow]int{
	socklabv1.ShutdownHow_SHUTDOWN_HOW_RD:   unix.SHUT_RD,
	socklabv1.ShutdownHow_SHUTDOWN_HOW_WR:   unix.SHUT_WR,
	socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR: unix.SHUT_RDWR,
}

func checkSend(name string, data []byte, flags int32, pol *policy.Policy) error {
	if len(data) > pol.MaxBytesPerOp {
		return errorf(Exhausted, "%s: %d bytes is over this agent's limit of %d bytes per operation", name, len(data), pol.MaxBytesPerOp)
	}
	if f := int(flags) &^ sendFlags; f != 0 {
		return errorf(Invalid, "%s: flags 0x%x are not supported; use MSG_DONTWAIT, MSG_NOSIGNAL, MSG_MORE or MSG_OOB", name, f)
	}
	return nil
}

func checkRecv(name string, r *socklabv1.RecvOp, pol *policy.Policy) error {
	if int64(r.GetBufsize()) > int64(pol.MaxBytesPerOp) {
		return errorf(Exhausted, "%s: bufsize %d is over this agent's limit of %d bytes per operation", name, r.GetBufsize(), pol.MaxBytesPerOp)
	}
	if f := int(r.GetFlags()) &^ recvFlags; f != 0 {
		return errorf(Invalid, "%s: flags 0x%x are not supported; use MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT or MSG_OOB", name, f)
	}
	return nil
}

// addrSpec is a request's address, checked for shape but not yet for a family.
type addrSpec struct {
	host string // "" (any), "localhost", "<broadcast>" or an IP literal
	ip   netip.Addr
	port uint16
	path string
}

// parseAddr checks a request's address: a path (AF_UNIX), or a host and port as Python's
// address tuples are read: "" is the any address, "localhost" the loopback address,
// "<broadcast>" 255.255.255.255, anything else must be an IP literal.
func parseAddr(op string, a *socklabv1.Address) (addrSpec, error) {
	if a == nil {
		return addrSpec{}, errorf(Invalid, "%s: address is missing: give (host, port), or a path for AF_UNIX", op)
	}
	if a.GetPath() != "" {
		if a.GetHost() != "" || a.GetPort() != 0 {
			return addrSpec{}, errorf(Invalid, "%s: give a path (AF_UNIX) or a host and port, not both", op)
		}
		if strings.ContainsRune(a.GetPath(), 0) {
			return addrSpec{}, errorf(Invalid, "%s: path %q holds a NUL byte (abstract AF_UNIX names are not supported)", op, a.GetPath())
		}
		return addrSpec{path: a.GetPath()}, nil
	}
	if a.GetPort() > 65535 {
		return addrSpec{}, errorf(Invalid, "%s: port must be 0-65535 (got %d)", op, a.GetPort())
	}
	spec := addrSpec{host: strings.TrimSpace(a.GetHost()), port: uint16(a.GetPort())}
	switch spec.host {
	case "", "localhost", "<broadcast>":
	default:
		ip, err := netip.ParseAddr(spec.host)
		if err != nil {
			return addrSpec{}, errorf(Invalid, "%s: host %q is not an IP address (the agent resolves no names but localhost)", op, spec.host)
		}
		spec.ip = ip
	}
	return spec, nil
}

// forFamily turns the address into one of the socket's family.
func (a addrSpec) forFamily(op string, family int) (sock.Addr, error) {
	if family == unix.AF_UNIX {
		if a.path == "" {
			return sock.Addr{}, errorf(Invalid, "%s: an AF_UNIX socket needs a path address, not (host, port)", op)
		}
		return sock.Addr{Path: a.path}, nil
	}
	if a.path != "" {
		return sock.Addr{}, errorf(Invalid, "%s: a path address needs an AF_UNIX socket", op)
	}
	v6 := family == unix.AF_INET6
	ip := a.ip
	switch a.host {
	case "":
		ip = netip.IPv4Unspecified()
		if v6 {
			ip = netip.IPv6Unspecified()
		}
	case "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if v6 {
			ip = netip.IPv6Loopback()
		}
	case "<broadcast>":
		if v6 {
			return sock.Addr{}, errorf(Invalid, "%s: <broadcast> is an IPv4 address; AF_INET6 has no broadcast", op)
		}
		ip = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	if !v6 {
		ip = ip.Unmap()
		if !ip.Is4() {
			return sock.Addr{}, errorf(Invalid, "%s: host %s is not an IPv4 address, as an AF_INET socket needs", op, a.host)
		}
	}
	return sock.Addr{IP: ip, Port: a.port}, nil
}

// opName is the Python name of an operation, as events and messages show it.
func opName(op *socklabv1.Operation) string {
	switch op.GetOp().(type) {
	case *socklabv1.Operation_Socket:
		return "socket"
	case *socklabv1.Operation_Setsockopt:
		return "setsockopt"
	case *socklabv1.Operation_Getsockopt:
		return "getsockopt"
	case *socklabv1.Operation_Bind:
		return "bind"
	case *socklabv1.Operation_Listen:
		return "listen"
	case *socklabv1.Operation_Accept:
		return "accept"
	case *socklabv1.Operation_Connect:
		return "connect"
	case *socklabv1.Operation_ConnectEx:
		return "connect_ex"
	case *socklabv1.Operation_Send:
		return "send"
	case *socklabv1.Operation_Sendall:
		return "sendall"
	case *socklabv1.Operation_Sendto:
		return "sendto"
	case *socklabv1.Operation_Recv:
		return "recv"
	case *socklabv1.Operation_Recvfrom:
		return "recvfrom"
	case *socklabv1.Operation_Shutdown:
		return "shutdown"
	case *socklabv1.Operation_Close:
		return "close"
	case *socklabv1.Operation_Getsockname:
		return "getsockname"
	case *socklabv1.Operation_Getpeername:
		return "getpeername"
	case *socklabv1.Operation_Settimeout:
		return "settimeout"
	case *socklabv1.Operation_Setblocking:
		return "setblocking"
	case *socklabv1.Operation_Gettimeout:
		return "gettimeout"
	case *socklabv1.Operation_Ss:
		return "ss"
	case *socklabv1.Operation_Sysctl:
		return "sysctl"
	case *socklabv1.Operation_SendBulk:
		return "send_bulk"
	case *socklabv1.Operation_Drain:
		return "drain"
	case *socklabv1.Operation_ConnectMany:
		return "connect_many"
	case *socklabv1.Operation_Serve:
		return "serve"
	}
	return "unknown"
}

// hostLevel reports whether an operation concerns the host rather than a socket: it
// takes handle 0.
func hostLevel(op *socklabv1.Operation) bool {
	switch op.GetOp().(type) {
	case *socklabv1.Operation_Socket, *socklabv1.Operation_Ss, *socklabv1.Operation_Sysctl, *socklabv1.Operation_ConnectMany:
		return true
	}
	return false
}

// laneOf says which ordered lane an operation runs in.
func laneOf(op *socklabv1.Operation) lane {
	switch op.GetOp().(type) {
	case *socklabv1.Operation_Accept, *socklabv1.Operation_Recv, *socklabv1.Operation_Recvfrom,
		*socklabv1.Operation_Drain, *socklabv1.Operation_Serve:
		return recvLane
	case *socklabv1.Operation_Connect, *socklabv1.Operation_ConnectEx, *socklabv1.Operation_Send,
		*socklabv1.Operation_Sendall, *socklabv1.Operation_Sendto, *socklabv1.Operation_SendBulk:
		return sendLane
	}
	return noLane
}
