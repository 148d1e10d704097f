package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/server"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestUnknownMethodsNeedTheToken: without the token every method is Unauthenticated,
// whether it exists here, exists on another socklab server (a controller's), or exists
// nowhere, so a caller without the token cannot tell what it talks to; with the token an
// unknown method is Unimplemented.
func TestUnknownMethodsNeedTheToken(t *testing.T) {
	a := agenttest.Start(t)
	anon, err := client.Dial(a.Target, "")
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	for _, method := range []string{
		"/socklab.v1.AgentService/Hello",
		"/socklab.v1.ControllerService/ListRuns",
		"/socklab.v1.AgentService/NoSuchMethod",
		"/no.such.Service/Method",
	} {
		err := anon.Conn().Invoke(t.Context(), method, &socklabv1.HelloRequest{}, &socklabv1.HelloResponse{})
		if code, msg := limitsStatus(err); code != codes.Unauthenticated || !strings.Contains(msg, "missing token") {
			t.Errorf("%s without the token: code = %v (%q), want %v", method, code, msg, codes.Unauthenticated)
		}
		if method == "/socklab.v1.AgentService/Hello" {
			continue
		}
		err = a.Client.Conn().Invoke(t.Context(), method, &socklabv1.HelloRequest{}, &socklabv1.HelloResponse{})
		if code, _ := limitsStatus(err); code != codes.Unimplemented {
			t.Errorf("%s with the token: code = %v, want %v", method, code, codes.Unimplemented)
		}
	}
}

// rawCodec sends a []byte as a request's encoded message, as it is.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// TestMalformedRequests: a request that is no valid protobuf message (truncated, or a
// string that is not UTF-8) is InvalidArgument, saying which message, for unary calls and
// streams alike; gRPC by itself answers Internal.
func TestMalformedRequests(t *testing.T) {
	a := agenttest.Start(t)
	// Field 1 holding bytes that are neither UTF-8 (a string's) nor a message; field 1
	// claiming 127 bytes and holding 1.
	notUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff\xfe")
	truncated := []byte{0x0a, 0x7f, 'x'}
	for _, tc := range []struct {
		method, message string
		body            []byte
	}{
		{"/socklab.v1.AgentService/OpenSession", "socklab.v1.OpenSessionRequest", notUTF8},
		{"/socklab.v1.AgentService/Perform", "socklab.v1.PerformRequest", truncated},
		{"/socklab.v1.AgentService/Perform", "socklab.v1.PerformRequest", notUTF8},
	} {
		var out []byte
		err := a.Client.Conn().Invoke(t.Context(), tc.method, tc.body, &out, grpc.ForceCodecV2(rawCodec{}))
		if code, msg := limitsStatus(err); code != codes.InvalidArgument || !strings.Contains(msg, "not a valid "+tc.message) {
			t.Errorf("%s with %q: code = %v (%q), want %v naming %s", tc.method, tc.body, code, msg, codes.InvalidArgument, tc.message)
		}
	}
	// A stream: the request of StreamEvents.
	st, err := a.Client.Conn().NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, "/socklab.v1.AgentService/StreamEvents", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(notUTF8); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = st.RecvMsg(&out)
	if code, msg := limitsStatus(err); code != codes.InvalidArgument || !strings.Contains(msg, "not a valid socklab.v1.StreamEventsRequest") {
		t.Errorf("StreamEvents with a malformed request: code = %v (%q), want %v", code, msg, codes.InvalidArgument)
	}
	// The agent still answers well-formed requests on the same connection.
	if _, err := a.Client.Hello(t.Context()); err != nil {
		t.Errorf("Hello after malformed requests: %v", err)
	}
}

// TestLabelLimit: a session's label, which goes to the agent's log, is refused over
// session.MaxLabel (256) bytes, with InvalidArgument saying so.
func TestLabelLimit(t *testing.T) {
	a := agenttest.Start(t)
	if _, err := a.Client.Open(t.Context(), time.Minute, strings.Repeat("l", 256)); err != nil {
		t.Errorf("a label of 256 bytes: %v", err)
	}
	_, err := a.Client.API().OpenSession(t.Context(), &socklabv1.OpenSessionRequest{Label: strings.Repeat("l", 10<<20)})
	if code, msg := limitsStatus(err); code != codes.InvalidArgument || !strings.Contains(msg, "label is 10485760 bytes, over the limit of 256") {
		t.Errorf("a label of 10 MiB: code = %v (%q), want %v", code, msg, codes.InvalidArgument)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSessionAnswersToItsClient: a session answers only to callers from the address that
// opened it, on any of their connections (a controller that reconnects, grpcurl's one
// connection per call); from any other address its id is no session at all, open or
// ended. The agent's log shows ids shortened.
func TestSessionAnswersToItsClient(t *testing.T) {
	var logged syncBuffer
	a := agenttest.Start(t, func(c *server.Config) { c.Log = slog.New(slog.NewTextHandler(&logged, nil)) })
	s := a.Session(t, time.Minute)
	h := s.Socket(client.Dgram)
	same := boundsDialFrom(t, a, "127.0.0.1").API()  // another connection, same address
	other := boundsDialFrom(t, a, "127.0.0.2").API() // another address

	if _, err := same.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s.ID, Handle: h, Operation: client.GetTimeout()}); err != nil {
		t.Errorf("Perform from another connection of the same address: %v", err)
	}
	if _, err := same.RenewSession(t.Context(), &socklabv1.RenewSessionRequest{SessionId: s.ID}); err != nil {
		t.Errorf("RenewSession from another connection of the same address: %v", err)
	}
	strangers := map[string]func(context.Context) error{
		"Perform": func(ctx context.Context) error {
			_, err := other.Perform(ctx, &socklabv1.PerformRequest{SessionId: s.ID, Handle: h, Operation: client.GetTimeout()})
			return err
		},
		"RenewSession": func(ctx context.Context) error {
			_, err := other.RenewSession(ctx, &socklabv1.RenewSessionRequest{SessionId: s.ID})
			return err
		},
		"CloseSession": func(ctx context.Context) error {
			_, err := other.CloseSession(ctx, &socklabv1.CloseSessionRequest{SessionId: s.ID})
			return err
		},
		"StreamEvents": func(ctx context.Context) error {
			st, err := other.StreamEvents(ctx, &socklabv1.StreamEventsRequest{SessionId: s.ID})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
	}
	check := func(when string) {
		t.Helper()
		for name, call := range strangers {
			code, msg := limitsStatus(call(t.Context()))
			if code != codes.NotFound || !strings.Contains(msg, "no session "+s.ID) {
				t.Errorf("%s from 127.0.0.2 %s: code = %v (%q), want %v as for no session at all", name, when, code, msg, codes.NotFound)
			}
		}
	}
	check("while the session is open")
	// The stranger's CloseSession closed nothing: the session still works for its owner.
	s.OK(h, client.GetTimeout())
	if _, err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("once the session has ended")
	if _, err := same.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s.ID, Handle: h, Operation: client.GetTimeout()}); !strings.Contains(errString(err), "ended: closed by the controller") {
		t.Errorf("Perform from the owner's address after the end: %v, want it to say the session ended", err)
	}

	log := logged.String()
	if !strings.Contains(log, "session opened") || !strings.Contains(log, s.ID[:12]+"…") {
		t.Errorf("the log does not show the session opened, its id shortened to %q:\n%s", s.ID[:12]+"…", log)
	}
	if strings.Contains(log, s.ID) {
		t.Errorf("the log shows the session id %s in full:\n%s", s.ID, log)
	}
}

// errString is err's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
