package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"

	"github.com/socklab/socklab/agent/session"
)

// connKey carries a connection's *conn in the context of its calls.
type connKey struct{}

// slotKey carries a unary call's receive slot in its context.
type slotKey struct{}

// conn is what the agent keeps of one gRPC connection: the caller it is to the sessions,
// and its receive slots.
//
// gRPC reads a call's whole request before any handler sees it, and once it starts to
// read one it lets the client send all of it: a connection with many calls in progress
// could make the agent hold that many requests of up to MessageLimit bytes at once. So a
// request is read only while it holds one of its connection's RecvSlots; the others wait
// with no more than their flow-control window (64 KiB) of their bytes sent.
type conn struct {
	caller *session.Caller
	recv   chan struct{} // a receive slot is a value in it
}

// connOf returns the connection of a call, nil for a service served without the agent's
// options.
func connOf(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

// slot is one taken receive slot, released once.
type slot struct {
	c    *conn
	once sync.Once
}

// acquire waits for a receive slot of c, or for ctx to end (nil).
func (c *conn) acquire(ctx context.Context) *slot {
	select {
	case c.recv <- struct{}{}:
		return &slot{c: c}
	case <-ctx.Done():
		return nil
	}
}

// release gives the slot back; s may be nil.
func (s *slot) release() {
	if s == nil {
		return
	}
	s.once.Do(func() { <-s.c.recv })
}

// connections gives every gRPC connection its conn, carried in the context of each of its
// calls, and makes each unary call's request wait for a receive slot before it is read
// (a stream's messages wait in recvSlotsStream).
type connections struct {
	// unary holds the full names of the unary methods ("/socklab.v1.AgentService/Hello"),
	// filled once the services are registered, before the server serves.
	unary map[string]bool
}

var _ stats.Handler = (*connections)(nil)

// TagConn gives a new connection its conn, from its peer's address.
func (*connections) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &conn{caller: session.NewCaller(addrIP(info.RemoteAddr)), recv: make(chan struct{}, RecvSlots)})
}

// HandleConn does nothing: a conn needs no end.
func (*connections) HandleConn(context.Context, stats.ConnStats) {}

// TagRPC makes a unary call wait for a receive slot of its connection, which its request
// holds until it has been read (HandleRPC). It runs on the call's own goroutine, before
// gRPC reads the request.
func (h *connections) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	c := connOf(ctx)
	if c == nil || !h.unary[info.FullMethodName] {
		return ctx
	}
	return context.WithValue(ctx, slotKey{}, c.acquire(ctx))
}

// HandleRPC releases a unary call's receive slot once its request has been read, or the
// call has ended without it.
func (*connections) HandleRPC(ctx context.Context, st stats.RPCStats) {
	switch st.(type) {
	case *stats.InPayload, *stats.End:
		if s, ok := ctx.Value(slotKey{}).(*slot); ok {
			s.release()
		}
	}
}

// recvSlots is the stream interceptor that makes every message a stream receives wait
// for a receive slot of its connection.
func recvSlots(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c := connOf(ss.Context())
	if c == nil {
		return handler(srv, ss)
	}
	return handler(srv, slotStream{ServerStream: ss, c: c})
}

// slotStream is a server stream whose messages are read each in a receive slot.
type slotStream struct {
	grpc.ServerStream
	c *conn
}

// RecvMsg waits for a receive slot, then receives m.
func (s slotStream) RecvMsg(m any) error {
	sl := s.c.acquire(s.Context())
	if sl == nil {
		return s.Context().Err()
	}
	defer sl.release()
	return s.ServerStream.RecvMsg(m)
}

// callerOf returns the caller of a call: its connection's, or, for a service served
// without the agent's options, one made from the call's peer address.
func callerOf(ctx context.Context) *session.Caller {
	if c := connOf(ctx); c != nil {
		return c.caller
	}
	var ip netip.Addr
	if p, ok := peer.FromContext(ctx); ok {
		ip = addrIP(p.Addr)
	}
	return session.NewCaller(ip)
}

// addrIP returns the IP address of a network address (invalid for one with none).
func addrIP(a net.Addr) netip.Addr {
	if tcp, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(tcp.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// connLimiter is a listener that holds at most max connections open at once and closes
// any beyond at once, so that connections cannot take the files the agent keeps for
// itself.
type connLimiter struct {
	net.Listener
	max int
	log *slog.Logger

	mu   sync.Mutex // protects open and warned
	open int
	// warned is set while the listener refuses, so that a flood logs once.
	warned bool
}

// limitConns wraps lis to hold at most max connections (max <= 0: no bound).
func limitConns(lis net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return lis
	}
	return &connLimiter{Listener: lis, max: max, log: log}
}

// Accept returns the next connection within the bound, closing those beyond it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.max {
			warn := !l.warned
			l.warned = true
			l.mu.Unlock()
			c.Close()
			if warn {
				l.log.Warn("refusing connections: the agent holds its limit of gRPC connections", "limit", l.max, "from", c.RemoteAddr().String())
			}
			continue
		}
		l.open++
		l.warned = false
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// limitedConn is a connection counted by its connLimiter until it closes.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
