package session

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

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
		return addrSpec{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: address is missing: give (host, port), or a path for AF_UNIX", op)
	}
	if a.GetPath() != "" {
		if a.GetHost() != "" || a.GetPort() != 0 {
			return addrSpec{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: give a path (AF_UNIX) or a host and port, not both", op)
		}
		if strings.ContainsRune(a.GetPath(), 0) {
			return addrSpec{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: path %q holds a NUL byte (abstract AF_UNIX names are not supported)", op, a.GetPath())
		}
		return addrSpec{path: a.GetPath()}, nil
	}
	if a.GetPort() > 65535 {
		return addrSpec{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: port must be 0-65535 (got %d)", op, a.GetPort())
	}
	spec := addrSpec{host: strings.TrimSpace(a.GetHost()), port: uint16(a.GetPort())}
	switch spec.host {
	case "", "localhost", "<broadcast>":
	default:
		ip, err := netip.ParseAddr(spec.host)
		if err != nil {
			return addrSpec{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: host %q is not an IP address (the agent resolves no names but localhost)", op, spec.host)
		}
		spec.ip = ip
	}
	return spec, nil
}

// forFamily turns the address into one of the socket's family. An IP address of the
// other family does not resolve: an *addressError, as CPython's getaddrinfo fails for it.
// An IPv4-mapped IPv6 address is an IPv4 one for AF_INET, as glibc's getaddrinfo takes it.
func (a addrSpec) forFamily(op string, family int) (sock.Addr, error) {
	if family == unix.AF_UNIX {
		if a.path == "" {
			return sock.Addr{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: an AF_UNIX socket needs a path address, not (host, port)", op)
		}
		return sock.Addr{Path: a.path}, nil
	}
	if a.path != "" {
		return sock.Addr{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: a path address needs an AF_UNIX socket", op)
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
	case "<broadcast>", "255.255.255.255":
		if v6 {
			return sock.Addr{}, errFamilyMismatched // CPython names both before it parses
		}
		ip = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	if !v6 {
		ip = ip.Unmap()
	}
	if ip.Is4() == v6 {
		return sock.Addr{}, errAddrFamily
	}
	return sock.Addr{IP: ip, Port: a.port}, nil
}

// addressError is an address that does not resolve for the socket's family. It is the
// call's outcome, raised in the lab as CPython raises it before any system call, not a
// refused request.
type addressError struct {
	name    string // "gaierror" or "OSError"
	errno   int32  // getaddrinfo's error (EAI_*), 0 for none
	message string
}

// Error returns the error as Python shows it.
func (e *addressError) Error() string {
	if e.errno == 0 {
		return e.name + ": " + e.message
	}
	return fmt.Sprintf("%s: [Errno %d] %s", e.name, e.errno, e.message)
}

// socketError returns the error as an event records it.
func (e *addressError) socketError() *socklabv1.SocketError {
	return &socklabv1.SocketError{Name: e.name, Errno: e.errno, Message: e.message}
}

var (
	// errAddrFamily is getaddrinfo's EAI_ADDRFAMILY: an IP address of the other family,
	// which CPython raises as socket.gaierror.
	errAddrFamily = &addressError{name: "gaierror", errno: -9, message: "Address family for hostname not supported"}
	// errFamilyMismatched is CPython's OSError for the IPv4 broadcast address given to an
	// AF_INET6 socket.
	errFamilyMismatched = &addressError{name: "OSError", message: "address family mismatched"}
)

// resolve turns the address operation op carries into one of the socket's family and
// applies the owner's policy: allowed ports for bind (the socket's own address), allowed
// networks for the others (a destination, judged where the kernel takes it: the wildcard
// is this host), and AF_UNIX paths confined to the session's own directory.
func (s *Session) resolve(op string, addr *socklabv1.Address, so *socket) (sock.Addr, error) {
	spec, err := parseAddr(op, addr)
	if err != nil {
		return sock.Addr{}, err
	}
	a, err := spec.forFamily(op, so.Family())
	if err != nil {
		return sock.Addr{}, err
	}
	pol := &s.m.policy
	if a.Path != "" {
		return s.confine(op, a)
	}
	if op == "bind" {
		if !pol.AllowsBindPort(a.Port) {
			return sock.Addr{}, errdefs.Errorf(errdefs.ErrPermissionDenied, "bind to port %d is outside this agent's allowed ports (%s); its owner sets them with --bind-ports", a.Port, pol.PortsString())
		}
		if !pol.AllowsBindAddr(a.IP, s.m.hostIP) {
			what := a.IP.String()
			if a.IP.IsUnspecified() {
				what += " (every interface)"
			}
			return sock.Addr{}, errdefs.Errorf(errdefs.ErrPermissionDenied, "bind to %s is outside the addresses this agent may take (%s); its owner adds more with --allow-bind", what, pol.BindsString(s.m.hostIP))
		}
		return a, nil
	}
	if to := so.Reaches(a.IP); !pol.AllowsDestination(to) {
		what := a.String()
		if to != a.IP {
			what += " (this host, reached at " + to.String() + ")"
		}
		return sock.Addr{}, errdefs.Errorf(errdefs.ErrPermissionDenied, "%s to %s is outside this agent's allowed networks (%s); its owner sets them with --allow-net", op, what, pol.NetworksString())
	}
	return a, nil
}

// confine places an AF_UNIX path inside the session's directory: a relative name lands
// there; an absolute path must already be there.
func (s *Session) confine(op string, a sock.Addr) (sock.Addr, error) {
	p := a.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.dir, p)
	}
	p = filepath.Clean(p)
	if p != s.dir && !strings.HasPrefix(p, s.dir+string(filepath.Separator)) {
		return sock.Addr{}, errdefs.Errorf(errdefs.ErrPermissionDenied, "%s: AF_UNIX path %q is outside the session's directory: use a relative name such as \"server.sock\"", op, a.Path)
	}
	if len(p) >= 108 {
		return sock.Addr{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: AF_UNIX path %q is too long (%d bytes with the session directory; at most 107)", op, a.Path, len(p))
	}
	return sock.Addr{Path: p}, nil
}

// localAddr returns the socket's own address, cached once it is concrete.
func (so *socket) localAddr() *socklabv1.Address {
	if a := so.local.Load(); a != nil {
		return a
	}
	a, err := so.LocalAddr()
	if err != nil || !a.IsValid() {
		return nil
	}
	out := so.toAddress(a)
	if a.Path != "" || a.Port != 0 && !a.IP.IsUnspecified() {
		so.local.Store(out)
	}
	return out
}

// peerAddr returns a stream's peer address, cached once connected.
func (so *socket) peerAddr() *socklabv1.Address {
	if a := so.peer.Load(); a != nil {
		return a
	}
	a, err := so.PeerAddr()
	if err != nil || !a.IsValid() {
		return nil
	}
	out := so.toAddress(a)
	so.peer.Store(out)
	return out
}

// toAddress turns a socket address into the API's; an AF_UNIX path inside the session's
// directory is shown relative to it, as the lab named it.
func (so *socket) toAddress(a sock.Addr) *socklabv1.Address {
	if !a.IsValid() {
		return nil
	}
	if a.Path != "" {
		p := a.Path
		if rel, ok := strings.CutPrefix(p, so.dir+string(filepath.Separator)); ok {
			p = rel
		}
		return &socklabv1.Address{Path: p}
	}
	return &socklabv1.Address{Host: a.IP.String(), Port: uint32(a.Port)}
}
