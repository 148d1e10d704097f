package session

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/process"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Session is one controller's use of the agent: its handles, their ordering, its events
// and its lease. Everything it holds is released when it ends.
type Session struct {
	id         string
	owner      client // whom the session answers to
	label      string
	dir        string // the session's own directory: AF_UNIX paths, later uploaded files
	lease      time.Duration
	payloadCap int
	m          *Manager
	timer      *time.Timer
	done       chan struct{} // closed when the session ends
	events     *queue
	seq        atomic.Uint64 // the last event seq handed out
	bg         background    // background servers (serve)
	waiting    waits         // requests waiting for their turn

	mu         sync.Mutex // protects the fields below and every entry's closed
	handles    map[uint32]*entry
	nextHandle uint32
	open       int // places taken against the socket limit and not yet freed
	ended      bool
	endReason  string
	jobs       int                 // programs running
	group      *process.Group      // the group the session's programs share, made at the first spawn
	faultPeers map[netip.Addr]bool // the peers toward which the session set link faults
}

// ID returns the session's id.
func (s *Session) ID() string { return s.id }

// Lease returns the session's lease.
func (s *Session) Lease() time.Duration { return s.lease }

// PayloadCap returns the bytes of payload kept per event.
func (s *Session) PayloadCap() int { return s.payloadCap }

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// Perform runs one operation for caller c (nil: the agent's own process). Socket errors
// are part of the returned event; a returned error is a request error (*errdefs.Error) or
// the context's.
func (s *Session) Perform(ctx context.Context, c *Caller, req *socklabv1.PerformRequest) (*socklabv1.PerformResponse, error) {
	size := int64(proto.Size(req))
	release, err := s.m.holdRequest(c, req.GetOperation(), size)
	if err != nil {
		return nil, err
	}
	defer release()
	if req.GetHandle() == 0 || req.GetOperation().GetOp() == nil {
		return s.performOnHost(ctx, req)
	}
	return s.performOnHandle(ctx, c, req, size)
}

// holder returns the count of caller c's request of size bytes against the bounds on
// waiting requests, for when it must wait for its turn.
func (s *Session) holder(c *Caller, size int64) holder {
	return func(what string) (func(), error) {
		return s.m.holdWaiting(s, c, size, what)
	}
}

// performOnHost runs an operation on the host itself: socket, ss, sysctl, connect_many.
func (s *Session) performOnHost(ctx context.Context, req *socklabv1.PerformRequest) (*socklabv1.PerformResponse, error) {
	o, m, err := lookup(req.GetOperation())
	if err != nil {
		return nil, err
	}
	if err := o.validate(0, m, &s.m.policy); err != nil {
		return nil, err
	}
	start := time.Now()
	ev := &socklabv1.Event{
		Kind:      socklabv1.EventKind_EVENT_KIND_OPERATION,
		Op:        string(o.name),
		Operation: req.GetOperation(),
		StartNs:   Monotonic(start),
	}
	resp := &socklabv1.PerformResponse{Event: ev}
	if err := o.host(ctx, &call{s: s, ev: ev, resp: resp}, m); err != nil {
		return nil, err
	}
	ev.DurationNs = time.Since(start).Nanoseconds()
	s.stamp(ev)
	return resp, nil
}

// performOnHandle runs an operation on a handle, in its order.
func (s *Session) performOnHandle(ctx context.Context, caller *Caller, req *socklabv1.PerformRequest, size int64) (*socklabv1.PerformResponse, error) {
	operation := req.GetOperation()
	e, err := s.entry(req.GetHandle())
	if err != nil {
		return nil, err
	}
	// A request that is malformed still takes its turn (its seq), then fails.
	o, m, lookupErr := lookup(operation)
	l, name := noLane, "unknown"
	if lookupErr == nil {
		l, name = o.lane, string(o.name)
	}
	release, err := e.order.begin(ctx, req.GetHandle(), req.GetSeq(), l, name, s.done, s.holder(caller, size))
	if err != nil {
		return nil, err
	}
	defer release()
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err := o.validate(req.GetHandle(), m, &s.m.policy); err != nil {
		return nil, err
	}
	if o.process != nil {
		return s.performOnProcess(ctx, req, e, o, m)
	}
	so, ok := e.res.(*socket)
	if !ok {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s needs a socket: handle %d holds a %s", o.name, req.GetHandle(), e.res.Kind())
	}
	c := &call{s: s, h: req.GetHandle(), e: e, so: so}
	// An address that does not resolve for the socket's family is the call's outcome,
	// raised before it is made, as Python raises it.
	var unresolved *addressError
	if o.address != nil {
		if c.addr, err = s.resolve(string(o.name), o.address(m), so); err != nil && !errors.As(err, &unresolved) {
			return nil, err
		}
	}
	if o.reserves {
		if err := s.reserve(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	c.ev = &socklabv1.Event{
		Kind:      socklabv1.EventKind_EVENT_KIND_OPERATION,
		Handle:    req.GetHandle(),
		Op:        string(o.name),
		Operation: operation,
		StartNs:   Monotonic(start),
	}
	c.resp = &socklabv1.PerformResponse{Event: c.ev}
	var opErr error
	if unresolved != nil {
		opErr = unresolved
	} else {
		opErr = o.run(ctx, c, m)
	}
	ev := c.ev
	ev.DurationNs = time.Since(start).Nanoseconds()
	if ev.Local == nil {
		ev.Local = so.localAddr()
	}
	if ev.Peer == nil && so.IsStream() {
		ev.Peer = so.peerAddr()
	}
	if opErr != nil && ctx.Err() != nil && errors.Is(opErr, ctx.Err()) {
		// The request was cancelled mid-operation: the caller will never read this event,
		// so the session's stream records it instead.
		ev.Error = &socklabv1.SocketError{Name: "cancelled", Message: "the request was cancelled"}
		ev.Kind = socklabv1.EventKind_EVENT_KIND_BACKGROUND
		ev.Note = "cancelled by the caller while in progress"
		s.events.push(context.Background(), ev, false)
		return nil, ctx.Err()
	}
	var refused *errdefs.Error
	if errors.As(opErr, &refused) {
		return nil, opErr // the request itself is refused (policy, a limit): no socket error
	}
	if opErr != nil {
		ev.Error = SocketError(opErr)
	}
	s.stamp(ev)
	return c.resp, nil
}

// performOnProcess runs an operation on a handle's process, in its order (begun by the
// caller).
func (s *Session) performOnProcess(ctx context.Context, req *socklabv1.PerformRequest, e *entry, o *op, m proto.Message) (*socklabv1.PerformResponse, error) {
	pr, ok := e.res.(*proc)
	if !ok {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s needs a process: handle %d holds a %s", o.name, req.GetHandle(), e.res.Kind())
	}
	start := time.Now()
	c := &call{s: s, h: req.GetHandle(), e: e, pr: pr}
	c.ev = &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Handle: req.GetHandle(), Op: string(o.name),
		Operation: req.GetOperation(), StartNs: Monotonic(start)}
	c.resp = &socklabv1.PerformResponse{Event: c.ev}
	opErr := o.process(ctx, c, m)
	c.ev.DurationNs = time.Since(start).Nanoseconds()
	if opErr != nil && ctx.Err() != nil && errors.Is(opErr, ctx.Err()) {
		return nil, ctx.Err() // a wait the caller gave up on (its watchdog): nothing happened
	}
	if opErr != nil {
		c.ev.Error = &socklabv1.SocketError{Name: "error", Message: opErr.Error()}
	}
	s.stamp(c.ev)
	return c.resp, nil
}
