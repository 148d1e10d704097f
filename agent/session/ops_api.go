package session

import (
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/sock"
	"github.com/socklab/socklab/agent/sockconst"
)

// The operations that complete Python's socket API beyond the everyday calls: select,
// socketpair, recv_into and sendfile.

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
