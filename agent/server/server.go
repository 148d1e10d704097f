// Package server serves socklab.v1.AgentService over gRPC: thin handlers that check the
// request, call the session package, and turn its errors into status codes.
package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/session"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Version is the agent's software version, reported by Hello.
const Version = "0.1.0-dev"

// Capabilities lists what this agent can do, reported by Hello.
var Capabilities = []string{"inet", "inet6", "unix", "tcp", "udp", "events"}

// defaultBatch is the events per StreamEvents response when the request sets none.
const defaultBatch = 256

// Service implements socklab.v1.AgentService on a session manager.
type Service struct {
	socklabv1.UnimplementedAgentServiceServer
	m   *session.Manager
	log *slog.Logger
}

var _ socklabv1.AgentServiceServer = (*Service)(nil)

// NewService returns the service for m, logging to log.
func NewService(m *session.Manager, log *slog.Logger) *Service {
	return &Service{m: m, log: log}
}

// Hello describes the agent.
func (s *Service) Hello(ctx context.Context, _ *socklabv1.HelloRequest) (*socklabv1.HelloResponse, error) {
	pol := s.m.Policy()
	return &socklabv1.HelloResponse{
		Name:         s.m.Name(),
		Version:      Version,
		HostAddress:  hostAddress(s.m),
		Capabilities: Capabilities,
		Clock:        clockSample(),
		Limits: &socklabv1.Limits{
			MaxSockets:           uint32(pol.MaxSockets),
			MaxBytesPerOperation: uint64(pol.MaxBytesPerOp),
			MaxSessions:          uint32(pol.MaxSessions),
			MaxLease:             durationpb.New(pol.MaxLease),
		},
	}, nil
}

// OpenSession starts a session.
func (s *Service) OpenSession(ctx context.Context, req *socklabv1.OpenSessionRequest) (*socklabv1.OpenSessionResponse, error) {
	var lease time.Duration
	if req.GetLease() != nil {
		if err := req.GetLease().CheckValid(); err != nil || req.GetLease().AsDuration() < 0 {
			return nil, toStatus(errdefs.Errorf(errdefs.ErrInvalidArgument, "lease %v is not a valid positive duration", req.GetLease()))
		}
		lease = req.GetLease().AsDuration()
	}
	c := callerOf(ctx)
	sess, err := s.m.Open(c, session.Options{Lease: lease, Label: req.GetLabel(), PayloadCap: int(req.GetPayloadCap())})
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("session opened", "session", session.ShortID(sess.ID()), "client", c.Client().String(), "label", req.GetLabel(), "lease", sess.Lease())
	return &socklabv1.OpenSessionResponse{
		SessionId:   sess.ID(),
		Lease:       durationpb.New(sess.Lease()),
		Clock:       clockSample(),
		HostAddress: hostAddress(s.m),
		PayloadCap:  uint32(sess.PayloadCap()),
	}, nil
}

// RenewSession extends a session's lease.
func (s *Service) RenewSession(ctx context.Context, req *socklabv1.RenewSessionRequest) (*socklabv1.RenewSessionResponse, error) {
	lease, err := s.m.Renew(callerOf(ctx), req.GetSessionId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &socklabv1.RenewSessionResponse{Lease: durationpb.New(lease)}, nil
}

// CloseSession ends a session.
func (s *Service) CloseSession(ctx context.Context, req *socklabv1.CloseSessionRequest) (*socklabv1.CloseSessionResponse, error) {
	n, err := s.m.Close(callerOf(ctx), req.GetSessionId())
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("session closed", "session", session.ShortID(req.GetSessionId()), "sockets_closed", n)
	return &socklabv1.CloseSessionResponse{ClosedSockets: uint32(n)}, nil
}

// Perform runs one socket operation.
func (s *Service) Perform(ctx context.Context, req *socklabv1.PerformRequest) (*socklabv1.PerformResponse, error) {
	c := callerOf(ctx)
	sess, err := s.m.Get(c, req.GetSessionId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp, err := sess.Perform(ctx, c, req)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// StreamEvents delivers a session's background events.
func (s *Service) StreamEvents(req *socklabv1.StreamEventsRequest, stream socklabv1.AgentService_StreamEventsServer) error {
	sess, err := s.m.Get(callerOf(stream.Context()), req.GetSessionId())
	if err != nil {
		return toStatus(err)
	}
	batch := int(req.GetMaxBatch())
	if batch <= 0 {
		batch = defaultBatch
	}
	err = sess.Events(stream.Context(), batch, func(evs []*socklabv1.Event) error {
		return stream.Send(&socklabv1.StreamEventsResponse{Events: evs})
	})
	return toStatus(err)
}

// toStatus turns what the session package returned into the status a handler returns,
// the one place where that mapping lives: a request error by its kind (errdefs.ToGRPC); a
// call its caller cancelled or let time out, as such; a status (a stream's own failure)
// as it is; anything else as the agent's own fault.
func toStatus(err error) error {
	var re *errdefs.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return errdefs.ToGRPC(re)
	case errors.Is(err, context.Canceled):
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrCanceled, "cancelled while in progress"))
	case errors.Is(err, context.DeadlineExceeded):
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrDeadlineExceeded, "deadline exceeded while in progress"))
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "%v", err))
}

func clockSample() *socklabv1.ClockSample {
	now := time.Now()
	return &socklabv1.ClockSample{MonotonicNs: session.Monotonic(now), Wall: timestamppb.New(now)}
}

func hostAddress(m *session.Manager) string {
	if ip := m.HostIP(); ip.IsValid() {
		return ip.String()
	}
	return ""
}
