// Package kernel reads the host kernel's own view of the network: its socket table (as
// ss shows it, through sock_diag netlink, or from /proc/net where that fails) and its
// network sysctl knobs. Some of what labs teach exists only there: TIME_WAIT and
// CLOSE_WAIT, queues, and which process holds a socket.
package kernel

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one row of the kernel's socket table.
type Socket struct {
	// Protocol is "tcp", "tcp6", "udp" or "udp6".
	Protocol string
	// State is the TCP state name (TIME_WAIT, ...), or UNCONN/ESTABLISHED for UDP.
	State string
	// Local and Peer are the addresses (Peer invalid when unconnected).
	Local, Peer netip.AddrPort
	// RecvQ and SendQ are the queue sizes in bytes.
	RecvQ, SendQ uint64
	// Inode is the socket's inode.
	Inode uint64
	// UID is the owner's user id.
	UID uint32
}

// Filter selects rows; zero fields select everything.
type Filter struct {
	// Port keeps sockets whose local or peer port is Port.
	Port uint16
	// Host keeps sockets whose local or peer address is Host.
	Host netip.Addr
	// Net keeps sockets whose local or peer address is in Net (an IPv4 network matches
	// IPv4-mapped IPv6 addresses too, as every address here is read unmapped).
	Net netip.Prefix
	// State keeps sockets in this state.
	State string
	// Protocol keeps "tcp" or "udp" sockets (both IP versions).
	Protocol string
}

// tcpStates are the kernel's TCP states (include/net/tcp_states.h), named as the kernel
// and netstat name them (the names the tutorial uses: TIME_WAIT, CLOSE_WAIT).
var tcpStates = map[uint64]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

// StateNames are the TCP state names Sockets reports.
func StateNames() []string {
	out := make([]string, 0, len(tcpStates))
	for i := uint64(1); i <= 12; i++ {
		out = append(out, tcpStates[i])
	}
	return out
}

// procNet is where the tables are read: the calling thread's, which is in the namespace
// a caller entered (/proc/net is the process's main thread's). A test may point it
// elsewhere.
var procNet = "/proc/thread-self/net"

// Sockets reads the TCP and UDP tables (IPv4 and IPv6) of the calling thread's network
// namespace and returns the rows that match f: through sock_diag, which filters in the
// kernel, or where that fails (a kernel without it) from /proc/net.
func Sockets(f Filter) ([]Socket, error) {
	if rows, err := diagSockets(f); err == nil {
		return rows, nil
	}
	return procSockets(f)
}

// procSockets is Sockets from /proc/net: every row printed and parsed.
func procSockets(f Filter) ([]Socket, error) {
	var out []Socket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if f.Protocol != "" && !strings.HasPrefix(proto, f.Protocol) {
			continue
		}
		rows, err := readTable(filepath.Join(procNet, proto), proto)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6 on this host, say
		}
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if f.match(r) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// prefixes are f's host and network as prefixes, for the kernel's filter.
func (f Filter) prefixes() []netip.Prefix {
	var ps []netip.Prefix
	if f.Host.IsValid() {
		ps = append(ps, netip.PrefixFrom(f.Host, f.Host.BitLen()))
	}
	if f.Net.IsValid() {
		ps = append(ps, f.Net.Masked())
	}
	return ps
}

func (f Filter) match(s Socket) bool {
	if f.Port != 0 && s.Local.Port() != f.Port && s.Peer.Port() != f.Port {
		return false
	}
	if f.Host.IsValid() && s.Local.Addr() != f.Host && s.Peer.Addr() != f.Host {
		return false
	}
	if f.Net.IsValid() && !f.Net.Contains(s.Local.Addr()) && !f.Net.Contains(s.Peer.Addr()) {
		return false
	}
	if f.State != "" && !strings.EqualFold(normalState(f.State), s.State) {
		return false
	}
	return true
}

// normalState accepts the names people write: ss's TIME-WAIT and ESTAB as well as
// TIME_WAIT and ESTABLISHED.
func normalState(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	switch s {
	case "ESTAB":
		return "ESTABLISHED"
	case "FIN_WAIT_1":
		return "FIN_WAIT1"
	case "FIN_WAIT_2":
		return "FIN_WAIT2"
	}
	return s
}

func readTable(path, proto string) ([]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Socket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		s, err := parseRow(sc.Text(), proto)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseRow reads one line of /proc/net/{tcp,udp}[6]:
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ..."
func parseRow(line, proto string) (Socket, error) {
	fields := strings.Fields(line)
	if len(fields) < 10 {
		return Socket{}, fmt.Errorf("short row %q", line)
	}
	local, err := parseAddr(fields[1])
	if err != nil {
		return Socket{}, err
	}
	peer, err := parseAddr(fields[2])
	if err != nil {
		return Socket{}, err
	}
	st, err := strconv.ParseUint(fields[3], 16, 8)
	if err != nil {
		return Socket{}, fmt.Errorf("state %q: %w", fields[3], err)
	}
	txq, rxq, ok := strings.Cut(fields[4], ":")
	if !ok {
		return Socket{}, fmt.Errorf("queues %q", fields[4])
	}
	tx, _ := strconv.ParseUint(txq, 16, 64)
	rx, _ := strconv.ParseUint(rxq, 16, 64)
	uid, _ := strconv.ParseUint(fields[7], 10, 32)
	inode, _ := strconv.ParseUint(fields[9], 10, 64)
	state := tcpStates[st]
	if strings.HasPrefix(proto, "udp") {
		state = "UNCONN"
		if st == 1 {
			state = "ESTABLISHED"
		}
	}
	s := Socket{Protocol: proto, State: state, Local: local, RecvQ: rx, SendQ: tx, Inode: inode, UID: uint32(uid)}
	if peer.Port() != 0 || !peer.Addr().IsUnspecified() {
		s.Peer = peer
	}
	return s, nil
}

// parseAddr reads "0100007F:1F90" (IPv4) or a 32-hex-digit IPv6 address and a port. The
// kernel prints each 32-bit word of the address in host byte order (little-endian here).
func parseAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// Sysctl reads a network sysctl knob such as "net.ipv4.tcp_tw_reuse". found is false when
// the knob does not exist on this kernel (tcp_tw_recycle is gone since Linux 4.12).
func Sysctl(name string) (value string, found bool, err error) {
	if !allowedSysctl(name) {
		return "", false, fmt.Errorf("sysctl %q: only net.ipv4.*, net.ipv6.* and net.core.* knobs may be read", name)
	}
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

func allowedSysctl(name string) bool {
	if strings.Contains(name, "/") || strings.Contains(name, "..") {
		return false
	}
	for _, p := range []string{"net.ipv4.", "net.ipv6.", "net.core."} {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// Counter reads one of the kernel's network statistics counters, as `nstat` names them:
// "Tcp.RetransSegs", "TcpExt.TCPTimeouts", "Udp.InErrors" (/proc/net/snmp and
// /proc/net/netstat, of the calling thread's namespace). found is false when this kernel
// has no such counter.
func Counter(name string) (value uint64, found bool, err error) {
	group, field, ok := strings.Cut(name, ".")
	if !ok || group == "" || field == "" {
		return 0, false, fmt.Errorf("counter %q: want GROUP.NAME, such as Tcp.RetransSegs", name)
	}
	for _, file := range []string{"snmp", "netstat"} {
		b, err := os.ReadFile(filepath.Join(procNet, file))
		if err != nil {
			return 0, false, fmt.Errorf("counter %s: %w", name, err)
		}
		// Each group is two lines: "Tcp: Name1 Name2 ..." then "Tcp: 1 2 ...".
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) == 0 || names[0] != group+":" || len(values) != len(names) {
				continue
			}
			for j, n := range names[1:] {
				if n == field {
					v, err := strconv.ParseInt(values[j+1], 10, 64) // a few (Tcp.MaxConn) are -1
					if err != nil {
						return 0, false, fmt.Errorf("counter %s: %w", name, err)
					}
					return uint64(max(v, 0)), true, nil
				}
			}
		}
	}
	return 0, false, nil
}

// ProcessStart returns when process pid started, in clock ticks since boot (the 22nd
// field of /proc/PID/stat): with the pid, it names a process in a way a reused pid does
// not match.
func ProcessStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses; fields follow the
	// last ')'. starttime is field 22, the 20th after comm.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}
