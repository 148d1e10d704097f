// Package service serves socklab.v1.ControllerService: labs run on the controller's
// agents for remote command lines, and the controller's run history.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/sandbox"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/web"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Service implements socklab.v1.ControllerService.
type Service struct {
	socklabv1.UnimplementedControllerServiceServer
	store *store.Store
	// topology returns where a run's hosts go, given the request's --agent bindings.
	topology func(agents map[string]string) topology.Topology
	// programs is topology for the runs that may start programs (nil: none may).
	programs func(agents map[string]string) topology.Topology
	// lease is each agent session's lease: how long agents keep a run's sockets when
	// this controller vanishes.
	lease time.Duration
	// inventory is the controller's agents (nil: local agents per run), with their token.
	inventory  *topology.Inventory
	agentToken string
	// budgets bound each run; its lab runs in a process of its own (controller/sandbox).
	budgets runner.Budgets
	// plugins is the folder of the lab plugins remote callers may run, by name; "" is
	// none.
	plugins string

	mu      sync.Mutex // protects running and live
	running map[string]context.CancelFunc
	live    map[string]liveRun // each run in progress, as its page draws and paces it
}

// WithInventory makes ListAgents report inv's agents, reached with token where the
// inventory gives none.
func (s *Service) WithInventory(inv *topology.Inventory, token string) *Service {
	s.inventory, s.agentToken = inv, token
	return s
}

// ListAgents reports which inventory agents answer.
func (s *Service) ListAgents(ctx context.Context, _ *socklabv1.ListAgentsRequest) (*socklabv1.ListAgentsResponse, error) {
	return s.listAgents(ctx, s.inventory), nil
}

// listAgents reports which of inv's agents answer (nil: none).
func (s *Service) listAgents(ctx context.Context, inv *topology.Inventory) *socklabv1.ListAgentsResponse {
	out := &socklabv1.ListAgentsResponse{}
	if inv == nil {
		return out
	}
	for _, st := range inv.Check(ctx, s.agentToken) {
		a := &socklabv1.AgentStatus{Name: st.Agent.Name, Address: st.Agent.Address, Up: st.Err == nil,
			Version: st.Version, HostAddress: st.HostAddress, Labels: st.Agent.Labels}
		if st.Err != nil {
			a.Error = st.Err.Error()
		}
		out.Agents = append(out.Agents, a)
	}
	return out
}

var _ socklabv1.ControllerServiceServer = (*Service)(nil)

// Local is the local topology of the runs a controller serves: a lab that arrives over
// the network starts no program on agents the controller starts itself (only an agent's
// owner allows that: socklab agent --allow-exec), and its agents are confined to the
// run's own 127.R.S.0/24: none reaches the controller host's services or networks.
var Local = topology.Local{ProgramsRefusal: "programs run only in local runs, in a controller's runs on --topology netns, and on agents whose owner allows them", Confine: true}

// Netns is the netns topology of a controller's runs (socklab controller --topology
// netns): a network namespace per host, refusing programs as Local does.
var Netns = topology.Netns{ProgramsRefusal: Local.ProgramsRefusal}

// New returns a service storing runs in st, placing hosts with topo, and opening agent
// sessions with lease (0: the runner's default). Its runs have runner.DefaultBudgets.
func New(st *store.Store, topo func(agents map[string]string) topology.Topology, lease time.Duration) *Service {
	return &Service{store: st, topology: topo, lease: lease, budgets: runner.DefaultBudgets}
}

// WithBudgets bounds each run by b instead of runner.DefaultBudgets: its lab's wall time,
// the memory of the process that runs its Starlark, its Starlark steps and its futures
// (a zero field: no bound). A run over one ends with verdict error and is stored.
func (s *Service) WithBudgets(b runner.Budgets) *Service {
	s.budgets = b
	return s
}

// WithPlugins lets remote callers run the lab plugins installed in dir, by name (a path
// is refused). Each runs contained in a process of its own (controller/plugin).
func (s *Service) WithPlugins(dir string) *Service {
	s.plugins = dir
	return s
}

// RunLab runs a lab, in a process of its own within the run's budgets, and streams it.
func (s *Service) RunLab(req *socklabv1.RunLabRequest, stream socklabv1.ControllerService_RunLabServer) error {
	pace, err := paceOf(req)
	if err != nil {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err))
	}
	id, started := runner.NewRunID(), time.Now()
	var l interface {
		runner.Lab
		Close() error
	}
	pl, err := s.installedPlugin(stream.Context(), req)
	switch {
	case err != nil:
		return errdefs.ToGRPC(err)
	case pl != nil:
		l = pl
	default:
		spec, name, err := s.spec(req)
		if err != nil {
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err))
		}
		sl, err := sandbox.Load(stream.Context(), spec, s.budgets, sandbox.Options{})
		var over *runner.BudgetError
		switch {
		case errors.As(err, &over):
			return s.overAtLoad(stream, id, name, started, err)
		case errors.Is(err, errdefs.ErrInternal):
			return errdefs.ToGRPC(err)
		case err != nil:
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err))
		}
		l = sl
	}
	defer l.Close()
	if err := s.checkAgents(req.GetAgents()); err != nil {
		return errdefs.ToGRPC(err)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	feed, ctl := &web.Feed{}, web.NewControl(pace, false)
	s.mu.Lock()
	if s.running == nil {
		s.running, s.live = map[string]context.CancelFunc{}, map[string]liveRun{}
	}
	s.running[id] = cancel
	s.live[id] = liveRun{feed, ctl}
	s.mu.Unlock()
	ended := sync.OnceFunc(func() {
		s.mu.Lock()
		delete(s.running, id)
		delete(s.live, id)
		s.mu.Unlock()
	})
	defer ended()
	hist := store.NewRecording(ownerOf(stream.Context()))
	snk := &streamSink{send: func(m *socklabv1.RunLabResponse) error { return stream.Send(m) },
		// The run is in the history from its start, its transcript stored as it goes: if
		// this controller dies mid-run, the next one to open the store marks it interrupted,
		// with what it stored. A failure here fails Save too.
		begin: func(h transcript.Header) {
			_ = hist.Begin(context.WithoutCancel(stream.Context()), s.store, h)
			feed.Header(h)
		}}
	ordered := func(e transcript.Entry) { hist.Add(e); feed.Entry(e) }
	rec := runner.Run(ctx, l, s.topologyFor(stream.Context(), req.GetAgents()),
		runner.Options{ID: id, Params: req.GetParams(), Step: ctl.Wait, Lease: s.lease, MaxTime: s.budgets.Time, Ordered: ordered}, snk)
	if rec.ExitCode == transcript.ExitBadLab && len(rec.Header.Hosts) == 0 {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%s", rec.Error))
	}
	snk.started(rec.Header) // when the topology failed, nothing started yet
	if len(rec.Header.Hosts) > 0 {
		if err := hist.Save(context.WithoutCancel(stream.Context()), s.store, rec); err != nil {
			return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "store the run: %v", err))
		}
	}
	feed.End(&rec.Result)
	ended() // a caller told the run's result finds it no longer in progress
	return snk.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: &socklabv1.RunFinished{Result: rec.Proto()}}})
}

// installedPlugin starts the lab plugin a request names, if it names one installed in
// the controller's plugins folder (nil, nil: it names none). A name that is a path is
// refused: a remote caller runs installed plugins by name only.
func (s *Service) installedPlugin(ctx context.Context, req *socklabv1.RunLabRequest) (*plugin.Lab, error) {
	name := req.GetLab()
	if len(req.GetSource()) > 0 || len(req.GetFiles()) > 0 || slices.Contains(labs.Names(), name) {
		return nil, nil
	}
	if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, errdefs.Errorf(errdefs.ErrPermissionDenied, "%q is a path: a controller runs lab plugins by name only, those installed in its plugins folder; install the plugin there (socklab controller --plugin-dir) and give its file name", name)
	}
	if s.plugins == "" {
		return nil, nil
	}
	in, err := plugin.Find(s.plugins, name)
	if errors.Is(err, plugin.ErrNotInstalled) {
		return nil, nil
	}
	if err != nil {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err)
	}
	l, err := in.Load(ctx, plugin.Options{})
	var ce *plugin.CrashError
	switch {
	case errors.As(err, &ce):
		return nil, errdefs.Errorf(errdefs.ErrInternal, "lab plugin %s: %v", name, err)
	case err != nil:
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "lab plugin %s: %v", name, err)
	}
	return l, nil
}

// overAtLoad stores and streams the run of a lab that went over a budget as it loaded
// (its top level): a run of no hosts, named after the lab asked for, whose error names
// the budget.
func (s *Service) overAtLoad(stream socklabv1.ControllerService_RunLabServer, id, name string, started time.Time, err error) error {
	rec := &transcript.Record{}
	rec.Header = transcript.Header{RunID: id, Lab: name, Started: started}
	rec.Error, rec.ExitCode, rec.Finished = err.Error(), transcript.ExitBadLab, time.Now()
	if err := s.store.SaveRunAs(context.WithoutCancel(stream.Context()), rec, ownerOf(stream.Context())); err != nil {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "store the run: %v", err))
	}
	if err := stream.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: &socklabv1.RunStarted{RunId: id, Lab: name}}}); err != nil {
		return err
	}
	return stream.Send(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Finished{Finished: &socklabv1.RunFinished{Result: rec.Proto()}}})
}

// spec is the lab a request asks for, as a sandbox loads it, and its name as the history
// names a run whose lab did not load: a built-in, or the source sent along (which may
// load the files sent with it and the built-in helpers under lib/).
func (s *Service) spec(req *socklabv1.RunLabRequest) (sandbox.Spec, string, error) {
	if len(req.GetSource()) == 0 && len(req.GetFiles()) == 0 {
		if !slices.Contains(labs.Names(), req.GetLab()) {
			return sandbox.Spec{}, "", fmt.Errorf("no built-in lab %q on this controller, and no lab plugin installed by that name: send its source", req.GetLab())
		}
		return sandbox.Spec{Builtin: req.GetLab()}, req.GetLab(), nil
	}
	files, err := sentFiles(req)
	if err != nil {
		return sandbox.Spec{}, "", err
	}
	spec := sandbox.Spec{FileName: req.GetFileName(), Source: req.GetSource(), Files: files}
	name := "lab" // as labs.Sent names a file of no plain name
	if fs.ValidPath(spec.FileName) && spec.FileName != "." {
		name = strings.TrimSuffix(path.Base(spec.FileName), ".star")
	}
	return spec, name, nil
}

// checkAgents refuses a remote run's host bindings that name anything but the agents the
// controller's operator declared (its inventory, by name): the controller never dials an
// address a caller names, nor sends an agent's token anywhere but to that agent, and its
// answer says nothing of what listens where.
func (s *Service) checkAgents(agents map[string]string) error {
	roles := make([]string, 0, len(agents))
	for role := range agents {
		roles = append(roles, role)
	}
	slices.Sort(roles)
	for _, role := range roles {
		name := agents[role]
		if s.inventory != nil {
			if _, ok := s.inventory.Find(name); ok {
				continue
			}
			return errdefs.Errorf(errdefs.ErrNotFound, "host %s: no agent named %q is available to you: name one of this controller's agents (socklab agents --controller ...)", role, name)
		}
		return errdefs.Errorf(errdefs.ErrNotFound, "host %s: no agent named %q is available to you: this controller runs labs on hosts it starts for each run", role, name)
	}
	return nil
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
	files, err := sentFiles(req)
	if err != nil {
		return nil, err
	}
	return loadSource(req.GetFileName(), req.GetSource(), files)
}

// loadSource loads a lab from its text and the files sent with it, as a lab sent to the
// controller is loaded.
func loadSource(name string, src []byte, files map[string][]byte) (*lab.Lab, error) {
	sources, name := labs.Sent(name, src, files)
	return lab.Load(sources, name)
}

// Bounds on what a request sends along: a lab's files, their bytes with its source, and
// its pace.
const (
	MaxLabFiles = 64
	MaxLabBytes = 1 << 20
	MaxPace     = 10 * time.Second
)

// sentFiles returns the files a request sends with its lab's source, by their paths,
// refusing more than MaxLabFiles files, more than MaxLabBytes with the source, a path
// that is not plain and relative, and files sent without a source.
func sentFiles(req *socklabv1.RunLabRequest) (map[string][]byte, error) {
	if len(req.GetFiles()) == 0 {
		return nil, nil
	}
	if len(req.GetSource()) == 0 {
		return nil, fmt.Errorf("files are sent with a lab's source, not with a built-in lab (%q)", req.GetLab())
	}
	if n := len(req.GetFiles()); n > MaxLabFiles {
		return nil, fmt.Errorf("a lab sends at most %d files with it, and this one loads %d", MaxLabFiles, n)
	}
	files, size := map[string][]byte{}, len(req.GetSource())
	for _, f := range req.GetFiles() {
		p := f.GetPath()
		if !fs.ValidPath(p) || p == "." {
			return nil, fmt.Errorf("file %q: a lab's file is sent by its path relative to the lab's folder, with no \"..\"", p)
		}
		if _, ok := files[p]; ok {
			return nil, fmt.Errorf("file %q is sent twice", p)
		}
		files[p] = f.GetContent()
		size += len(f.GetContent())
	}
	if size > MaxLabBytes {
		return nil, fmt.Errorf("a lab and the files it loads are at most %s together, and these are %s", runner.Bytes(MaxLabBytes), runner.Bytes(int64(size)))
	}
	return files, nil
}

// paceOf is the pause after each step a request asks for, at most MaxPace.
func paceOf(req *socklabv1.RunLabRequest) (time.Duration, error) {
	if req.GetPace() == nil {
		return 0, nil
	}
	if err := req.GetPace().CheckValid(); err != nil {
		return 0, fmt.Errorf("pace: %v", err)
	}
	d := req.GetPace().AsDuration()
	if d < 0 || d > MaxPace {
		return 0, fmt.Errorf("pace %v: a run's pace is between 0 and %v", d, MaxPace)
	}
	return d, nil
}

// streamSink sends a run's start and events down the stream as they happen.
type streamSink struct {
	send func(*socklabv1.RunLabResponse) error
	// begin, if set, records the run's start before it is sent.
	begin func(transcript.Header)

	mu   sync.Mutex // serialises sends; protects sent and err
	sent bool
	err  error
}

// Header records and sends the run's start.
func (s *streamSink) Header(h transcript.Header) {
	if s.begin != nil {
		s.begin(h)
	}
	s.mu.Lock()
	s.sent = true
	s.mu.Unlock()
	s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: h.StartedProto()}})
}

// Entry sends one event.
func (s *streamSink) Entry(e transcript.Entry) {
	if ev := transcript.EntryEvent(e); ev != nil {
		s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Event{Event: ev}})
	}
}

// started sends a start for a run that failed before its hosts were bound: its id and lab.
func (s *streamSink) started(h transcript.Header) {
	s.mu.Lock()
	sent := s.sent
	s.mu.Unlock()
	if !sent {
		s.sendMsg(&socklabv1.RunLabResponse{Msg: &socklabv1.RunLabResponse_Started{Started: &socklabv1.RunStarted{RunId: h.RunID, Lab: h.Lab, Summary: h.Summary}}})
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
		return nil, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "no run %s in progress on this controller", req.GetRunId()))
	}
	cancel()
	return &socklabv1.CancelRunResponse{}, nil
}

// ListRuns lists stored runs.
func (s *Service) ListRuns(ctx context.Context, req *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
	return listRuns(ctx, req, s.store.Runs)
}

// listRuns lists the runs list gives, at most as many as req asks for.
func listRuns(ctx context.Context, req *socklabv1.ListRunsRequest, list func(ctx context.Context, limit int) ([]store.Summary, error)) (*socklabv1.ListRunsResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = 50
	}
	runs, err := list(ctx, limit)
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "%v", err))
	}
	out := &socklabv1.ListRunsResponse{}
	for _, r := range runs {
		out.Runs = append(out.Runs, &socklabv1.RunSummary{RunId: r.ID, Lab: r.Lab, StartedUnixNs: r.Started.UnixNano(),
			Verdict: r.Verdict, Score: int32(r.Score), MaxScore: int32(r.MaxScore), User: r.Owner})
	}
	return out, nil
}

// GetTranscript streams a stored run.
func (s *Service) GetTranscript(req *socklabv1.GetTranscriptRequest, stream socklabv1.ControllerService_GetTranscriptServer) error {
	res, err := s.store.Result(stream.Context(), req.GetRunId())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "%v", err))
	case errors.Is(err, store.ErrAmbiguous):
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err))
	case err != nil:
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "%v", err))
	}
	start := res.Header.StartedProto()
	if err := stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Started{Started: start}}); err != nil {
		return err
	}
	if err := s.store.Events(stream.Context(), res.Header.RunID, func(ev *socklabv1.Event) error {
		return stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Event{Event: ev}})
	}); err != nil {
		if stream.Context().Err() != nil {
			return errdefs.ToGRPC(stream.Context().Err())
		}
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "%v", err))
	}
	return stream.Send(&socklabv1.GetTranscriptResponse{Msg: &socklabv1.GetTranscriptResponse_Finished{Finished: &socklabv1.RunFinished{Result: res.Proto()}}})
}
