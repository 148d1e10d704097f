package server_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// boundsCall is a Perform in flight: its answer arrives on done.
type boundsCall struct {
	done chan error
}

// boundsPerform starts a Perform of op numbered seq on handle h of session id, through api.
func boundsPerform(t *testing.T, api socklabv1.AgentServiceClient, id string, h uint32, seq uint64, op *socklabv1.Operation) boundsCall {
	t.Helper()
	c := boundsCall{done: make(chan error, 1)}
	go func() {
		_, err := api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: id, Handle: h, Seq: seq, Operation: op})
		c.done <- err
	}()
	return c
}

// wait returns the call's error, failing the test if it takes over 10 s.
func (c boundsCall) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("a call waiting for its turn was not answered within 10 s of it")
		return nil
	}
}

// boundsRefused checks that err refuses a request for want ("this session").
func boundsRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	code, msg := limitsStatus(err)
	if code != codes.ResourceExhausted || !strings.Contains(msg, want) || !strings.Contains(msg, "wait for answers before sending more") {
		t.Errorf("%s: code = %v (%q), want %v naming %q and saying what to do", what, code, msg, codes.ResourceExhausted, want)
	}
}

// TestWaitingBounds: requests that arrive before their turn (an earlier seq, or a busy
// lane) and wait for it are bounded per session, per connection and across the agent, in
// requests and in bytes; one past a bound is refused at once, takes no seq, and may be
// sent again once there is room.
func TestWaitingBounds(t *testing.T) {
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) {
		p.Networks = policy.Loopback()
		p.WaitingPerSession = policy.WaitLimit{Requests: 2, Bytes: 64 << 10}
		p.WaitingPerConn = policy.WaitLimit{Requests: 3, Bytes: 1 << 20}
		p.WaitingPerAgent = policy.WaitLimit{Requests: 4, Bytes: 1 << 20}
	}))
	other, err := client.Dial(a.Target, agenttest.Token) // a second connection
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	api, otherAPI := a.Client.API(), other.API()
	s1, s2 := a.Session(t, time.Minute), a.Session(t, time.Minute)
	s3, err := other.Open(t.Context(), time.Minute, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close(context.Background())
	h1, h2 := s1.Socket(client.Dgram), s2.Socket(client.Dgram)
	resp, err := s3.Do(t.Context(), 0, client.Socket(client.Dgram))
	if err != nil {
		t.Fatal(err)
	}
	h3 := resp.GetEvent().GetResult().GetHandle()
	await := func(id string, h uint32, n int) {
		t.Helper()
		sess, err := a.Sessions.Get(nil, id)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); sess.Activity(h).Waiting != n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("handle %d of %s: %d waiting, want %d", h, id, sess.Activity(h).Waiting, n)
			}
		}
	}

	// Bytes: a request larger than the session may hold waiting is refused at once.
	_, err = api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s1.ID, Handle: h1, Seq: 2,
		Operation: client.SendTo(make([]byte, 100<<10), 0, limitsLo, 9)})
	boundsRefused(t, "a 100 KiB request past the session's 64 KiB", err, "this session")

	// Requests: two wait in s1, a third is refused by the session.
	w12, w13 := boundsPerform(t, api, s1.ID, h1, 2, client.GetTimeout()), boundsPerform(t, api, s1.ID, h1, 3, client.GetTimeout())
	await(s1.ID, h1, 2)
	_, err = api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s1.ID, Handle: h1, Seq: 4, Operation: client.GetTimeout()})
	boundsRefused(t, "a third request waiting in one session", err, "this session")
	// One waits in s2: the connection holds three, and a fourth is refused by it.
	w22 := boundsPerform(t, api, s2.ID, h2, 2, client.GetTimeout())
	await(s2.ID, h2, 1)
	_, err = api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s2.ID, Handle: h2, Seq: 3, Operation: client.GetTimeout()})
	boundsRefused(t, "a fourth request waiting on one connection", err, "this connection")
	// One waits on the other connection: the agent holds four, and a fifth is refused.
	w32 := boundsPerform(t, otherAPI, s3.ID, h3, 2, client.GetTimeout())
	await(s3.ID, h3, 1)
	_, err = otherAPI.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s3.ID, Handle: h3, Seq: 3, Operation: client.GetTimeout()})
	boundsRefused(t, "a fifth request waiting in the agent", err, "this agent")

	// The missing seqs arrive: everything that waited runs, and what was refused took no
	// seq, so it can be sent again.
	for _, c := range []struct {
		api socklabv1.AgentServiceClient
		id  string
		h   uint32
	}{{api, s1.ID, h1}, {api, s2.ID, h2}, {otherAPI, s3.ID, h3}} {
		if _, err := c.api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: c.id, Handle: c.h, Seq: 1, Operation: client.GetTimeout()}); err != nil {
			t.Fatalf("seq 1 on %s: %v", c.id, err)
		}
	}
	for i, w := range []boundsCall{w12, w13, w22, w32} {
		if err := w.wait(t); err != nil {
			t.Errorf("waiting request %d, once its turn came: %v", i, err)
		}
	}
	if _, err := api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s1.ID, Handle: h1, Seq: 4, Operation: client.GetTimeout()}); err != nil {
		t.Errorf("seq 4, sent again after its refusal: %v", err)
	}

	// A busy lane counts too: a recv that blocks, two behind it in the same direction,
	// and a fourth is refused.
	r1 := boundsPerform(t, api, s1.ID, h1, 5, client.Recv(16, 0))
	r2, r3 := boundsPerform(t, api, s1.ID, h1, 6, client.Recv(16, 0)), boundsPerform(t, api, s1.ID, h1, 7, client.Recv(16, 0))
	await(s1.ID, h1, 2)
	_, err = api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s1.ID, Handle: h1, Seq: 8, Operation: client.Recv(16, 0)})
	boundsRefused(t, "a third recv waiting behind a blocked one", err, "this session")
	if _, err := s1.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, r := range []boundsCall{r1, r2, r3} {
		r.wait(t) // each ends with the session, whichever way
	}
}

// TestStreamsPerConnection: one connection has at most server.MaxStreams calls in
// progress; a client past that waits for one of them to end (gRPC's own queue), and every
// call completes in the end.
func TestStreamsPerConnection(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, time.Minute)
	const n = server.MaxStreams + 8
	handles := make([]uint32, n)
	ports := make([]int, n)
	for i := range handles {
		handles[i] = s.Socket(client.Dgram)
		s.OK(handles[i], client.Bind(limitsLo, 0))
		ports[i] = int(s.OK(handles[i], client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	}
	sess, err := a.Sessions.Get(nil, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	running := func() int {
		total := 0
		for _, h := range handles {
			total += len(sess.Activity(h).Running)
		}
		return total
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, h := range handles {
		wg.Go(func() {
			if _, err := s.Session.Do(t.Context(), h, client.Recv(16, 0)); err != nil {
				errs <- err
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); running() < server.MaxStreams; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d recvs running after 10 s, want %d", running(), server.MaxStreams)
		}
	}
	time.Sleep(100 * time.Millisecond) // room for any past the bound to arrive
	if got := running(); got != server.MaxStreams {
		t.Errorf("%d recvs of %d running at once on one connection, want %d", got, n, server.MaxStreams)
	}
	// A datagram for each from outside the agent: every recv ends, the queued ones too.
	udp, err := net.ListenPacket("udp", limitsLo+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, p := range ports {
		if _, err := udp.WriteTo([]byte("go"), &net.UDPAddr{IP: net.ParseIP(limitsLo), Port: p}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("recv: %v", err)
	}
}

// boundsDialFrom connects to the agent from the local address ip (any 127.0.0.0/8 address
// is this host's): a client at another address.
func boundsDialFrom(t *testing.T, a *agenttest.Agent, ip string) *client.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := client.Dial(a.Target, agenttest.Token, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAgentFileBudget: the sockets of all the sessions of an agent are bounded together
// (policy.MaxAgentSockets, else derived from the open-file limit), so that one session
// cannot take what others need; a socket past the bound is refused, in whichever session,
// with ResourceExhausted, and a socket closed anywhere makes room.
func TestAgentFileBudget(t *testing.T) {
	const budget = 10
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) { p.MaxAgentSockets = budget }))
	s1, s2 := a.Session(t, time.Minute), a.Session(t, time.Minute)
	var first uint32
	for i := range budget - 1 {
		h := s1.Socket(client.Dgram)
		if i == 0 {
			first = h
		}
	}
	last := s2.Socket(client.Dgram) // the tenth
	for _, s := range []*agenttest.Session{s1, s2} {
		_, err := s.Session.Do(t.Context(), 0, client.Socket(client.Stream))
		code, msg := limitsStatus(err)
		if code != codes.ResourceExhausted || !strings.Contains(msg, "this agent's sessions hold 10 sockets") || !strings.Contains(msg, "close sockets or end programs") {
			t.Errorf("an eleventh socket: code = %v (%q), want %v naming the agent's limit", code, msg, codes.ResourceExhausted)
		}
	}
	if held, limit := a.Sessions.Files(); held != budget || limit != budget {
		t.Errorf("Files() = %d, %d; want %d, %d", held, limit, budget, budget)
	}
	s1.OK(first, client.Close())
	s2.Socket(client.Dgram) // room again, in the other session
	s2.OK(last, client.Close())
	if n, err := s1.Close(t.Context()); err != nil || n != budget-2 {
		t.Fatalf("close s1: %d, %v; want %d sockets closed", n, err, budget-2)
	}
	if held, _ := a.Sessions.Files(); held != 1 {
		t.Errorf("Files() after closing all but one socket = %d, want 1", held)
	}
}

// TestSessionsPerClient: one client (one address) holds at most MaxSessionsPerClient
// sessions, whatever connections it uses; another client still opens its own.
func TestSessionsPerClient(t *testing.T) {
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) { p.MaxSessionsPerClient = 2 }))
	first := a.Session(t, time.Minute)
	second := boundsDialFrom(t, a, "127.0.0.1") // a second connection from the same address
	if _, err := second.Open(t.Context(), time.Minute, "two"); err != nil {
		t.Fatal(err)
	}
	_, err := second.API().OpenSession(t.Context(), &socklabv1.OpenSessionRequest{Label: "three"})
	if code, msg := limitsStatus(err); code != codes.ResourceExhausted || !strings.Contains(msg, "client 127.0.0.1 already has 2 open sessions") {
		t.Errorf("a third session from 127.0.0.1: code = %v (%q), want %v naming the client", code, msg, codes.ResourceExhausted)
	}
	if _, err := boundsDialFrom(t, a, "127.0.0.2").Open(t.Context(), time.Minute, "another client"); err != nil {
		t.Errorf("a session from 127.0.0.2 while 127.0.0.1 holds its quota: %v", err)
	}
	if _, err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Open(t.Context(), time.Minute, "three, once one closed"); err != nil {
		t.Errorf("a session from 127.0.0.1 after one closed: %v", err)
	}
}

// TestHeldRequestBounds: the bytes of the requests a connection has in progress, read
// and not yet answered, are bounded, and so are those of the whole agent: a send to a
// peer that never reads holds its data until it ends, so without the bound a caller
// could pile such sends up. A request past a bound is refused at once, and the bound
// frees as the holder ends.
func TestHeldRequestBounds(t *testing.T) {
	const kib = 1 << 10
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) {
		p.Networks = policy.Loopback()
		p.HeldPerConn = 1024 * kib
		p.HeldPerAgent = 1536 * kib
	}))
	other := boundsDialFrom(t, a, "127.0.0.1")
	s := a.Session(t, time.Minute)
	// A connected pair with small buffers, whose accepting end never reads.
	lis := s.Socket(client.Stream)
	s.OK(lis, client.SetSockOpt(client.SOL_SOCKET, client.SO_RCVBUF, 4096))
	s.OK(lis, client.Bind(limitsLo, 0))
	s.OK(lis, client.Listen(1))
	port := int(s.OK(lis, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	cli := s.Socket(client.Stream)
	s.OK(cli, client.SetSockOpt(client.SOL_SOCKET, client.SO_SNDBUF, 4096))
	s.OK(cli, client.Connect(limitsLo, port))
	s.OK(lis, client.Accept())
	udp := s.Socket(client.Dgram)

	ctx, cancel := context.WithCancel(t.Context())
	blocked := make(chan error, 1)
	go func() {
		_, err := s.Session.Do(ctx, cli, client.SendAll(make([]byte, 700*kib), 0))
		blocked <- err
	}()
	s.AwaitRunning(cli, "sendall")

	big := func(api socklabv1.AgentServiceClient, n int) error {
		_, err := api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: s.ID, Handle: udp, Operation: client.SendTo(make([]byte, n), 0, limitsLo, 9)})
		return err
	}
	heldRefused := func(what string, err error, scope string) {
		t.Helper()
		code, msg := limitsStatus(err)
		if code != codes.ResourceExhausted || !strings.Contains(msg, scope+" already has 1 requests holding") || !strings.Contains(msg, "wait for answers before sending more") {
			t.Errorf("%s: code = %v (%q), want %v naming %q", what, code, msg, codes.ResourceExhausted, scope)
		}
	}
	heldRefused("700 KiB more on the connection that holds 700 KiB", big(a.Client.API(), 700*kib), "this connection")
	heldRefused("900 KiB on another connection, the agent holding 700 KiB", big(other.API(), 900*kib), "this agent")
	if err := big(other.API(), 700*kib); err != nil {
		t.Errorf("700 KiB on another connection, within both bounds: %v", err)
	}
	// The blocked send ends: its bytes are free again, as soon as the agent has let go of
	// it (the cancelled call may return here a moment before).
	cancel()
	<-blocked
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		err := big(a.Client.API(), 700*kib)
		if code, _ := limitsStatus(err); code != codes.ResourceExhausted || time.Now().After(deadline) {
			if err != nil {
				t.Errorf("700 KiB once the blocked send ended: %v", err)
			}
			break
		}
	}
}
