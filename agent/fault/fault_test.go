package fault_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/socklab/socklab/agent/fault"
	"github.com/socklab/socklab/agent/netns"
)

const skipNotRoot = "link faults need root: the tests make network namespaces, veth pairs, nftables tables and qdiscs (CI runs as root)"

// nsPrefix starts the names of the namespaces this test process makes, so that the
// end of the run can count that none is left.
var nsPrefix = fmt.Sprintf("sockfault%d-", os.Getpid())

func TestMain(m *testing.M) {
	code := m.Run()
	if left := leftNamespaces(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "network namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// leftNamespaces returns the named namespaces of this process still mounted.
func leftNamespaces() []string {
	entries, _ := os.ReadDir("/run/netns")
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), nsPrefix) {
			left = append(left, e.Name())
		}
	}
	return left
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(skipNotRoot)
	}
}

// lab is two namespaces joined by a veth pair: host (10.250.N.1 on fh0), where the
// faults are set, and peer (10.250.N.2 on fp0).
type lab struct {
	t                  testing.TB
	host, peer         *netns.Namespace
	hostAddr, peerAddr netip.Addr
	hostIf             string
}

var labSeq atomic.Int32

func newLab(t testing.TB) *lab {
	t.Helper()
	needRoot(t)
	n := labSeq.Add(1)
	names := [2]string{fmt.Sprintf("%s%dh", nsPrefix, n), fmt.Sprintf("%s%dp", nsPrefix, n)}
	l := &lab{
		t:        t,
		hostAddr: netip.AddrFrom4([4]byte{10, 250, byte(n), 1}),
		peerAddr: netip.AddrFrom4([4]byte{10, 250, byte(n), 2}),
		hostIf:   "fh0",
	}
	handles, err := makeNamespaces(names)
	for _, name := range names {
		t.Cleanup(func() {
			if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
				if err := vnetns.DeleteNamed(name); err != nil {
					t.Errorf("delete namespace %s: %v", name, err)
				}
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer handles[0].Close()
	defer handles[1].Close()

	h, err := netlink.NewHandleAt(handles[0])
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p, err := netlink.NewHandleAt(handles[1])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "fh0"},
		PeerName:      "fp0",
		PeerNamespace: netlink.NsFd(handles[1]),
	}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("veth pair: %v", err)
	}
	hostLink, err := h.LinkByName("fh0")
	if err != nil {
		t.Fatal(err)
	}
	peerLink, err := p.LinkByName("fp0")
	if err != nil {
		t.Fatal(err)
	}
	// Each side knows the other's link address from the start: no ARP, whose first
	// request may go before the pair is up and be tried again only a second later.
	for _, side := range []struct {
		h     *netlink.Handle
		link  netlink.Link
		addr  netip.Addr
		other netlink.Link
		oaddr netip.Addr
	}{{h, hostLink, l.hostAddr, peerLink, l.peerAddr}, {p, peerLink, l.peerAddr, hostLink, l.hostAddr}} {
		link := side.link
		if err := side.h.NeighAdd(&netlink.Neigh{
			LinkIndex:    link.Attrs().Index,
			State:        netlink.NUD_PERMANENT,
			IP:           side.oaddr.AsSlice(),
			HardwareAddr: side.other.Attrs().HardwareAddr,
		}); err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(side.addr.String() + "/24")
		if err := side.h.AddrAdd(link, a); err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		lo, err := side.h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(lo); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range names {
		ns, err := netns.Open(filepath.Join("/run/netns", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		if i == 0 {
			l.host = ns
		} else {
			l.peer = ns
		}
	}
	l.warmUp()
	return l
}

// makeNamespaces makes two named namespaces, keeping this thread in its own.
func makeNamespaces(names [2]string) ([2]vnetns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hs [2]vnetns.NsHandle
	orig, err := vnetns.Get()
	if err != nil {
		return hs, err
	}
	defer orig.Close()
	defer vnetns.Set(orig)
	for i, name := range names {
		hs[i], err = vnetns.NewNamed(name)
		if err != nil {
			return hs, fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	return hs, vnetns.Set(orig)
}

// warmUp sends a datagram each way until one gets through, so that both sides know
// the other's link address before any test counts packets.
func (l *lab) warmUp() {
	l.t.Helper()
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		hc.WriteToUDPAddrPort([]byte("ping"), udpAddr(pc))
		pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, from, err := pc.ReadFromUDPAddrPort(buf); err == nil {
			pc.WriteToUDPAddrPort([]byte("pong"), from)
			hc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, _, err := hc.ReadFromUDPAddrPort(buf); err == nil {
				pc.Close()
				hc.Close()
				return
			}
		}
	}
	l.t.Fatal("no datagram crosses the veth pair")
}

// in runs fn inside ns.
func (l *lab) in(ns *netns.Namespace, fn func() error) {
	l.t.Helper()
	if err := ns.Do(fn); err != nil {
		l.t.Fatal(err)
	}
}

// udp returns a UDP socket of ns bound to addr, closed at the end of the test.
func (l *lab) udp(ns *netns.Namespace, addr netip.Addr) *net.UDPConn {
	l.t.Helper()
	var c *net.UDPConn
	l.in(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	c.SetReadBuffer(4 << 20)
	l.t.Cleanup(func() { c.Close() })
	return c
}

// listen returns a TCP listener of ns on addr (":0" for all addresses, both families).
func (l *lab) listen(ns *netns.Namespace, addr string) net.Listener {
	l.t.Helper()
	var ln net.Listener
	l.in(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	l.t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from ns to addr.
func (l *lab) dial(ns *netns.Namespace, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if c != nil {
		l.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// open opens the host's fault table, closed at the end of the test.
func (l *lab) open() *fault.Table {
	l.t.Helper()
	tbl, err := fault.Open(l.host.Do)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if err := tbl.Close(); err != nil {
			l.t.Error(err)
		}
	})
	return tbl
}

func udpAddr(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// datagram is what the tests send: a sequence number and the time it was sent.
func datagram(seq int) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	return b
}

type arrival struct {
	seq  int
	sent time.Time
	at   time.Time
}

// receive reads datagrams on c until none came for idle (or until want of them came),
// in the order they arrived.
func receive(c *net.UDPConn, want int, idle time.Duration) []arrival {
	var got []arrival
	buf := make([]byte, 64)
	for want <= 0 || len(got) < want {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		if n < 16 {
			continue
		}
		got = append(got, arrival{
			seq:  int(binary.BigEndian.Uint64(buf)),
			sent: time.Unix(0, int64(binary.BigEndian.Uint64(buf[8:]))),
			at:   time.Now(),
		})
	}
	return got
}

// send sends n datagrams from c to dst, a few at a time, every gap.
func send(t testing.TB, c *net.UDPConn, dst netip.AddrPort, n int, every int, gap time.Duration) {
	t.Helper()
	for i := range n {
		if _, err := c.WriteToUDPAddrPort(datagram(i), dst); err != nil {
			t.Fatalf("send datagram %d: %v", i, err)
		}
		if every > 0 && (i+1)%every == 0 {
			time.Sleep(gap)
		}
	}
}

// inversions counts the arrivals that came after one of a higher sequence number.
func inversions(got []arrival) int {
	n, highest := 0, -1
	for _, a := range got {
		if a.seq < highest {
			n++
		}
		highest = max(highest, a.seq)
	}
	return n
}

func TestValidate(t *testing.T) {
	bad := []struct {
		f    fault.Fault
		says string
	}{
		{fault.Fault{}, "unknown fault kind 0"},
		{fault.Fault{Kind: 42}, "unknown fault kind 42"},
		{fault.Fault{Kind: fault.Loss}, "Percent 0 is out of range"},
		{fault.Fault{Kind: fault.Loss, Percent: 100.5}, "Percent 100.5 is out of range"},
		{fault.Fault{Kind: fault.Loss, Percent: -1}, "Percent -1 is out of range"},
		{fault.Fault{Kind: fault.Loss, Percent: math.NaN()}, "out of range"},
		{fault.Fault{Kind: fault.Duplicate, Percent: 101}, "set it above 0 and at most 100"},
		{fault.Fault{Kind: fault.Reorder, Percent: 0}, "out of range"},
		{fault.Fault{Kind: fault.Reorder, Percent: 10, Delay: -time.Millisecond}, "negative hold"},
		{fault.Fault{Kind: fault.Delay, Delay: -time.Millisecond}, "negative Delay"},
		{fault.Fault{Kind: fault.Delay}, "Delay is 0"},
		{fault.Fault{Kind: fault.Delay, Delay: time.Millisecond, Jitter: -time.Millisecond}, "negative Jitter"},
		{fault.Fault{Kind: fault.Delay, Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}, "lower Jitter or raise Delay"},
		{fault.Fault{Kind: fault.Delay, Delay: 2 * time.Minute}, "is over 1m0s"},
		{fault.Fault{Kind: fault.Rate}, "RateKbit 0 is out of range"},
		{fault.Fault{Kind: fault.Rate, RateKbit: -5}, "RateKbit -5 is out of range"},
		{fault.Fault{Kind: fault.Down, Percent: 10}, "down fault: Percent not used by this kind: set to 0"},
		{fault.Fault{Kind: fault.Loss, Percent: 10, Delay: time.Second}, "loss fault: Delay not used"},
		{fault.Fault{Kind: fault.Delay, Delay: time.Second, RateKbit: 5}, "RateKbit not used"},
	}
	for _, c := range bad {
		err := c.f.Validate()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Validate(%+v) = %v, want an error saying %q", c.f, err, c.says)
		}
	}
	good := []fault.Fault{
		{Kind: fault.Down},
		{Kind: fault.Loss, Percent: 0.01},
		{Kind: fault.Loss, Percent: 100},
		{Kind: fault.Delay, Delay: 50 * time.Millisecond, Jitter: 50 * time.Millisecond},
		{Kind: fault.Reorder, Percent: 25},
		{Kind: fault.Reorder, Percent: 25, Delay: time.Millisecond},
		{Kind: fault.Duplicate, Percent: 1},
		{Kind: fault.Rate, RateKbit: 1},
	}
	for _, f := range good {
		if err := f.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", f, err)
		}
	}
	for _, k := range []fault.Kind{fault.Down, fault.Loss, fault.Delay, fault.Reorder, fault.Duplicate, fault.Rate} {
		if got, err := fault.ParseKind(strings.ToUpper(k.String())); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := fault.ParseKind("netem"); err == nil || !strings.Contains(err.Error(), "want one of down, loss") {
		t.Errorf("ParseKind(netem) = %v", err)
	}
	if s := fault.Kind(9).String(); s != "kind(9)" {
		t.Errorf("Kind(9).String() = %q", s)
	}
}

// TestDown: a datagram and a TCP connect toward the peer do not arrive while the link
// is down, and do again once it is cleared; an IPv6 peer is refused with the reason.
func TestDown(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	ln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Down}); err != nil {
		t.Fatal(err)
	}
	send(t, hc, udpAddr(pc), 1, 0, 0)
	if got := receive(pc, 1, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("a datagram arrived across a link that is down")
	}
	_, err := l.dial(l.host, ln.Addr().String(), 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("connect across a link that is down: %v, want a time-out", err)
	}
	c, err := tbl.Clear(l.peerAddr)
	if err != nil {
		t.Fatal(err)
	}
	// The datagram and at least one SYN.
	if c.Dropped < 2 || c.Packets != c.Dropped {
		t.Errorf("counts of a link that was down: %+v, want Packets = Dropped >= 2", c)
	}

	send(t, hc, udpAddr(pc), 1, 0, 0)
	if got := receive(pc, 1, time.Second); len(got) != 1 {
		t.Errorf("no datagram arrived once the link was cleared")
	}
	if _, err := l.dial(l.host, ln.Addr().String(), time.Second); err != nil {
		t.Errorf("connect once the link was cleared: %v", err)
	}
	if c := tbl.Counts(l.peerAddr); c != (fault.Counts{}) {
		t.Errorf("counts of a cleared peer: %+v, want none", c)
	}

	err = tbl.Set(netip.MustParseAddr("fd00::2"), fault.Fault{Kind: fault.Down})
	if err == nil || !strings.Contains(err.Error(), "IPv6 peers are not supported") {
		t.Errorf("Set toward an IPv6 peer: %v, want an error naming the limit", err)
	}
	if _, err := fault.Reset(l.host.Do, netip.MustParseAddr("fd00::2")); err == nil {
		t.Errorf("Reset toward an IPv6 peer: no error")
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Loss, Percent: 120}); err == nil {
		t.Errorf("Set of a 120%% loss: no error")
	}
}

// throughFault sets f toward the peer, sends n datagrams from the host, 50 at a time a
// millisecond apart, and returns those that arrived, in order.
func throughFault(tb testing.TB, l *lab, tbl *fault.Table, f fault.Fault, n int) []arrival {
	tb.Helper()
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	defer pc.Close()
	defer hc.Close()
	if err := tbl.Set(l.peerAddr, f); err != nil {
		tb.Fatal(err)
	}
	var got []arrival
	done := make(chan struct{})
	go func() { defer close(done); got = receive(pc, n, 300*time.Millisecond) }()
	send(tb, hc, udpAddr(pc), n, 50, time.Millisecond)
	<-done
	return got
}

// TestLoss: 20% loss lets about 80% of 2000 datagrams through, and Dropped is exactly
// what did not arrive.
func TestLoss(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	const n = 2000
	got := throughFault(t, l, tbl, fault.Fault{Kind: fault.Loss, Percent: 20}, n)
	frac := float64(len(got)) / n
	t.Logf("20%% loss: %d of %d datagrams delivered (%.3f)", len(got), n, frac)
	if math.Abs(frac-0.80) > 0.04 {
		t.Errorf("delivered %.3f of the datagrams under 20%% loss, want 0.80 +- 0.04", frac)
	}
	c := tbl.Counts(l.peerAddr)
	if c.Packets != n || c.Dropped != uint64(n-len(got)) {
		t.Errorf("counts %+v, want Packets %d and Dropped %d", c, n, n-len(got))
	}
	cleared, err := tbl.Clear(l.peerAddr)
	if err != nil || cleared != c {
		t.Errorf("Clear = %+v, %v, want %+v", cleared, err, c)
	}
}

// TestLossEvery: an exact loss drops every (100 / percent)th packet, the same ones every
// time, which a lab's transcript can rely on.
func TestLossEvery(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	const n = 100
	got := throughFault(t, l, tbl, fault.Fault{Kind: fault.Loss, Percent: 20, Every: true}, n)
	var lost []int
	next := 0
	for _, a := range got {
		for ; next < a.seq; next++ {
			lost = append(lost, next)
		}
		next = a.seq + 1
	}
	for ; next < n; next++ {
		lost = append(lost, next)
	}
	var want []int
	for i := 4; i < n; i += 5 {
		want = append(want, i)
	}
	if !slices.Equal(lost, want) {
		t.Errorf("lost datagrams %v, want every fifth: %v", lost, want)
	}
	if c := tbl.Counts(l.peerAddr); c.Packets != n || c.Dropped != n/5 {
		t.Errorf("counts %+v, want Packets %d and Dropped %d", c, n, n/5)
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Loss, Percent: 30, Every: true}); err == nil || !strings.Contains(err.Error(), "whole") {
		t.Errorf("an exact loss of 30%%: %v, want it refused (100 / 30 is not whole)", err)
	}
}

// gsoMaxSize returns the host interface's largest segment, in bytes and in packets, and
// its MTU.
func (l *lab) gsoMaxSize() (gso uint32, segs uint32, mtu int) {
	l.t.Helper()
	l.in(l.host, func() error {
		link, err := netlink.LinkByName(l.hostIf)
		if err == nil {
			gso, segs, mtu = link.Attrs().GSOMaxSize, link.Attrs().GSOMaxSegs, link.Attrs().MTU
		}
		return err
	})
	return gso, segs, mtu
}

// TestSegments: while a fault acts on packets, the interface hands out segments no
// larger than its MTU, so that a loss drops one packet, not a 64 KiB segment; its own
// size comes back once the faults are cleared, and at Close.
func TestSegments(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	own, ownSegs, mtu := l.gsoMaxSize()
	if int(own) <= mtu && ownSegs <= 1 {
		t.Skipf("the interface's segments are already single packets (%d bytes <= MTU %d, %d segments)", own, mtu, ownSegs)
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Loss, Percent: 10}); err != nil {
		t.Fatal(err)
	}
	if gso, segs, _ := l.gsoMaxSize(); int(gso) != mtu || segs != 1 {
		t.Errorf("under a loss, gso_max_size %d and gso_max_segs %d, want the MTU (%d) and 1", gso, segs, mtu)
	}
	// A TCP transfer's packets are then each one segment: 64 KiB makes 45 or more.
	ln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	received := make(chan struct{})
	go func() {
		defer close(received)
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	// The connection is made under the loss (a socket takes its segment size as it
	// connects), so its SYN or SYN-ACK may be lost: the kernel retries after 1, 3 and 7 s.
	c, err := l.dial(l.host, ln.Addr().String(), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before := tbl.Counts(l.peerAddr).Packets
	if _, err := c.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select { // every byte has crossed: all its packets were counted
	case <-received:
	case <-time.After(15 * time.Second):
		t.Fatal("the peer did not receive the 64 KiB in 15 s")
	}
	if sent := tbl.Counts(l.peerAddr).Packets - before; sent < 45 {
		t.Errorf("64 KiB went out in %d packets, want at least 45 (one segment of at most 1448 bytes each)", sent)
	}
	if _, err := tbl.Clear(l.peerAddr); err != nil {
		t.Fatal(err)
	}
	if gso, segs, _ := l.gsoMaxSize(); gso != own || segs != ownSegs {
		t.Errorf("after Clear, gso_max_size %d and gso_max_segs %d, want its own %d and %d back", gso, segs, own, ownSegs)
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Down}); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Close(); err != nil {
		t.Fatal(err)
	}
	if gso, segs, _ := l.gsoMaxSize(); gso != own || segs != ownSegs {
		t.Errorf("after Close, gso_max_size %d and gso_max_segs %d, want its own %d and %d back", gso, segs, own, ownSegs)
	}
}

// echo answers every datagram c gets with the same bytes, until c is closed.
func echo(c *net.UDPConn) {
	buf := make([]byte, 64)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// roundTrips sends n requests through the host's fault to the peer's echo, one every
// gap, and returns the round trips in the order the answers came.
func roundTrips(t testing.TB, l *lab, n int, gap time.Duration) []arrival {
	pc := l.udp(l.peer, l.peerAddr)
	go echo(pc)
	hc := l.udp(l.host, l.hostAddr)
	var got []arrival
	done := make(chan struct{})
	go func() { defer close(done); got = receive(hc, n, 500*time.Millisecond) }()
	send(t, hc, udpAddr(pc), n, 1, gap)
	<-done
	pc.Close()
	return got
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestDelay: under a 50ms delay no round trip (the request one way through the fault) is
// shorter than 50ms and the order is kept; with jitter, some come out of order and none
// is shorter than Delay - Jitter. How close to the delay the median comes is
// BenchmarkDelayAccuracy's to say: on a loaded machine the far side answers late.
func TestDelay(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Delay, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := roundTrips(t, l, n, 2*time.Millisecond)
	if len(got) != n {
		t.Fatalf("%d of %d answers came back", len(got), n)
	}
	var rtts []time.Duration
	for _, a := range got {
		rtts = append(rtts, a.at.Sub(a.sent))
	}
	m := median(rtts)
	t.Logf("50ms delay: median round trip %v over %d (min %v, max %v)", m, n, slices.Min(rtts), slices.Max(rtts))
	if m > time.Second {
		t.Errorf("median round trip %v under a 50ms delay: held far past its delay", m)
	}
	if slices.Min(rtts) < 50*time.Millisecond {
		t.Errorf("a round trip of %v under a 50ms delay", slices.Min(rtts))
	}
	if inv := inversions(got); inv != 0 {
		t.Errorf("%d answers out of order under a delay without jitter", inv)
	}
	if c := tbl.Counts(l.peerAddr); c.Delayed != n || c.Packets != n {
		t.Errorf("counts %+v, want Packets and Delayed %d", c, n)
	}

	// TCP's window grows as over a long link: what is held is not the socket's, which
	// its small queues limit would let send a packet or two a round trip.
	ln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	moved, took := bulk(t, ln, func() (net.Conn, error) { return l.dial(l.host, ln.Addr().String(), time.Second) }, time.Second)
	mbps := float64(moved) / took.Seconds() / 1e6
	t.Logf("50ms delay: TCP moved %d bytes in %v, %.1f MB/s", moved, took, mbps)
	// Held by its small queues, it moved 0.06 MB/s; 37-47 MB/s on an idle machine.
	if mbps < 0.5 {
		t.Errorf("TCP at %.2f MB/s under a 50ms delay, want more than 0.5 MB/s", mbps)
	}
	time.Sleep(200 * time.Millisecond) // the connection's last packets
	before := tbl.Counts(l.peerAddr)

	// Replaces the delay.
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Delay, Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got = roundTrips(t, l, n, time.Millisecond)
	if len(got) != n {
		t.Fatalf("%d of %d answers came back under jitter", len(got), n)
	}
	rtts = rtts[:0]
	for _, a := range got {
		rtts = append(rtts, a.at.Sub(a.sent))
	}
	inv := inversions(got)
	t.Logf("30ms +- 20ms: %d of %d out of order, round trips %v to %v, median %v", inv, n, slices.Min(rtts), slices.Max(rtts), median(rtts))
	if inv == 0 {
		t.Errorf("no answer out of order under a 20ms jitter")
	}
	if slices.Min(rtts) < 10*time.Millisecond {
		t.Errorf("a round trip of %v under 30ms +- 20ms: released before its delay", slices.Min(rtts))
	}
	c, err := tbl.Clear(l.peerAddr)
	if err != nil || c.Packets != before.Packets+n || c.Delayed != c.Packets {
		t.Errorf("Clear = %+v, %v: want Packets %d more than %+v, and as many Delayed", c, err, n, before)
	}
}

// TestDuplicate: at 100% every datagram arrives twice; with a delay and a loss as well,
// the copies come after the delay too, and only of the datagrams not lost.
func TestDuplicate(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Duplicate, Percent: 100}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	send(t, hc, udpAddr(pc), n, 20, time.Millisecond)
	got := receive(pc, 0, 300*time.Millisecond)
	seen := map[int]int{}
	for _, a := range got {
		seen[a.seq]++
	}
	for i := range n {
		if seen[i] != 2 {
			t.Errorf("datagram %d arrived %d times, want 2", i, seen[i])
			break
		}
	}
	if len(got) != 2*n {
		t.Errorf("%d datagrams arrived, want %d", len(got), 2*n)
	}
	if c := tbl.Counts(l.peerAddr); c.Packets != n || c.Duplicated != n {
		t.Errorf("counts %+v, want Packets and Duplicated %d", c, n)
	}

	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Delay, Delay: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Loss, Percent: 50}); err != nil {
		t.Fatal(err)
	}
	before := tbl.Counts(l.peerAddr)
	send(t, hc, udpAddr(pc), n, 20, time.Millisecond)
	got = receive(pc, 0, 300*time.Millisecond)
	clear(seen)
	for _, a := range got {
		seen[a.seq]++
		if d := a.at.Sub(a.sent); d < 40*time.Millisecond {
			t.Errorf("datagram %d arrived after %v under a 40ms delay", a.seq, d)
			break
		}
	}
	for seq, k := range seen {
		if k != 2 {
			t.Errorf("datagram %d arrived %d times, want 2", seq, k)
			break
		}
	}
	c := tbl.Counts(l.peerAddr)
	dropped, delayed, dup := c.Dropped-before.Dropped, c.Delayed-before.Delayed, c.Duplicated-before.Duplicated
	t.Logf("40ms delay, 50%% loss, 100%% duplicate: %d of %d arrived, twice each; counts %+v", len(seen), n, c)
	if c.Packets-before.Packets != n || dropped+delayed != n || dup != delayed || int(dup) != len(seen) {
		t.Errorf("counts %+v after %+v: want %d more packets, each dropped or else delayed and copied (%d arrived)", c, before, n, len(seen))
	}
}

// TestReorder: a datagram held now and then arrives after those sent after it; none is
// lost.
func TestReorder(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Reorder, Percent: 30}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	send(t, hc, udpAddr(pc), n, 1, time.Millisecond)
	got := receive(pc, n, 300*time.Millisecond)
	inv := inversions(got)
	c := tbl.Counts(l.peerAddr)
	t.Logf("30%% reorder: %d of %d arrived, %d out of order; counts %+v", len(got), n, inv, c)
	if len(got) != n {
		t.Errorf("%d of %d datagrams arrived", len(got), n)
	}
	if inv == 0 {
		t.Errorf("no datagram out of order")
	}
	if c.Packets != n || c.Reordered < n/10 || c.Reordered > n/2 {
		t.Errorf("counts %+v, want Packets %d and about 30%% of them Reordered", c, n)
	}
}

// bulk connects with dial to ln, sends for d and returns the bytes the other side read
// and the time it took them.
func bulk(t testing.TB, ln net.Listener, dial func() (net.Conn, error), d time.Duration) (int64, time.Duration) {
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	defer r.Close()
	type result struct {
		n    int64
		took time.Duration
	}
	res := make(chan result, 1)
	go func() {
		start := time.Now()
		n, _ := io.Copy(io.Discard, r)
		res <- result{n, time.Since(start)}
	}()
	buf := make([]byte, 64<<10)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	got := <-res
	return got.n, got.took
}

// hasTbf says whether the host's interface has a tbf qdisc.
func (l *lab) hasTbf() bool {
	l.t.Helper()
	found := false
	l.in(l.host, func() error {
		link, err := netlink.LinkByName(l.hostIf)
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(link)
		for _, q := range qs {
			if q.Type() == "tbf" {
				found = true
			}
		}
		return err
	})
	return found
}

// TestRate: a TCP bulk transfer toward the peer goes at about the rate; the qdisc goes
// with Clear.
func TestRate(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	const kbit = 16000 // 2 MB/s
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Rate, RateKbit: kbit}); err != nil {
		t.Fatal(err)
	}
	if !l.hasTbf() {
		t.Fatal("no tbf qdisc on the host's interface")
	}
	ln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	n, took := bulk(t, ln, func() (net.Conn, error) { return l.dial(l.host, ln.Addr().String(), time.Second) }, 1500*time.Millisecond)
	rate := float64(n) * 8 / 1000 / took.Seconds()
	t.Logf("rate %d kbit/s: TCP moved %d bytes in %v, %.0f kbit/s of payload (%.2f of the rate)", kbit, n, took, rate, rate/kbit)
	// Payload: 1448 of each 1514 bytes on the wire, less the start. Never above the rate;
	// below it only as far as a loaded machine may hold a sender back.
	if rate < 0.5*kbit || rate > 1.05*kbit {
		t.Errorf("TCP payload at %.0f kbit/s through a %d kbit/s rate", rate, kbit)
	}
	if err := tbl.Set(netip.AddrFrom4([4]byte{10, 250, l.peerAddr.As4()[2], 3}), fault.Fault{Kind: fault.Rate, RateKbit: kbit / 2}); err == nil || !strings.Contains(err.Error(), "set the same rate") {
		t.Errorf("a second rate on the same interface: %v, want an error", err)
	}
	if _, err := tbl.Clear(l.peerAddr); err != nil {
		t.Fatal(err)
	}
	if l.hasTbf() {
		t.Error("the tbf qdisc stayed after Clear")
	}
}

// TestReset: Reset destroys the host's TCP sockets connected to the peer, its own
// connection and one it accepted on a dual-stack listener: the peer's reads fail with
// ECONNRESET, the host's with ECONNABORTED; the listener stays.
func TestReset(t *testing.T) {
	l := newLab(t)
	pln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	hln := l.listen(l.host, ":0") // AF_INET6, accepted connections v4-mapped
	peerSide := make(chan net.Conn, 2)
	go func() {
		if c, err := pln.Accept(); err == nil {
			peerSide <- c
		}
	}()
	hostOut, err := l.dial(l.host, pln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(hln.Addr().String())
	peerOut, err := l.dial(l.peer, net.JoinHostPort(l.hostAddr.String(), port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hostIn, err := hln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer hostIn.Close()
	peerIn := <-peerSide
	defer peerIn.Close()

	n, err := fault.Reset(l.host.Do, l.peerAddr)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Reset destroyed %d sockets, want 2", n)
	}
	for _, c := range []struct {
		name string
		conn net.Conn
		want syscall.Errno
	}{
		{"peer's accepted connection", peerIn, syscall.ECONNRESET},
		{"peer's connection to the host", peerOut, syscall.ECONNRESET},
		{"host's connection to the peer", hostOut, syscall.ECONNABORTED},
		{"host's accepted connection", hostIn, syscall.ECONNABORTED},
	} {
		c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.conn.Read(make([]byte, 1))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: read %v, want %v", c.name, err, c.want)
		}
	}
	if again, err := fault.Reset(l.host.Do, l.peerAddr); err != nil || again != 0 {
		t.Errorf("second Reset = %d, %v, want 0", again, err)
	}
	if c, err := l.dial(l.peer, net.JoinHostPort(l.hostAddr.String(), port), time.Second); err != nil {
		t.Errorf("the host's listener after Reset: %v", err)
	} else {
		c.Close()
	}
}

// hostTables returns the names of the nftables tables of the host's namespace.
func (l *lab) hostTables() []string {
	l.t.Helper()
	var names []string
	l.in(l.host, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		ts, err := c.ListTables()
		for _, tb := range ts {
			names = append(names, tb.Name)
		}
		return err
	})
	return names
}

// TestClose: Close releases a held datagram at once, and leaves no table, qdisc nor
// goroutine; the Table refuses work after.
func TestClose(t *testing.T) {
	l := newLab(t)
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	other := netip.AddrFrom4([4]byte{10, 250, l.peerAddr.As4()[2], 9})
	before := runtime.NumGoroutine()

	tbl, err := fault.Open(l.host.Do)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		peer netip.Addr
		f    fault.Fault
	}{
		{l.peerAddr, fault.Fault{Kind: fault.Delay, Delay: 3 * time.Second}},
		{l.peerAddr, fault.Fault{Kind: fault.Reorder, Percent: 50}},
		{l.peerAddr, fault.Fault{Kind: fault.Rate, RateKbit: 100000}},
		{l.peerAddr, fault.Fault{Kind: fault.Duplicate, Percent: 1}},
		{other, fault.Fault{Kind: fault.Down}},
		{other, fault.Fault{Kind: fault.Loss, Percent: 5}},
	} {
		if err := tbl.Set(s.peer, s.f); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Contains(l.hostTables(), "socklab_faults") || !l.hasTbf() {
		t.Fatalf("after Set: tables %v, tbf %v", l.hostTables(), l.hasTbf())
	}
	send(t, hc, udpAddr(pc), 1, 0, 0)
	if got := receive(pc, 1, 200*time.Millisecond); len(got) != 0 {
		t.Fatal("a datagram under a 3s delay arrived at once")
	}
	start := time.Now()
	if err := tbl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := receive(pc, 1, time.Second); len(got) != 1 {
		t.Error("the held datagram did not arrive after Close")
	} else if waited := time.Since(start); waited > time.Second {
		t.Errorf("the held datagram arrived %v after Close", waited)
	}
	if ts := l.hostTables(); slices.Contains(ts, "socklab_faults") {
		t.Errorf("tables after Close: %v", ts)
	}
	if l.hasTbf() {
		t.Error("a tbf qdisc stayed after Close")
	}
	var after int
	for range 100 {
		if after = runtime.NumGoroutine(); after <= before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before Open, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	if err := tbl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Down}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Set after Close: %v", err)
	}
	send(t, hc, udpAddr(pc), 1, 0, 0)
	if got := receive(pc, 1, time.Second); len(got) != 1 {
		t.Error("a datagram sent after Close did not arrive")
	}
}

// TestOneTablePerNamespace: Open replaces a table of the name that no socket owns and
// removes a qdisc of its handle (what a Table of a process that died leaves: its table
// goes with its socket, not its qdisc); a second Open while a Table is open is refused,
// and works once it is closed.
func TestOneTablePerNamespace(t *testing.T) {
	l := newLab(t)
	pc := l.udp(l.peer, l.peerAddr)
	hc := l.udp(l.host, l.hostAddr)
	l.in(l.host, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tb := c.AddTable(&nftables.Table{Name: "socklab_faults", Family: nftables.TableFamilyIPv4})
		accept := nftables.ChainPolicyAccept
		ch := c.AddChain(&nftables.Chain{Name: "output", Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		ip := l.peerAddr.As4()
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip[:]},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
		if err := c.Flush(); err != nil {
			return err
		}
		link, err := netlink.LinkByName(l.hostIf)
		if err != nil {
			return err
		}
		return netlink.QdiscAdd(&netlink.Tbf{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0x5c1a, 0), Parent: netlink.HANDLE_ROOT},
			Rate:       125000, Limit: 100000, Buffer: netlink.Xmittime(125000, 10000),
		})
	})
	if !l.hasTbf() {
		t.Fatal("the stray qdisc was not made")
	}
	first := l.open()
	if l.hasTbf() {
		t.Error("Open left a stray qdisc of its handle")
	}
	send(t, hc, udpAddr(pc), 1, 0, 0)
	if got := receive(pc, 1, time.Second); len(got) != 1 {
		t.Error("Open left the rule of a stray table")
	}

	if second, err := fault.Open(l.host.Do); err == nil {
		second.Close()
		t.Error("a second Open in the namespace worked while the first Table was open")
	} else if !strings.Contains(err.Error(), "another open fault table") {
		t.Errorf("a second Open: %v, want an error saying the table is another's", err)
	}
	if err := first.Set(l.peerAddr, fault.Fault{Kind: fault.Down}); err != nil {
		t.Errorf("the first Table after a second Open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	tbl := l.open()
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Loss, Percent: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent: Set, Counts and Clear from many goroutines toward several peers, then
// Close, leave nothing.
func TestConcurrent(t *testing.T) {
	l := newLab(t)
	tbl := l.open()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer := netip.AddrFrom4([4]byte{10, 250, l.peerAddr.As4()[2], byte(10 + i)})
			faults := []fault.Fault{
				{Kind: fault.Loss, Percent: 10},
				{Kind: fault.Delay, Delay: time.Millisecond},
				{Kind: fault.Duplicate, Percent: 5},
				{Kind: fault.Reorder, Percent: 5},
				{Kind: fault.Down},
			}
			for j := range 10 {
				if err := tbl.Set(peer, faults[(i+j)%len(faults)]); err != nil {
					t.Error(err)
					return
				}
				tbl.Counts(peer)
				if j%7 == 6 {
					if _, err := tbl.Clear(peer); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := tbl.Close(); err != nil {
		t.Fatal(err)
	}
	if ts := l.hostTables(); slices.Contains(ts, "socklab_faults") {
		t.Errorf("tables after Close: %v", ts)
	}
}

// BenchmarkThroughput reports the ratio of a TCP bulk transfer's rate through a link
// with the table installed and no fault set to the same without the table: the median
// of the ratios of pairs of transfers of 250ms, 6 pairs an iteration, in turns whose
// order changes each time (against drift; a shared machine's rate varies a lot from one
// transfer to the next).
func BenchmarkThroughput(b *testing.B) {
	l := newLab(b)
	ln := l.listen(l.peer, netip.AddrPortFrom(l.peerAddr, 0).String())
	dial := func() (net.Conn, error) { return l.dial(l.host, ln.Addr().String(), time.Second) }
	rate := func() float64 {
		n, took := bulk(b, ln, dial, 250*time.Millisecond)
		return float64(n) / took.Seconds()
	}
	var tbl *fault.Table
	withTable := func() float64 {
		var err error
		if tbl, err = fault.Open(l.host.Do); err != nil {
			b.Fatal(err)
		}
		r := rate()
		if err := tbl.Close(); err != nil {
			b.Fatal(err)
		}
		return r
	}
	var ratios []float64
	var with, without float64
	for b.Loop() {
		for i := range 6 {
			var w, wo float64
			if i%2 == 0 {
				wo, w = rate(), withTable()
			} else {
				w, wo = withTable(), rate()
			}
			with += w
			without += wo
			ratios = append(ratios, w/wo)
		}
	}
	slices.Sort(ratios)
	ratio := ratios[len(ratios)/2]
	b.ReportMetric(ratio, "ratio")
	fmt.Printf("throughput with the table and no fault / without the table: median ratio %.3f of %d pairs (%.0f vs %.0f MB/s on average)\n",
		ratio, len(ratios), with/float64(len(ratios))/1e6, without/float64(len(ratios))/1e6)
}

// BenchmarkDelayAccuracy reports the median of 1000 round trips under a 50ms delay.
func BenchmarkDelayAccuracy(b *testing.B) {
	l := newLab(b)
	tbl := l.open()
	if err := tbl.Set(l.peerAddr, fault.Fault{Kind: fault.Delay, Delay: 50 * time.Millisecond}); err != nil {
		b.Fatal(err)
	}
	var m time.Duration
	for b.Loop() {
		got := roundTrips(b, l, 1000, time.Millisecond)
		var rtts []time.Duration
		for _, a := range got {
			rtts = append(rtts, a.at.Sub(a.sent))
		}
		if len(rtts) != 1000 {
			b.Fatalf("%d of 1000 answers", len(rtts))
		}
		m = median(rtts)
	}
	b.ReportMetric(float64(m)/float64(time.Millisecond), "ms-median")
	fmt.Printf("median of 1000 round trips under a 50ms delay: %v\n", m)
}

// BenchmarkLossAccuracy measures a 20% loss over 10,000 datagrams (target: within 3
// points).
func BenchmarkLossAccuracy(b *testing.B) {
	l := newLab(b)
	tbl := l.open()
	var lost float64
	for b.Loop() {
		const n = 10000
		got := throughFault(b, l, tbl, fault.Fault{Kind: fault.Loss, Percent: 20}, n)
		c, err := tbl.Clear(l.peerAddr)
		if err != nil {
			b.Fatal(err)
		}
		if c.Dropped != uint64(n-len(got)) {
			b.Errorf("counted %d dropped, %d did not arrive", c.Dropped, n-len(got))
		}
		lost = 100 * float64(n-len(got)) / n
	}
	b.ReportMetric(lost, "%lost")
	fmt.Printf("20%% loss over 10000 datagrams: %.2f%% lost (%.2f points off)\n", lost, math.Abs(lost-20))
}
