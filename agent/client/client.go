// Package client is a Go client for socklab.v1.AgentService: a connection with the bearer
// token attached, sessions that number each handle's operations, their event streams,
// and constructors for every operation, named as in Python's socket module.
//
// Every call's error is an errdefs error (or wraps one): callers ask
// errors.Is(err, errdefs.ErrNotFound) and never see gRPC's status text.
package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/socklab/socklab/agent/errdefs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// MaxMessage bounds the messages the client sends and accepts; the agent's own limit
// (its bytes per operation) is what binds in practice.
const MaxMessage = 256 << 20

// Client is a connection to one agent.
type Client struct {
	conn *grpc.ClientConn
	api  socklabv1.AgentServiceClient
}

// Dial connects to the agent at target ("127.0.0.1:7070"), sending token (if any) with
// every call.
func Dial(target, token string, opts ...grpc.DialOption) (*Client, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage)),
	}, opts...)
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(newBearer(token)))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial agent %s: %w", target, err)
	}
	return &Client{conn: conn, api: socklabv1.NewAgentServiceClient(conn)}, nil
}

// API returns the raw generated client, whose errors are gRPC statuses: for tests of the
// wire itself. Everything else uses the Client's methods.
func (c *Client) API() socklabv1.AgentServiceClient { return c.api }

// Hello asks the agent to describe itself: name, version, host address, limits, clock.
func (c *Client) Hello(ctx context.Context) (*socklabv1.HelloResponse, error) {
	resp, err := c.api.Hello(ctx, &socklabv1.HelloRequest{})
	return resp, errdefs.FromGRPC(err)
}

// Conn returns the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// bearer sends "authorization: Bearer TOKEN" with every call: the same map each time,
// made once (gRPC only reads it).
type bearer struct {
	md map[string]string
}

func newBearer(token string) bearer {
	return bearer{md: map[string]string{"authorization": "Bearer " + token}}
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return b.md, nil
}

func (b bearer) RequireTransportSecurity() bool { return false }

// Session is an open session on an agent.
type Session struct {
	c *Client
	// ID is the session's id.
	ID string
	// Opened is the agent's answer to OpenSession.
	Opened *socklabv1.OpenSessionResponse

	mu   sync.Mutex        // protects seqs
	seqs map[uint32]uint64 // last seq used per handle
}

// Open opens a session with lease (0: the agent's default) and label.
func (c *Client) Open(ctx context.Context, lease time.Duration, label string) (*Session, error) {
	req := &socklabv1.OpenSessionRequest{Label: label}
	if lease > 0 {
		req.Lease = durationpb.New(lease)
	}
	resp, err := c.api.OpenSession(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", errdefs.FromGRPC(err))
	}
	return &Session{c: c, ID: resp.GetSessionId(), Opened: resp, seqs: map[uint32]uint64{}}, nil
}

// Do performs op on handle (0 for socket), numbering it after the handle's previous
// operation. Socket errors are in the returned event; the error is the call's own.
//
// ctx's deadline ends the call here when it passes (DeadlineExceeded) and the agent, told
// the call is cancelled, stops the operation; an agent the cancel cannot reach stops it
// when the session's lease runs out. The deadline is not sent along: the agent's own
// timer for it would cost every operation more than the operation's syscall.
func (s *Session) Do(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	var seq uint64
	if handle != 0 {
		s.mu.Lock()
		s.seqs[handle]++
		seq = s.seqs[handle]
		s.mu.Unlock()
	}
	resp, err := s.c.api.Perform(unsentDeadline{ctx}, &socklabv1.PerformRequest{SessionId: s.ID, Handle: handle, Seq: seq, Operation: op})
	return resp, errdefs.FromGRPC(err)
}

// unsentDeadline is a context whose deadline gRPC does not send: it still ends with its
// parent (Done, Err and the values are the parent's), but reports no deadline.
type unsentDeadline struct{ context.Context }

// Deadline reports none.
func (unsentDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// LastSeq returns the seq of the last operation Do numbered on handle (0: none yet).
func (s *Session) LastSeq(handle uint32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seqs[handle]
}

// Renew renews the session's lease.
func (s *Session) Renew(ctx context.Context) error {
	_, err := s.c.api.RenewSession(ctx, &socklabv1.RenewSessionRequest{SessionId: s.ID})
	return errdefs.FromGRPC(err)
}

// Close closes the session and returns how many sockets the agent closed for it.
func (s *Session) Close(ctx context.Context) (int, error) {
	resp, err := s.c.api.CloseSession(ctx, &socklabv1.CloseSessionRequest{SessionId: s.ID})
	return int(resp.GetClosedSockets()), errdefs.FromGRPC(err)
}

// Events opens the session's stream of background events (one at a time per session):
// what background servers did, operations cancelled mid-way, sockets the agent closed,
// and last the session's end. The stream ends when ctx does.
func (s *Session) Events(ctx context.Context) (*EventStream, error) {
	stream, err := s.c.api.StreamEvents(ctx, &socklabv1.StreamEventsRequest{SessionId: s.ID})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &EventStream{stream: stream}, nil
}

// EventStream is a session's stream of background events.
type EventStream struct {
	stream grpc.ServerStreamingClient[socklabv1.StreamEventsResponse]
}

// Recv returns the next batch of events. After the session's end event it returns
// io.EOF; any other error is an errdefs error (ErrNotFound: the session had already
// ended when the stream began).
func (e *EventStream) Recv() ([]*socklabv1.Event, error) {
	resp, err := e.stream.Recv()
	if err != nil {
		return nil, errdefs.FromGRPC(err) // io.EOF is no status: it passes through
	}
	return resp.GetEvents(), nil
}
