package client_test

import (
	"testing"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/sockconst"
)

// TestConstantsAreSockconst: the constants the client offers for building requests have
// the values of the one table of socket constants.
func TestConstantsAreSockconst(t *testing.T) {
	for name, v := range map[string]int{
		"SOL_SOCKET": client.SOL_SOCKET, "IPPROTO_IP": client.IPPROTO_IP, "IPPROTO_TCP": client.IPPROTO_TCP,
		"SO_REUSEADDR": client.SO_REUSEADDR, "SO_TYPE": client.SO_TYPE, "SO_ERROR": client.SO_ERROR,
		"SO_BROADCAST": client.SO_BROADCAST, "SO_SNDBUF": client.SO_SNDBUF, "SO_RCVBUF": client.SO_RCVBUF,
		"SO_KEEPALIVE": client.SO_KEEPALIVE, "SO_LINGER": client.SO_LINGER, "TCP_NODELAY": client.TCP_NODELAY,
		"IP_TTL": client.IP_TTL, "MSG_OOB": client.MSG_OOB, "MSG_PEEK": client.MSG_PEEK,
		"MSG_DONTWAIT": client.MSG_DONTWAIT, "MSG_WAITALL": client.MSG_WAITALL,
	} {
		c, ok := sockconst.Lookup(name)
		if !ok || c.Value != v {
			t.Errorf("client.%s = %d; sockconst has %v (found %v)", name, v, c.Value, ok)
		}
	}
}
