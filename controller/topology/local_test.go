package topology

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/kernel"
)

// TestFreshNetworkPassesOverUsed: a network that a socket of this host uses (bound
// there, listening, a TIME_WAIT left there, or only as its peer's address), offered
// first by the chooser's randomness, is passed over for the next one, which is free.
func TestFreshNetworkPassesOverUsed(t *testing.T) {
	free := func() [2]byte { // a network no socket uses, to occupy
		for {
			n, err := randomNetwork()
			if err != nil {
				t.Fatal(err)
			}
			if rows, _ := kernel.Sockets(kernel.Filter{Net: localNetwork(n)}); len(rows) == 0 {
				return n
			}
		}
	}
	at := func(n [2]byte, i byte) netip.Addr { return netip.AddrFrom4([4]byte{127, n[0], n[1], i}) }
	for _, tc := range []struct {
		name   string
		occupy func(t *testing.T, n [2]byte)
	}{
		{"udp bound", func(t *testing.T, n [2]byte) {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(at(n, 200), 0)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}},
		{"tcp listening", func(t *testing.T, n [2]byte) {
			l, err := net.Listen("tcp", netip.AddrPortFrom(at(n, 7), 0).String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}},
		{"tcp time-wait", func(t *testing.T, n [2]byte) {
			l, err := net.Listen("tcp", netip.AddrPortFrom(at(n, 2), 0).String())
			if err != nil {
				t.Fatal(err)
			}
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(at(n, 3), 0))}
			c, err := d.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.Close() // the client closes first: its end waits in TIME_WAIT
			s.Read(make([]byte, 1))
			s.Close()
			l.Close()
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				rows, _ := kernel.Sockets(kernel.Filter{Net: localNetwork(n)})
				if len(rows) == 1 && rows[0].State == "TIME_WAIT" {
					return
				}
			}
			t.Fatal("no lone TIME_WAIT within 5 s")
		}},
		{"peer only", func(t *testing.T, n [2]byte) {
			// A UDP socket of 127.0.0.1 connected to an address in n: nothing is bound
			// in n, but a socket's peer is there.
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")), net.UDPAddrFromAddrPort(netip.AddrPortFrom(at(n, 9), 9)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			used, want := free(), free()
			tc.occupy(t, used)
			offers := [][2]byte{used, want}
			got, err := freshNetwork(func() ([2]byte, error) {
				n := offers[0]
				if len(offers) > 1 {
					offers = offers[1:]
				}
				return n, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("freshNetwork = 127.%d.%d.0/24, want the free 127.%d.%d.0/24 after the used 127.%d.%d.0/24", got[0], got[1], want[0], want[1], used[0], used[1])
			}
		})
	}
	// Offered only used networks, it gives up, saying so.
	used := free()
	l, err := net.Listen("tcp", netip.AddrPortFrom(at(used, 2), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, err := freshNetwork(func() ([2]byte, error) { return used, nil }); err == nil {
		t.Errorf("freshNetwork offered only a used network = 127.%d.%d.0/24, want an error", n[0], n[1])
	}
}
