// Package policy holds the agent owner's rules: which networks sessions may reach, which
// ports they may bind, and how much they may hold.
//
// The defaults make an agent safe to leave running: it talks to loopback and to the
// subnets of its own interfaces only, so it can never become an open relay or a port
// scanner for the wider network.
package policy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Policy is what the agent's owner allows every session.
type Policy struct {
	// Networks are the destinations connect and sendto may reach. A broadcast address
	// (255.255.255.255, or a listed subnet's last address) is reached only when listed
	// on its own, as a single address.
	Networks []netip.Prefix
	// Binds are the local addresses bind may take besides the agent's host address
	// (0.0.0.0 or :: is the wildcard: every interface of the host).
	Binds []netip.Prefix
	// Ports are the ports bind may take; port 0 (a kernel-chosen port) is always allowed.
	Ports []PortRange
	// MaxSockets bounds the sockets one session holds open at once.
	MaxSockets int
	// MaxBytesPerOp bounds one send's data and one recv's buffer.
	MaxBytesPerOp int
	// MaxSessions bounds the sessions open at once.
	MaxSessions int
	// MaxSessionsPerClient bounds the sessions one client (one peer address) holds open
	// at once, so that no caller can take every session of the agent; 0: no bound but
	// MaxSessions.
	MaxSessionsPerClient int
	// MaxAgentSockets bounds the files the sessions of one agent hold together: sockets,
	// and each running program's pipes. 0: derived from the process's open-file limit
	// (FileBudget). The process-wide budget binds in any case.
	MaxAgentSockets int
	// WaitingPerSession bounds the requests of one session that wait for their turn
	// (an earlier seq, or their lane), holding their payloads meanwhile.
	WaitingPerSession WaitLimit
	// WaitingPerConn bounds the requests of one gRPC connection that wait for their turn.
	WaitingPerConn WaitLimit
	// WaitingPerAgent bounds the requests of all callers that wait for their turn.
	WaitingPerAgent WaitLimit
	// HeldPerConn bounds the bytes of the requests one gRPC connection has in progress
	// (read and not yet answered: waiting for their turn, or running, as a send to a
	// peer that does not read runs until it is cancelled).
	HeldPerConn int64
	// HeldPerAgent bounds the bytes of the requests all connections have in progress.
	HeldPerAgent int64
	// DefaultLease is a session's lease when it asks for none.
	DefaultLease time.Duration
	// MaxLease is the longest lease granted.
	MaxLease time.Duration
	// MinLease is the shortest lease granted.
	MinLease time.Duration
	// DefaultPayloadCap is the payload bytes kept per event when a session asks for none.
	DefaultPayloadCap int
	// MaxPayloadCap is the largest payload cap granted.
	MaxPayloadCap int
	// SessionRoot is where each session's own directory is made ("" = the system's
	// temporary directory); AF_UNIX paths are confined to that directory.
	SessionRoot string
	// Programs are the programs spawn may start: names found on ProgramPath ("python3",
	// "cc") or absolute paths; "*" allows any. Empty allows none.
	Programs []string
	// ProgramsRefusal, when set, is the answer to a spawn of a program not in Programs.
	ProgramsRefusal string
	// MaxJobs bounds the programs one session runs at once.
	MaxJobs int
	// Faults lets labs set link faults (agent/fault) in the agent's network namespace:
	// only for an agent in a namespace or container of its own, never one sharing its
	// machine's network.
	Faults bool
}

// WaitLimit bounds the requests that arrived before their turn and wait for it. Each holds
// its payload (up to MaxBytesPerOp) while it waits, so the bound is in requests and in
// bytes; a request that would go over either is refused at once.
type WaitLimit struct {
	// Requests is how many requests may wait at once.
	Requests int
	// Bytes is how many bytes of requests (their encoded size) may wait at once.
	Bytes int64
}

// ProgramPath is where spawn looks up a program named without a slash.
const ProgramPath = "/usr/local/bin:/usr/bin:/bin"

// LocalPrograms are the programs the local topology's agents may start: Python and the
// compilers a lab builds students' programs with.
var LocalPrograms = []string{"python3", "cc", "gcc", "make"}

// AllowsProgram reports whether spawn may start the program argv0 names, which resolves
// to the absolute path.
func (p *Policy) AllowsProgram(argv0, path string) bool {
	for _, allowed := range p.Programs {
		if allowed == "*" || allowed == argv0 || allowed == path {
			return true
		}
	}
	return false
}

// ProgramsString lists the allowed programs for messages.
func (p *Policy) ProgramsString() string {
	if len(p.Programs) == 0 {
		return "none"
	}
	return strings.Join(p.Programs, ", ")
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	// Lo is the first port of the range.
	Lo uint16
	// Hi is the last port of the range.
	Hi uint16
}

// String formats r as "LO-HI", or "P" for a single port.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// Default returns the default policy: loopback plus the subnets of the host's interfaces,
// unprivileged ports, and limits that fit a lab on one machine.
func Default() Policy {
	return Policy{
		Networks:      append(Loopback(), InterfaceSubnets()...),
		Binds:         Loopback(),
		Ports:         []PortRange{{Lo: 1024, Hi: 65535}},
		MaxSockets:    4096,
		MaxBytesPerOp: 16 << 20,
		MaxSessions:   256,
		// A quarter of the sessions per client: one caller cannot take them all.
		MaxSessionsPerClient: 64,
		// A request of the largest size holds a little over 16 MiB: three may wait per
		// session, seven per connection, fifteen across the agent.
		WaitingPerSession: WaitLimit{Requests: 64, Bytes: 64 << 20},
		WaitingPerConn:    WaitLimit{Requests: 256, Bytes: 128 << 20},
		WaitingPerAgent:   WaitLimit{Requests: 4096, Bytes: 256 << 20},
		// Sixteen requests of the largest size in progress per connection, thirty-two
		// across the agent.
		HeldPerConn:       256 << 20,
		HeldPerAgent:      512 << 20,
		DefaultLease:      15 * time.Second,
		MaxLease:          time.Hour,
		MinLease:          50 * time.Millisecond,
		DefaultPayloadCap: 64 << 10,
		MaxPayloadCap:     1 << 20,
		MaxJobs:           16,
	}
}

// Files kept by an agent for itself out of its open-file limit: an eighth, at least
// minFileHeadroom.
const (
	minFileHeadroom   = 256
	fileHeadroomShare = 8
)

// FileBudget splits a process's open-file limit (RLIMIT_NOFILE) between the files of its
// sessions (sockets, running programs' pipes) and the agent's own (gRPC connections, its
// listener, logs, /proc reads, netlink sockets), so that sessions are refused before the
// kernel refuses the agent: the agent keeps an eighth of the limit, at least 256, and
// lets gRPC connections take half of what it keeps. With a limit of 20,000: 17,500 files
// for sessions and 1,250 connections; with 1,024: 768 and 128.
func FileBudget(nofile uint64) (sessions, conns int) {
	nofile = min(nofile, 1<<24)
	headroom := max(nofile/fileHeadroomShare, minFileHeadroom)
	if nofile <= headroom {
		return 0, int(nofile / 2)
	}
	return int(nofile - headroom), int(headroom / 2)
}

// Loopback returns the loopback networks, 127.0.0.0/8 and ::1/128.
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// InterfaceSubnets returns the subnets of the host's interface addresses (link-local
// ones excluded); an error reading them yields none.
func InterfaceSubnets() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(ipn.String())
		if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// ParsePortRanges parses "1024-65535,8080" into port ranges.
func ParsePortRanges(s string) ([]PortRange, error) {
	var out []PortRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || l > h || l == 0 {
			return nil, fmt.Errorf("port range %q: want PORT or LO-HI with 1 <= LO <= HI <= 65535", part)
		}
		out = append(out, PortRange{Lo: uint16(l), Hi: uint16(h)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("port ranges %q: none given", s)
	}
	return out, nil
}

// ParseNetworks parses CIDR prefixes or bare addresses ("10.0.0.0/24", "::1").
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if !strings.Contains(part, "/") {
				a, err := netip.ParseAddr(part)
				if err != nil {
					return nil, fmt.Errorf("network %q: want CIDR such as 10.0.0.0/24 or an address", part)
				}
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("network %q: want CIDR such as 10.0.0.0/24 or an address", part)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// AllowsDestination reports whether connect or sendto may reach ip, judged as the kernel
// will use it: the wildcard (0.0.0.0, ::) is this host's loopback, where the kernel takes
// it from a socket without an address of its own (a socket that has one reaches that
// address: its caller judges that instead, as sock.Socket.Reaches tells it), and a
// broadcast address must be listed on its own.
func (p *Policy) AllowsDestination(ip netip.Addr) bool {
	ip = Destination(ip)
	single := netip.PrefixFrom(ip, ip.BitLen())
	broadcast := ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	for _, n := range p.Networks {
		if n == single {
			return true
		}
		if !n.Contains(ip) {
			continue
		}
		if broadcast || ip.Is4() && n.Bits() < 31 && lastAddr(n) == ip {
			continue // a subnet's broadcast address is not the subnet's to give
		}
		return true
	}
	return false
}

// Destination is where the kernel sends what is addressed to ip: the wildcard address
// stands for this host, reached on loopback.
func Destination(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	switch {
	case ip == netip.IPv4Unspecified():
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip == netip.IPv6Unspecified():
		return netip.IPv6Loopback()
	}
	return ip
}

// lastAddr returns an IPv4 prefix's last address, its broadcast address.
func lastAddr(n netip.Prefix) netip.Addr {
	b := n.Masked().Addr().As4()
	host := uint32(1)<<(32-n.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// AllowsBindAddr reports whether bind may take the local address ip, on an agent whose
// host address is host.
func (p *Policy) AllowsBindAddr(ip, host netip.Addr) bool {
	ip = ip.Unmap()
	if host.IsValid() && ip == host.Unmap() {
		return true
	}
	for _, n := range p.Binds {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// BindsString lists the addresses bind may take for messages.
func (p *Policy) BindsString(host netip.Addr) string {
	var parts []string
	if host.IsValid() {
		parts = append(parts, host.String())
	}
	for _, n := range p.Binds {
		parts = append(parts, n.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// AllowsBindPort reports whether bind may take port.
func (p *Policy) AllowsBindPort(port uint16) bool {
	if port == 0 {
		return true
	}
	for _, r := range p.Ports {
		if port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

// NetworksString lists the allowed networks for messages: "127.0.0.0/8, ::1/128".
func (p *Policy) NetworksString() string {
	parts := make([]string, len(p.Networks))
	for i, n := range p.Networks {
		parts[i] = n.String()
	}
	return strings.Join(parts, ", ")
}

// PortsString lists the allowed bind ports for messages: "1024-65535".
func (p *Policy) PortsString() string {
	parts := make([]string, len(p.Ports))
	for i, r := range p.Ports {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Lease clamps a requested lease (0: the default) to the policy's bounds.
func (p *Policy) Lease(asked time.Duration) time.Duration {
	if asked <= 0 {
		return p.DefaultLease
	}
	return min(max(asked, p.MinLease), p.MaxLease)
}

// PayloadCap clamps a requested payload cap (0: the default) to the policy's bound.
func (p *Policy) PayloadCap(asked int) int {
	if asked <= 0 {
		return p.DefaultPayloadCap
	}
	return min(asked, p.MaxPayloadCap)
}
