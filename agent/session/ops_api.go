package session

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	"github.com/socklab/socklab/agent/sockconst"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that complete Python's socket API beyond the everyday calls: select,
// socketpair, recv_into and sendfile.

func init() {
	register("socketpair", spec[*socklabv1.SocketPairOp]{
		check: func(o *socklabv1.SocketPairOp, _ *policy.Policy) error {
			if _, ok := families[o.GetFamily()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socketpair: family %s is not valid; use FAMILY_UNIX (Linux pairs no other)", o.GetFamily())
			}
			if _, ok := socketTypes[o.GetType()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socketpair: type %s is not supported; use SOCKET_TYPE_STREAM or SOCKET_TYPE_DGRAM", o.GetType())
			}
			return checkProto("socketpair", o.GetProto())
		},
		host: socketpair,
	})
}

// socketTypes maps the API's socket types onto Linux's.
var socketTypes = map[socklabv1.SocketType]int{
	socklabv1.SocketType_SOCKET_TYPE_STREAM: unix.SOCK_STREAM,
	socklabv1.SocketType_SOCKET_TYPE_DGRAM:  unix.SOCK_DGRAM,
}

// socketpair makes two connected sockets, each a handle of the session counted against
// its limit; a kernel error (EOPNOTSUPP for an inet family) is the event's.
func socketpair(_ context.Context, c *call, o *socklabv1.SocketPairOp) error {
	s := c.s
	if err := s.reserve(); err != nil {
		return err
	}
	if err := s.reserve(); err != nil {
		s.unreserve()
		return err
	}
	a, b, err := sock.Pair(families[o.GetFamily()], socketTypes[o.GetType()], int(o.GetProto()))
	if err != nil {
		s.unreserve()
		s.unreserve()
		c.ev.Error = SocketError(err)
		return nil
	}
	c.ev.Result = &socklabv1.Result{}
	pair := []*sock.Socket{a, b}
	for i, so := range pair {
		h, _, err := s.register(s.newSocket(so), "")
		if err != nil { // the session ended: register closed so, and ending closed the one before
			for _, rest := range pair[i:] {
				rest.Close()
				s.unreserve()
			}
			return err
		}
		c.ev.Result.Handles = append(c.ev.Result.Handles, h)
	}
	return nil
}

// checkProto checks socket()'s proto argument: 0, IPPROTO_TCP or IPPROTO_UDP. The kernel
// checks it against the family and type; any other protocol (raw IP, SCTP) is refused,
// so a request cannot reach kernel code the agent does not model.
func checkProto(op string, proto int32) error {
	switch proto {
	case 0, sockconst.IPProtoTCP, sockconst.IPProtoUDP:
		return nil
	}
	return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: proto %d is not supported; use 0, IPPROTO_TCP (6) or IPPROTO_UDP (17)", op, proto)
}

// openSocketProto makes a socket of the agent's network namespace with socket()'s proto
// argument (0: the family's own protocol).
func (m *Manager) openSocketProto(family, typ, proto int) (so *sock.Socket, err error) {
	if nerr := m.inNetns(func() error {
		so, err = sock.OpenProto(family, typ, proto, m.hostIP)
		return nil
	}); nerr != nil {
		return nil, nerr
	}
	return so, err
}
