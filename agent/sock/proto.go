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
