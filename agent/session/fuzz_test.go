package session

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// fuzzSeeds are valid and invalid requests, on the handles fuzzFixture makes.
func fuzzSeeds() []*socklabv1.PerformRequest {
	addr := func(host string, port uint32) *socklabv1.Address { return &socklabv1.Address{Host: host, Port: port} }
	req := func(h uint32, seq uint64, o *socklabv1.Operation) *socklabv1.PerformRequest {
		return &socklabv1.PerformRequest{SessionId: "ses_fuzz", Handle: h, Seq: seq, Operation: o}
	}
	sec := 0.5
	backlog := int32(-3)
	return []*socklabv1.PerformRequest{
		// Valid.
		req(0, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_INET, Type: socklabv1.SocketType_SOCKET_TYPE_DGRAM}}}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: addr("127.0.0.1", 0)}}}),
		req(1, 1, &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: &socklabv1.ListenOp{Backlog: &backlog}}}),
		req(2, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: []byte("hi"), Address: addr("localhost", 9)}}}),
		req(2, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Recvfrom{Recvfrom: &socklabv1.RecvOp{Bufsize: 64, Flags: 0x40}}}),
		req(3, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{Data: []byte("hello")}}}),
		req(5, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: 3, Flags: 0x102}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{Level: 1, Name: 13, Value: &socklabv1.SetSockOptOp_BytesValue{BytesValue: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Getsockopt{Getsockopt: &socklabv1.GetSockOptOp{Level: 6, Name: 1, Buflen: 4}}}),
		req(5, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Settimeout{Settimeout: &socklabv1.SetTimeoutOp{Seconds: &sec}}}),
		req(5, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Shutdown{Shutdown: &socklabv1.ShutdownOp{How: socklabv1.ShutdownHow_SHUTDOWN_HOW_WR}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_ConnectEx{ConnectEx: &socklabv1.ConnectOp{Address: addr("127.0.0.1", 1)}}}),
		req(5, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}}),
		// Invalid.
		req(0, 0, nil),
		req(1, 0, &socklabv1.Operation{}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_UNIX}}}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: addr("127.0.0.1", 70000)}}}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: addr("example.com", 80)}}}),
		req(2, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: []byte("x"), Address: addr("198.51.100.7", 53)}}}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: addr("127.0.0.1", 80)}}}),
		req(1, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: &socklabv1.Address{Path: "/tmp/x"}}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{Data: []byte("x"), Flags: 0x2}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{Level: 1, Name: 25, Value: &socklabv1.SetSockOptOp_IntValue{IntValue: 1}}}}),
		req(4, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{Level: 1, Name: 2, Value: &socklabv1.SetSockOptOp_IntValue{IntValue: 1 << 40}}}}),
		req(5, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: 1 << 31}}}),
		req(4, 7, &socklabv1.Operation{Op: &socklabv1.Operation_Getsockname{Getsockname: &socklabv1.GetSockNameOp{}}}),
		req(99, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Gettimeout{Gettimeout: &socklabv1.GetTimeoutOp{}}}),
	}
}

// fuzzFixture gives a fresh session its sockets, all on loopback: 1 a bound TCP socket,
// 2 a bound UDP socket, 3 a TCP listener, 4 and 5 a connected pair (client, accepted), so
// that fuzzed handles 1-5 reach real sockets of every kind.
func fuzzFixture(t *testing.T, s *Session) {
	t.Helper()
	do := func(h uint32, o *socklabv1.Operation) *socklabv1.PerformResponse {
		t.Helper()
		resp, err := s.Perform(context.Background(), nil, &socklabv1.PerformRequest{Handle: h, Operation: o})
		if err != nil || resp.GetEvent().GetError() != nil {
			t.Fatalf("fixture %s on handle %d: %v %v", opName(o), h, err, resp.GetEvent().GetError())
		}
		return resp
	}
	socket := func(typ socklabv1.SocketType) *socklabv1.Operation {
		return &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_INET, Type: typ}}}
	}
	bind := func() *socklabv1.Operation {
		return &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: &socklabv1.Address{Host: "127.0.0.1"}}}}
	}
	do(0, socket(socklabv1.SocketType_SOCKET_TYPE_STREAM))
	do(1, bind())
	do(0, socket(socklabv1.SocketType_SOCKET_TYPE_DGRAM))
	do(2, bind())
	do(0, socket(socklabv1.SocketType_SOCKET_TYPE_STREAM))
	do(3, bind())
	do(3, &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: &socklabv1.ListenOp{}}})
	port := do(3, &socklabv1.Operation{Op: &socklabv1.Operation_Getsockname{Getsockname: &socklabv1.GetSockNameOp{}}}).GetEvent().GetResult().GetAddress().GetPort()
	do(0, socket(socklabv1.SocketType_SOCKET_TYPE_STREAM))
	do(4, &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: &socklabv1.Address{Host: "127.0.0.1", Port: port}}}})
	do(3, &socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}})
	// SO_LINGER {on, 0 s}: closing the pair resets it, so thousands of runs a second leave
	// no TIME_WAIT behind to use up loopback's ports.
	for _, h := range []uint32{4, 5} {
		do(h, &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{
			Level: unix.SOL_SOCKET, Name: unix.SO_LINGER, Value: &socklabv1.SetSockOptOp_BytesValue{BytesValue: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}}})
	}
}

// confine keeps a fuzzed bind on loopback, so that no fuzz run ever makes a socket that
// other hosts could reach (connect and sendto are kept on loopback by the policy). Only
// the socket run sees the change: Validate sees the request as fuzzed.
func confine(req *socklabv1.PerformRequest) *socklabv1.PerformRequest {
	b := req.GetOperation().GetBind()
	if b == nil || b.GetAddress() == nil {
		return req
	}
	host := strings.TrimSpace(b.GetAddress().GetHost())
	ip, err := netip.ParseAddr(host)
	if host != "" && host != "<broadcast>" && (err != nil || ip.Unmap().IsLoopback()) {
		return req // a name the agent refuses, "localhost", or a loopback address
	}
	req = proto.Clone(req).(*socklabv1.PerformRequest)
	req.GetOperation().GetBind().GetAddress().Host = "127.0.0.1"
	return req
}

// checkRequestError fails unless err is nil or a request error with a valid kind and a
// message.
func checkRequestError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *errdefs.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s returned %T %v, want an *errdefs.Error", what, err, err)
	}
	switch e.Kind {
	case errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrPermissionDenied,
		errdefs.ErrResourceExhausted, errdefs.ErrFailedPrecondition:
	default:
		t.Fatalf("%s returned kind %v (%q), want a request error's kind", what, e.Kind, e.Msg)
	}
	if e.Msg == "" {
		t.Fatalf("%s returned kind %v with an empty message", what, e.Kind)
	}
}

// FuzzValidate feeds arbitrary PerformRequests to Validate and to a real session: neither
// may panic, and every refusal must be a request error that says something.
func FuzzValidate(f *testing.F) {
	for _, r := range fuzzSeeds() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatalf("marshal seed: %v", err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x22, 0x02, 0x0a, 0x00}) // operation { socket {} }

	pol := policy.Default()
	runPol := policy.Default()
	runPol.Networks = policy.Loopback()
	runPol.MaxSockets = 8
	m := New("fuzz", netip.Addr{}, runPol, nil)

	f.Fuzz(func(t *testing.T, data []byte) {
		req := &socklabv1.PerformRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		checkRequestError(t, "Validate", Validate(req, &pol))

		s, err := m.Open(nil, Options{Lease: time.Minute, Label: "fuzz"})
		if err != nil {
			t.Fatalf("open session: %v", err)
		}
		defer m.Close(nil, s.ID())
		fuzzFixture(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		resp, err := s.Perform(ctx, nil, confine(req))
		switch {
		case err == nil:
			if resp.GetEvent() == nil {
				t.Fatalf("Perform returned no error and no event")
			}
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		default:
			checkRequestError(t, "Perform", err)
		}
	})
}
