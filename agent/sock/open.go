package sock

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// OpenProto is Open with socket()'s third argument, proto: 0 for the family's own
// protocol, or a protocol number the kernel checks against the family and type
// (IPPROTO_TCP with a stream of the inet families; EPROTONOSUPPORT otherwise).
func OpenProto(family, typ, proto int, source netip.Addr) (*Socket, error) {
	if proto == 0 {
		return Open(family, typ, source)
	}
	if family != unix.AF_INET && family != unix.AF_INET6 && family != unix.AF_UNIX {
		return nil, fmt.Errorf("socket: family %d: %w", family, unix.EAFNOSUPPORT)
	}
	if typ != unix.SOCK_STREAM && typ != unix.SOCK_DGRAM {
		return nil, fmt.Errorf("socket: type %d: %w", typ, unix.ESOCKTNOSUPPORT)
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	return newSocket(fd, family, typ, source)
}

// Pair makes two connected sockets of family, typ and proto, as Python's socketpair;
// Linux makes them of AF_UNIX only (another family fails with EOPNOTSUPP). They have no
// host identity: nothing of them leaves the host.
func Pair(family, typ, proto int) (*Socket, *Socket, error) {
	fds, err := unix.Socketpair(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, nil, err
	}
	a, err := newSocket(fds[0], family, typ, netip.Addr{})
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newSocket(fds[1], family, typ, netip.Addr{})
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}
