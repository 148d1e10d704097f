package session

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Session is one controller's use of the agent: its sockets, their ordering, its events
// and its lease. Everything it holds is released when it ends.
type Session struct {
	id         string
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

	mu         sync.Mutex // protects everything below
	handles    map[uint32]*entry
	nextHandle uint32
	open       int // sockets not yet closed
	ended      bool
	endReason  string
}

// entry is one handle: its socket, ordering and byte offsets.
type entry struct {
	sock   *sock.Socket
	order  *order
	closed bool   // closed by the lab (s.mu guards it)
	served string // the behaviour of the background server that accepted it (s.mu guards it)

	// sent and received count the stream's bytes in each direction; each is touched only
	// by the operations of its lane, which run one at a time.
	sent, received uint64

	dir   string                            // the session's directory, for AF_UNIX paths
	local atomic.Pointer[socklabv1.Address] // cached once bound to a concrete address
	peer  atomic.Pointer[socklabv1.Address] // cached once a stream is connected
}

// ID returns the session's id.
func (s *Session) ID() string { return s.id }

// Lease returns the session's lease.
func (s *Session) Lease() time.Duration { return s.lease }

// PayloadCap returns the bytes of payload kept per event.
func (s *Session) PayloadCap() int { return s.payloadCap }

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// stamp gives an event the session's identity and next seq.
func (s *Session) stamp(ev *socklabv1.Event) {
	ev.Host = s.m.name
	ev.SessionId = s.id
	ev.Seq = s.seq.Add(1)
}

// Perform runs one operation. Socket errors are part of the returned event; a returned
// error is a request error (*Error) or the context's.
func (s *Session) Perform(ctx context.Context, req *socklabv1.PerformRequest) (*socklabv1.PerformResponse, error) {
	op := req.GetOperation()
	pol := s.m.policy
	if req.GetHandle() == 0 || op.GetOp() == nil {
		if err := Validate(req, &pol); err != nil {
			return nil, err
		}
		if _, isSocket := op.GetOp().(*socklabv1.Operation_Socket); isSocket {
			return s.newSocket(ctx, op)
		}
		return s.hostOp(ctx, op)
	}
	e, err := s.entry(req.GetHandle())
	if err != nil {
		return nil, err
	}
	release, err := e.order.begin(ctx, req.GetHandle(), req.GetSeq(), laneOf(op), s.done)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := Validate(req, &pol); err != nil {
		return nil, err
	}
	var addr sock.Addr
	if opAddress(op) != nil {
		if addr, err = s.resolve(e, op); err != nil {
			return nil, err
		}
	}
	if _, isAccept := op.GetOp().(*socklabv1.Operation_Accept); isAccept {
		if err := s.reserve(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	ev := &socklabv1.Event{
		Kind:      socklabv1.EventKind_EVENT_KIND_OPERATION,
		Handle:    req.GetHandle(),
		Op:        opName(op),
		Operation: op,
		StartNs:   Monotonic(start),
	}
	resp := &socklabv1.PerformResponse{Event: ev}
	opErr := s.run(ctx, e, op, addr, ev, resp)
	ev.DurationNs = time.Since(start).Nanoseconds()
	if ev.Local == nil {
		ev.Local = e.localAddr()
	}
	if ev.Peer == nil && e.sock.IsStream() {
		ev.Peer = e.peerAddr()
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
	if opErr != nil {
		ev.Error = SocketError(opErr)
	}
	s.stamp(ev)
	return resp, nil
}

// newSocket performs socket(family, type).
func (s *Session) newSocket(ctx context.Context, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	o := op.GetSocket()
	typ := unix.SOCK_STREAM
	if o.GetType() == socklabv1.SocketType_SOCKET_TYPE_DGRAM {
		typ = unix.SOCK_DGRAM
	}
	if err := s.reserve(); err != nil {
		return nil, err
	}
	start := time.Now()
	ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Op: "socket", Operation: op, StartNs: Monotonic(start)}
	so, err := sock.Open(families[o.GetFamily()], typ, s.m.hostIP)
	ev.DurationNs = time.Since(start).Nanoseconds()
	if err != nil {
		s.unreserve()
		ev.Error = SocketError(err)
	} else if h, err := s.register(so); err != nil {
		return nil, err
	} else {
		ev.Handle = h
		ev.Result = &socklabv1.Result{Handle: h}
	}
	s.stamp(ev)
	return &socklabv1.PerformResponse{Event: ev}, nil
}

// hostOp performs an operation on the host itself: the kernel's socket table, a sysctl.
func (s *Session) hostOp(ctx context.Context, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	start := time.Now()
	ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Op: opName(op), Operation: op, StartNs: Monotonic(start)}
	ev.Result = &socklabv1.Result{}
	var err error
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Ss:
		f := kernel.Filter{Port: uint16(o.Ss.GetPort()), State: o.Ss.GetState(), Protocol: o.Ss.GetProtocol()}
		f.Host, _ = netip.ParseAddr(o.Ss.GetHost())
		var rows []kernel.Socket
		if rows, err = kernel.Sockets(f); err == nil {
			for _, r := range rows {
				ev.Result.Sockets = append(ev.Result.Sockets, kernelSocket(r))
			}
		}
	case *socklabv1.Operation_Sysctl:
		ev.Result.Text, ev.Result.Found, err = kernel.Sysctl(o.Sysctl.GetName())
	case *socklabv1.Operation_ConnectMany:
		if err := s.connectMany(ctx, o.ConnectMany, ev); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, errorf(Invalid, "%s: %v", opName(op), err)
	}
	ev.DurationNs = time.Since(start).Nanoseconds()
	s.stamp(ev)
	return &socklabv1.PerformResponse{Event: ev}, nil
}

func kernelSocket(r kernel.Socket) *socklabv1.KernelSocket {
	k := &socklabv1.KernelSocket{Protocol: r.Protocol, State: r.State, RecvQueue: r.RecvQ, SendQueue: r.SendQ, Inode: r.Inode, Uid: r.UID,
		Local: &socklabv1.Address{Host: r.Local.Addr().String(), Port: uint32(r.Local.Port())}}
	if r.Peer.IsValid() {
		k.Peer = &socklabv1.Address{Host: r.Peer.Addr().String(), Port: uint32(r.Peer.Port())}
	}
	return k
}

// markClosed records that e is closed and frees its place against the socket limit; it
// reports false when e was already closed.
func (s *Session) markClosed(e *entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.closed {
		return false
	}
	e.closed = true
	s.open--
	return true
}

// reserve counts one more open socket against the session's limit.
func (s *Session) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errorf(NotFound, "session %s ended: %s", s.id, s.endReason)
	}
	if s.open >= s.m.policy.MaxSockets {
		return errorf(Exhausted, "session %s holds %d sockets, this agent's limit: close some first", s.id, s.open)
	}
	s.open++
	return nil
}

func (s *Session) unreserve() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
}

// register gives a reserved socket a handle; if the session ended meanwhile, it is closed.
func (s *Session) register(so *sock.Socket) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		so.Close()
		return 0, errorf(NotFound, "session %s ended: %s", s.id, s.endReason)
	}
	s.nextHandle++
	h := s.nextHandle
	s.handles[h] = &entry{sock: so, order: newOrder(), dir: s.dir}
	return h, nil
}

func (s *Session) entry(h uint32) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, errorf(NotFound, "session %s ended: %s", s.id, s.endReason)
	}
	e, ok := s.handles[h]
	if !ok {
		return nil, errorf(NotFound, "session %s has no handle %d", s.id, h)
	}
	return e, nil
}

// opAddress returns the address an operation carries (bind, connect, connect_ex, sendto).
func opAddress(op *socklabv1.Operation) *socklabv1.Address {
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Bind:
		return o.Bind.GetAddress()
	case *socklabv1.Operation_Connect:
		return o.Connect.GetAddress()
	case *socklabv1.Operation_ConnectEx:
		return o.ConnectEx.GetAddress()
	case *socklabv1.Operation_Sendto:
		return o.Sendto.GetAddress()
	}
	return nil
}

// resolve turns an operation's address into one of the socket's family and applies the
// owner's policy: allowed networks for connect and sendto, allowed ports for bind, and
// AF_UNIX paths confined to the session's own directory.
func (s *Session) resolve(e *entry, op *socklabv1.Operation) (sock.Addr, error) {
	name := opName(op)
	spec, err := parseAddr(name, opAddress(op))
	if err != nil {
		return sock.Addr{}, err
	}
	a, err := spec.forFamily(name, e.sock.Family())
	if err != nil {
		return sock.Addr{}, err
	}
	pol := &s.m.policy
	if a.Path != "" {
		return s.confine(name, a)
	}
	if _, isBind := op.GetOp().(*socklabv1.Operation_Bind); isBind {
		if !pol.AllowsBindPort(a.Port) {
			return sock.Addr{}, errorf(Denied, "bind to port %d is outside this agent's allowed ports (%s); its owner sets them with --bind-ports", a.Port, pol.PortsString())
		}
		return a, nil
	}
	if !pol.AllowsDestination(a.IP) {
		return sock.Addr{}, errorf(Denied, "%s to %s is outside this agent's allowed networks (%s); its owner sets them with --allow-net", name, a, pol.NetworksString())
	}
	return a, nil
}

// confine places an AF_UNIX path inside the session's directory: a relative name lands
// there; an absolute path must already be there.
func (s *Session) confine(op string, a sock.Addr) (sock.Addr, error) {
	p := a.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.dir, p)
	}
	p = filepath.Clean(p)
	if p != s.dir && !strings.HasPrefix(p, s.dir+string(filepath.Separator)) {
		return sock.Addr{}, errorf(Denied, "%s: AF_UNIX path %q is outside the session's directory: use a relative name such as \"server.sock\"", op, a.Path)
	}
	if len(p) >= 108 {
		return sock.Addr{}, errorf(Invalid, "%s: AF_UNIX path %q is too long (%d bytes with the session directory; at most 107)", op, a.Path, len(p))
	}
	return sock.Addr{Path: p}, nil
}

// run performs op on e, filling ev and resp; it returns the socket error, if any.
func (s *Session) run(ctx context.Context, e *entry, op *socklabv1.Operation, addr sock.Addr, ev *socklabv1.Event, resp *socklabv1.PerformResponse) error {
	so := e.sock
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Setsockopt:
		opt, _ := sock.LookupOption(int(o.Setsockopt.GetLevel()), int(o.Setsockopt.GetName()))
		ev.Result = &socklabv1.Result{OptionName: opt.Symbol}
		if b, ok := o.Setsockopt.GetValue().(*socklabv1.SetSockOptOp_BytesValue); ok {
			return so.SetOptionBytes(opt.Level, opt.Name, b.BytesValue)
		}
		return so.SetOptionInt(opt.Level, opt.Name, int(o.Setsockopt.GetIntValue()))
	case *socklabv1.Operation_Getsockopt:
		opt, _ := sock.LookupOption(int(o.Getsockopt.GetLevel()), int(o.Getsockopt.GetName()))
		ev.Result = &socklabv1.Result{OptionName: opt.Symbol}
		if n := o.Getsockopt.GetBuflen(); n > 0 {
			b, err := so.OptionBytes(opt.Level, opt.Name, int(n))
			ev.Result.BytesValue = b
			return err
		}
		v, err := so.OptionInt(opt.Level, opt.Name)
		ev.Result.Value = int64(v)
		return err
	case *socklabv1.Operation_Bind:
		return so.Bind(addr)
	case *socklabv1.Operation_Listen:
		backlog := sock.DefaultBacklog
		if o.Listen.Backlog != nil {
			backlog = int(o.Listen.GetBacklog())
		}
		return so.Listen(backlog)
	case *socklabv1.Operation_Accept:
		c, from, err := so.Accept(ctx)
		if err != nil {
			s.unreserve()
			return err
		}
		h, err := s.register(c)
		if err != nil {
			return err
		}
		ev.Result = &socklabv1.Result{Handle: h, Address: e.toAddress(from)}
		ev.Peer = e.toAddress(from)
		return nil
	case *socklabv1.Operation_Connect:
		ev.Peer = e.toAddress(addr)
		return so.Connect(ctx, addr)
	case *socklabv1.Operation_ConnectEx:
		ev.Peer = e.toAddress(addr)
		err := so.Connect(ctx, addr)
		if errors.Is(err, sock.ErrTimeout) {
			err = unix.EAGAIN // CPython's connect_ex reports a timeout as EWOULDBLOCK
		}
		var errno unix.Errno
		if errors.As(err, &errno) {
			ev.Result = &socklabv1.Result{Value: int64(errno)}
		}
		return err
	case *socklabv1.Operation_Send:
		return s.send(ctx, e, ev, o.Send.GetData(), func() (int, error) {
			return so.Send(ctx, o.Send.GetData(), int(o.Send.GetFlags()))
		}, &socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{Flags: o.Send.GetFlags()}}})
	case *socklabv1.Operation_Sendall:
		return s.send(ctx, e, ev, o.Sendall.GetData(), func() (int, error) {
			return so.SendAll(ctx, o.Sendall.GetData(), int(o.Sendall.GetFlags()))
		}, &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{Flags: o.Sendall.GetFlags()}}})
	case *socklabv1.Operation_Sendto:
		ev.Peer = e.toAddress(addr)
		return s.send(ctx, e, ev, o.Sendto.GetData(), func() (int, error) {
			return so.SendTo(ctx, o.Sendto.GetData(), int(o.Sendto.GetFlags()), addr)
		}, &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Flags: o.Sendto.GetFlags(), Address: o.Sendto.GetAddress()}}})
	case *socklabv1.Operation_Recv:
		return s.recv(ctx, e, ev, resp, o.Recv)
	case *socklabv1.Operation_Recvfrom:
		err := s.recv(ctx, e, ev, resp, o.Recvfrom)
		if err == nil && ev.Result.Address == nil && !so.IsStream() {
			ev.Result.Address = ev.Peer
		}
		return err
	case *socklabv1.Operation_Shutdown:
		return so.Shutdown(shutdownHow[o.Shutdown.GetHow()])
	case *socklabv1.Operation_Close:
		ev.Local = e.localAddr()
		if so.IsStream() {
			ev.Peer = e.peerAddr()
		}
		s.markClosed(e)
		return so.Close()
	case *socklabv1.Operation_Getsockname:
		a, err := so.LocalAddr()
		if err == nil {
			ev.Result = &socklabv1.Result{Address: e.toAddress(a)}
		}
		return err
	case *socklabv1.Operation_Getpeername:
		a, err := so.PeerAddr()
		if err == nil {
			ev.Result = &socklabv1.Result{Address: e.toAddress(a)}
		}
		return err
	case *socklabv1.Operation_Settimeout:
		if o.Settimeout.Seconds == nil {
			so.SetTimeout(-1)
		} else {
			so.SetTimeout(time.Duration(o.Settimeout.GetSeconds() * float64(time.Second)))
		}
		return nil
	case *socklabv1.Operation_Setblocking:
		if o.Setblocking.GetBlocking() {
			so.SetTimeout(-1)
		} else {
			so.SetTimeout(0)
		}
		return nil
	case *socklabv1.Operation_SendBulk:
		return s.sendBulk(ctx, e, ev, o.SendBulk.GetCount())
	case *socklabv1.Operation_Drain:
		return s.drain(ctx, e, ev, o.Drain.GetCount())
	case *socklabv1.Operation_Serve:
		if v, err := so.OptionInt(unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v == 0 {
			return unix.EINVAL // as accept() on a socket that does not listen
		}
		s.serve(ev.GetHandle(), e, o.Serve.GetBehaviour())
		return nil
	case *socklabv1.Operation_Gettimeout:
		ev.Result = &socklabv1.Result{}
		if t := so.Timeout(); t >= 0 {
			secs := t.Seconds()
			ev.Result.TimeoutSeconds = &secs
		}
		return nil
	}
	return fmt.Errorf("operation %s: not implemented", opName(op))
}

// send runs a sending operation and records its count, payload and stream offset.
func (s *Session) send(ctx context.Context, e *entry, ev *socklabv1.Event, data []byte, do func() (int, error), shown *socklabv1.Operation) error {
	ev.Operation = shown // the data moves to the payload, capped
	ev.StreamOffset = e.sent
	n, err := do()
	if e.sock.IsStream() {
		e.sent += uint64(n)
	}
	sent := data[:n]
	ev.Result = &socklabv1.Result{Value: int64(n)}
	ev.Payload = capped(sent, s.payloadCap)
	ev.PayloadLength = uint64(len(sent))
	return err
}

// recv runs recv or recvfrom and records the data, sender and stream offset.
func (s *Session) recv(ctx context.Context, e *entry, ev *socklabv1.Event, resp *socklabv1.PerformResponse, o *socklabv1.RecvOp) error {
	ev.StreamOffset = e.received
	r, err := e.sock.Recv(ctx, int(o.GetBufsize()), int(o.GetFlags()))
	if err != nil {
		return err
	}
	if e.sock.IsStream() && o.GetFlags()&unix.MSG_PEEK == 0 {
		e.received += uint64(len(r.Data))
	}
	resp.Data = r.Data
	ev.Payload = capped(r.Data, s.payloadCap)
	ev.PayloadLength = uint64(len(r.Data))
	ev.Result = &socklabv1.Result{Truncated: r.Truncated}
	if !e.sock.IsStream() {
		ev.Result.DatagramLength = uint64(r.Length)
	}
	if r.From.IsValid() {
		ev.Peer = e.toAddress(r.From)
		ev.Result.Address = ev.Peer
	}
	return nil
}

func capped(b []byte, limit int) []byte {
	if len(b) > limit {
		b = b[:limit]
	}
	return append([]byte(nil), b...)
}

// localAddr returns the socket's own address, cached once it is concrete.
func (e *entry) localAddr() *socklabv1.Address {
	if a := e.local.Load(); a != nil {
		return a
	}
	a, err := e.sock.LocalAddr()
	if err != nil || !a.IsValid() {
		return nil
	}
	out := e.toAddress(a)
	if a.Path != "" || a.Port != 0 && !a.IP.IsUnspecified() {
		e.local.Store(out)
	}
	return out
}

// peerAddr returns a stream's peer address, cached once connected.
func (e *entry) peerAddr() *socklabv1.Address {
	if a := e.peer.Load(); a != nil {
		return a
	}
	a, err := e.sock.PeerAddr()
	if err != nil || !a.IsValid() {
		return nil
	}
	out := e.toAddress(a)
	e.peer.Store(out)
	return out
}

// toAddress turns a socket address into the API's; an AF_UNIX path inside the session's
// directory is shown relative to it, as the lab named it.
func (e *entry) toAddress(a sock.Addr) *socklabv1.Address {
	if !a.IsValid() {
		return nil
	}
	if a.Path != "" {
		p := a.Path
		if rel, ok := strings.CutPrefix(p, e.dir+string(filepath.Separator)); ok {
			p = rel
		}
		return &socklabv1.Address{Path: p}
	}
	return &socklabv1.Address{Host: a.IP.String(), Port: uint32(a.Port)}
}

// SocketError turns a socket call's error into what a lab observes: the errno's name,
// number and C library message, or Python's "timed out".
func SocketError(err error) *socklabv1.SocketError {
	if err == nil {
		return nil
	}
	if errors.Is(err, sock.ErrTimeout) {
		return &socklabv1.SocketError{Name: "timeout", Message: "timed out"}
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		name := unix.ErrnoName(errno)
		if name == "" {
			name = fmt.Sprintf("errno%d", int(errno))
		}
		return &socklabv1.SocketError{Name: name, Errno: int32(errno), Message: strerror(errno)}
	}
	return &socklabv1.SocketError{Name: "error", Message: err.Error()}
}

// strerror returns the C library's message for errno: Go's table, capitalised as glibc's.
func strerror(errno unix.Errno) string {
	msg := errno.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// end closes every socket the session holds, records why, and ends its event stream.
// It returns how many sockets were still open.
func (s *Session) end(reason string) int {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return 0
	}
	s.ended = true
	s.endReason = reason
	close(s.done)
	type open struct {
		h      uint32
		e      *entry
		served string
	}
	var toClose []open
	for h, e := range s.handles {
		if !e.closed {
			e.closed = true
			toClose = append(toClose, open{h, e, e.served})
		}
	}
	s.open = 0
	s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.bg.stop(5 * time.Second)
	for _, c := range toClose {
		ev := &socklabv1.Event{
			Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Handle: c.h, Op: "close",
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}},
			Local:     c.e.localAddr(), StartNs: Monotonic(time.Now()),
			Note: closeNote(reason, c.served),
		}
		if c.e.sock.IsStream() {
			ev.Peer = c.e.peerAddr()
		}
		if err := c.e.sock.Close(); err != nil {
			ev.Error = SocketError(err)
		}
		s.events.push(context.Background(), ev, false)
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	s.events.close(&socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SESSION_END, StartNs: Monotonic(time.Now()),
		Note: fmt.Sprintf("session ended: %s; %d sockets closed", reason, len(toClose))})
	return len(toClose)
}

// closeNote says why the agent closed a socket, and which background server held it.
func closeNote(reason, served string) string {
	if served != "" {
		return "closed by the agent: " + reason + "; serve " + served
	}
	return "closed by the agent: " + reason
}

// Events streams the session's background events to send, in batches of at most max,
// until the session ends and every event is delivered, or ctx ends. One stream at a time.
func (s *Session) Events(ctx context.Context, max int, send func([]*socklabv1.Event) error) error {
	if !s.events.subscribe() {
		return errorf(Precondition, "session %s already has an event stream: one at a time", s.id)
	}
	defer s.events.unsubscribe()
	for {
		batch, more, err := s.events.take(ctx, max)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := send(batch); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}
