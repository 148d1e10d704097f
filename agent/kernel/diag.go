package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The socket table through NETLINK_SOCK_DIAG, the interface ss itself uses: the kernel
// filters by state, port and address before anything is copied or formatted, so a query
// for a few sockets stays cheap on a host with tens of thousands (TIME_WAITs of earlier
// runs, say), where /proc/net prints and this package would parse every row.
//
// The kernel's filter is a coarse one: Filter.match, applied to every row as for the
// /proc reader, decides, so that both readers give the same rows.

// Layout of struct inet_diag_req_v2 and inet_diag_msg (linux/inet_diag.h).
const (
	diagReqLen = 56
	diagMsgLen = 72
	// diagReqBytecode is INET_DIAG_REQ_BYTECODE, the request's filter program.
	diagReqBytecode = 1
)

// Operations of the filter program (INET_DIAG_BC_*).
const (
	bcJmp   = 1  // always no
	bcSCond = 7  // local address (and port, unless -1) in a prefix
	bcDCond = 8  // peer address (and port) in a prefix
	bcSEq   = 11 // local port ==
	bcDEq   = 12 // peer port ==
)

// Kernel socket states (include/net/tcp_states.h) that the diag reader treats apart.
const (
	stEstablished = 1 // also a connected UDP socket
	stClose       = 7 // also an unconnected UDP socket
	stListen      = 10
	stNewSynRecv  = 12 // a request socket: a connection not yet accepted
)

// allTCPStates is every TCP state /proc/net/tcp shows (1 to 12). Bit 13 (bound but
// inactive sockets, which /proc never lists) stays clear.
const allTCPStates = 1<<13 - 2

// udpStates are the kernel states of UDP sockets under the names this package gives them.
var udpStates = map[string]uint32{"ESTABLISHED": 1 << stEstablished, "UNCONN": 1 << stClose}

// diagTables are the four tables, in the order Sockets reads them.
var diagTables = []struct {
	proto    string
	family   uint8
	protocol uint8
}{
	{"tcp", unix.AF_INET, unix.IPPROTO_TCP},
	{"tcp6", unix.AF_INET6, unix.IPPROTO_TCP},
	{"udp", unix.AF_INET, unix.IPPROTO_UDP},
	{"udp6", unix.AF_INET6, unix.IPPROTO_UDP},
}

// diagSockets reads the tables that f selects through sock_diag, in the calling thread's
// network namespace (where the netlink socket is made), and returns the rows that match f.
func diagSockets(f Filter) ([]Socket, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer c.Close()
	bc := f.bytecode()
	var out []Socket
	for _, t := range diagTables {
		if f.Protocol != "" && !strings.HasPrefix(t.proto, f.Protocol) {
			continue
		}
		states := f.diagStates(t.protocol)
		if states == 0 {
			continue
		}
		req := make([]byte, diagReqLen, diagReqLen+4+len(bc))
		req[0], req[1] = t.family, t.protocol
		binary.NativeEndian.PutUint32(req[4:], states)
		if len(bc) > 0 {
			req = binary.NativeEndian.AppendUint16(req, uint16(4+len(bc)))
			req = binary.NativeEndian.AppendUint16(req, diagReqBytecode)
			req = append(req, bc...)
		}
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   req,
		})
		if err != nil {
			return nil, fmt.Errorf("sock_diag %s: %w", t.proto, err)
		}
		for _, m := range msgs {
			s, err := parseDiag(m.Data, t.proto)
			if err != nil {
				return nil, fmt.Errorf("sock_diag %s: %w", t.proto, err)
			}
			if f.match(s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// diagStates is the kernel's state mask for f's state in tables of protocol: every state
// when f has none, none when no socket of protocol is ever in it.
func (f Filter) diagStates(protocol uint8) uint32 {
	if protocol == unix.IPPROTO_UDP {
		if f.State == "" {
			return udpStates["ESTABLISHED"] | udpStates["UNCONN"]
		}
		return udpStates[normalState(f.State)]
	}
	if f.State == "" {
		return allTCPStates
	}
	for n, name := range tcpStates {
		if name == normalState(f.State) {
			if name == "SYN_RECV" {
				// Connections not yet accepted are request sockets, in state
				// NEW_SYN_RECV, which both interfaces show as SYN_RECV.
				return 1<<n | 1<<stNewSynRecv
			}
			return 1 << n
		}
	}
	return 0
}

// bytecode returns the kernel filter program for f's port, host and network (nil: none):
// for each, "the local side matches, or the peer side does", all of them together. A
// program matches when it runs off its end and fails when it jumps 4 bytes past it;
// each op's yes and no are byte offsets from the op, and the kernel accepts a no only
// onto an op on the path of yeses (hence the jump between the two sides, as ss does it).
func (f Filter) bytecode() []byte {
	var tests [][2][]byte // one op for the local side, one for the peer's
	if f.Port != 0 {
		tests = append(tests, [2][]byte{portOp(bcSEq, f.Port), portOp(bcDEq, f.Port)})
	}
	for _, p := range f.prefixes() {
		tests = append(tests, [2][]byte{prefixOp(bcSCond, p), prefixOp(bcDCond, p)})
	}
	size := 0
	for _, t := range tests {
		size += len(t[0]) + 4 + len(t[1])
	}
	var bc []byte
	for _, t := range tests {
		local, peer := t[0], t[1]
		bc = appendOp(bc, local, len(local), len(local)+4) // no: on to the peer's op
		bc = appendOp(bc, []byte{bcJmp, 0, 0, 0}, 4, 4+len(peer))
		bc = appendOp(bc, peer, len(peer), size-len(bc)+4) // no: fail
	}
	return bc
}

// appendOp appends op (its code and operands; bytes 1-3 are set here) with its yes and
// no offsets.
func appendOp(bc, op []byte, yes, no int) []byte {
	bc = append(bc, op[0], byte(yes))
	bc = binary.NativeEndian.AppendUint16(bc, uint16(no))
	return append(bc, op[4:]...)
}

// portOp is an op comparing a port: the port is the "no" field of a second op.
func portOp(code byte, port uint16) []byte {
	return binary.NativeEndian.AppendUint16([]byte{code, 0, 0, 0, 0, 0}, port)
}

// prefixOp is an op testing an address against a prefix (struct inet_diag_hostcond,
// any port). The kernel matches an IPv4 prefix against IPv4-mapped IPv6 addresses too.
func prefixOp(code byte, p netip.Prefix) []byte {
	family := byte(unix.AF_INET6)
	if p.Addr().Is4() {
		family = unix.AF_INET
	}
	b := []byte{code, 0, 0, 0, family, byte(p.Bits()), 0, 0}
	b = binary.NativeEndian.AppendUint32(b, 0xffffffff) // port -1: any
	return append(b, p.Addr().AsSlice()...)
}

// parseDiag reads one struct inet_diag_msg as a row of table proto, as parseRow reads
// one of /proc/net.
func parseDiag(b []byte, proto string) (Socket, error) {
	if len(b) < diagMsgLen {
		return Socket{}, fmt.Errorf("short message (%d bytes)", len(b))
	}
	n := 4
	if b[0] == unix.AF_INET6 {
		n = 16
	}
	addr := func(port, ip []byte) netip.AddrPort {
		a, _ := netip.AddrFromSlice(ip[:n])
		return netip.AddrPortFrom(a.Unmap(), binary.BigEndian.Uint16(port))
	}
	st := uint64(b[1])
	local, peer := addr(b[4:6], b[8:24]), addr(b[6:8], b[24:40])
	word := func(i int) uint32 { return binary.NativeEndian.Uint32(b[52+4*i:]) } // expires, rqueue, wqueue, uid, inode
	rq, wq, uid, inode := word(1), word(2), word(3), word(4)
	state := tcpStates[st]
	if strings.HasPrefix(proto, "udp") {
		state = "UNCONN"
		if st == stEstablished {
			state = "ESTABLISHED"
		}
	} else if st == stListen {
		wq = 0 // the backlog here; /proc/net/tcp shows 0 (unsent bytes), as ever for a listener
	}
	s := Socket{Protocol: proto, State: state, Local: local, RecvQ: uint64(rq), SendQ: uint64(wq), Inode: uint64(inode), UID: uid}
	if peer.Port() != 0 || !peer.Addr().IsUnspecified() {
		s.Peer = peer
	}
	return s, nil
}
