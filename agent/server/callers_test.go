package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

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
