package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/runner"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// envFunc is a runner.Env made of functions.
type envFunc struct {
	do  func(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error)
	say func(text, pos string)
}

func (e envFunc) Do(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error) {
	return e.do(ctx, role, handle, op, pos)
}

func (e envFunc) Say(text, pos string) {
	if e.say != nil {
		e.say(text, pos)
	}
}

// TestHostServerRefuses sends the controller's LabHostService what a plugin should not:
// each is refused as the lab's mistake, and nothing reaches the agents.
func TestHostServerRefuses(t *testing.T) {
	env := envFunc{do: func(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error) {
		switch {
		case op.GetRecv() != nil: // blocks past the watchdog
			<-ctx.Done()
			return nil, ctx.Err()
		case op.GetListen() != nil:
			return nil, errdefs.Errorf(errdefs.ErrPermissionDenied, "listen refused by policy")
		}
		return &socklabv1.PerformResponse{Event: &socklabv1.Event{Op: "socket"}}, nil
	}}
	spec := &pluginv1.LabSpec{Checks: []*pluginv1.CheckSpec{{Id: "c", Description: "a check"}}}
	h := newHostServer(t.Context(), env, spec, []runner.HostInfo{{Role: "server", IP: "127.0.0.2"}}, 100*time.Millisecond, "")
	defer h.finish()
	ctx := t.Context()
	kind := func(e *pluginv1.CallError) pluginv1.CallErrorKind { return e.GetKind() }
	for _, tc := range []struct {
		name string
		req  *pluginv1.PerformRequest
		want pluginv1.CallErrorKind
	}{
		{"unknown host", &pluginv1.PerformRequest{Host: "nope", Operation: &socklabv1.Operation{}}, pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID},
		{"no operation", &pluginv1.PerformRequest{Host: "server"}, pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID},
		{"empty operation", &pluginv1.PerformRequest{Host: "server", Operation: &socklabv1.Operation{}}, pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID},
		{"watchdog", &pluginv1.PerformRequest{Host: "server", Handle: 1, Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: 1}}}}, pluginv1.CallErrorKind_CALL_ERROR_KIND_WATCHDOG},
		{"refused", &pluginv1.PerformRequest{Host: "server", Handle: 1, Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: &socklabv1.ListenOp{}}}}, pluginv1.CallErrorKind_CALL_ERROR_KIND_REFUSED},
		{"performed", &pluginv1.PerformRequest{Host: "server", Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{}}}}, pluginv1.CallErrorKind_CALL_ERROR_KIND_UNSPECIFIED},
	} {
		resp, err := h.Perform(ctx, tc.req)
		if err != nil || kind(resp.GetError()) != tc.want {
			t.Errorf("%s: Perform() = %v, %v; want %s", tc.name, resp, err, tc.want)
		}
	}
	if r, _ := h.Perform(ctx, &pluginv1.PerformRequest{Host: "server", Handle: 1, Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{}}}}); r.GetError().GetMessage() != "watchdog: recv on server/s1 waited 100ms" {
		t.Errorf("watchdog message %q", r.GetError().GetMessage())
	}
	if r, _ := h.ReadFiles(ctx, &pluginv1.ReadFilesRequest{Names: []string{"a.py"}}); kind(r.GetError()) != pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID {
		t.Errorf("ReadFiles with no --files = %v, want refused", r)
	}
	h.filesDir = t.TempDir()
	for _, names := range [][]string{{"missing.py"}, {"../etc/passwd"}, {"/etc/passwd"}} {
		if r, _ := h.ReadFiles(ctx, &pluginv1.ReadFilesRequest{Names: names}); kind(r.GetError()) != pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID {
			t.Errorf("ReadFiles(%q) = %v, want refused", names, r)
		}
	}
	if r, _ := h.Check(ctx, &pluginv1.CheckRequest{Id: "nonesuch", Passed: true}); r.GetError() == nil {
		t.Errorf("Check(nonesuch) = %v, want refused", r)
	}
	got := "b'x'"
	if r, _ := h.Check(ctx, &pluginv1.CheckRequest{Id: "c", Passed: false, Got: &got}); r.GetPassed() {
		t.Error("a failed check passed")
	}
	if r, _ := h.Check(ctx, &pluginv1.CheckRequest{Id: "c", Passed: true}); r.GetPassed() {
		t.Error("a check that failed once passed later")
	}
	if c := h.outcome(nil, "").Checks[0]; c.Message != "got b'x', want None" || c.Passed || !c.Reached {
		t.Errorf("check = %+v", c)
	}
	if err := h.firstError(); err == nil {
		t.Error("the controller recorded no mistake of the lab")
	}
}
