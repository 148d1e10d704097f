package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/remote"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/users"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The users of the access tests: the admin of the plain --token (users.TokenUser, with
// token), an instructor and two students.
const (
	instructor = "ines"
	alice      = "alice"
	bob        = "bob"
)

// helloLab connects two hosts on ports the kernel picks, so that it reruns on the same
// agents at once.
const helloLab = `lab(name = "hello", summary = "one connection", hosts = ["server", "client"], checks = {"connected": "the client connects"})

def main(t):
    l = t.server.socket(AF_INET, SOCK_STREAM)
    l.bind((t.server.ip, 0))
    l.listen(1)
    c = t.client.socket(AF_INET, SOCK_STREAM)
    c.connect(l.getsockname())
    conn, addr = l.accept()
    t.check("connected", True)
`

// spawnerLab starts a program on the controller's own agents.
const spawnerLab = `lab(name = "%s", summary = "starts a program", hosts = ["a"], checks = {"ran": "it ran and printed"})

def main(t):
    p = t.a.spawn(["python3", "-c", "print('owned')"])
    t.check("ran", p.wait() == 0 and b"owned" in p.stdout(), got = p.stdout())
`

// class is a controller behind Guard and its users' tokens.
type class struct {
	addr   string
	pages  string            // where its run pages are served (Guard.Pages)
	tokens map[string]string // by user name
}

// as connects to the controller as user (any other name: a wrong token).
func (c class) as(t *testing.T, user string) *remote.Client {
	t.Helper()
	tok, ok := c.tokens[user]
	if !ok {
		tok = "socklab_wrong"
	}
	return dial(t, c.addr, tok)
}

// classOptions shape a test controller.
type classOptions struct {
	// inv is its inventory (nil: local agents per run).
	inv *topology.Inventory
	// labs are the published labs: built-in names, or the names of files written
	// from files.
	labs  []string
	files map[string]string
	// agents are the agents assigned to each student.
	agents map[string][]string
}

// startClass serves ControllerService behind Guard as `socklab controller --users FILE
// --token T [--inventory FILE]` does, with programs on its own agents for the runs that
// may start them.
func startClass(t *testing.T, o classOptions) class {
	t.Helper()
	dir := t.TempDir()
	f := &users.File{}
	for _, l := range o.labs {
		if src, ok := o.files[l]; ok {
			l = filepath.Join(dir, l)
			if err := os.WriteFile(l, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f.Labs = append(f.Labs, l)
	}
	c := class{tokens: map[string]string{users.TokenUser: token}}
	for _, u := range []struct {
		name string
		role users.Role
	}{{instructor, users.Instructor}, {alice, users.Student}, {bob, users.Student}} {
		tok, hash := users.NewToken()
		c.tokens[u.name] = tok
		f.Users = append(f.Users, users.User{Name: u.name, Role: u.role, TokenSHA256: hash, Agents: o.agents[u.name]})
	}
	st, err := store.Open(filepath.Join(dir, "ctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topo := func(own topology.Topology) func(map[string]string) topology.Topology {
		return func(agents map[string]string) topology.Topology {
			return topology.Choose(agents, o.inv, agenttest.Token, own)
		}
	}
	svc := service.New(st, topo(service.Local), 0).WithInventory(o.inv, agenttest.Token).WithPrograms(topo(service.LocalPrograms))
	g, err := service.NewGuard(svc, f)
	if err != nil {
		t.Fatalf("NewGuard() = %v", err)
	}
	d, err := users.NewDirectory(f, token)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(d.ServerOptions()...)
	socklabv1.RegisterControllerServiceServer(gs, g)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	c.addr = lis.Addr().String()
	c.pages = servePages(t, g.Pages(d))
	return c
}

// startRoom starts real agents pc1, pc2 and pc3, each with a host address of its own,
// and returns their inventory and each one's host address.
func startRoom(t *testing.T) (*topology.Inventory, map[string]string) {
	t.Helper()
	inv := &topology.Inventory{}
	ips := map[string]string{}
	net := fmt.Sprintf("127.%d.%d.", 200+rand.IntN(50), rand.IntN(250))
	for i, name := range []string{"pc1", "pc2", "pc3"} {
		ip := net + fmt.Sprint(11+i)
		a := agenttest.Start(t, agenttest.HostIP(ip))
		inv.Agents = append(inv.Agents, topology.InventoryAgent{Name: name, Address: a.Target})
		ips[name] = ip
	}
	return inv, ips
}

// run runs req as c's user and returns its result or error.
func run(t *testing.T, c *remote.Client, req *socklabv1.RunLabRequest) (*transcript.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	return c.RunLab(ctx, req, nil, newRecorder())
}

// mustRun runs req as c's user, failing the test unless it passes.
func mustRun(t *testing.T, c *remote.Client, req *socklabv1.RunLabRequest) *transcript.Result {
	t.Helper()
	res, err := run(t, c, req)
	if err != nil {
		t.Fatalf("RunLab(%s%s) = %v", req.GetLab(), req.GetFileName(), err)
	}
	if res.ExitCode != transcript.ExitPassed {
		t.Fatalf("RunLab(%s%s): exit %d, error %q", req.GetLab(), req.GetFileName(), res.ExitCode, res.Error)
	}
	return res
}

// denied checks that err is a PermissionDenied whose message holds want.
func denied(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "rpc error:") {
		t.Errorf("%s = %v; want permission denied: %q", what, err, want)
	}
}

// runIDs lists what ListRuns gives the client.
func runIDs(t *testing.T, c *remote.Client) ([]string, error) {
	t.Helper()
	runs, err := c.ListRuns(t.Context(), 0)
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.GetRunId())
	}
	slices.Sort(ids)
	return ids, err
}

// TestRoles: each RPC checks its caller's role. Admins and instructors see every agent,
// run any lab (a built-in, a file sent along), and see every run; a student sees and
// uses only their own agents, runs only published labs, and sees only their own runs; a
// wrong token does nothing at all.
func TestRoles(t *testing.T) {
	inv, _ := startRoom(t)
	c := startClass(t, classOptions{inv: inv, labs: []string{"hello.star"}, files: map[string]string{"hello.star": helloLab},
		agents: map[string][]string{alice: {"pc1", "pc2"}, bob: {"pc2", "pc3"}}})
	hello := &socklabv1.RunLabRequest{Lab: "hello"}
	unpublished := &socklabv1.RunLabRequest{Source: []byte(strings.ReplaceAll(helloLab, `"hello"`, `"mine"`)), FileName: "mine.star"}
	// One run each of the instructor and of bob, for the others to look for.
	insRun := mustRun(t, c.as(t, instructor), hello).Header.RunID
	bobRun := mustRun(t, c.as(t, bob), hello).Header.RunID

	type want struct {
		agents     []string // ListAgents' names
		runs       bool     // RunLab of a published and an unpublished lab
		others     bool     // ListRuns and GetTranscript show others' runs
		deniedWith string   // the refusals' words, when not allowed
	}
	for _, tc := range []struct {
		user string
		want want
	}{
		{users.TokenUser, want{agents: []string{"pc1", "pc2", "pc3"}, runs: true, others: true}},
		{instructor, want{agents: []string{"pc1", "pc2", "pc3"}, runs: true, others: true}},
		{alice, want{agents: []string{"pc1", "pc2"}, deniedWith: "a student"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			cl := c.as(t, tc.user)
			agents, err := cl.ListAgents(t.Context())
			var names []string
			for _, a := range agents {
				names = append(names, a.GetName())
				if !a.GetUp() {
					t.Errorf("ListAgents: %s is down: %s", a.GetName(), a.GetError())
				}
			}
			if err != nil || !slices.Equal(names, tc.want.agents) {
				t.Errorf("ListAgents() = %q, %v; want %q", names, err, tc.want.agents)
			}

			own := mustRun(t, cl, hello).Header.RunID
			_, err = run(t, cl, unpublished)
			if tc.want.runs && err != nil {
				t.Errorf("RunLab(an unpublished lab) = %v, want it run", err)
			}
			if !tc.want.runs {
				denied(t, "RunLab(an unpublished lab)", err, tc.want.deniedWith)
			}

			runs, err := cl.ListRuns(t.Context(), 0)
			for _, r := range runs {
				if want := map[string]string{own: tc.user, insRun: instructor, bobRun: bob}[r.GetRunId()]; want != "" && r.GetUser() != want {
					t.Errorf("ListRuns(): run %s by %q, want %q", r.GetRunId(), r.GetUser(), want)
				}
			}
			ids, err := runIDs(t, cl)
			if err != nil || !slices.Contains(ids, own) || slices.Contains(ids, bobRun) != tc.want.others || slices.Contains(ids, insRun) != tc.want.others {
				t.Errorf("ListRuns() = %q, %v; want its own run %s, and others' (%s, %s): %v", ids, err, own, insRun, bobRun, tc.want.others)
			}
			for _, id := range []string{own, insRun, bobRun} {
				_, err := cl.Transcript(t.Context(), id, newRecorder())
				switch {
				case id == own || tc.want.others:
					if err != nil {
						t.Errorf("Transcript(%s) = %v, want it read", id, err)
					}
				default:
					denied(t, fmt.Sprintf("Transcript(%s, another's)", id), err, tc.want.deniedWith+" reads only their own runs")
				}
			}
			// CancelRun of a run that has ended: every role is told it is not in
			// progress, never refused (TestCancelOwnRunsOnly has runs in progress).
			if err := cl.CancelRun(t.Context(), own); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("CancelRun(an ended run) = %v, want not found", err)
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		cl := c.as(t, "nobody")
		for name, err := range map[string]error{
			"ListAgents": func() error { _, err := cl.ListAgents(t.Context()); return err }(),
			"RunLab":     func() error { _, err := run(t, cl, hello); return err }(),
			"ListRuns":   func() error { _, err := cl.ListRuns(t.Context(), 0); return err }(),
			"Transcript": func() error { _, err := cl.Transcript(t.Context(), insRun, newRecorder()); return err }(),
			"CancelRun":  cl.CancelRun(t.Context(), insRun),
		} {
			if !errors.Is(err, errdefs.ErrUnauthenticated) || !strings.Contains(err.Error(), "wrong token") {
				t.Errorf("%s with a wrong token = %v, want unauthenticated: wrong token", name, err)
			}
		}
	})
}

// TestEveryRPCGuarded: Guard answers every RPC of ControllerService itself: an RPC added
// to the proto without its role check is a failing test here, and Unimplemented (never
// unguarded) on the wire.
func TestEveryRPCGuarded(t *testing.T) {
	desc := socklabv1.ControllerService_ServiceDesc
	var rpcs []string
	for _, m := range desc.Methods {
		rpcs = append(rpcs, m.MethodName)
	}
	for _, s := range desc.Streams {
		rpcs = append(rpcs, s.StreamName)
	}
	guarded := []string{"ListAgents", "RunLab", "ListRuns", "GetTranscript", "CancelRun"}
	for _, rpc := range rpcs {
		if !slices.Contains(guarded, rpc) {
			t.Errorf("ControllerService.%s has no role check in Guard, nor a case in TestRoles", rpc)
		}
	}
}

// TestStudentRunsPublishedOnly: a student runs a published lab by name, but neither a
// built-in nor a lab file that is not published, each refused before anything starts with
// the labs they may run; nothing is stored of the refusals.
func TestStudentRunsPublishedOnly(t *testing.T) {
	c := startClass(t, classOptions{labs: []string{"tcp-simple", "hello.star"}, files: map[string]string{"hello.star": helloLab}})
	cl := c.as(t, alice)
	for _, tc := range []struct {
		name string
		req  *socklabv1.RunLabRequest
		want string
	}{
		{"an unpublished built-in", &socklabv1.RunLabRequest{Lab: "udp-echo"}, `lab "udp-echo" is not published: a student runs only the labs an instructor published: socklab run NAME --controller ADDR, NAME one of hello, tcp-simple`},
		{"a lab file", readLab(t, "../runner/testdata/failing-check.star"), "a student runs only the labs an instructor published, by name, not a lab file sent along"},
		{"a published lab's own text", &socklabv1.RunLabRequest{Lab: "hello", Source: []byte(helloLab), FileName: "hello.star"}, "not a lab file sent along"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
			defer cancel()
			res, err := cl.RunLab(ctx, tc.req, rec.started, rec)
			denied(t, fmt.Sprintf("RunLab(%s) = %v", tc.name, res), err, tc.want)
			if ids, headers, entries := rec.snapshot(); len(ids)+len(headers)+len(entries) > 0 {
				t.Errorf("a refused lab started: ids %q, %d headers, %d entries", ids, len(headers), len(entries))
			}
		})
	}
	if ids, err := runIDs(t, c.as(t, instructor)); err != nil || len(ids) != 0 {
		t.Errorf("ListRuns() = %q, %v; want nothing stored of the refusals", ids, err)
	}
	mustRun(t, cl, &socklabv1.RunLabRequest{Lab: "tcp-simple"})
	mustRun(t, cl, &socklabv1.RunLabRequest{Lab: "hello"})
}

// TestStudentAgents: a student cannot choose agents (--agent), not even their own; their
// hosts go to the agents assigned to them; a lab with more hosts than they have agents is
// refused, saying so.
func TestStudentAgents(t *testing.T) {
	inv, ips := startRoom(t)
	c := startClass(t, classOptions{inv: inv, labs: []string{"hello.star"}, files: map[string]string{"hello.star": helloLab},
		agents: map[string][]string{alice: {"pc3", "pc1"}, bob: {"pc2"}}})
	for _, agents := range []map[string]string{{"server": "pc2"}, {"server": "pc1"}} {
		_, err := run(t, c.as(t, alice), &socklabv1.RunLabRequest{Lab: "hello", Agents: agents})
		denied(t, fmt.Sprintf("RunLab(--agent %v)", agents), err, "a student cannot choose agents (--agent): run the lab without it, and its hosts go to the agents assigned to you: pc3, pc1")
	}
	res := mustRun(t, c.as(t, alice), &socklabv1.RunLabRequest{Lab: "hello"})
	want := []transcript.Host{{Role: "server", Address: ips["pc3"]}, {Role: "client", Address: ips["pc1"]}}
	if !slices.Equal(res.Header.Hosts, want) {
		t.Errorf("alice's hosts %+v, want %+v (her agents, in her order)", res.Header.Hosts, want)
	}
	_, err := run(t, c.as(t, bob), &socklabv1.RunLabRequest{Lab: "hello"})
	denied(t, "RunLab(2 hosts, 1 agent)", err, "the lab has 2 hosts, more than the agents assigned to you (pc2): ask an instructor to assign you 2")
	// A student with no agent assigned on a controller with an inventory runs nothing.
	none := startClass(t, classOptions{inv: inv, labs: []string{"hello.star"}, files: map[string]string{"hello.star": helloLab}})
	_, err = none.as(t, bob).ListAgents(t.Context())
	denied(t, "ListAgents(no agent assigned)", err, "a student sees only the agents assigned to them, and none is assigned to you: ask an instructor to assign some")
	_, err = run(t, none.as(t, bob), &socklabv1.RunLabRequest{Lab: "hello"})
	denied(t, "RunLab(no agent assigned)", err, "a student runs labs on the agents assigned to them, and none is assigned to you: ask an instructor to assign you 2")
	// The instructor chooses any agent.
	res = mustRun(t, c.as(t, instructor), &socklabv1.RunLabRequest{Lab: "hello", Agents: map[string]string{"server": "pc2", "client": "pc3"}})
	if want := []transcript.Host{{Role: "server", Address: ips["pc2"]}, {Role: "client", Address: ips["pc3"]}}; !slices.Equal(res.Header.Hosts, want) {
		t.Errorf("the instructor's hosts %+v, want %+v", res.Header.Hosts, want)
	}
}

// TestStudentReadsOwnRunsOnly: a student lists and reads only their own runs: another
// student's run is refused by its id, and a prefix resolves among their own runs alone.
func TestStudentReadsOwnRunsOnly(t *testing.T) {
	c := startClass(t, classOptions{labs: []string{"tcp-simple"}})
	a, b := c.as(t, alice), c.as(t, bob)
	aliceRun := mustRun(t, a, &socklabv1.RunLabRequest{Lab: "tcp-simple"}).Header.RunID
	bobRun := mustRun(t, b, &socklabv1.RunLabRequest{Lab: "tcp-simple"}).Header.RunID

	if ids, err := runIDs(t, a); err != nil || !slices.Equal(ids, []string{aliceRun}) {
		t.Errorf("alice's ListRuns() = %q, %v; want only %s", ids, err, aliceRun)
	}
	_, err := a.Transcript(t.Context(), bobRun, newRecorder())
	denied(t, "alice's Transcript(bob's run)", err, "run "+bobRun+" was started by another user: a student reads only their own runs")
	// "run-" names both runs, but only one of alice's.
	if res, err := a.Transcript(t.Context(), "run-", newRecorder()); err != nil || res.Header.RunID != aliceRun {
		t.Errorf("alice's Transcript(run-) = %v, %v; want her own run %s", res, err, aliceRun)
	}
	if _, err := a.Transcript(t.Context(), "run-ffffffffffffffff", newRecorder()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("alice's Transcript(unknown) = %v, want not found", err)
	}
	if ids, err := runIDs(t, c.as(t, instructor)); err != nil || !slices.Equal(ids, sorted(aliceRun, bobRun)) {
		t.Errorf("the instructor's ListRuns() = %q, %v; want both runs", ids, err)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestCancelOwnRunsOnly: a student cannot cancel another's run in progress (it goes on),
// but cancels their own; an instructor cancels a student's.
func TestCancelOwnRunsOnly(t *testing.T) {
	blocks, err := os.ReadFile("../runner/testdata/blocks.star")
	if err != nil {
		t.Fatal(err)
	}
	c := startClass(t, classOptions{labs: []string{"blocks.star"}, files: map[string]string{"blocks.star": string(blocks)}})
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	// start runs blocks as user and returns its id and its outcome.
	start := func(user string) (string, <-chan *transcript.Result) {
		rec := newRecorder()
		ids := make(chan string, 1)
		done := make(chan *transcript.Result, 1)
		go func() {
			res, err := c.as(t, user).RunLab(ctx, &socklabv1.RunLabRequest{Lab: "blocks"}, func(id string) { ids <- id }, rec)
			if err != nil {
				t.Errorf("%s's RunLab(blocks) = %v", user, err)
			}
			done <- res
		}()
		select {
		case id := <-ids:
			if err := rec.waitOp(ctx, "accept"); err != nil {
				t.Fatalf("%s's run: %v", user, err)
			}
			return id, done
		case <-ctx.Done():
			t.Fatalf("%s's run learned no id", user)
		}
		return "", nil
	}
	interrupted := func(who string, done <-chan *transcript.Result) {
		select {
		case res := <-done:
			if res == nil || res.ExitCode != transcript.ExitInterrupted {
				t.Errorf("%s's run ended %+v, want interrupted", who, res)
			}
		case <-ctx.Done():
			t.Errorf("%s's run is still going after its cancel", who)
		}
	}
	bobRun, bobDone := start(bob)
	denied(t, "alice's CancelRun(bob's run)", c.as(t, alice).CancelRun(ctx, bobRun), "run "+bobRun+" was started by another user: a student cancels only their own runs")
	select {
	case res := <-bobDone:
		t.Fatalf("bob's run ended on alice's refused cancel: %+v", res)
	case <-time.After(100 * time.Millisecond):
	}
	if err := c.as(t, bob).CancelRun(ctx, bobRun); err != nil {
		t.Errorf("bob's CancelRun(his own run) = %v", err)
	}
	interrupted(bob, bobDone)

	aliceRun, aliceDone := start(alice)
	if err := c.as(t, instructor).CancelRun(ctx, aliceRun); err != nil {
		t.Errorf("the instructor's CancelRun(alice's run) = %v", err)
	}
	interrupted(alice, aliceDone)
}

// TestProgramsByRole: on the controller's own agents, an instructor's and an admin's
// labs start programs, and so does a student's published lab; a student's unpublished
// lab that would is refused before it starts; a controller that asks for no token starts
// none.
func TestProgramsByRole(t *testing.T) {
	c := startClass(t, classOptions{labs: []string{"published-spawner.star"}, files: map[string]string{"published-spawner.star": fmt.Sprintf(spawnerLab, "published-spawner")}})
	spawner := &socklabv1.RunLabRequest{Source: fmt.Appendf(nil, spawnerLab, "spawner"), FileName: "spawner.star"}
	for _, user := range []string{instructor, users.TokenUser} {
		res := mustRun(t, c.as(t, user), spawner)
		if ch := checkOf(t, res, "ran"); !ch.Passed {
			t.Errorf("%s's program: %s", user, ch.Message)
		}
	}
	_, err := run(t, c.as(t, alice), spawner)
	denied(t, "a student's unpublished spawner", err, "a student runs only the labs an instructor published")
	res := mustRun(t, c.as(t, alice), &socklabv1.RunLabRequest{Lab: "published-spawner"})
	if ch := checkOf(t, res, "ran"); !ch.Passed {
		t.Errorf("the student's published program: %s", ch.Message)
	}

	t.Run("no token", func(t *testing.T) {
		st, err := store.Open(filepath.Join(t.TempDir(), "ctl.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc := service.New(st, func(map[string]string) topology.Topology { return service.Local }, 0).
			WithPrograms(func(map[string]string) topology.Topology { return service.LocalPrograms })
		g, err := service.NewGuard(svc, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := users.NewDirectory(nil, "")
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(d.ServerOptions()...)
		socklabv1.RegisterControllerServiceServer(gs, g)
		go gs.Serve(lis)
		t.Cleanup(gs.Stop)
		t.Setenv("SOCKLAB_TOKEN", "")
		res, err := run(t, dial(t, lis.Addr().String(), ""), spawner)
		if err != nil || res.ExitCode != transcript.ExitBadLab || !strings.Contains(res.Error, service.Local.ProgramsRefusal) {
			t.Errorf("an anonymous spawner = %+v, %v; want exit 2: %q", res, err, service.Local.ProgramsRefusal)
		}
	})
}

// TestNewGuardErrors: a users file whose published labs do not load, clash with a
// built-in's name or each other's, or that assigns agents the controller lacks, stops the
// controller before it serves, naming what to fix.
func TestNewGuardErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := &topology.Inventory{Agents: []topology.InventoryAgent{{Name: "pc1", Address: "127.0.0.1:1"}}}
	hello := write("hello.star", helloLab)
	for _, tc := range []struct {
		name string
		inv  *topology.Inventory
		f    users.File
		want string
	}{
		{"unknown built-in", nil, users.File{Labs: []string{"no-such-lab"}}, `no built-in lab "no-such-lab"`},
		{"missing file", nil, users.File{Labs: []string{filepath.Join(dir, "gone.star")}}, "gone.star: no such file"},
		{"broken file", nil, users.File{Labs: []string{write("broken.star", "lab(")}}, "published lab " + filepath.Join(dir, "broken.star")},
		{"a built-in's name", nil, users.File{Labs: []string{write("mine.star", strings.ReplaceAll(helloLab, `"hello"`, `"tcp-simple"`))}}, "is named tcp-simple, as a built-in lab is: rename it"},
		{"one name twice", nil, users.File{Labs: []string{hello, write("hello2.star", helloLab)}}, "two published labs are named hello"},
		{"agents without an inventory", nil, users.File{Users: []users.User{{Name: "alice", Role: users.Student, Agents: []string{"pc1"}}}}, "this controller has no --inventory"},
		{"an agent not in the inventory", inv, users.File{Users: []users.User{{Name: "alice", Role: users.Student, Agents: []string{"pc9"}}}}, "user alice is assigned agent pc9, which the inventory does not list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := service.New(nil, func(map[string]string) topology.Topology { return service.Local }, 0).WithInventory(tc.inv, "")
			if _, err := service.NewGuard(svc, &tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewGuard() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
