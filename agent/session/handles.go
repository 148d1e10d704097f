package session

import (
	"sync/atomic"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// resource is what a handle holds. Sockets are the one kind today; an operation on a
// handle asserts the kind it acts on.
type resource interface {
	// Kind names the kind of resource in messages ("socket").
	Kind() string
	// Describe fills what an event about the resource shows of it: a socket's addresses.
	Describe(ev *socklabv1.Event)
	// Close releases the resource. Only the session's close path calls it.
	Close() error
}

// entry is one handle of the session's table: the resource it holds and the order of the
// operations on it.
type entry struct {
	res    resource
	order  *order
	served string // the behaviour of the background server that accepted it; fixed at registration
	closed bool   // closed by the lab, a background server or the session's end (s.mu guards it)
}

// socket is a socket held by a handle, with what the session tracks about it.
type socket struct {
	*sock.Socket
	dir string // the session's directory, for AF_UNIX paths

	// sent and received count the stream's bytes in each direction; each is touched only
	// by the operations of its lane, which run one at a time.
	sent, received uint64

	local atomic.Pointer[socklabv1.Address] // cached once bound to a concrete address
	peer  atomic.Pointer[socklabv1.Address] // cached once a stream is connected
}

var _ resource = (*socket)(nil)

// Kind returns "socket".
func (so *socket) Kind() string { return "socket" }

// Describe gives ev the socket's own address and, for a stream, its peer's.
func (so *socket) Describe(ev *socklabv1.Event) {
	ev.Local = so.localAddr()
	if so.IsStream() {
		ev.Peer = so.peerAddr()
	}
}

// newSocket wraps an OS socket of the session.
func (s *Session) newSocket(so *sock.Socket) *socket {
	return &socket{Socket: so, dir: s.dir}
}

// reserve takes one place against the session's socket limit and one file against the
// agent's, for a socket (or a process) about to be made; unreserve gives them back if none
// was.
func (s *Session) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errdefs.Errorf(errdefs.ErrNotFound, "session %s ended: %s", s.id, s.endReason)
	}
	if s.open >= s.m.policy.MaxSockets {
		return errdefs.Errorf(errdefs.ErrResourceExhausted, "session %s holds %d sockets, this agent's limit: close some first", s.id, s.open)
	}
	if err := s.m.takeFiles(1, "a new socket"); err != nil {
		return err
	}
	s.open++
	return nil
}

// unreserve gives back a place reserve took for a socket that was never made.
func (s *Session) unreserve() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
	s.m.giveFiles(1)
}

// register gives a resource, whose place reserve took, a handle. served names the
// background server that accepted it ("": none). If the session ended meanwhile, the
// resource is closed.
func (s *Session) register(res resource, served string) (uint32, *entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		res.Close()
		return 0, nil, errdefs.Errorf(errdefs.ErrNotFound, "session %s ended: %s", s.id, s.endReason)
	}
	s.nextHandle++
	h := s.nextHandle
	e := &entry{res: res, order: newOrder(), served: served}
	s.handles[h] = e
	return h, e, nil
}

// entry returns handle h's entry.
func (s *Session) entry(h uint32) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, errdefs.Errorf(errdefs.ErrNotFound, "session %s ended: %s", s.id, s.endReason)
	}
	e, ok := s.handles[h]
	if !ok {
		return nil, errdefs.Errorf(errdefs.ErrNotFound, "session %s has no handle %d", s.id, h)
	}
	return e, nil
}

// Closing a handle takes two steps wherever it happens (the close operation, a background
// server whose peer left, the session's end, lease lapse included): claim, under s.mu,
// marks it closed exactly once and frees its place; shut then fills the event with what
// the resource showed and closes it.

// closeHandle closes e's resource, filling ev with what it showed. closed is false, and
// ev untouched, when e was already closed.
func (s *Session) closeHandle(e *entry, ev *socklabv1.Event) (closed bool, err error) {
	s.mu.Lock()
	claimed := s.claim(e)
	s.mu.Unlock()
	if !claimed {
		return false, nil
	}
	return true, shut(e, ev)
}

// claim marks e closed and frees its place against the socket limit; it reports false
// when e was already closed. s.mu must be held.
func (s *Session) claim(e *entry) bool {
	if e.closed {
		return false
	}
	e.closed = true
	s.open--
	s.m.giveFiles(1)
	return true
}

// shut closes a claimed entry's resource, first filling ev with what it showed.
func shut(e *entry, ev *socklabv1.Event) error {
	e.res.Describe(ev)
	return e.res.Close()
}

// Activity is what is under way on one handle.
type Activity struct {
	// Waiting counts the operations that arrived and wait for an earlier seq or for
	// their lane.
	Waiting int
	// Running names the operations that began and have not finished, sorted.
	Running []string
}

// Activity reports what is under way on handle h (nothing for an unknown handle): what a
// test must know before it acts on an operation it has started elsewhere, such as a recv
// that blocks.
func (s *Session) Activity(h uint32) Activity {
	s.mu.Lock()
	e := s.handles[h]
	s.mu.Unlock()
	if e == nil {
		return Activity{}
	}
	return e.order.activity()
}
