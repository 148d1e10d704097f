package fault

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TCP states (include/net/tcp_states.h) of the sockets Reset destroys: those of a
// connection, made or being made, that has not ended yet. TIME_WAIT, CLOSE and
// LISTEN are left alone.
var resetStates = map[uint8]bool{
	1:  true, // ESTABLISHED
	2:  true, // SYN_SENT
	3:  true, // SYN_RECV
	4:  true, // FIN_WAIT1
	5:  true, // FIN_WAIT2
	8:  true, // CLOSE_WAIT
	9:  true, // LAST_ACK
	11: true, // CLOSING
}

// Reset destroys (SOCK_DESTROY, as ss -K does) every TCP socket of the namespace that
// do enters (nil: the current one) whose remote address is peer, IPv6 sockets with
// peer's IPv4-mapped address included, and returns how many it destroyed. A destroyed
// socket's owner gets ECONNABORTED; the peer gets a reset (ECONNRESET). Listening
// sockets and those in TIME_WAIT are left.
func Reset(do func(func() error) error, peer netip.Addr) (int, error) {
	addr, err := checkPeer(peer)
	if err != nil {
		return 0, err
	}
	if do == nil {
		do = func(fn func() error) error { return fn() }
	}
	n := 0
	err = do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_INET_DIAG)
		if err != nil {
			return fmt.Errorf("sock_diag netlink socket: %w", err)
		}
		defer h.Close()
		var errs []error
		for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
			socks, err := h.SocketDiagTCP(family)
			if errors.Is(err, netlink.ErrDumpInterrupted) {
				socks, err = h.SocketDiagTCP(family)
			}
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return fmt.Errorf("list TCP sockets: %w", err)
			}
			for _, s := range socks {
				remote, ok := netip.AddrFromSlice(s.ID.Destination)
				if !ok || remote.Unmap() != addr || !resetStates[s.State] {
					continue
				}
				local := &net.TCPAddr{IP: s.ID.Source, Port: int(s.ID.SourcePort)}
				rem := &net.TCPAddr{IP: s.ID.Destination, Port: int(s.ID.DestinationPort)}
				err := h.SocketDestroy(local, rem)
				switch {
				case err == nil:
					n++
				case errors.Is(err, unix.ENOENT):
					// It ended meanwhile.
				default:
					errs = append(errs, fmt.Errorf("destroy %s -> %s: %w", local, rem, err))
				}
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return n, fmt.Errorf("reset TCP connections to %s: %w", addr, err)
	}
	return n, nil
}
