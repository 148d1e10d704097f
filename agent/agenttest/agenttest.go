// Package agenttest starts real agents on loopback for tests and drives them with short,
// failing-fast helpers.
package agenttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/agent/session"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Token is the bearer token of every test agent.
const Token = "test-token"

// Agent is a running test agent and a client connected to it.
type Agent struct {
	*server.Agent
	// Client is connected to the agent with the token.
	Client *client.Client
	// Target is the agent's gRPC address.
	Target string
}

// Option changes a test agent's configuration.
type Option func(*server.Config)

// HostIP sets the agent's host address.
func HostIP(ip string) Option {
	return func(c *server.Config) { c.HostIP = netip.MustParseAddr(ip) }
}

// WithPolicy changes the agent's policy.
func WithPolicy(f func(*policy.Policy)) Option {
	return func(c *server.Config) { f(&c.Policy) }
}

// Start serves a real agent on 127.0.0.1 (a kernel-chosen port) until the test ends.
func Start(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := server.Config{Name: "test-agent", Token: Token, Policy: policy.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := server.New(lis, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	c, err := client.Dial(lis.Addr().String(), Token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Serve: %v", err)
		}
	})
	return &Agent{Agent: a, Client: c, Target: lis.Addr().String()}
}

// Session is a session for tests: each helper fails the test on a gRPC error.
type Session struct {
	*client.Session
	t testing.TB
	a *Agent
}

// Session opens a session with lease (0: default), closed when the test ends.
func (a *Agent) Session(t testing.TB, lease time.Duration) *Session {
	t.Helper()
	s, err := a.Client.Open(context.Background(), lease, t.Name())
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return &Session{Session: s, t: t, a: a}
}

// Do performs op and returns its event; a gRPC error fails the test.
func (s *Session) Do(h uint32, op *socklabv1.Operation) *socklabv1.PerformResponse {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Session.Do(ctx, h, op)
	if err != nil {
		s.t.Fatalf("%s on handle %d: %v", opName(op), h, err)
	}
	return resp
}

// OK performs op and fails the test if it raised a socket error.
func (s *Session) OK(h uint32, op *socklabv1.Operation) *socklabv1.PerformResponse {
	s.t.Helper()
	resp := s.Do(h, op)
	if e := resp.GetEvent().GetError(); e != nil {
		s.t.Fatalf("%s on handle %d raised %s (%s)", resp.GetEvent().GetOp(), h, e.GetName(), e.GetMessage())
	}
	return resp
}

// Errno performs op and returns the name of the socket error it raised ("" for none).
func (s *Session) Errno(h uint32, op *socklabv1.Operation) string {
	s.t.Helper()
	return s.Do(h, op).GetEvent().GetError().GetName()
}

// Socket makes a socket of typ and returns its handle.
func (s *Session) Socket(typ socklabv1.SocketType) uint32 {
	s.t.Helper()
	return s.OK(0, client.Socket(typ)).GetEvent().GetResult().GetHandle()
}

// Listener makes a TCP socket bound to host (port chosen by the kernel), listening with
// backlog, and returns its handle and port.
func (s *Session) Listener(host string, backlog int) (uint32, int) {
	s.t.Helper()
	h := s.Socket(client.Stream)
	s.OK(h, client.Bind(host, 0))
	s.OK(h, client.Listen(backlog))
	return h, int(s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
}

// Pair returns a connected TCP pair inside the session: the client's handle, the
// accepted handle, and the listener's handle.
func (s *Session) Pair(host string) (cli, srv, lis uint32) {
	s.t.Helper()
	lis, port := s.Listener(host, 16)
	cli = s.Socket(client.Stream)
	s.OK(cli, client.Connect(host, port))
	srv = s.OK(lis, client.Accept()).GetEvent().GetResult().GetHandle()
	return cli, srv, lis
}

// awaitLimit bounds how long AwaitRunning and AwaitWaiting wait.
const awaitLimit = 10 * time.Second

// AwaitRunning waits until operation op (its Python name, "recv") has begun on handle h
// and not yet finished, and fails the test if that does not happen within 10 s: how a
// test knows that an operation it started in another goroutine, a recv that blocks, is
// under way before it acts.
func (s *Session) AwaitRunning(h uint32, op string) {
	s.t.Helper()
	s.await(h, fmt.Sprintf("%s running", op), func(a session.Activity) bool { return slices.Contains(a.Running, op) })
}

// AwaitWaiting waits until n operations on handle h have arrived and wait for their turn
// (an earlier seq, or their lane), and fails the test if that does not happen within
// 10 s.
func (s *Session) AwaitWaiting(h uint32, n int) {
	s.t.Helper()
	s.await(h, fmt.Sprintf("%d waiting", n), func(a session.Activity) bool { return a.Waiting == n })
}

// await polls handle h's activity every millisecond until cond holds.
func (s *Session) await(h uint32, what string, cond func(session.Activity) bool) {
	s.t.Helper()
	sess, err := s.a.Sessions.Get(nil, s.ID)
	if err != nil {
		s.t.Fatalf("await %s on handle %d: %v", what, h, err)
	}
	var last session.Activity
	for deadline := time.Now().Add(awaitLimit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if last = sess.Activity(h); cond(last) {
			return
		}
	}
	s.t.Fatalf("handle %d: still not %s after %v (waiting %d, running %v)", h, what, awaitLimit, last.Waiting, last.Running)
}

// opName names an operation briefly (never its data, which may be megabytes).
func opName(op *socklabv1.Operation) string {
	if f := op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("op")); f != nil {
		return string(f.Name())
	}
	return "no operation"
}

// ProcessesWith returns the pids of this host's processes whose command line holds
// marker: how a test finds out whether anything a program under test started survives.
func ProcessesWith(marker string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); bytes.Contains(b, []byte(marker)) {
			out = append(out, pid)
		}
	}
	return out
}

// Children returns the pids of this process's live children (jobs' inits, helper
// processes), so a test can count what it left running.
func Children() []int {
	var pids []int
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
