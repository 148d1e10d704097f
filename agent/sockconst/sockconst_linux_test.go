package sockconst_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/sockconst"
)

// TestValuesAreLinux: every constant has the value Linux's headers give it.
func TestValuesAreLinux(t *testing.T) {
	linux := map[string]int{
		"AF_UNIX": unix.AF_UNIX, "AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6,
		"SOCK_STREAM": unix.SOCK_STREAM, "SOCK_DGRAM": unix.SOCK_DGRAM,
		"IPPROTO_IP": unix.IPPROTO_IP, "SOL_SOCKET": unix.SOL_SOCKET, "IPPROTO_TCP": unix.IPPROTO_TCP,
		"IPPROTO_UDP": unix.IPPROTO_UDP, "IPPROTO_IPV6": unix.IPPROTO_IPV6,
		"SO_REUSEADDR": unix.SO_REUSEADDR, "SO_REUSEPORT": unix.SO_REUSEPORT, "SO_KEEPALIVE": unix.SO_KEEPALIVE,
		"SO_BROADCAST": unix.SO_BROADCAST, "SO_RCVBUF": unix.SO_RCVBUF, "SO_SNDBUF": unix.SO_SNDBUF,
		"SO_RCVLOWAT": unix.SO_RCVLOWAT, "SO_SNDLOWAT": unix.SO_SNDLOWAT, "SO_OOBINLINE": unix.SO_OOBINLINE,
		"SO_DONTROUTE": unix.SO_DONTROUTE, "SO_LINGER": unix.SO_LINGER, "SO_RCVTIMEO": unix.SO_RCVTIMEO,
		"SO_SNDTIMEO": unix.SO_SNDTIMEO, "SO_ERROR": unix.SO_ERROR, "SO_TYPE": unix.SO_TYPE,
		"SO_ACCEPTCONN": unix.SO_ACCEPTCONN, "SO_DOMAIN": unix.SO_DOMAIN, "SO_PROTOCOL": unix.SO_PROTOCOL,
		"TCP_NODELAY": unix.TCP_NODELAY, "TCP_MAXSEG": unix.TCP_MAXSEG, "TCP_CORK": unix.TCP_CORK,
		"TCP_KEEPIDLE": unix.TCP_KEEPIDLE, "TCP_KEEPINTVL": unix.TCP_KEEPINTVL, "TCP_KEEPCNT": unix.TCP_KEEPCNT,
		"TCP_LINGER2": unix.TCP_LINGER2, "TCP_DEFER_ACCEPT": unix.TCP_DEFER_ACCEPT, "TCP_QUICKACK": unix.TCP_QUICKACK,
		"TCP_USER_TIMEOUT": unix.TCP_USER_TIMEOUT, "TCP_FASTOPEN": unix.TCP_FASTOPEN,
		"IP_TOS": unix.IP_TOS, "IP_TTL": unix.IP_TTL, "IP_RECVTOS": unix.IP_RECVTOS,
		"IP_MULTICAST_TTL": unix.IP_MULTICAST_TTL, "IP_MULTICAST_LOOP": unix.IP_MULTICAST_LOOP,
		"IPV6_UNICAST_HOPS": unix.IPV6_UNICAST_HOPS, "IPV6_V6ONLY": unix.IPV6_V6ONLY, "IPV6_TCLASS": unix.IPV6_TCLASS,
		"MSG_OOB": unix.MSG_OOB, "MSG_PEEK": unix.MSG_PEEK, "MSG_DONTWAIT": unix.MSG_DONTWAIT,
		"MSG_WAITALL": unix.MSG_WAITALL, "MSG_NOSIGNAL": unix.MSG_NOSIGNAL, "MSG_MORE": unix.MSG_MORE,
		"SHUT_RD": unix.SHUT_RD, "SHUT_WR": unix.SHUT_WR, "SHUT_RDWR": unix.SHUT_RDWR,
	}
	all := sockconst.All()
	if len(all) != len(linux) {
		t.Errorf("the table has %d constants, this test knows %d: add the new ones here", len(all), len(linux))
	}
	for _, c := range all {
		want, ok := linux[c.Name]
		if !ok {
			t.Errorf("%s: not checked against Linux's value", c.Name)
			continue
		}
		if c.Value != want {
			t.Errorf("%s = %d, Linux has %d", c.Name, c.Value, want)
		}
		if c.Kind == sockconst.Option {
			if _, ok := sockconst.LookupOption(c.Level, c.Value); !ok {
				t.Errorf("LookupOption(%d, %d) does not find %s", c.Level, c.Value, c.Name)
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{sockconst.Flags(0), ""},
		{sockconst.Flags(0x2 | 0x100), "MSG_PEEK|MSG_WAITALL"},
		{sockconst.Flags(0x2 | 0x10000), "MSG_PEEK|0x10000"},
		{sockconst.Name(sockconst.Family, 10), "AF_INET6"},
		{sockconst.Name(sockconst.Level, 6), "IPPROTO_TCP"},
		{sockconst.Name(sockconst.Level, 99), "99"},
		{sockconst.Name(sockconst.Shut, 1), "SHUT_WR"},
		{sockconst.OptionName(1, 2), "SO_REUSEADDR"},
		{sockconst.OptionName(6, 2), "TCP_MAXSEG"},
		{sockconst.OptionName(6, 200), "200"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
