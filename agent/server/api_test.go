package server_test

import (
	"errors"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestAPIOperations drives the operations that complete Python's socket API (socket's
// proto, socketpair, select, recv_into, sendfile) through a real agent over gRPC, and
// checks what Python would return and what the agent refuses.
func TestAPIOperations(t *testing.T) {
	a := agenttest.Start(t)
	inet, unix := socklabv1.Family_FAMILY_INET, socklabv1.Family_FAMILY_UNIX

	t.Run("socket proto", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, tc := range []struct {
			name   string
			family socklabv1.Family
			typ    socklabv1.SocketType
			proto  int
			want   string // the socket error's name; "" for none
		}{
			{"tcp", inet, client.Stream, 6, ""},
			{"udp", inet, client.Dgram, 17, ""},
			{"stream with udp", inet, client.Stream, 17, "EPROTONOSUPPORT"},
			{"unix with tcp", unix, client.Stream, 6, "EPROTONOSUPPORT"},
		} {
			if got := s.Errno(0, client.SocketProto(tc.family, tc.typ, tc.proto)); got != tc.want {
				t.Errorf("%s: socket(%v, %v, %d) raised %q, want %q", tc.name, tc.family, tc.typ, tc.proto, got, tc.want)
			}
		}
		_, err := s.Session.Do(t.Context(), 0, client.SocketProto(inet, client.Stream, 132)) // IPPROTO_SCTP
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) = %v, want InvalidArgument", err)
		}
	})

	t.Run("socketpair", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, typ := range []socklabv1.SocketType{client.Stream, client.Dgram} {
			hs := s.OK(0, client.SocketPair(unix, typ)).GetEvent().GetResult().GetHandles()
			if len(hs) != 2 || hs[0] == 0 || hs[1] == 0 || hs[0] == hs[1] {
				t.Fatalf("socketpair(AF_UNIX, %v) handles = %v, want two new ones", typ, hs)
			}
			s.OK(hs[0], client.Send([]byte("ping"), 0))
			if got := s.OK(hs[1], client.Recv(10, 0)).GetData(); string(got) != "ping" {
				t.Errorf("socketpair(AF_UNIX, %v): recv = %q, want \"ping\"", typ, got)
			}
		}
		if got := s.Errno(0, client.SocketPair(inet, client.Stream)); got != "ENOTSUP" {
			t.Errorf("socketpair(AF_INET) raised %q, want ENOTSUP (errno 95, as Python names it)", got)
		}
	})

	t.Run("socketpair within the socket limit", func(t *testing.T) {
		a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) { p.MaxSockets = 3 }))
		s := a.Session(t, 0)
		s.Socket(client.Stream)
		s.Socket(client.Stream)
		_, err := s.Session.Do(t.Context(), 0, client.SocketPair(unix, client.Stream))
		if !errors.Is(err, errdefs.ErrResourceExhausted) {
			t.Fatalf("socketpair with one place left = %v, want ResourceExhausted", err)
		}
		s.OK(0, client.Socket(client.Stream)) // the refused pair took no place
	})
}
