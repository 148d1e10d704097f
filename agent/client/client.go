// Package client is a Go client for socklab.v1.AgentService: a connection with the bearer
// token attached, sessions that number each handle's operations, and constructors for
// every operation, named as in Python's socket module.
package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

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
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial agent %s: %w", target, err)
	}
	return &Client{conn: conn, api: socklabv1.NewAgentServiceClient(conn)}, nil
}

// API returns the raw generated client.
func (c *Client) API() socklabv1.AgentServiceClient { return c.api }

// Conn returns the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// bearer sends "authorization: Bearer TOKEN" with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
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
		return nil, fmt.Errorf("open session: %w", err)
	}
	return &Session{c: c, ID: resp.GetSessionId(), Opened: resp, seqs: map[uint32]uint64{}}, nil
}

// Do performs op on handle (0 for socket), numbering it after the handle's previous
// operation. Socket errors are in the returned event; the error is the call's own.
func (s *Session) Do(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	var seq uint64
	if handle != 0 {
		s.mu.Lock()
		s.seqs[handle]++
		seq = s.seqs[handle]
		s.mu.Unlock()
	}
	return s.c.api.Perform(ctx, &socklabv1.PerformRequest{SessionId: s.ID, Handle: handle, Seq: seq, Operation: op})
}

// LastSeq returns the seq of the last operation Do numbered on handle (0: none yet).
func (s *Session) LastSeq(handle uint32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seqs[handle]
}

// Renew renews the session's lease.
func (s *Session) Renew(ctx context.Context) error {
	_, err := s.c.api.RenewSession(ctx, &socklabv1.RenewSessionRequest{SessionId: s.ID})
	return err
}

// Close closes the session and returns how many sockets the agent closed for it.
func (s *Session) Close(ctx context.Context) (int, error) {
	resp, err := s.c.api.CloseSession(ctx, &socklabv1.CloseSessionRequest{SessionId: s.ID})
	return int(resp.GetClosedSockets()), err
}
