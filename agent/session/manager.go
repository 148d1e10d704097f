// Package session holds the agent's sessions: each one's sockets (by handle), the order of
// operations on them, their events, and the lease that bounds their life.
//
// A session ends when it is closed or when its lease lapses without renewal; either way
// every socket it holds is closed and its event stream ends with a EVENT_KIND_SESSION_END
// event. Nothing of one session is reachable from another.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/fault"
	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/netns"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/agent/sock"
)

// epoch anchors the agent's monotonic clock.
var epoch = time.Now()

// Monotonic returns t on the agent's monotonic clock, in nanoseconds since the agent began.
func Monotonic(t time.Time) int64 { return t.Sub(epoch).Nanoseconds() }

// queueLimit bounds a session's undelivered background events.
const queueLimit = 8192

// endedMemory is how many ended sessions are remembered, to say why a late call fails.
const endedMemory = 256

// Manager holds the agent's open sessions.
type Manager struct {
	name   string
	hostIP netip.Addr
	policy policy.Policy
	netns  *netns.Namespace // where sockets are made and programs start; nil: this process's

	files   *fileBudget // the files (sockets, programs' pipes) of all its sessions
	waiting waits       // requests of all its sessions waiting for their turn
	held    waits       // requests of all its sessions in progress

	mu         sync.Mutex        // protects the fields below
	launcher   *process.Launcher // starts the sessions' programs; made at the first spawn
	faultTable *fault.Table      // the host's link faults; made at the first
	sessions   map[string]*Session
	clients    map[netip.Addr]int // open sessions per remote client's address
	ended      map[string]endedAs // id -> how it ended, for the last endedMemory sessions
	endedOrder []string
}

// endedAs is what the agent remembers of an ended session: why it ended, and whom it
// answered to.
type endedAs struct {
	why   string
	owner client
}

// client is whom a session answers to: callers from an address, or (remote false) the
// agent's own process only.
type client struct {
	addr   netip.Addr
	remote bool
}

// admits reports whether caller c (nil: the agent's own process) may use a session of cl.
func (cl client) admits(c *Caller) bool {
	return c == nil || (cl.remote && cl.addr == c.client)
}

// New returns a manager for an agent called name whose sockets take hostIP as their own
// address (when valid), under pol, living in the network namespace ns (nil: this
// process's own).
func New(name string, hostIP netip.Addr, pol policy.Policy, ns *netns.Namespace) *Manager {
	return &Manager{name: name, hostIP: hostIP, policy: pol, netns: ns, files: newAgentFiles(pol),
		sessions: map[string]*Session{}, clients: map[netip.Addr]int{}, ended: map[string]endedAs{}}
}

// inNetns calls fn inside the agent's network namespace: where a socket must be made, a
// kernel table read or a program forked.
func (m *Manager) inNetns(fn func() error) error { return m.netns.Do(fn) }

// openSocket makes a socket in the agent's namespace, taking its host address as its own.
func (m *Manager) openSocket(family, typ int) (so *sock.Socket, err error) {
	if nerr := m.inNetns(func() error {
		so, err = sock.Open(family, typ, m.hostIP)
		return nil
	}); nerr != nil {
		return nil, nerr
	}
	return so, err
}

// sockets reads the kernel's socket tables of the agent's namespace.
func (m *Manager) sockets(f kernel.Filter) (rows []kernel.Socket, err error) {
	err = m.inNetns(func() error {
		rows, err = kernel.Sockets(f)
		return err
	})
	return rows, err
}

// sysctl reads a network knob of the agent's namespace.
func (m *Manager) sysctl(name string) (value string, found bool, err error) {
	err = m.inNetns(func() error {
		value, found, err = kernel.Sysctl(name)
		return err
	})
	return value, found, err
}

// Name returns the agent's name.
func (m *Manager) Name() string { return m.name }

// HostIP returns the address the agent's sockets take as their own.
func (m *Manager) HostIP() netip.Addr { return m.hostIP }

// Policy returns the policy the sessions run under.
func (m *Manager) Policy() policy.Policy { return m.policy }

// Options are what a controller asks of a new session.
type Options struct {
	// Lease is the session's lease; 0 means the policy's default.
	Lease time.Duration
	// Label names the session in logs, in at most MaxLabel bytes.
	Label string
	// PayloadCap bounds the payload kept per event; 0 means the policy's default.
	PayloadCap int
}

// Open starts a session for caller c, to whose client alone it will answer (nil: the
// agent's own process, which every session answers to and no quota bounds).
func (m *Manager) Open(c *Caller, opts Options) (*Session, error) {
	if len(opts.Label) > MaxLabel {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "label is %d bytes, over the limit of %d: shorten it", len(opts.Label), MaxLabel)
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("session id: %w", err)
	}
	s := &Session{
		id:         "ses_" + hex.EncodeToString(b[:]),
		label:      opts.Label,
		lease:      m.policy.Lease(opts.Lease),
		payloadCap: m.policy.PayloadCap(opts.PayloadCap),
		m:          m,
		done:       make(chan struct{}),
		handles:    map[uint32]*entry{},
	}
	if c != nil {
		s.owner = client{addr: c.client, remote: true}
	}
	s.events = newQueue(queueLimit, s.stamp)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) >= m.policy.MaxSessions {
		return nil, errdefs.Errorf(errdefs.ErrResourceExhausted, "this agent already has %d open sessions, its limit: close one first", len(m.sessions))
	}
	if n := m.clients[s.owner.addr]; s.owner.remote && m.policy.MaxSessionsPerClient > 0 && n >= m.policy.MaxSessionsPerClient {
		return nil, errdefs.Errorf(errdefs.ErrResourceExhausted, "client %s already has %d open sessions on this agent, its limit per client: close one first", clientString(s.owner.addr), n)
	}
	dir, err := makeDir(m.policy.SessionRoot)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	m.sessions[s.id] = s
	if s.owner.remote {
		m.clients[s.owner.addr]++
	}
	s.timer = time.AfterFunc(s.lease, func() { m.end(s, "lease lapsed") })
	return s, nil
}

// clientString writes a client's address for messages.
func clientString(a netip.Addr) string {
	if !a.IsValid() {
		return "with no IP address"
	}
	return a.String()
}

// Get returns an open session of caller c (nil: any session). A session another client
// opened is, to c, no session at all: c learns nothing of it, not even that it exists.
func (m *Manager) Get(c *Caller, id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[id]; ok && s.owner.admits(c) {
		return s, nil
	}
	if e, ok := m.ended[id]; ok && e.owner.admits(c) {
		return nil, errdefs.Errorf(errdefs.ErrNotFound, "session %s ended: %s", id, e.why)
	}
	if id == "" {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "session_id is missing: open a session first")
	}
	return nil, errdefs.Errorf(errdefs.ErrNotFound, "no session %s on this agent for this client (a session answers only to the address that opened it)", id)
}

// Renew restarts the lease of caller c's session and returns it.
func (m *Manager) Renew(c *Caller, id string) (time.Duration, error) {
	s, err := m.Get(c, id)
	if err != nil {
		return 0, err
	}
	s.timer.Reset(s.lease)
	return s.lease, nil
}

// Close ends caller c's session and returns how many sockets it still held.
func (m *Manager) Close(c *Caller, id string) (int, error) {
	s, err := m.Get(c, id)
	if err != nil {
		return 0, err
	}
	return m.end(s, "closed by the controller"), nil
}

// CloseAll ends every session, as the agent shuts down.
func (m *Manager) CloseAll(reason string) {
	m.mu.Lock()
	all := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	m.mu.Unlock()
	for _, s := range all {
		m.end(s, reason)
	}
	m.mu.Lock()
	l := m.launcher
	m.launcher = nil
	m.mu.Unlock()
	if l != nil {
		l.Close()
	}
	m.closeFaults()
}

// jobs returns the launcher of the sessions' programs, made at the first.
func (m *Manager) jobs() *process.Launcher {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.launcher == nil {
		m.launcher = process.NewLauncher(m.inNetns)
	}
	return m.launcher
}

// Count returns how many sessions are open.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func (m *Manager) end(s *Session, reason string) int {
	m.mu.Lock()
	if _, ok := m.sessions[s.id]; ok {
		delete(m.sessions, s.id)
		if s.owner.remote {
			if m.clients[s.owner.addr]--; m.clients[s.owner.addr] <= 0 {
				delete(m.clients, s.owner.addr)
			}
		}
		m.ended[s.id] = endedAs{why: reason, owner: s.owner}
		m.endedOrder = append(m.endedOrder, s.id)
		if len(m.endedOrder) > endedMemory {
			delete(m.ended, m.endedOrder[0])
			m.endedOrder = m.endedOrder[1:]
		}
	}
	m.mu.Unlock()
	return s.end(reason)
}
