package session

import (
	"fmt"
	"math"
	"net/netip"
	"sync"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Caller is one connection to the agent (a gRPC connection) and the client it comes from.
//
// A session answers only to callers from the client that opened it: its id, which travels
// in logs, events and stored transcripts, is of no use from anywhere else. The client is
// the peer's address rather than the connection so that a controller that reconnects, or
// a grpcurl user whose every call is a connection of its own, keeps its sessions; the
// token cannot tell callers apart, since every caller of an agent holds the same one.
//
// The requests a connection has in progress, and those waiting for their turn, are
// bounded too (policy.HeldPerConn, policy.WaitingPerConn), so that no connection can make
// the agent hold payloads without end.
type Caller struct {
	client  netip.Addr // where the caller connects from: its sessions answer to it
	waiting waits      // the connection's requests waiting for their turn
	held    waits      // the connection's requests in progress (read, not yet answered)
}

// NewCaller returns the caller of a new connection from the address client (invalid: a
// peer with no IP address, which every such peer shares).
func NewCaller(client netip.Addr) *Caller {
	return &Caller{client: client.Unmap()}
}

// Client returns the address the caller connects from.
func (c *Caller) Client() netip.Addr { return c.client }

// MaxLabel bounds a session's label, in bytes: labels go to the agent's log.
const MaxLabel = 256

// ShortID shortens a session id for the agent's log: enough to tell sessions apart and to
// find one in a transcript, not the whole id.
func ShortID(id string) string {
	const keep = len("ses_") + 8
	if len(id) <= keep {
		return id
	}
	return id[:keep] + "…"
}

// waits counts requests, those waiting for their turn (an earlier seq, or their lane) or
// those in progress, and the bytes they hold.
type waits struct {
	mu    sync.Mutex // protects n and bytes
	n     int
	bytes int64
}

// take counts one more waiting request of size bytes, unless that would take the count
// over lim; it reports whether it did.
func (w *waits) take(lim policy.WaitLimit, size int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n+1 > lim.Requests || w.bytes+size > lim.Bytes {
		return false
	}
	w.n++
	w.bytes += size
	return true
}

// give uncounts a request take counted.
func (w *waits) give(size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n--
	w.bytes -= size
}

// load returns the requests counted and their bytes.
func (w *waits) load() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.bytes
}

// scope is one count that bounds requests: a session's, a connection's or the agent's.
type scope struct {
	w    *waits
	lim  policy.WaitLimit
	name string // "this session"
}

// take counts a request of size bytes in every scope, or in none: it returns the first
// scope that refuses it.
func take(scopes []scope, size int64) (release func(), refused *scope) {
	for i := range scopes {
		if scopes[i].w.take(scopes[i].lim, size) {
			continue
		}
		for _, taken := range scopes[:i] {
			taken.w.give(size)
		}
		return nil, &scopes[i]
	}
	return func() {
		for _, sc := range scopes {
			sc.w.give(size)
		}
	}, nil
}

// holdWaiting counts a request of size bytes, from caller c (nil: in-process, bound by
// nothing of its own) to session s, that must wait for its turn, against the bounds on
// waiting requests of the session, the connection and the agent, and returns the release
// of that count. what says what the request waits for, for the refusal's message.
func (m *Manager) holdWaiting(s *Session, c *Caller, size int64, what string) (release func(), err error) {
	scopes := []scope{{&s.waiting, m.policy.WaitingPerSession, "this session"}}
	if c != nil {
		scopes = append(scopes, scope{&c.waiting, m.policy.WaitingPerConn, "this connection"})
	}
	scopes = append(scopes, scope{&m.waiting, m.policy.WaitingPerAgent, "this agent"})
	release, sc := take(scopes, size)
	if sc == nil {
		return release, nil
	}
	n, b := sc.w.load()
	return nil, errdefs.Errorf(errdefs.ErrResourceExhausted,
		"%s (%s), but %s already has %d requests holding %s waiting for their turn, and its limit is %d requests or %s: send the requests they wait for first, or wait for answers before sending more",
		what, sizeString(size), sc.name, n, sizeString(b), sc.lim.Requests, sizeString(sc.lim.Bytes))
}

// holdRequest counts a request of size bytes for op from caller c (nil: in-process)
// against the bounds on the bytes of requests in progress, of the connection and of the
// agent, from the moment it is read to its answer, and returns the release of that
// count: a request holds its payload all that time, waiting for its turn or running (a
// send to a peer that does not read runs until it is cancelled). op is named only in a
// refusal.
func (m *Manager) holdRequest(c *Caller, op *socklabv1.Operation, size int64) (release func(), err error) {
	var scopes []scope
	if c != nil {
		scopes = append(scopes, scope{&c.held, policy.WaitLimit{Requests: math.MaxInt, Bytes: m.policy.HeldPerConn}, "this connection"})
	}
	scopes = append(scopes, scope{&m.held, policy.WaitLimit{Requests: math.MaxInt, Bytes: m.policy.HeldPerAgent}, "this agent"})
	release, sc := take(scopes, size)
	if sc == nil {
		return release, nil
	}
	n, b := sc.w.load()
	return nil, errdefs.Errorf(errdefs.ErrResourceExhausted,
		"%s (%s) refused: %s already has %d requests holding %s in progress, and its limit is %s: wait for answers before sending more (a send to a peer that does not read holds its data until it ends)",
		opName(op), sizeString(size), sc.name, n, sizeString(b), sizeString(sc.lim.Bytes))
}

// sizeString writes a size in bytes for messages: "512 bytes", "16.0 MiB".
func sizeString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
