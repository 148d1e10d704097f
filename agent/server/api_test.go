package server_test

import (
	"errors"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
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
}
