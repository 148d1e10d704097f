package kernel

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/netns"
)

// privateNet returns a random 127.R.S.0/24 for a test's sockets, so that its queries
// see none of anyone else's.
func privateNet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(150)), byte(rand.IntN(256)), 0}), 24)
}

// hostIn returns address i of network n (a /24).
func hostIn(n netip.Prefix, i byte) netip.Addr {
	b := n.Addr().As4()
	b[3] = i
	return netip.AddrFrom4(b)
}

// tcpPair returns both ends of a TCP connection from client to a new listener on server.
func tcpPair(t testing.TB, server, client netip.Addr) (lis net.Listener, cli, srv *net.TCPConn) {
	t.Helper()
	lis, err := net.Listen("tcp", netip.AddrPortFrom(server, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0))}
	c, err := d.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return lis, c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestDiagMatchesProc: for sockets in every state a lab meets (listening with a
// connection waiting, established with bytes queued both ways, CLOSE_WAIT and its
// FIN_WAIT2, TIME_WAIT, UDP bound and connected with a datagram waiting, IPv6 with
// IPv4-mapped addresses), the sock_diag reader and the /proc reader give the same rows
// in the same order, for each kind of filter and their combinations.
func TestDiagMatchesProc(t *testing.T) {
	n := privateNet()
	a1, a2, a3 := hostIn(n, 1), hostIn(n, 2), hostIn(n, 3)

	lis, cli, srv := tcpPair(t, a1, a2) // established, then bytes queued both ways
	port := uint16(lis.Addr().(*net.TCPAddr).Port)
	waiting, err := net.Dial("tcp", lis.Addr().String()) // one waits to be accepted
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	block := make([]byte, 1<<20)
	for _, c := range []*net.TCPConn{cli, srv} {
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			if _, err := c.Write(block); err != nil {
				break
			}
		}
	}
	_, cwCli, _ := tcpPair(t, a1, a3) // a3's end closes: CLOSE_WAIT and FIN_WAIT2
	cwCli.Close()
	twLis, twCli, twSrv := tcpPair(t, a3, a2) // a2 closes first: its end waits in TIME_WAIT
	twPort := uint16(twLis.Addr().(*net.TCPAddr).Port)
	twCli.Close()
	twSrv.Read(make([]byte, 1))
	twSrv.Close()

	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpConn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a2, 0)), udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer udpConn.Close()
	udpConn.Write([]byte("queued"))

	// An IPv6 socket on an IPv4-mapped address, listening: a tcp6 row with 127.R.S.3.
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mapped := unix.SockaddrInet6{Addr: netip.AddrFrom16(a3.As16()).As16()}
	if err := unix.Bind(fd, &mapped); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 3); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	v6Port := uint16(sa.(*unix.SockaddrInet6).Port)

	// The states settle within moments: wait for the TIME_WAIT, and for the closed end
	// to have its FIN acknowledged (FIN_WAIT1 to FIN_WAIT2).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tw, _ := procSockets(Filter{Net: n, State: "TIME_WAIT"})
		fw, _ := procSockets(Filter{Net: n, State: "FIN_WAIT1"})
		if len(tw) > 0 && len(fw) == 0 || time.Now().After(deadline) {
			break
		}
	}

	filters := []Filter{
		{Net: n},
		{Net: n, Protocol: "tcp"},
		{Net: n, Protocol: "udp"},
		{Port: port},
		{Port: port, Host: a1},
		{Port: port, State: "LISTEN"},
		{Port: twPort, State: "time-wait", Host: a2},
		{Port: v6Port, Protocol: "tcp"},
		{Host: a3},
		{Host: a3, State: "LISTEN"},
		{Host: a2, Protocol: "udp"},
		{Net: n, State: "ESTAB"},
		{Net: n, State: "CLOSE_WAIT"},
		{Net: n, State: "FIN_WAIT2"},
		{Net: n, State: "TIME_WAIT"},
		{Net: n, State: "UNCONN"},
		{Net: n, State: "SYN_RECV"},
		{Net: n, State: "NEW_SYN_RECV"},
		{Net: n, State: "NO_SUCH_STATE"},
		{Net: n, Host: a1, Port: port, State: "ESTABLISHED", Protocol: "tcp"},
		{Net: netip.MustParsePrefix("127.0.0.0/8"), Port: port},
		{Host: netip.MustParseAddr("::ffff:" + a3.String())},
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			d, p := bothReads(t, f)
			if !slices.Equal(d, p) {
				t.Errorf("diagSockets = %v,\nwant procSockets' %v", d, p)
			}
		})
	}
	// What a filter keeps, to know the comparisons above saw something.
	for _, want := range []struct {
		f    Filter
		rows int
	}{
		{Filter{Net: n}, 13},
		{Filter{Net: n, State: "TIME_WAIT"}, 1},
		{Filter{Net: n, State: "CLOSE_WAIT"}, 1},
		{Filter{Port: port, Host: a1, State: "LISTEN"}, 1},
		{Filter{Net: n, Protocol: "udp"}, 2},
	} {
		if rows, _ := diagSockets(want.f); len(rows) != want.rows {
			t.Errorf("diagSockets(%+v) = %d rows %v, want %d", want.f, len(rows), rows, want.rows)
		}
	}
	// The unfiltered table, restricted here, is the same too.
	ours := func(rows []Socket) []Socket {
		return slices.DeleteFunc(rows, func(s Socket) bool { return !(Filter{Net: n}).match(s) })
	}
	d, p := bothReads(t, Filter{})
	if d, p := ours(d), ours(p); !slices.Equal(d, p) {
		t.Errorf("unfiltered, this test's rows: diag %v,\nproc %v", d, p)
	}
}

// bothReads reads f's rows through sock_diag and through /proc. A socket may change
// between two reads (a queue drains, a state moves on), so it reads sock_diag again
// after /proc, and reads all three again (at most 5 times) while the two sock_diag
// reads differ: a difference seen while the table held still is the readers'.
func bothReads(t *testing.T, f Filter) (diag, proc []Socket) {
	t.Helper()
	for range 5 {
		d, err := diagSockets(f)
		if err != nil {
			t.Fatalf("diagSockets: %v", err)
		}
		p, err := procSockets(f)
		if err != nil {
			t.Fatalf("procSockets: %v", err)
		}
		again, err := diagSockets(f)
		if err != nil {
			t.Fatalf("diagSockets: %v", err)
		}
		diag, proc = d, p
		if slices.Equal(d, again) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return diag, proc
}

// newNetns makes a network namespace, inside parent (nil: this process's), with its
// loopback up, for as long as the test runs.
func newNetns(tb testing.TB, parent *netns.Namespace) *netns.Namespace {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("making a network namespace needs root (CI runs as root)")
	}
	unshare := func() (*netns.Namespace, error) {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return nil, fmt.Errorf("unshare: %w", err)
		}
		return netns.Open("/proc/thread-self/ns/net")
	}
	var ns *netns.Namespace
	var err error
	if parent != nil {
		err = parent.Do(func() (err error) { ns, err = unshare(); return err }) // Do brings the thread back
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // never unlocked: the thread, in the new namespace, ends with the goroutine
			ns, err = unshare()
		}()
		<-done
	}
	if err != nil {
		tb.Skipf("no network namespace: %v", err)
	}
	tb.Cleanup(func() { ns.Close() })
	if err := ns.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		tb.Fatalf("loopback up: %v", err)
	}
	return ns
}

// TestSocketsInNamespace: called inside a network namespace, Sockets reads that
// namespace's table (its netlink socket is made there), and outside it, the process's.
func TestSocketsInNamespace(t *testing.T) {
	ns := newNetns(t, nil)
	var lis net.Listener
	if err := ns.Do(func() error {
		var err error
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	f := Filter{Port: uint16(lis.Addr().(*net.TCPAddr).Port), State: "LISTEN", Host: netip.MustParseAddr("127.0.0.1")}
	var inside []Socket
	if err := ns.Do(func() error {
		var err error
		inside, err = diagSockets(f)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(inside) != 1 {
		t.Errorf("diagSockets inside the namespace = %v, want its listener", inside)
	}
	if outside, err := diagSockets(f); err != nil || len(outside) != 0 {
		t.Errorf("diagSockets outside the namespace = %v, %v; want no rows (the listener is not here)", outside, err)
	}
}

// BenchmarkSocketsFiltered times two filtered queries, each finding one row, in two
// fresh network namespaces: one whose table holds only the few sockets they find, one
// that also holds 30,000 TIME_WAITs of other ports on the same 127.x network. The
// queries: time-wait, ss(port = P, state = "TIME_WAIT", host = H) as addr-reuse asks it;
// listen, ss(port = P, state = "LISTEN", host = H) as "is the program listening?" does.
// Each reader (proc: /proc/net, every row printed and parsed; diag: sock_diag, filtered
// in the kernel) reports the medians in both namespaces and their ratio (full / empty):
// 1 would be a cost independent of the table's size. The two namespaces are queried
// alternately, call by call. It needs root.
func BenchmarkSocketsFiltered(b *testing.B) {
	const others = 30_000
	// Namespaces share the host's table of connections unless made where
	// tcp_child_ehash_entries is set: each then has its own, and the empty one's is empty.
	parent := newNetns(b, nil)
	if err := parent.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/tcp_child_ehash_entries", []byte("262144"), 0)
	}); err != nil {
		b.Logf("the namespaces share the host's table (%v): the empty one walks past the other's sockets", err)
	}
	empty, full := newNetns(b, parent), newNetns(b, parent)
	n := netip.MustParsePrefix("127.77.0.0/24")
	srvIP, cliIP := hostIn(n, 1), hostIn(n, 2)
	queries := []struct {
		name string
		f    Filter
	}{
		{"time-wait", Filter{Port: 8080, State: "TIME_WAIT", Host: cliIP}},
		{"listen", Filter{Port: 9090, State: "LISTEN", Host: srvIP}},
	}
	for i, ns := range []*netns.Namespace{empty, full} {
		if err := ns.Do(func() error {
			// The rows the queries find: a listener on port 9090, and one TIME_WAIT
			// of a connection to port 8080.
			l, err := net.Listen("tcp", netip.AddrPortFrom(srvIP, 9090).String())
			if err != nil {
				return err
			}
			b.Cleanup(func() { l.Close() })
			if err := timeWaits(srvIP, cliIP, []uint16{8080}, 1); err != nil || i == 0 {
				return err
			}
			// tcp_tw_reuse would let a new connection take a TIME_WAIT's port, and one
			// client address needs more than the default range's 28,000.
			for knob, v := range map[string]string{"tcp_tw_reuse": "0", "ip_local_port_range": "1024 65535"} {
				if err := os.WriteFile("/proc/sys/net/ipv4/"+knob, []byte(v), 0); err != nil {
					return err
				}
			}
			return timeWaits(srvIP, cliIP, make([]uint16, 4), others)
		}); err != nil {
			b.Fatalf("set up: %v", err)
		}
	}
	var tw []Socket
	full.Do(func() (err error) { tw, err = diagSockets(Filter{State: "TIME_WAIT"}); return err })
	for _, q := range queries {
		for _, r := range []struct {
			name string
			read func(Filter) ([]Socket, error)
		}{{"proc", procSockets}, {"diag", diagSockets}} {
			b.Run(q.name+"/"+r.name, func(b *testing.B) {
				query := func(ns *netns.Namespace) time.Duration {
					var d time.Duration
					if err := ns.Do(func() error {
						start := time.Now()
						rows, err := r.read(q.f)
						d = time.Since(start)
						if err == nil && len(rows) != 1 {
							err = fmt.Errorf("%d rows, want 1", len(rows))
						}
						return err
					}); err != nil {
						b.Fatalf("%s: %v", r.name, err)
					}
					return d
				}
				var es, fs []time.Duration
				i := 0
				for b.Loop() {
					if i%2 == 0 {
						es, fs = append(es, query(empty)), append(fs, query(full))
					} else {
						fs, es = append(fs, query(full)), append(es, query(empty))
					}
					i++
				}
				slices.Sort(es)
				slices.Sort(fs)
				e, fu := es[len(es)/2], fs[len(fs)/2]
				b.ReportMetric(float64(e.Microseconds()), "empty-us")
				b.ReportMetric(float64(fu.Microseconds()), "full-us")
				b.ReportMetric(float64(fu)/float64(e), "ratio")
				b.ReportMetric(float64(len(tw)), "time-waits")
			})
		}
	}
}

// timeWaits leaves count connections from client to server in TIME_WAIT (the client
// closes first), spread over new listeners on ports (0: any). It must run in the
// namespace, as its sockets are made on the calling thread.
func timeWaits(server, client netip.Addr, ports []uint16, count int) error {
	var liss []net.Listener
	defer func() {
		for _, l := range liss {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", netip.AddrPortFrom(server, p).String())
		if err != nil {
			return err
		}
		liss = append(liss, l)
		go func() { // answer each close with the server's own
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					c.Read(make([]byte, 1))
					c.Close()
				}()
			}
		}()
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0))}
	for i := range count {
		c, err := d.Dial("tcp", liss[i%len(liss)].Addr().String())
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		c.Close()
	}
	// Wait for the last ones to settle.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rows, err := diagSockets(Filter{Host: client, State: "TIME_WAIT"})
		if err == nil && len(rows) >= count {
			break
		}
	}
	return nil
}
