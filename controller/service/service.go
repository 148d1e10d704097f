// Package service serves socklab.v1.ControllerService: labs run on the controller's
// agents for remote command lines, and the controller's run history.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing/fstest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Service implements socklab.v1.ControllerService.
type Service struct {
	socklabv1.UnimplementedControllerServiceServer
	store *store.Store
	// topology returns where a run's hosts go, given the request's --agent bindings.
	topology func(agents map[string]string) topology.Topology
	// lease is each agent session's lease: how long agents keep a run's sockets when
	// this controller vanishes.
	lease time.Duration
	// inventory is the controller's agents (nil: local agents per run), with their token.
	inventory  *topology.Inventory
	agentToken string

	mu      sync.Mutex // protects running
	running map[string]context.CancelFunc
}

// WithInventory makes ListAgents report inv's agents, reached with token where the
// inventory gives none.
func (s *Service) WithInventory(inv *topology.Inventory, token string) *Service {
	s.inventory, s.agentToken = inv, token
	return s
}

// ListAgents reports which inventory agents answer.
func (s *Service) ListAgents(ctx context.Context, _ *socklabv1.ListAgentsRequest) (*socklabv1.ListAgentsResponse, error) {
	out := &socklabv1.ListAgentsResponse{}
	if s.inventory == nil {
		return out, nil
	}
	for _, st := range s.inventory.Check(ctx, s.agentToken) {
		a := &socklabv1.AgentStatus{Name: st.Agent.Name, Address: st.Agent.Address, Up: st.Err == nil,
			Version: st.Version, HostAddress: st.HostAddress, Labels: st.Agent.Labels}
		if st.Err != nil {
			a.Error = st.Err.Error()
		}
		out.Agents = append(out.Agents, a)
	}
	return out, nil
}

var _ socklabv1.ControllerServiceServer = (*Service)(nil)

// New returns a service storing runs in st, placing hosts with topo, and opening agent
// sessions with lease (0: the runner's default).
func New(st *store.Store, topo func(agents map[string]string) topology.Topology, lease time.Duration) *Service {
	return &Service{store: st, topology: topo, lease: lease}
}

// RunLab runs a lab and streams it.
func (s *Service) RunLab(req *socklabv1.RunLabRequest, stream socklabv1.ControllerService_RunLabServer) error {
	l, err := s.load(req)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	id := runner.NewRunID()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]context.CancelFunc{}
	}
	s.running[id] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()
	snk := &streamSink{send: func(m *socklabv1.RunLabResponse) error { return stream.Send(m) }, lab: l, runID: id}
	res := runner.Run(ctx, l, s.topology(req.GetAgents()), runner.Options{ID: id, Params: req.GetParams(), Lease: s.lease}, snk)
	if res.ExitCode == runner.ExitBadLab && len(res.Hosts) == 0 {
		return status.Error(codes.InvalidArgument, res.ErrorText())
	}
	snk.started(res) // when the topology failed, nothing started yet
	if len(res.Hosts) > 0 {
		if err := s.store.SaveRun(context.WithoutCancel(stream.Context()), res); err != nil {
			return status.Errorf(codes.Internal, "store the run: %v", err)
		}
	}
	js, err := json.Marshal(res.File())
	if err != nil {
		return status.Errorf(codes.Internal, "result: %v", err)
	}
	return snk.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: &socklabv1.RunFinished{ResultJson: string(js)}}})
}

// load finds the requested lab: a built-in, or the source sent along (which may load the
// built-in helpers under lib/).
func (s *Service) load(req *socklabv1.RunLabRequest) (*lab.Lab, error) {
	if len(req.GetSource()) == 0 {
		for _, n := range labs.Names() {
			if n == req.GetLab() {
				return labs.Load(n)
			}
		}
		return nil, fmt.Errorf("no built-in lab %q on this controller: send its source", req.GetLab())
	}
	name := req.GetFileName()
	if name == "" || !fs.ValidPath(name) {
		name = "lab.star"
	}
	mem := fstest.MapFS{name: &fstest.MapFile{Data: req.GetSource()}}
	if err := fs.WalkDir(labs.FS(), "lib", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(labs.FS(), p)
			mem[p] = &fstest.MapFile{Data: b}
		}
		return err
	}); err != nil {
		return nil, err
	}
	return lab.Load(lab.FSSources{FS: mem}, name)
}

// streamSink sends a run's start and events down the stream as they happen.
type streamSink struct {
	send func(*socklabv1.RunLabResponse) error
	lab  *lab.Lab

	mu    sync.Mutex // serialises sends; protects sent and err
	sent  bool
	runID string
	err   error
}

func (s *streamSink) Header(l *lab.Lab, hosts []topology.Host) {
	start := &socklabv1.RunStarted{RunId: s.runID, Lab: l.Name, Summary: l.Summary}
	for _, h := range hosts {
		start.Hosts = append(start.Hosts, &socklabv1.HostBinding{Role: h.Role, Address: h.IP.String()})
	}
	for _, c := range l.Checks {
		start.Checks = append(start.Checks, &socklabv1.CheckInfo{Id: c.ID, Description: c.Description})
	}
	s.mu.Lock()
	s.sent = true
	s.mu.Unlock()
	s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: start}})
}

func (s *streamSink) Entry(e transcript.Entry) {
	if ev := report.EntryEvent(e); ev != nil {
		s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Event{Event: ev}})
	}
}

// started sends a start for a run that failed before its hosts were bound.
func (s *streamSink) started(res *runner.Result) {
	s.mu.Lock()
	sent := s.sent
	s.mu.Unlock()
	if !sent {
		s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: &socklabv1.RunStarted{RunId: res.ID, Lab: s.lab.Name, Summary: s.lab.Summary}}})
	}
}

func (s *streamSink) sendMsg(m *socklabv1.RunLabResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.send(m)
	}
	return s.err
}

// CancelRun stops a run in progress.
func (s *Service) CancelRun(ctx context.Context, req *socklabv1.CancelRunRequest) (*socklabv1.CancelRunResponse, error) {
	s.mu.Lock()
	cancel, ok := s.running[req.GetRunId()]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no run %s in progress on this controller", req.GetRunId())
	}
	cancel()
	return &socklabv1.CancelRunResponse{}, nil
}

// ListRuns lists stored runs.
func (s *Service) ListRuns(ctx context.Context, req *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = 50
	}
	runs, err := s.store.Runs(ctx, limit)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := &socklabv1.ListRunsResponse{}
	for _, r := range runs {
		out.Runs = append(out.Runs, &socklabv1.RunSummary{RunId: r.ID, Lab: r.Lab, StartedUnixNs: r.Started.UnixNano(),
			Verdict: r.Verdict, Score: int32(r.Score), MaxScore: int32(r.MaxScore)})
	}
	return out, nil
}

// GetTranscript streams a stored run.
func (s *Service) GetTranscript(req *socklabv1.GetTranscriptRequest, stream socklabv1.ControllerService_GetTranscriptServer) error {
	res, err := s.store.Result(stream.Context(), req.GetRunId())
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.NotFound, err.Error())
	}
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	start := &socklabv1.RunStarted{RunId: res.RunID, Lab: res.Lab}
	for role, addr := range res.Hosts {
		start.Hosts = append(start.Hosts, &socklabv1.HostBinding{Role: role, Address: addr})
	}
	if err := stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Started{Started: start}}); err != nil {
		return err
	}
	if err := s.store.Events(stream.Context(), res.RunID, func(ev *socklabv1.Event) error {
		return stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Event{Event: ev}})
	}); err != nil {
		return err
	}
	js, err := json.Marshal(res)
	if err != nil {
		return status.Errorf(codes.Internal, "result: %v", err)
	}
	return stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Finished{Finished: &socklabv1.RunFinished{ResultJson: string(js)}}})
}
