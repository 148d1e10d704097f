package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
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
