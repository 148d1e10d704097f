package session

import (
	"bytes"
	"context"
	"sync"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// serveBufsize is the recv buffer of a background server.
const serveBufsize = 4096

// background tracks a session's background work: the goroutines of its servers.
type background struct {
	mu      sync.Mutex // protects cancels and stopped, and orders wg.Add before stop's Wait
	cancels []context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

// start runs fn in the background until the session ends; after stop it does nothing.
func (b *background) start(fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		cancel()
		return
	}
	b.cancels = append(b.cancels, cancel)
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer cancel()
		fn(ctx)
	}()
}

// stop cancels every background goroutine and waits (at most d) for them to end.
func (b *background) stop(d time.Duration) {
	b.mu.Lock()
	b.stopped = true
	for _, c := range b.cancels {
		c()
	}
	b.cancels = nil
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// served is a connection a background server accepted: its handle, entry and socket.
type served struct {
	h  uint32
	e  *entry
	so *socket
}

// serve starts serving the listener so (handle h, entry e) in the background with
// behaviour b: every connection it accepts gets a handle of the session, and every
// accept, recv, send and close is an event on the session's stream.
func (s *Session) serve(h uint32, e *entry, so *socket, b socklabv1.Behaviour) {
	name := behaviours[b]
	var group sync.Map // handle -> served: the chat room
	s.bg.start(func(ctx context.Context) {
		for {
			if err := s.reserve(); err != nil {
				return // the session ended, or is at its socket limit
			}
			start := time.Now()
			c, from, err := so.Accept(ctx)
			if err != nil {
				s.unreserve()
				return // the listener was closed or the session ended
			}
			conn := served{so: s.newSocket(c)}
			if conn.h, conn.e, err = s.register(conn.so, name); err != nil {
				return
			}
			ev := backgroundEvent(h, &socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}}, name, start)
			ev.Result = &socklabv1.Result{Handle: conn.h, Address: so.toAddress(from)}
			ev.Peer = so.toAddress(from)
			s.pushBackground(ctx, so, ev)
			group.Store(conn.h, conn)
			s.bg.start(func(ctx context.Context) {
				defer group.Delete(conn.h)
				s.serveConn(ctx, conn, b, name, &group)
			})
		}
	})
}

// serveConn runs one connection's behaviour until its peer closes or the session ends.
func (s *Session) serveConn(ctx context.Context, c served, b socklabv1.Behaviour, name string, group *sync.Map) {
	for {
		release, err := c.e.order.begin(ctx, c.h, 0, recvLane, "recv", s.done, nil)
		if err != nil {
			return
		}
		start := time.Now()
		off := c.so.received
		r, err := c.so.Recv(ctx, serveBufsize, 0)
		c.so.received += uint64(len(r.Data))
		release()
		if ctx.Err() != nil {
			return
		}
		ev := backgroundEvent(c.h, &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: serveBufsize}}}, name, start)
		ev.Payload, ev.PayloadLength, ev.StreamOffset = capped(r.Data, s.payloadCap), uint64(len(r.Data)), off
		ev.Error = SocketError(err)
		s.pushBackground(ctx, c.so, ev)
		if err != nil || len(r.Data) == 0 {
			s.closeBackground(ctx, c, name)
			return
		}
		out := r.Data
		switch b {
		case socklabv1.Behaviour_BEHAVIOUR_DISCARD:
			continue
		case socklabv1.Behaviour_BEHAVIOUR_UPPER:
			out = bytes.ToUpper(out)
		case socklabv1.Behaviour_BEHAVIOUR_CHAT:
			group.Range(func(k, v any) bool {
				if other := v.(served); other.h != c.h {
					s.sendBackground(ctx, other, out, name)
				}
				return true
			})
			continue
		}
		s.sendBackground(ctx, c, out, name)
	}
}

// sendBackground sends data on a served connection and records it. Sends to one
// connection are serialised through its send lane (the chat relays from many).
func (s *Session) sendBackground(ctx context.Context, c served, data []byte, name string) {
	release, err := c.e.order.begin(ctx, c.h, 0, sendLane, "sendall", s.done, nil)
	if err != nil {
		return
	}
	defer release()
	start := time.Now()
	off := c.so.sent
	n, err := c.so.SendAll(ctx, data, 0)
	c.so.sent += uint64(n)
	ev := backgroundEvent(c.h, &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{}}}, name, start)
	ev.Payload, ev.PayloadLength, ev.StreamOffset = capped(data[:n], s.payloadCap), uint64(n), off
	ev.Result = &socklabv1.Result{Value: int64(n)}
	ev.Error = SocketError(err)
	s.pushBackground(ctx, c.so, ev)
}

// closeBackground closes a served connection whose peer left.
func (s *Session) closeBackground(ctx context.Context, c served, name string) {
	start := time.Now()
	ev := backgroundEvent(c.h, &socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}}, name, start)
	closed, err := s.closeHandle(c.e, ev)
	if !closed {
		return
	}
	ev.DurationNs = time.Since(start).Nanoseconds()
	ev.Error = SocketError(err)
	s.pushBackground(ctx, c.so, ev)
}

// backgroundEvent is the event of one operation of a background server with behaviour,
// on handle h, that started at start and has just ended.
func backgroundEvent(h uint32, op *socklabv1.Operation, behaviour string, start time.Time) *socklabv1.Event {
	return &socklabv1.Event{
		Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Handle: h, Op: opName(op), Operation: op,
		StartNs: Monotonic(start), DurationNs: time.Since(start).Nanoseconds(),
		Note: "serve " + behaviour,
	}
}

// pushBackground completes ev with the socket's addresses and records it on the
// session's stream, waiting for room: the stream's reader holds the server back rather
// than lose events.
func (s *Session) pushBackground(ctx context.Context, so *socket, ev *socklabv1.Event) {
	if ev.Local == nil {
		ev.Local = so.localAddr()
	}
	if ev.Peer == nil {
		ev.Peer = so.peerAddr()
	}
	s.events.push(ctx, ev, true)
}
