package fault

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// qdiscMajor is the major number of the handle of the tbf qdiscs a Table makes, by
// which Open also knows those an earlier Table left.
const qdiscMajor = 0x5c1a

// Rate's token bucket: a burst of 10ms at the rate (two frames at least), a queue of
// 100ms at the rate on top of it.
const (
	burstSeconds = 0.010
	queueSeconds = 0.100
)

// shape is an interface a Rate shapes, and the peers whose Rate it is.
type shape struct {
	ifindex  int
	rateKbit int
	peers    map[netip.Addr]bool
}

// shape makes or changes the tbf root qdisc of interface ifindex for p's Rate. The
// qdisc shapes everything the host sends on the interface: when another peer's Rate
// already shapes it at another rate, that is an error.
func (t *Table) shape(p *peer, ifindex, kbit int) error {
	link, err := t.rt.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("interface %d of the route: %w", ifindex, err)
	}
	name := link.Attrs().Name
	s := t.shapes[ifindex]
	if s != nil {
		for other := range s.peers {
			if other != p.addr && s.rateKbit != kbit {
				return fmt.Errorf("interface %s is shaped to %d kbit/s for peer %s, and a rate shapes all the interface sends: set the same rate, or clear %s first", name, s.rateKbit, other, other)
			}
		}
	} else {
		qs, err := t.rt.QdiscList(link)
		if err != nil {
			return fmt.Errorf("qdiscs of %s: %w", name, err)
		}
		for _, q := range qs {
			a := q.Attrs()
			if a.Parent == netlink.HANDLE_ROOT && a.Handle != 0 && a.Handle>>16 != qdiscMajor {
				return fmt.Errorf("interface %s has a root qdisc of its own (%s %x:), which a rate would replace: remove it first", name, q.Type(), a.Handle>>16)
			}
		}
	}
	if err := t.rt.QdiscReplace(tbf(link, kbit)); err != nil {
		return fmt.Errorf("tbf qdisc on %s at %d kbit/s: %w", name, kbit, err)
	}
	if s == nil {
		s = &shape{ifindex: ifindex, peers: map[netip.Addr]bool{}}
		t.shapes[ifindex] = s
	}
	s.rateKbit = kbit
	s.peers[p.addr] = true
	return nil
}

// tbf is the qdisc that shapes link to kbit.
func tbf(link netlink.Link, kbit int) *netlink.Tbf {
	rate := uint64(kbit) * 1000 / 8 // bytes per second
	frame := uint64(link.Attrs().MTU) + 14
	if frame < 1514 {
		frame = 1514
	}
	burst := max(uint64(float64(rate)*burstSeconds), 2*frame)
	limit := burst + max(uint64(float64(rate)*queueSeconds), 4*frame)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index,
			Handle:    netlink.MakeHandle(qdiscMajor, 0),
			Parent:    netlink.HANDLE_ROOT,
		},
		Rate:   rate,
		Limit:  uint32(min(limit, 1<<31)),
		Buffer: pschedTicks(float64(burst) / float64(rate)),
	}
}

// pschedTicks is a time in seconds in the kernel's packet scheduler ticks, 64ns since
// Linux 2.6.31 (PSCHED_SHIFT 6); netlink.Xmittime reads them from /proc/net/psched,
// which a container may not have.
func pschedTicks(seconds float64) uint32 {
	return uint32(min(seconds*1e9/64, math.MaxUint32))
}

// releaseShape takes p's Rate off its interface, and the qdisc with it when no other
// peer's Rate is on that interface.
func (t *Table) releaseShape(p *peer) error {
	ifindex := p.rateIf
	p.rateIf = 0
	s := t.shapes[ifindex]
	if s == nil {
		return nil
	}
	delete(s.peers, p.addr)
	if len(s.peers) > 0 {
		return nil
	}
	delete(t.shapes, ifindex)
	return t.unshape(ifindex)
}

// unshape removes the Table's qdisc from interface ifindex; the kernel's default comes
// back. An interface or qdisc gone already is no error.
func (t *Table) unshape(ifindex int) error {
	err := t.rt.QdiscDel(&netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: ifindex,
		Handle:    netlink.MakeHandle(qdiscMajor, 0),
		Parent:    netlink.HANDLE_ROOT,
	}})
	if err != nil && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remove tbf qdisc of interface %d: %w", ifindex, err)
	}
	return nil
}

// removeStrayShapes removes root qdiscs with the Table's handle, which an earlier
// Table of the namespace left.
func (t *Table) removeStrayShapes() error {
	qs, err := t.rt.QdiscList(nil)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	var errs []error
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && a.Handle>>16 == qdiscMajor {
			if err := t.unshape(a.LinkIndex); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
