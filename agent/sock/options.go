package sock

import "golang.org/x/sys/unix"

// Option describes a socket option the agent lets sessions read and write.
type Option struct {
	// Level is the option's level (unix.SOL_SOCKET, unix.IPPROTO_TCP, ...).
	Level int
	// Name is the option's number at its level.
	Name int
	// Symbol is the option's name as Python spells it ("SO_REUSEADDR").
	Symbol string
	// ReadOnly marks options that can be read but not set (SO_ERROR, SO_TYPE).
	ReadOnly bool
	// Struct marks options whose value is a C struct passed as bytes (SO_LINGER).
	Struct bool
}

// options lists the options a session may use: the everyday ones of Python's socket module
// on Linux for AF_INET, AF_INET6 and AF_UNIX. Options that would let a session escape the agent's policy or
// need privileges (SO_BINDTODEVICE, SO_MARK, IP_TRANSPARENT, ...) are deliberately absent.
var options = []Option{
	{Level: unix.SOL_SOCKET, Name: unix.SO_REUSEADDR, Symbol: "SO_REUSEADDR"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_REUSEPORT, Symbol: "SO_REUSEPORT"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_KEEPALIVE, Symbol: "SO_KEEPALIVE"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_BROADCAST, Symbol: "SO_BROADCAST"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_RCVBUF, Symbol: "SO_RCVBUF"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_SNDBUF, Symbol: "SO_SNDBUF"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_RCVLOWAT, Symbol: "SO_RCVLOWAT"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_SNDLOWAT, Symbol: "SO_SNDLOWAT"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_OOBINLINE, Symbol: "SO_OOBINLINE"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_DONTROUTE, Symbol: "SO_DONTROUTE"},
	{Level: unix.SOL_SOCKET, Name: unix.SO_LINGER, Symbol: "SO_LINGER", Struct: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_RCVTIMEO, Symbol: "SO_RCVTIMEO", Struct: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_SNDTIMEO, Symbol: "SO_SNDTIMEO", Struct: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_ERROR, Symbol: "SO_ERROR", ReadOnly: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_TYPE, Symbol: "SO_TYPE", ReadOnly: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_ACCEPTCONN, Symbol: "SO_ACCEPTCONN", ReadOnly: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_DOMAIN, Symbol: "SO_DOMAIN", ReadOnly: true},
	{Level: unix.SOL_SOCKET, Name: unix.SO_PROTOCOL, Symbol: "SO_PROTOCOL", ReadOnly: true},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_NODELAY, Symbol: "TCP_NODELAY"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_MAXSEG, Symbol: "TCP_MAXSEG"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_CORK, Symbol: "TCP_CORK"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_KEEPIDLE, Symbol: "TCP_KEEPIDLE"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_KEEPINTVL, Symbol: "TCP_KEEPINTVL"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_KEEPCNT, Symbol: "TCP_KEEPCNT"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_QUICKACK, Symbol: "TCP_QUICKACK"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_USER_TIMEOUT, Symbol: "TCP_USER_TIMEOUT"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_LINGER2, Symbol: "TCP_LINGER2"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_DEFER_ACCEPT, Symbol: "TCP_DEFER_ACCEPT"},
	{Level: unix.IPPROTO_TCP, Name: unix.TCP_FASTOPEN, Symbol: "TCP_FASTOPEN"},
	{Level: unix.IPPROTO_IP, Name: unix.IP_TTL, Symbol: "IP_TTL"},
	{Level: unix.IPPROTO_IP, Name: unix.IP_TOS, Symbol: "IP_TOS"},
	{Level: unix.IPPROTO_IP, Name: unix.IP_RECVTOS, Symbol: "IP_RECVTOS"},
	{Level: unix.IPPROTO_IP, Name: unix.IP_MULTICAST_TTL, Symbol: "IP_MULTICAST_TTL"},
	{Level: unix.IPPROTO_IP, Name: unix.IP_MULTICAST_LOOP, Symbol: "IP_MULTICAST_LOOP"},
	{Level: unix.IPPROTO_IPV6, Name: unix.IPV6_V6ONLY, Symbol: "IPV6_V6ONLY"},
	{Level: unix.IPPROTO_IPV6, Name: unix.IPV6_UNICAST_HOPS, Symbol: "IPV6_UNICAST_HOPS"},
	{Level: unix.IPPROTO_IPV6, Name: unix.IPV6_TCLASS, Symbol: "IPV6_TCLASS"},
}

// LookupOption returns the option at level and name, if sessions may use it.
func LookupOption(level, name int) (Option, bool) {
	for _, o := range options {
		if o.Level == level && o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Options returns every option sessions may use.
func Options() []Option { return append([]Option(nil), options...) }
