package session

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/fault"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that make the host's links fail: faults on the packets it sends toward a
// peer, made in the host's own network namespace (agent/fault). Only an agent whose
// owner allows faults (a host of a namespace or container of its own) takes them.

// faultKinds maps the API's kinds to the fault package's.
var faultKinds = map[socklabv1.FaultKind]fault.Kind{
	socklabv1.FaultKind_FAULT_KIND_DOWN:      fault.Down,
	socklabv1.FaultKind_FAULT_KIND_LOSS:      fault.Loss,
	socklabv1.FaultKind_FAULT_KIND_DELAY:     fault.Delay,
	socklabv1.FaultKind_FAULT_KIND_REORDER:   fault.Reorder,
	socklabv1.FaultKind_FAULT_KIND_DUPLICATE: fault.Duplicate,
	socklabv1.FaultKind_FAULT_KIND_RATE:      fault.Rate,
}

func init() {
	register("fault", spec[*socklabv1.FaultOp]{
		check: func(o *socklabv1.FaultOp, pol *policy.Policy) error {
			if err := faultsAllowed("fault", o.GetPeer(), pol); err != nil {
				return err
			}
			if _, ok := faultKinds[o.GetKind()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "fault: kind %v: use down, loss, delay, reorder, duplicate or rate", o.GetKind())
			}
			return nil
		},
		host: func(_ context.Context, c *call, o *socklabv1.FaultOp) error {
			peer := netip.MustParseAddr(o.GetPeer())
			f := fault.Fault{Kind: faultKinds[o.GetKind()], Percent: o.GetPercent(), RateKbit: int(o.GetRateKbit()),
				Delay: seconds(o.GetDelaySeconds()), Jitter: seconds(o.GetJitterSeconds()), Every: o.GetEvery()}
			if err := f.Validate(); err != nil {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "fault: %v", err)
			}
			t, err := c.s.m.faults()
			if err == nil {
				err = t.Set(peer, f)
			}
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "fault: %v", err)
			}
			c.s.faulted(peer)
			c.ev.Result = &socklabv1.Result{}
			return nil
		},
	})
	register("clear_faults", spec[*socklabv1.ClearFaultsOp]{
		check: func(o *socklabv1.ClearFaultsOp, pol *policy.Policy) error {
			return faultsAllowed("clear_faults", o.GetPeer(), pol)
		},
		host: func(_ context.Context, c *call, o *socklabv1.ClearFaultsOp) error {
			peer := netip.MustParseAddr(o.GetPeer())
			counts, err := c.s.m.clearFaults(peer)
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInternal, "clear_faults: %v", err)
			}
			c.s.unfaulted(peer)
			c.ev.Result = &socklabv1.Result{FaultCounts: faultCounts(counts)}
			return nil
		},
	})
	register("reset_link", spec[*socklabv1.ResetLinkOp]{
		check: func(o *socklabv1.ResetLinkOp, pol *policy.Policy) error {
			return faultsAllowed("reset_link", o.GetPeer(), pol)
		},
		host: func(_ context.Context, c *call, o *socklabv1.ResetLinkOp) error {
			n, err := fault.Reset(c.s.m.inNetns, netip.MustParseAddr(o.GetPeer()))
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInternal, "reset_link: %v", err)
			}
			c.ev.Result = &socklabv1.Result{Value: int64(n)}
			return nil
		},
	})
}

// faultsAllowed refuses a fault operation the owner does not allow, or whose peer is not
// an IPv4 address.
func faultsAllowed(op, peer string, pol *policy.Policy) error {
	if !pol.Faults {
		return errdefs.Errorf(errdefs.ErrPermissionDenied, "%s: this agent takes no link faults: it shares its host's network (run the lab with --topology netns or docker)", op)
	}
	a, err := netip.ParseAddr(peer)
	if err != nil || !a.Is4() {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: peer %q is not an IPv4 address", op, peer)
	}
	return nil
}

func faultCounts(c fault.Counts) *socklabv1.FaultCounts {
	return &socklabv1.FaultCounts{Packets: c.Packets, Dropped: c.Dropped, Delayed: c.Delayed, Duplicated: c.Duplicated, Reordered: c.Reordered}
}

// faults returns the agent's fault table, made in its namespace at the first fault.
func (m *Manager) faults() (*fault.Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faultTable == nil {
		t, err := fault.Open(m.inNetns)
		if err != nil {
			return nil, fmt.Errorf("make the host's fault table: %w", err)
		}
		m.faultTable = t
	}
	return m.faultTable, nil
}

// clearFaults removes every fault toward peer; none set is no error.
func (m *Manager) clearFaults(peer netip.Addr) (fault.Counts, error) {
	m.mu.Lock()
	t := m.faultTable
	m.mu.Unlock()
	if t == nil {
		return fault.Counts{}, nil
	}
	return t.Clear(peer)
}

// closeFaults removes the agent's fault table, as the agent stops.
func (m *Manager) closeFaults() {
	m.mu.Lock()
	t := m.faultTable
	m.faultTable = nil
	m.mu.Unlock()
	if t != nil {
		_ = t.Close()
	}
}

// faulted records that the session set a fault toward peer, which its end clears.
func (s *Session) faulted(peer netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faultPeers == nil {
		s.faultPeers = map[netip.Addr]bool{}
	}
	s.faultPeers[peer] = true
}

// clearFaults clears the faults the session set and left, as it ends, each with an event
// saying what it did: a fault's end is in the transcript whoever ended it.
func (s *Session) clearFaults(reason string) {
	s.mu.Lock()
	peers := s.faultPeers
	s.faultPeers = nil
	s.mu.Unlock()
	sorted := make([]netip.Addr, 0, len(peers))
	for p := range peers {
		sorted = append(sorted, p)
	}
	slices.SortFunc(sorted, netip.Addr.Compare)
	for _, p := range sorted {
		ev := &socklabv1.Event{
			Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Op: "clear_faults",
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_ClearFaults{ClearFaults: &socklabv1.ClearFaultsOp{Peer: p.String()}}},
			StartNs:   Monotonic(time.Now()),
			Note:      "cleared by the agent: " + reason,
		}
		counts, err := s.m.clearFaults(p)
		if err != nil {
			ev.Note += "; " + err.Error()
		}
		ev.Result = &socklabv1.Result{FaultCounts: faultCounts(counts)}
		ev.DurationNs = Monotonic(time.Now()) - ev.StartNs
		s.events.push(context.Background(), ev, false)
	}
}

// unfaulted records that the session's faults toward peer were cleared.
func (s *Session) unfaulted(peer netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faultPeers, peer)
}
