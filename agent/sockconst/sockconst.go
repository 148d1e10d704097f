// Package sockconst is the one table of socket constants: the names of Python's socket
// module with their Linux values. The agent's option table, the names a lab sees and the
// names a transcript prints are all derived from it, so a constant is declared once.
//
// The values are Linux's whatever the build platform: agents run on Linux, and a
// controller on another system must still print and send Linux's numbers.
package sockconst

import (
	"fmt"
	"sort"
	"strings"
)

// Kind says what a constant names.
type Kind int

// The kinds of constants.
const (
	// Family is an address family (AF_INET).
	Family Kind = iota + 1
	// Type is a socket type (SOCK_STREAM).
	Type
	// Level is a socket option level (SOL_SOCKET, IPPROTO_TCP).
	Level
	// Option is a socket option at a level (SO_REUSEADDR at SOL_SOCKET).
	Option
	// MsgFlag is a send or recv flag bit (MSG_PEEK).
	MsgFlag
	// Shut is a shutdown direction (SHUT_WR).
	Shut
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Family:
		return "family"
	case Type:
		return "type"
	case Level:
		return "level"
	case Option:
		return "option"
	case MsgFlag:
		return "flag"
	case Shut:
		return "shutdown direction"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Const is one named constant.
type Const struct {
	// Name is the constant's name in Python's socket module ("SO_REUSEADDR").
	Name string
	// Value is its value on Linux.
	Value int
	// Kind says what it names.
	Kind Kind
	// Level is an option's level (Option only).
	Level int
	// ReadOnly marks an option that can be read but not set (SO_ERROR).
	ReadOnly bool
	// Struct marks an option whose value is a C struct passed as bytes (SO_LINGER).
	Struct bool
}

// Linux's option levels.
const (
	SolSocket   = 1
	IPProtoIP   = 0
	IPProtoTCP  = 6
	IPProtoUDP  = 17
	IPProtoIPv6 = 41
)

// table holds every constant. The options are those a session may use: the everyday ones
// of Python's socket module on Linux for AF_INET, AF_INET6 and AF_UNIX. Options that would
// let a session escape the agent's policy or need privileges (SO_BINDTODEVICE, SO_MARK,
// IP_TRANSPARENT, ...) are deliberately absent.
var table = []Const{
	{Name: "AF_UNIX", Value: 1, Kind: Family},
	{Name: "AF_INET", Value: 2, Kind: Family},
	{Name: "AF_INET6", Value: 10, Kind: Family},

	{Name: "SOCK_STREAM", Value: 1, Kind: Type},
	{Name: "SOCK_DGRAM", Value: 2, Kind: Type},

	{Name: "IPPROTO_IP", Value: IPProtoIP, Kind: Level},
	{Name: "SOL_SOCKET", Value: SolSocket, Kind: Level},
	{Name: "IPPROTO_TCP", Value: IPProtoTCP, Kind: Level},
	{Name: "IPPROTO_UDP", Value: IPProtoUDP, Kind: Level},
	{Name: "IPPROTO_IPV6", Value: IPProtoIPv6, Kind: Level},

	{Name: "SO_REUSEADDR", Value: 2, Kind: Option, Level: SolSocket},
	{Name: "SO_REUSEPORT", Value: 15, Kind: Option, Level: SolSocket},
	{Name: "SO_KEEPALIVE", Value: 9, Kind: Option, Level: SolSocket},
	{Name: "SO_BROADCAST", Value: 6, Kind: Option, Level: SolSocket},
	{Name: "SO_RCVBUF", Value: 8, Kind: Option, Level: SolSocket},
	{Name: "SO_SNDBUF", Value: 7, Kind: Option, Level: SolSocket},
	{Name: "SO_RCVLOWAT", Value: 18, Kind: Option, Level: SolSocket},
	{Name: "SO_SNDLOWAT", Value: 19, Kind: Option, Level: SolSocket},
	{Name: "SO_OOBINLINE", Value: 10, Kind: Option, Level: SolSocket},
	{Name: "SO_DONTROUTE", Value: 5, Kind: Option, Level: SolSocket},
	{Name: "SO_LINGER", Value: 13, Kind: Option, Level: SolSocket, Struct: true},
	{Name: "SO_RCVTIMEO", Value: 20, Kind: Option, Level: SolSocket, Struct: true},
	{Name: "SO_SNDTIMEO", Value: 21, Kind: Option, Level: SolSocket, Struct: true},
	{Name: "SO_ERROR", Value: 4, Kind: Option, Level: SolSocket, ReadOnly: true},
	{Name: "SO_TYPE", Value: 3, Kind: Option, Level: SolSocket, ReadOnly: true},
	{Name: "SO_ACCEPTCONN", Value: 30, Kind: Option, Level: SolSocket, ReadOnly: true},
	{Name: "SO_DOMAIN", Value: 39, Kind: Option, Level: SolSocket, ReadOnly: true},
	{Name: "SO_PROTOCOL", Value: 38, Kind: Option, Level: SolSocket, ReadOnly: true},

	{Name: "TCP_NODELAY", Value: 1, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_MAXSEG", Value: 2, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_CORK", Value: 3, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_KEEPIDLE", Value: 4, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_KEEPINTVL", Value: 5, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_KEEPCNT", Value: 6, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_LINGER2", Value: 8, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_DEFER_ACCEPT", Value: 9, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_QUICKACK", Value: 12, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_USER_TIMEOUT", Value: 18, Kind: Option, Level: IPProtoTCP},
	{Name: "TCP_FASTOPEN", Value: 23, Kind: Option, Level: IPProtoTCP},

	{Name: "IP_TOS", Value: 1, Kind: Option, Level: IPProtoIP},
	{Name: "IP_TTL", Value: 2, Kind: Option, Level: IPProtoIP},
	{Name: "IP_RECVTOS", Value: 13, Kind: Option, Level: IPProtoIP},
	{Name: "IP_MULTICAST_TTL", Value: 33, Kind: Option, Level: IPProtoIP},
	{Name: "IP_MULTICAST_LOOP", Value: 34, Kind: Option, Level: IPProtoIP},

	{Name: "IPV6_UNICAST_HOPS", Value: 16, Kind: Option, Level: IPProtoIPv6},
	{Name: "IPV6_V6ONLY", Value: 26, Kind: Option, Level: IPProtoIPv6},
	{Name: "IPV6_TCLASS", Value: 67, Kind: Option, Level: IPProtoIPv6},

	{Name: "MSG_OOB", Value: 0x1, Kind: MsgFlag},
	{Name: "MSG_PEEK", Value: 0x2, Kind: MsgFlag},
	{Name: "MSG_DONTWAIT", Value: 0x40, Kind: MsgFlag},
	{Name: "MSG_WAITALL", Value: 0x100, Kind: MsgFlag},
	{Name: "MSG_NOSIGNAL", Value: 0x4000, Kind: MsgFlag},
	{Name: "MSG_MORE", Value: 0x8000, Kind: MsgFlag},

	{Name: "SHUT_RD", Value: 0, Kind: Shut},
	{Name: "SHUT_WR", Value: 1, Kind: Shut},
	{Name: "SHUT_RDWR", Value: 2, Kind: Shut},
}

var byName = func() map[string]Const {
	m := make(map[string]Const, len(table))
	for _, c := range table {
		if _, dup := m[c.Name]; dup {
			panic("sockconst: " + c.Name + " declared twice")
		}
		m[c.Name] = c
	}
	return m
}()

// All returns every constant, in declaration order.
func All() []Const { return append([]Const(nil), table...) }

// OfKind returns the constants of kind k, in declaration order.
func OfKind(k Kind) []Const {
	var out []Const
	for _, c := range table {
		if c.Kind == k {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the constant named name ("SO_REUSEADDR").
func Lookup(name string) (Const, bool) {
	c, ok := byName[name]
	return c, ok
}

// LookupOption returns the option at level with number name, if sessions may use it.
func LookupOption(level, name int) (Const, bool) {
	for _, c := range table {
		if c.Kind == Option && c.Level == level && c.Value == name {
			return c, true
		}
	}
	return Const{}, false
}

// Name returns the name of the constant of kind k (not MsgFlag or Option) with value v,
// or v in decimal when none has it.
func Name(k Kind, v int) string {
	for _, c := range table {
		if c.Kind == k && c.Value == v {
			return c.Name
		}
	}
	return fmt.Sprint(v)
}

// OptionName returns the name of the option at level with number name, or the number.
func OptionName(level, name int) string {
	if c, ok := LookupOption(level, name); ok {
		return c.Name
	}
	return fmt.Sprint(name)
}

// Flags returns a set of MSG_* bits as Python code writes them, in ascending bit order:
// "MSG_PEEK|MSG_WAITALL"; bits without a name follow in hex; 0 gives "".
func Flags(bits int) string {
	flags := OfKind(MsgFlag)
	sort.Slice(flags, func(i, j int) bool { return flags[i].Value < flags[j].Value })
	var parts []string
	for _, f := range flags {
		if bits&f.Value != 0 {
			parts = append(parts, f.Name)
			bits &^= f.Value
		}
	}
	if bits != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(bits)))
	}
	return strings.Join(parts, "|")
}
