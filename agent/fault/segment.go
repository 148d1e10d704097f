package fault

import (
	"errors"
	"fmt"
	"net/netip"
)

// A host hands its interface TCP segments of up to 64 KiB at once (GSO), which the
// interface's driver cuts into packets. Netfilter sees the large segment, so a loss
// would drop dozens of packets' worth at once, and counts would count segments, not
// packets. While a fault acts on packets toward a peer, the interface the route to it
// uses takes segments of one packet (gso_max_segs 1, gso_max_size its MTU): every
// packet a fault sees is one that crosses the link. Connections made before pick the size up when they next look at
// their route. The interface's own size comes back once no fault needs it.

// segment makes the interface the route to addr uses hand out packet-sized segments,
// remembering its own size.
func (t *Table) segment(addr netip.Addr) (int, error) {
	ifindex, _, err := t.route(addr)
	if err != nil {
		return 0, err
	}
	if _, done := t.segmented[ifindex]; done {
		return ifindex, nil
	}
	link, err := t.rt.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("segment packets on interface %d: %w", ifindex, err)
	}
	a := link.Attrs()
	if a.MTU <= 0 || a.GSOMaxSize == 0 || int(a.GSOMaxSize) <= a.MTU && a.GSOMaxSegs <= 1 {
		t.segmented[ifindex] = gso{} // nothing to change, nothing to restore
		return ifindex, nil
	}
	if err := t.rt.LinkSetGSOMaxSegs(link, 1); err != nil {
		return 0, fmt.Errorf("segment packets on %s (gso_max_segs 1): %w", a.Name, err)
	}
	if err := t.rt.LinkSetGSOMaxSize(link, a.MTU); err != nil {
		_ = t.rt.LinkSetGSOMaxSegs(link, int(a.GSOMaxSegs))
		return 0, fmt.Errorf("segment packets on %s (gso_max_size %d): %w", a.Name, a.MTU, err)
	}
	t.segmented[ifindex] = gso{size: int(a.GSOMaxSize), segs: int(a.GSOMaxSegs)}
	return ifindex, nil
}

// gso is an interface's own segment limits, to restore; zero: nothing to restore.
type gso struct{ size, segs int }

// unsegment gives ifindex its own segment size back unless a peer's packet faults still
// go out of it; all: whatever peers remain (Close).
func (t *Table) unsegment(ifindex int, all bool) error {
	size, ok := t.segmented[ifindex]
	if !ok {
		return nil
	}
	if !all {
		for _, p := range t.peers {
			if p.segIf == ifindex {
				return nil
			}
		}
	}
	delete(t.segmented, ifindex)
	if size == (gso{}) {
		return nil
	}
	link, err := t.rt.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("restore segments on interface %d: %w", ifindex, err)
	}
	if err := t.rt.LinkSetGSOMaxSize(link, size.size); err != nil {
		return fmt.Errorf("restore segments on %s (gso_max_size %d): %w", link.Attrs().Name, size.size, err)
	}
	if err := t.rt.LinkSetGSOMaxSegs(link, size.segs); err != nil {
		return fmt.Errorf("restore segments on %s (gso_max_segs %d): %w", link.Attrs().Name, size.segs, err)
	}
	return nil
}

// unsegmentAll restores every interface (Close).
func (t *Table) unsegmentAll() error {
	var errs []error
	for ifindex := range t.segmented {
		errs = append(errs, t.unsegment(ifindex, true))
	}
	return errors.Join(errs...)
}
