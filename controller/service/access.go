package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/users"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// rights are what a role may do through the controller's RPCs. Every RPC of Guard reads
// its caller's rights here, and nowhere else.
type rights struct {
	// anyLab: run any lab (a built-in, a published one, one sent as source); else only
	// the published labs, by name.
	anyLab bool
	// allAgents: see every agent of the inventory and bind hosts to any of them by name
	// (--agent); else only the agents assigned to the user, bound by the controller.
	allAgents bool
	// allRuns: list, read and cancel every user's runs; else only one's own.
	allRuns bool
	// programs: start programs (host.spawn) on the controller's own agents in any lab;
	// else only in published labs.
	programs bool
}

// roleRights are each role's rights. Admins and instructors differ in no RPC of today's
// ControllerService; an admin-only RPC would add the difference here.
var roleRights = map[users.Role]rights{
	users.Admin:      {anyLab: true, allAgents: true, allRuns: true, programs: true},
	users.Instructor: {anyLab: true, allAgents: true, allRuns: true, programs: true},
	users.Student:    {},
}

// LocalPrograms is Local for the runs that may start programs (an instructor's or an
// admin's, a student's published labs). Its programs share the controller host's
// network (only the lab's own sockets are confined), so socklab controller uses it for
// no run: a controller starts programs only on NetnsPrograms. Tests use it.
var LocalPrograms = topology.Local{Programs: policy.LocalPrograms, Confine: Local.Confine}

// NetnsPrograms is Netns for the runs that may start programs.
var NetnsPrograms = topology.Netns{Programs: policy.LocalPrograms}

// WithPrograms makes the runs Guard lets start programs place their hosts with topo:
// the controller's own agents (LocalPrograms, NetnsPrograms) let them. Without it, no run
// starts a program on the controller's own agents.
func (s *Service) WithPrograms(topo func(agents map[string]string) topology.Topology) *Service {
	s.programs = topo
	return s
}

// programsKey marks the context of a run that may start programs.
type programsKey struct{}

// topologyFor returns where a run's hosts go: s.programs for a run Guard lets start
// programs, else s.topology.
func (s *Service) topologyFor(ctx context.Context, agents map[string]string) topology.Topology {
	if ok, _ := ctx.Value(programsKey{}).(bool); ok && s.programs != nil {
		return s.programs(agents)
	}
	return s.topology(agents)
}

// ownerOf is who a call's run is recorded as started by: its caller's name ("": nobody).
func ownerOf(ctx context.Context) string {
	if u, ok := users.FromContext(ctx); ok {
		return u.Name
	}
	return ""
}

// Guard serves ControllerService to a controller's users (users.Directory's interceptors
// put each call's caller in its context): each RPC checks its caller's role, refuses what
// the role may not do with PermissionDenied and what it may do instead, and hands the
// rest to the Service. An RPC Guard does not know is Unimplemented, never unguarded.
type Guard struct {
	socklabv1.UnimplementedControllerServiceServer
	svc *Service
	// published are the labs published to students, by lab name.
	published map[string]publishedLab
	// publishedNames are their names, sorted, for messages.
	publishedNames []string

	mu     sync.Mutex        // protects owners
	owners map[string]string // who started each run in progress, by run id
}

var _ socklabv1.ControllerServiceServer = (*Guard)(nil)

// publishedLab is a lab published to students.
type publishedLab struct {
	// hosts are its host roles, in order.
	hosts []string
	// file and source are a lab file's base name and text, read when the controller
	// started; empty for a built-in lab.
	file   string
	source []byte
}

// NewGuard returns s behind role checks for the users of f (nil: no users file; the
// callers are then the admin of --token, or Anonymous). It loads every published lab (a
// file as a lab sent to the controller is loaded: it may load() only lib/) and checks
// that every agent assigned to a student is one of s's inventory.
func NewGuard(s *Service, f *users.File) (*Guard, error) {
	g := &Guard{svc: s, published: map[string]publishedLab{}, owners: map[string]string{}}
	if f == nil {
		return g, nil
	}
	for _, name := range f.Labs {
		var pub publishedLab
		var lname string
		if users.IsLabPath(name) {
			src, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("users file: published lab: %w", err)
			}
			pub.file, pub.source = filepath.Base(name), src
			l, err := loadSource(pub.file, src, nil)
			if err != nil {
				return nil, fmt.Errorf("users file: published lab %s: %w", name, err)
			}
			if slices.Contains(labs.Names(), l.Name) {
				return nil, fmt.Errorf("users file: published lab %s is named %s, as a built-in lab is: rename it", name, l.Name)
			}
			lname, pub.hosts = l.Name, l.Hosts
		} else {
			l, err := s.load(&socklabv1.RunLabRequest{Lab: name})
			if err != nil {
				return nil, fmt.Errorf("users file: published lab: %w", err)
			}
			lname, pub.hosts = l.Name, l.Hosts
		}
		if _, ok := g.published[lname]; ok {
			return nil, fmt.Errorf("users file: two published labs are named %s", lname)
		}
		g.published[lname] = pub
		g.publishedNames = append(g.publishedNames, lname)
	}
	slices.Sort(g.publishedNames)
	for _, u := range f.Users {
		for _, a := range u.Agents {
			if s.inventory == nil {
				return nil, fmt.Errorf("users file: user %s is assigned agent %s, but this controller has no --inventory: its runs go to hosts it starts", u.Name, a)
			}
			if _, ok := s.inventory.Find(a); !ok {
				return nil, fmt.Errorf("users file: user %s is assigned agent %s, which the inventory does not list", u.Name, a)
			}
		}
	}
	return g, nil
}

// caller returns a call's user and their rights.
func caller(ctx context.Context) (*users.User, rights, error) {
	u, ok := users.FromContext(ctx)
	if !ok {
		// Only a server built without users.Directory's interceptors gets here.
		return nil, rights{}, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "the controller knows no caller of this call: send a token"))
	}
	r, ok := roleRights[u.Role]
	if !ok {
		return nil, rights{}, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrPermissionDenied, "user %s has role %q, which may do nothing here", u.Name, u.Role))
	}
	return u, r, nil
}

// denied is a PermissionDenied answer: what the caller may not do, and what they may.
func denied(format string, args ...any) error {
	return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrPermissionDenied, format, args...))
}

// ListAgents lists the inventory's agents the caller may use, and whether each answers.
func (g *Guard) ListAgents(ctx context.Context, req *socklabv1.ListAgentsRequest) (*socklabv1.ListAgentsResponse, error) {
	u, r, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case r.allAgents:
		return g.svc.ListAgents(ctx, req)
	case g.svc.inventory != nil && len(u.Agents) == 0:
		return nil, denied("a %s sees only the agents assigned to them, and none is assigned to you: ask an instructor to assign some", u.Role)
	}
	return g.svc.listAgents(ctx, g.assigned(u)), nil
}

// assigned is the inventory of u's agents (nil when the controller has no inventory).
func (g *Guard) assigned(u *users.User) *topology.Inventory {
	if g.svc.inventory == nil {
		return nil
	}
	inv := &topology.Inventory{}
	for _, a := range g.svc.inventory.Agents {
		if slices.Contains(u.Agents, a.Name) {
			inv.Agents = append(inv.Agents, a)
		}
	}
	return inv
}

// RunLab runs a lab the caller may run, on agents they may use, and streams it.
func (g *Guard) RunLab(req *socklabv1.RunLabRequest, stream socklabv1.ControllerService_RunLabServer) error {
	u, r, err := caller(stream.Context())
	if err != nil {
		return err
	}
	if len(req.GetFiles()) > 0 && len(req.GetSource()) == 0 {
		// Checked before a published lab's source takes the place of none: no caller's
		// files ever stand in for the files a published lab loads.
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "files are sent with a lab's source, not with a lab named %q", req.GetLab()))
	}
	pub, published := g.published[req.GetLab()]
	published = published && len(req.GetSource()) == 0
	if !r.anyLab {
		switch {
		case len(req.GetSource()) > 0:
			return denied("a %s runs only the labs an instructor published, by name, not a lab file sent along: %s", u.Role, g.mayRun())
		case !published:
			return denied("lab %q is not published: a %s runs only the labs an instructor published: %s", req.GetLab(), u.Role, g.mayRun())
		}
	}
	req = proto.Clone(req).(*socklabv1.RunLabRequest)
	if !r.allAgents {
		if len(req.Agents) > 0 {
			return denied("a %s cannot choose agents (--agent): run the lab without it, and its hosts go to %s", u.Role, g.whereHostsGo(u))
		}
		if req.Agents, err = g.bindAssigned(u, pub.hosts); err != nil {
			return err
		}
	}
	if published && pub.source != nil {
		req.Source, req.FileName = pub.source, pub.file
	}
	ctx := stream.Context()
	if u.Authenticated() && (r.programs || published) {
		ctx = context.WithValue(ctx, programsKey{}, true)
	}
	var ids []string // the runs this call started, for CancelRun
	defer func() {
		g.mu.Lock()
		for _, id := range ids {
			delete(g.owners, id)
		}
		g.mu.Unlock()
	}()
	return g.svc.RunLab(req, &runStream{ControllerService_RunLabServer: stream, ctx: ctx, started: func(id string) {
		g.mu.Lock()
		g.owners[id] = u.Name
		ids = append(ids, id)
		g.mu.Unlock()
	}})
}

// mayRun says which labs a student may run.
func (g *Guard) mayRun() string {
	if len(g.publishedNames) == 0 {
		return "none is published yet (ask an instructor to publish one)"
	}
	return "socklab run NAME --controller ADDR, NAME one of " + strings.Join(g.publishedNames, ", ")
}

// whereHostsGo says where a user's runs place their hosts.
func (g *Guard) whereHostsGo(u *users.User) string {
	switch {
	case g.svc.inventory == nil:
		return "hosts the controller starts for each run"
	case len(u.Agents) == 0:
		return "the agents assigned to you, and none is yet (ask an instructor to assign some)"
	}
	return "the agents assigned to you: " + strings.Join(u.Agents, ", ")
}

// bindAssigned binds a lab's hosts to the agents assigned to u, as an inventory binds
// them: each to the agent of its own name, else to the next one free. Without an
// inventory it binds none: hosts go to agents the controller starts.
func (g *Guard) bindAssigned(u *users.User, hosts []string) (map[string]string, error) {
	if g.svc.inventory == nil {
		return nil, nil
	}
	if len(u.Agents) == 0 {
		return nil, denied("a %s runs labs on the agents assigned to them, and none is assigned to you: ask an instructor to assign you %d", u.Role, len(hosts))
	}
	if len(hosts) > len(u.Agents) {
		return nil, denied("the lab has %d hosts, more than the agents assigned to you (%s): ask an instructor to assign you %d", len(hosts), strings.Join(u.Agents, ", "), len(hosts))
	}
	bound, used := map[string]string{}, map[string]bool{}
	for _, h := range hosts {
		if slices.Contains(u.Agents, h) {
			bound[h], used[h] = h, true
		}
	}
	for _, h := range hosts {
		if _, ok := bound[h]; ok {
			continue
		}
		i := slices.IndexFunc(u.Agents, func(a string) bool { return !used[a] })
		bound[h], used[u.Agents[i]] = u.Agents[i], true
	}
	return bound, nil
}

// runStream is a run's stream as the Service sees it: its context may let the run start
// programs, and started learns the run's id as it goes out.
type runStream struct {
	socklabv1.ControllerService_RunLabServer
	ctx     context.Context
	started func(id string)
}

// Context returns the run's context.
func (s *runStream) Context() context.Context { return s.ctx }

// Send sends m, first telling started a run's id.
func (s *runStream) Send(m *socklabv1.RunLabResponse) error {
	if id := m.GetStarted().GetRunId(); id != "" {
		s.started(id)
	}
	return s.ControllerService_RunLabServer.Send(m)
}

// CancelRun stops a run in progress that the caller may stop.
func (g *Guard) CancelRun(ctx context.Context, req *socklabv1.CancelRunRequest) (*socklabv1.CancelRunResponse, error) {
	u, r, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !r.allRuns {
		g.mu.Lock()
		owner, ok := g.owners[req.GetRunId()]
		g.mu.Unlock()
		switch {
		case !ok:
			return nil, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "no run %s in progress on this controller", req.GetRunId()))
		case owner != u.Name:
			return nil, denied("run %s was started by another user: a %s cancels only their own runs (socklab runs --controller ADDR lists yours)", req.GetRunId(), u.Role)
		}
	}
	return g.svc.CancelRun(ctx, req)
}

// ListRuns lists the stored runs the caller may see, newest first.
func (g *Guard) ListRuns(ctx context.Context, req *socklabv1.ListRunsRequest) (*socklabv1.ListRunsResponse, error) {
	u, r, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if r.allRuns {
		return g.svc.ListRuns(ctx, req)
	}
	return listRuns(ctx, req, func(ctx context.Context, limit int) ([]store.Summary, error) {
		return g.svc.store.RunsOf(ctx, u.Name, limit)
	})
}

// GetTranscript streams a stored run the caller may read. A student's run id (or
// prefix) is looked up among their own runs only.
func (g *Guard) GetTranscript(req *socklabv1.GetTranscriptRequest, stream socklabv1.ControllerService_GetTranscriptServer) error {
	id, err := g.readable(stream.Context(), req.GetRunId())
	if err != nil {
		return err
	}
	return g.svc.GetTranscript(&socklabv1.GetTranscriptRequest{RunId: id}, stream)
}

// readable returns the run id (or prefix) that a caller who may read it asks for: the
// id as given for one who reads every run; else the id of the caller's own run it names,
// or an error saying that it names another user's run or none.
func (g *Guard) readable(ctx context.Context, runID string) (string, error) {
	u, r, err := caller(ctx)
	if err != nil {
		return "", err
	}
	if r.allRuns {
		return runID, nil
	}
	id, err := g.svc.store.OwnedBy(ctx, runID, u.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if owner, err := g.svc.store.Owner(ctx, runID); err == nil && owner != u.Name {
			return "", denied("run %s was started by another user: a %s reads only their own runs (socklab runs --controller ADDR lists yours)", runID, u.Role)
		}
		return "", errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrNotFound, "%v among your runs (socklab runs --controller ADDR lists them)", err))
	case errors.Is(err, store.ErrAmbiguous):
		return "", errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err))
	case err != nil:
		return "", errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInternal, "%v", err))
	}
	return id, nil
}
