// Package fault makes link faults: it acts on the packets one host sends toward a peer,
// in the network namespace the host lives in, as a lab asks an agent to make the link
// to another host fail.
//
// A Table is one host's faults. It keeps an nftables table of its own (family ip, named
// socklab_faults, owned by the Table's netlink socket) whose chains hook the output
// path of the namespace:
//
//   - Down drops every packet toward the peer (a partition one way; the caller sets it on
//     both hosts for two ways);
//   - Loss drops each packet with a probability (nftables' meta random);
//   - Duplicate sends a copy of each packet, with a probability, out of the interface the
//     route to the peer uses (nftables' dup);
//   - Delay and Reorder hand the packets (the kernel's copies of them, which the
//     sending socket does not own) to an NFQUEUE (the xtables NFQUEUE target, with
//     bypass: were the reader gone, packets would pass) that a reader of the Table holds
//     and releases: after Delay±Jitter each (so that jitter reorders, as netem's does),
//     or, for Reorder, a chosen few after a hold while the following ones pass;
//   - Rate puts a token bucket (tbf) as the root qdisc of the interface the route to the
//     peer uses; it shapes everything the host sends on that interface, not only what
//     goes to the peer.
//
// As on a real link, and as with netem, the sender does not hear of what a fault does:
// a dropped packet's send succeeds (no EPERM, which nftables' drop verdict would give),
// and TCP takes a dropped or held segment for sent, so that it finds the loss or the
// delay as it would across a network. A packet is what the host's stack hands to IP:
// a TCP segment that the interface will cut in several (GSO) counts as one.
//
// Only the host's own namespace is touched, and of it only what the Table made: its
// table, its qdiscs. Only IPv4 peers are supported.
package fault

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kind is what a fault does to the packets toward a peer.
type Kind int

// The kinds of fault. The zero Kind is none of them, so that a Fault left empty is
// refused rather than taken for a partition.
const (
	// Down drops every packet.
	Down Kind = iota + 1
	// Loss drops each packet with probability Percent.
	Loss
	// Delay holds each packet for Delay±Jitter.
	Delay
	// Reorder holds each packet with probability Percent for Delay (10ms if 0), while
	// the following ones pass.
	Reorder
	// Duplicate sends each packet twice with probability Percent.
	Duplicate
	// Rate shapes what the host sends on the peer's interface to RateKbit.
	Rate
)

var kindNames = map[Kind]string{
	Down:      "down",
	Loss:      "loss",
	Delay:     "delay",
	Reorder:   "reorder",
	Duplicate: "duplicate",
	Rate:      "rate",
}

// String returns the kind's name in lower case: "down", "loss", "delay", "reorder",
// "duplicate" or "rate".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ParseKind returns the Kind named s, as String spells it (case does not matter).
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if strings.EqualFold(s, name) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown fault kind %q: want one of down, loss, delay, reorder, duplicate, rate", s)
}

// DefaultReorderHold is how long Reorder holds a packet when its Fault has no Delay.
const DefaultReorderHold = 10 * time.Millisecond

// MaxDelay is the longest delay (Delay plus Jitter, or a Reorder hold) a Fault may ask.
const MaxDelay = time.Minute

// MaxRateKbit is the highest rate a Rate fault may ask: 100 Gbit/s.
const MaxRateKbit = 100_000_000

// Fault is one fault toward a peer. Which fields count depends on Kind; the others
// must be zero.
type Fault struct {
	Kind Kind
	// Percent is the probability, 0 < Percent <= 100, that Loss drops, Reorder holds
	// or Duplicate copies a packet. Its resolution is far finer than 0.01%.
	Percent float64
	// Delay is, for Delay, what is added to each packet; for Reorder, how long a held
	// packet waits (DefaultReorderHold if 0).
	Delay time.Duration
	// Jitter, for Delay, makes each packet's delay Delay plus or minus a uniform random
	// of up to Jitter; packets then leave in the order of their release, not of their
	// sending. 0 keeps the order.
	Jitter time.Duration
	// RateKbit is, for Rate, the rate in kilobits (1000 bits) per second.
	RateKbit int
	// Every makes a Loss exact rather than random: of the packets toward the peer,
	// every (100 / Percent)th is dropped (20: the 5th, the 10th, ...), counted from when
	// the table's rules were last made, so that a lab tells the same story each run.
	// 100 / Percent must be whole.
	Every bool
}

// Validate says what is wrong with f, if anything, and what to change.
func (f Fault) Validate() error {
	name, ok := kindNames[f.Kind]
	if !ok {
		return fmt.Errorf("unknown fault kind %d: set Kind to one of Down, Loss, Delay, Reorder, Duplicate, Rate", int(f.Kind))
	}
	var unused []string
	checkUnused := func(field string, zero bool) {
		if !zero {
			unused = append(unused, field)
		}
	}
	switch f.Kind {
	case Down:
		checkUnused("Percent", f.Percent == 0)
		checkUnused("Delay", f.Delay == 0)
		checkUnused("Jitter", f.Jitter == 0)
		checkUnused("RateKbit", f.RateKbit == 0)
	case Loss, Duplicate:
		if err := checkPercent(f); err != nil {
			return err
		}
		if f.Every && (f.Kind != Loss || 100/f.Percent != math.Trunc(100/f.Percent)) {
			return fmt.Errorf("%s fault: Every needs a loss whose 100 / Percent is whole (20: every 5th packet), not %v%%", name, f.Percent)
		}
		checkUnused("Delay", f.Delay == 0)
		checkUnused("Jitter", f.Jitter == 0)
		checkUnused("RateKbit", f.RateKbit == 0)
	case Reorder:
		if err := checkPercent(f); err != nil {
			return err
		}
		if f.Delay < 0 {
			return fmt.Errorf("reorder fault: negative hold (Delay %v): set Delay to 0 (for %v) or more", f.Delay, DefaultReorderHold)
		}
		if f.Delay > MaxDelay {
			return fmt.Errorf("reorder fault: hold (Delay) %v is over %v: lower Delay", f.Delay, MaxDelay)
		}
		checkUnused("Jitter", f.Jitter == 0)
		checkUnused("RateKbit", f.RateKbit == 0)
	case Delay:
		if f.Delay < 0 {
			return fmt.Errorf("delay fault: negative Delay %v: set Delay above 0", f.Delay)
		}
		if f.Jitter < 0 {
			return fmt.Errorf("delay fault: negative Jitter %v: set Jitter to 0 or more", f.Jitter)
		}
		if f.Delay == 0 {
			return errors.New("delay fault: Delay is 0: set Delay above 0")
		}
		if f.Jitter > f.Delay {
			return fmt.Errorf("delay fault: Jitter %v is over Delay %v, which would make delays negative: lower Jitter or raise Delay", f.Jitter, f.Delay)
		}
		if f.Delay+f.Jitter > MaxDelay {
			return fmt.Errorf("delay fault: Delay+Jitter %v is over %v: lower them", f.Delay+f.Jitter, MaxDelay)
		}
		checkUnused("Percent", f.Percent == 0)
		checkUnused("RateKbit", f.RateKbit == 0)
	case Rate:
		if f.RateKbit <= 0 || f.RateKbit > MaxRateKbit {
			return fmt.Errorf("rate fault: RateKbit %d is out of range: set it between 1 and %d (kbit/s)", f.RateKbit, MaxRateKbit)
		}
		checkUnused("Percent", f.Percent == 0)
		checkUnused("Delay", f.Delay == 0)
		checkUnused("Jitter", f.Jitter == 0)
	}
	if len(unused) > 0 {
		return fmt.Errorf("%s fault: %s not used by this kind: set to 0", name, strings.Join(unused, ", "))
	}
	return nil
}

func checkPercent(f Fault) error {
	if !(f.Percent > 0 && f.Percent <= 100) { // NaN too
		return fmt.Errorf("%s fault: Percent %v is out of range: set it above 0 and at most 100", f.Kind, f.Percent)
	}
	return nil
}

// Counts are what the faults toward a peer did, since the first of them was set (a Set
// that replaces a fault of the same kind does not start them again).
type Counts struct {
	// Packets is how many packets the host sent toward the peer (copies that Duplicate
	// made not counted).
	Packets uint64
	// Dropped is how many of them Down and Loss dropped.
	Dropped uint64
	// Delayed is how many of them Delay held.
	Delayed uint64
	// Duplicated is how many of them Duplicate sent a copy of.
	Duplicated uint64
	// Reordered is how many of them Reorder held back while the following ones passed.
	Reordered uint64
}

// Table is one host's faults: an nftables table of its own in the host's namespace
// (family ip, named socklab_faults) whose output-hook chains count, drop, copy and
// queue the packets toward each peer with a fault; an NFQUEUE reader for Delay and
// Reorder, started with the first of them; a tbf root qdisc for each interface that a
// Rate shapes. There is one open Table per namespace.
//
// A Table is safe for concurrent use.
type Table struct {
	do func(func() error) error

	mu     sync.Mutex
	closed bool
	nft    *nftables.Conn
	rt     *netlink.Handle
	table  *nftables.Table
	out    *nftables.Chain // counts, drops, queues
	dup    *nftables.Chain // copies; after out, so that delayed packets are copied after their delay
	peers  map[netip.Addr]*peer
	shapes map[int]*shape // by ifindex
	// segmented holds the interfaces made to hand out packet-sized segments (see
	// segment.go), each with its own limits to restore.
	segmented map[int]gso
	q         *reader // nil until a Delay or Reorder is set
}

// peer is the faults toward one address.
type peer struct {
	addr   netip.Addr
	id     string // names its chain and counters
	chain  *nftables.Chain
	faults map[Kind]Fault
	oif    int        // interface the copies of Duplicate, Delay and Reorder go out of
	hop    netip.Addr // their next hop
	rateIf int        // ifindex whose qdisc Rate set; 0 for none
	segIf  int        // ifindex made to hand out packet-sized segments for its faults; 0 for none
}

// Open makes the Table of a host. do runs a function inside the host's network
// namespace (for instance (*netns.Namespace).Do); nil runs it in the current one. The
// netlink sockets the Table uses are made there and keep to that namespace; do is kept
// to make the NFQUEUE reader's socket when a Delay or Reorder is first set, so it must
// stay usable until Close.
//
// The table belongs to the Table's netlink socket: the kernel removes it when the
// socket closes, the process's end included, and no other socket may change it, so
// that Open fails while another Table of the namespace is open. A table of the same
// name that no socket owns is replaced. A qdisc outlives the process: Open removes the
// root qdiscs of the handle its Rate uses, which a Table of a process that died left.
func Open(do func(func() error) error) (*Table, error) {
	if do == nil {
		do = func(fn func() error) error { return fn() }
	}
	t := &Table{
		do:     do,
		peers:  map[netip.Addr]*peer{},
		shapes: map[int]*shape{}, segmented: map[int]gso{},
	}
	var raw *mnl.Conn
	err := do(func() error {
		nft, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(func(c *mnl.Conn) error {
			raw = c
			return nil
		}))
		if err != nil {
			return fmt.Errorf("nftables netlink socket: %w", err)
		}
		t.nft = nft
		rt, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		t.rt = rt
		return nil
	})
	if err != nil {
		t.closeSockets()
		return nil, fmt.Errorf("open fault table: %w", err)
	}
	if err := t.create(raw); err != nil {
		t.closeSockets()
		return nil, fmt.Errorf("open fault table: %w", err)
	}
	return t, nil
}

func (t *Table) closeSockets() {
	if t.nft != nil {
		t.nft.CloseLasting()
	}
	if t.rt != nil {
		t.rt.Close()
	}
}

// Set adds the fault f toward peer, or replaces the fault of the same kind toward it.
// Faults of other kinds toward peer stay.
func (t *Table) Set(peer netip.Addr, f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	addr, err := checkPeer(peer)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("set %s fault toward %s: table closed", f.Kind, addr)
	}
	if err := t.set(addr, f); err != nil {
		return fmt.Errorf("set %s fault toward %s: %w", f.Kind, addr, err)
	}
	return nil
}

// Clear removes every fault toward peer and returns what they did since the first was
// set. Packets that Delay or Reorder hold are released at once. Clearing a peer
// without faults returns zero Counts.
func (t *Table) Clear(peer netip.Addr) (Counts, error) {
	addr, err := checkPeer(peer)
	if err != nil {
		return Counts{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return Counts{}, fmt.Errorf("clear faults toward %s: table closed", addr)
	}
	p := t.peers[addr]
	if p == nil {
		return Counts{}, nil
	}
	c, err := t.clear(p)
	if err != nil {
		return c, fmt.Errorf("clear faults toward %s: %w", addr, err)
	}
	return c, nil
}

// Counts returns what the faults toward peer did since the first of them was set; zero
// Counts for a peer without faults (or when they cannot be read).
func (t *Table) Counts(peer netip.Addr) Counts {
	addr, err := checkPeer(peer)
	if err != nil {
		return Counts{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[addr]
	if t.closed || p == nil {
		return Counts{}
	}
	c, _ := t.counts(p)
	return c
}

// Close removes everything the Table made (its nftables table, its qdiscs), releases
// the packets its reader holds and stops the reader. Closing again does nothing.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	// First no packet is queued or copied any more; then the held ones are released,
	// before the base chains go: the kernel drops what is queued from a hook that goes.
	t.nft.FlushChain(t.out)
	t.nft.FlushChain(t.dup)
	if err := t.nft.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("empty nftables table %s: %w", tableName, err))
	}
	if t.q != nil {
		if err := t.q.close(); err != nil {
			errs = append(errs, err)
		}
		t.q = nil
	}
	t.nft.DelTable(t.table)
	if err := t.nft.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("remove nftables table %s: %w", tableName, err))
	}
	for _, s := range t.shapes {
		if err := t.unshape(s.ifindex); err != nil {
			errs = append(errs, err)
		}
	}
	clear(t.shapes)
	if err := t.unsegmentAll(); err != nil {
		errs = append(errs, err)
	}
	clear(t.peers)
	t.closeSockets()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close fault table: %w", err)
	}
	return nil
}

// set does Set under t.mu.
func (t *Table) set(addr netip.Addr, f Fault) error {
	p := t.peers[addr]
	isNew := p == nil
	if isNew {
		p = &peer{addr: addr, id: peerID(addr), faults: map[Kind]Fault{}}
		p.chain = &nftables.Chain{Name: p.id, Table: t.table}
	}
	old, had := p.faults[f.Kind]
	restore := func() {
		if had {
			p.faults[f.Kind] = old
		} else {
			delete(p.faults, f.Kind)
		}
	}
	if f.Kind != Rate && p.segIf == 0 {
		ifindex, err := t.segment(addr)
		if err != nil {
			return err
		}
		p.segIf = ifindex
	}

	switch f.Kind {
	case Duplicate, Delay, Reorder:
		oif, hop, err := t.route(addr)
		if err != nil {
			return err
		}
		p.oif, p.hop = oif, hop
	case Rate:
		ifindex, _, err := t.route(addr)
		if err != nil {
			return err
		}
		if had && p.rateIf != 0 && p.rateIf != ifindex {
			t.releaseShape(p) // the route moved: the old interface's shaping goes
		}
		if err := t.shape(p, ifindex, f.RateKbit); err != nil {
			return err
		}
		p.rateIf = ifindex
	}
	if f.Kind == Delay || f.Kind == Reorder {
		if t.q == nil {
			q, err := openReader(t.do)
			if err != nil {
				return err
			}
			t.q = q
		}
	}

	p.faults[f.Kind] = f
	if isNew {
		t.peers[addr] = p
	}
	queued := f.Kind == Delay || f.Kind == Reorder
	if queued {
		// Before the rules, so that the first packets queued are held as they should.
		t.q.configure(addr, p.faults)
	}
	if err := t.commit(p, isNew, false); err != nil {
		restore()
		if queued {
			t.q.configure(addr, p.faults)
		}
		if isNew {
			delete(t.peers, addr)
			if t.q != nil {
				t.q.forget(addr)
			}
			if f.Kind == Rate {
				t.releaseShape(p)
			}
		}
		return err
	}
	return nil
}

// clear does Clear under t.mu.
func (t *Table) clear(p *peer) (Counts, error) {
	c, cerr := t.counts(p)
	delete(t.peers, p.addr)
	var errs []error
	if cerr != nil {
		errs = append(errs, cerr)
	}
	if err := t.commit(p, false, true); err != nil {
		errs = append(errs, err)
	}
	if p.rateIf != 0 {
		if err := t.releaseShape(p); err != nil {
			errs = append(errs, err)
		}
	}
	if p.segIf != 0 {
		if err := t.unsegment(p.segIf, false); err != nil {
			errs = append(errs, err)
		}
	}
	if t.q != nil {
		d, r := t.q.forget(p.addr)
		c.Delayed, c.Reordered = d, r
	}
	return c, errors.Join(errs...)
}

// counts reads p's counters under t.mu.
func (t *Table) counts(p *peer) (Counts, error) {
	var c Counts
	objs, err := t.nft.GetNamedObjects(t.table)
	if err != nil {
		return c, fmt.Errorf("read counters: %w", err)
	}
	for _, o := range objs {
		n, ok := o.(*nftables.NamedObj)
		if !ok {
			continue
		}
		pk, ok := counterPackets(n)
		if !ok {
			continue
		}
		switch n.Name {
		case p.id + sentSuffix:
			c.Packets = pk
		case p.id + downSuffix, p.id + lossSuffix:
			c.Dropped += pk
		case p.id + dupSuffix:
			c.Duplicated = pk
		}
	}
	if t.q != nil {
		c.Delayed, c.Reordered = t.q.counts(p.addr)
	}
	return c, nil
}

// checkPeer returns the address faults toward peer are kept under, or why there are none.
func checkPeer(peer netip.Addr) (netip.Addr, error) {
	if !peer.IsValid() {
		return peer, errors.New("fault peer: no address given")
	}
	a := peer.Unmap()
	if !a.Is4() {
		return a, fmt.Errorf("fault peer %s: IPv6 peers are not supported, only IPv4 ones (the table is of family ip)", peer)
	}
	return a, nil
}

// peerID names the chain and counters of a peer: p10_250_1_2.
func peerID(a netip.Addr) string {
	return "p" + strings.ReplaceAll(a.String(), ".", "_")
}

// threshold returns the value under which a 32-bit uniform random falls with
// probability percent/100, and whether a comparison is needed at all (not for 100%).
func threshold(percent float64) (uint32, bool) {
	if percent >= 100 {
		return 0, false
	}
	v := math.Round(percent / 100 * (1 << 32))
	if v >= math.MaxUint32 {
		return math.MaxUint32, true
	}
	if v < 1 {
		v = 1
	}
	return uint32(v), true
}

// sortedPeers returns the peers in address order, so that rules come out the same way.
func (t *Table) sortedPeers() []*peer {
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *peer) int { return a.addr.Compare(b.addr) })
	return ps
}
