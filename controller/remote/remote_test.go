package remote_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/controller/remote"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// fakeController is a ControllerService whose calls are function fields; a call whose
// field is nil is unimplemented.
type fakeController struct {
	socklabv1.UnimplementedControllerServiceServer
	runLab        func(*socklabv1.RunLabRequest, socklabv1.ControllerService_RunLabServer) error
	getTranscript func(*socklabv1.GetTranscriptRequest, socklabv1.ControllerService_GetTranscriptServer) error
	listRuns      func(context.Context, *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error)
	cancelRun     func(context.Context, *socklabv1.CancelRunRequest) (*socklabv1.CancelRunResponse, error)
}

var _ socklabv1.ControllerServiceServer = (*fakeController)(nil)

func (f *fakeController) RunLab(req *socklabv1.RunLabRequest, s socklabv1.ControllerService_RunLabServer) error {
	if f.runLab == nil {
		return f.UnimplementedControllerServiceServer.RunLab(req, s)
	}
	return f.runLab(req, s)
}

func (f *fakeController) GetTranscript(req *socklabv1.GetTranscriptRequest, s socklabv1.ControllerService_GetTranscriptServer) error {
	if f.getTranscript == nil {
		return f.UnimplementedControllerServiceServer.GetTranscript(req, s)
	}
	return f.getTranscript(req, s)
}

func (f *fakeController) ListRuns(ctx context.Context, req *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
	if f.listRuns == nil {
		return f.UnimplementedControllerServiceServer.ListRuns(ctx, req)
	}
	return f.listRuns(ctx, req)
}

func (f *fakeController) CancelRun(ctx context.Context, req *socklabv1.CancelRunRequest) (*socklabv1.CancelRunResponse, error) {
	if f.cancelRun == nil {
		return f.UnimplementedControllerServiceServer.CancelRun(ctx, req)
	}
	return f.cancelRun(ctx, req)
}

// serve serves f on a loopback address, requiring tok ("" requires none), and returns a
// client dialled with dialTok. Cleanup closes the client, then stops the server.
func serve(t *testing.T, f *fakeController, tok, dialTok string) *remote.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(server.TokenOptions(tok)...)
	socklabv1.RegisterControllerServiceServer(gs, f)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	c, err := remote.Dial(lis.Addr().String(), dialTok)
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sink keeps what a run hands it.
type sink struct {
	mu      sync.Mutex // protects headers and entries
	headers []transcript.Header
	entries []transcript.Entry
}

func (s *sink) Header(h transcript.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, h)
}

func (s *sink) Entry(e transcript.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, e)
}

// bounded returns the test's context, ended after 10s: no call here should take long.
func bounded(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

var (
	started = &socklabv1.RunStarted{RunId: "run-0123456789abcdef", Lab: "echo", Hosts: []*socklabv1.HostBinding{
		{Role: "server", Address: "127.9.9.2"}, {Role: "client", Address: "127.9.9.3"}}}
	events = []*socklabv1.Event{
		{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Role: "client", Op: "send", Payload: []byte("hi"), AtNs: 5, DurationNs: 2},
		{Kind: socklabv1.EventKind_EVENT_KIND_SAY, Note: "the server answers"},
		{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Role: "server", Op: "recv", Payload: []byte("hi"), AtNs: 9},
	}
	finished = &socklabv1.RunFinished{Result: &socklabv1.RunResult{RunId: started.RunId, Lab: "echo", Hosts: started.Hosts, ExitCode: 1,
		Checks: []*socklabv1.CheckResult{{Id: "hears", Description: "the server hears hi", MaxPoints: 2, Reached: true, Message: "got b'', want b'hi'"}}}}
)

// TestRunLab: a run's stream becomes the run's id, its header, its entries with their
// hosts' addresses, then its result; the request reaches the controller whole.
func TestRunLab(t *testing.T) {
	reqs := make(chan *socklabv1.RunLabRequest, 1)
	c := serve(t, &fakeController{runLab: func(req *socklabv1.RunLabRequest, s socklabv1.ControllerService_RunLabServer) error {
		reqs <- req
		s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: started}})
		for _, ev := range events {
			s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Event{Event: ev}})
		}
		return s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: finished}})
	}}, "", "")
	var ids []string
	var snk sink
	req := &socklabv1.RunLabRequest{Source: []byte("lab()"), FileName: "echo.star", Params: []string{"port=1"}, Agents: map[string]string{"server": "a"}}
	res, err := c.RunLab(bounded(t), req, func(id string) { ids = append(ids, id) }, &snk)
	if err != nil {
		t.Fatalf("RunLab() = %v", err)
	}
	got := <-reqs
	if got.GetFileName() != "echo.star" || string(got.GetSource()) != "lab()" || got.GetParams()[0] != "port=1" || got.GetAgents()["server"] != "a" {
		t.Errorf("the controller got %v, want %v", got, req)
	}
	if len(ids) != 1 || ids[0] != started.RunId {
		t.Errorf("started learned %q, want [%s]", ids, started.RunId)
	}
	if len(snk.headers) != 1 || len(snk.headers[0].Hosts) != 2 || snk.headers[0].Hosts[1] != (transcript.Host{Role: "client", Address: "127.9.9.3"}) {
		t.Errorf("headers %+v, want one with the two hosts", snk.headers)
	}
	want := []transcript.Entry{
		{Kind: transcript.Operation, Host: "client", Address: "127.9.9.3", At: 5, Duration: 2},
		{Kind: transcript.Say, Text: "the server answers"},
		{Kind: transcript.Operation, Host: "server", Address: "127.9.9.2", At: 9},
	}
	if len(snk.entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(snk.entries), len(want), snk.entries)
	}
	for i, e := range snk.entries {
		w := want[i]
		if e.Kind != w.Kind || e.Host != w.Host || e.Address != w.Address || e.At != w.At || e.Duration != w.Duration || e.Text != w.Text ||
			(w.Kind == transcript.Operation && e.Event.GetOp() != events[i].GetOp()) {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
	}
	if res.ExitCode != 1 || res.Header.RunID != started.RunId || len(res.Checks) != 1 || res.Checks[0].Description != "the server hears hi" || !res.Checks[0].Reached {
		t.Errorf("result %+v, want exit code 1 with the check described and reached", res)
	}
	if s, m := res.Score(); s != 0 || m != 2 {
		t.Errorf("score %d/%d, want 0/2", s, m)
	}
}

// TestRunLabNoHosts: a run that failed before its hosts were bound announces its id but
// no header; the sink hears nothing.
func TestRunLabNoHosts(t *testing.T) {
	c := serve(t, &fakeController{runLab: func(req *socklabv1.RunLabRequest, s socklabv1.ControllerService_RunLabServer) error {
		s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: &socklabv1.RunStarted{RunId: "run-1", Lab: "echo"}}})
		return s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: &socklabv1.RunFinished{
			Result: &socklabv1.RunResult{RunId: "run-1", Lab: "echo", ExitCode: transcript.ExitInfra, Error: "start agents: no room"}}}})
	}}, "", "")
	var ids []string
	var snk sink
	res, err := c.RunLab(bounded(t), &socklabv1.RunLabRequest{Lab: "echo"}, func(id string) { ids = append(ids, id) }, &snk)
	if err != nil || res.ExitCode != transcript.ExitInfra || res.Error != "start agents: no room" {
		t.Fatalf("RunLab() = %+v, %v; want exit code %d with the controller's error", res, err, transcript.ExitInfra)
	}
	if len(ids) != 1 || ids[0] != "run-1" || len(snk.headers)+len(snk.entries) != 0 {
		t.Errorf("started learned %q, the sink got %d headers and %d entries; want [run-1], none", ids, len(snk.headers), len(snk.entries))
	}
}

// errFinishEmpty tells the fake controller to end the stream with a RunFinished that
// holds no result.
var errFinishEmpty = errors.New("finish without a result")

// TestErrors: whatever way a call fails, the caller gets an errdefs kind and the
// controller's words, never gRPC's.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail is how the controller's RunLab and GetTranscript end.
		fail func(send func(*socklabv1.RunStarted) error) error
		kind error
		want string
	}{
		{"refused", func(func(*socklabv1.RunStarted) error) error {
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, `no built-in lab "x" on this controller: send its source`))
		}, errdefs.ErrInvalidArgument, `no built-in lab "x" on this controller: send its source`},
		{"failed midway", func(send func(*socklabv1.RunStarted) error) error {
			send(started)
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "store the run: disk full"))
		}, errdefs.ErrInternal, "store the run: disk full"},
		{"ended without a result", func(send func(*socklabv1.RunStarted) error) error {
			return send(started)
		}, errdefs.ErrUnavailable, "the controller ended the stream before the run's result"},
		{"plain error", func(func(*socklabv1.RunStarted) error) error {
			return errors.New("boom")
		}, errdefs.ErrUnknown, "boom"},
		{"a finish without a result", func(send func(*socklabv1.RunStarted) error) error {
			send(started)
			return errFinishEmpty // an older controller, whose result was result.json as text
		}, errdefs.ErrNotImplemented, "the controller sent no run result: is it an older socklab?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, &fakeController{
				runLab: func(_ *socklabv1.RunLabRequest, s socklabv1.ControllerService_RunLabServer) error {
					err := tc.fail(func(st *socklabv1.RunStarted) error {
						return s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: st}})
					})
					if err == errFinishEmpty {
						return s.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: &socklabv1.RunFinished{}}})
					}
					return err
				},
				getTranscript: func(_ *socklabv1.GetTranscriptRequest, s socklabv1.ControllerService_GetTranscriptServer) error {
					err := tc.fail(func(st *socklabv1.RunStarted) error {
						return s.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Started{Started: st}})
					})
					if err == errFinishEmpty {
						return s.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Finished{Finished: &socklabv1.RunFinished{}}})
					}
					return err
				},
			}, "", "")
			_, runErr := c.RunLab(bounded(t), &socklabv1.RunLabRequest{Lab: "x"}, nil, &sink{})
			_, trErr := c.Transcript(bounded(t), "run-0", &sink{})
			for call, err := range map[string]error{"RunLab": runErr, "Transcript": trErr} {
				if !errors.Is(err, tc.kind) || err.Error() != tc.want {
					t.Errorf("%s() = %v, want %v: %q", call, err, tc.kind, tc.want)
				}
			}
		})
	}
}

// TestUnaryCalls: ListRuns, CancelRun and Transcript send what they are given and map
// the controller's refusals to kinds.
func TestUnaryCalls(t *testing.T) {
	var mu sync.Mutex // protects limits and cancelled
	var limits []uint32
	var cancelled []string
	c := serve(t, &fakeController{
		listRuns: func(_ context.Context, req *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			limits = append(limits, req.GetLimit())
			return &socklabv1.ListRunsResponse{Runs: []*socklabv1.RunSummary{{RunId: "run-2"}, {RunId: "run-1"}}}, nil
		},
		cancelRun: func(_ context.Context, req *socklabv1.CancelRunRequest) (*socklabv1.CancelRunResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			cancelled = append(cancelled, req.GetRunId())
			if req.GetRunId() != "run-2" {
				return nil, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "no run %s in progress on this controller", req.GetRunId()))
			}
			return &socklabv1.CancelRunResponse{}, nil
		},
		getTranscript: func(req *socklabv1.GetTranscriptRequest, _ socklabv1.ControllerService_GetTranscriptServer) error {
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "run %s: no such run", req.GetRunId()))
		},
	}, "", "")
	for _, limit := range []int{0, 7, -3} {
		runs, err := c.ListRuns(bounded(t), limit)
		if err != nil || len(runs) != 2 || runs[0].GetRunId() != "run-2" {
			t.Errorf("ListRuns(%d) = %v, %v; want the controller's two runs in its order", limit, runs, err)
		}
	}
	if err := c.CancelRun(bounded(t), "run-2"); err != nil {
		t.Errorf("CancelRun(run-2) = %v", err)
	}
	if err := c.CancelRun(bounded(t), "run-9"); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "no run run-9 in progress on this controller" {
		t.Errorf("CancelRun(run-9) = %v, want not found in the controller's words", err)
	}
	if _, err := c.Transcript(bounded(t), "run-9", &sink{}); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "run run-9: no such run" {
		t.Errorf("Transcript(run-9) = %v, want not found in the controller's words", err)
	}
	if _, err := c.ListAgents(bounded(t)); !errors.Is(err, errdefs.ErrNotImplemented) || strings.Contains(err.Error(), "rpc error:") {
		// The fake does not implement ListAgents, as an older controller might not.
		t.Errorf("ListAgents() on a controller without it = %v, want not implemented without gRPC's wording", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []uint32{0, 7, 0}; len(limits) != 3 || limits[0] != want[0] || limits[1] != want[1] || limits[2] != want[2] {
		t.Errorf("the controller got limits %v, want %v", limits, want)
	}
	if len(cancelled) != 2 || cancelled[0] != "run-2" || cancelled[1] != "run-9" {
		t.Errorf("the controller was asked to cancel %q, want [run-2 run-9]", cancelled)
	}
}

// TestDialToken: an empty token means $SOCKLAB_TOKEN; the controller refuses a call
// without the right one as unauthenticated.
func TestDialToken(t *testing.T) {
	f := &fakeController{listRuns: func(context.Context, *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
		return &socklabv1.ListRunsResponse{}, nil
	}}
	for _, tc := range []struct {
		name, env, token string
		kind             error
	}{
		{"given", "", "T", nil},
		{"from the environment", "T", "", nil},
		{"given beats the environment", "T", "wrong", errdefs.ErrUnauthenticated},
		{"none", "", "", errdefs.ErrUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOCKLAB_TOKEN", tc.env)
			c := serve(t, f, "T", tc.token)
			_, err := c.ListRuns(bounded(t), 0)
			if tc.kind == nil && err != nil || tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("ListRuns() = %v, want %v", err, tc.kind)
			}
			if err != nil && strings.Contains(err.Error(), "rpc error:") {
				t.Errorf("ListRuns() = %q: gRPC's wording", err)
			}
		})
	}
}
