package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// limitsLo is the only address the tests of this file send traffic to.
const limitsLo = "127.0.0.1"

// limitsOpenFDs counts this process's open file descriptors; the test agent runs in this
// process, so every socket it holds is one of them.
func limitsOpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open fds: %v", err)
	}
	return len(ents)
}

// limitsBaseline returns the fd count once the agent and its client connection exist and
// one session has been opened (with a socket) and closed, so that whatever the first
// session allocates for good is already counted.
func limitsBaseline(t testing.TB, a *agenttest.Agent) int {
	t.Helper()
	s, err := a.Client.Open(t.Context(), 0, "warm-up")
	if err != nil {
		t.Fatalf("open warm-up session: %v", err)
	}
	resp, err := s.Do(t.Context(), 0, client.Socket(client.Dgram))
	if err != nil || resp.GetEvent().GetError() != nil {
		t.Fatalf("warm-up socket: %v %v", err, resp.GetEvent().GetError())
	}
	if _, err := s.Close(t.Context()); err != nil {
		t.Fatalf("close warm-up session: %v", err)
	}
	return limitsOpenFDs(t)
}

// limitsWaitFDs polls (every 20 ms, for at most 5 s) until at most want fds are open and
// returns the last count.
func limitsWaitFDs(t testing.TB, want int) int {
	t.Helper()
	n := limitsOpenFDs(t)
	for i := 0; i < 250 && n > want; i++ {
		time.Sleep(20 * time.Millisecond)
		n = limitsOpenFDs(t)
	}
	return n
}

// limitsStatus splits a call's error into its code and message: the status of a call
// made with the raw API, or the kind (as its code) of an error the client returned.
func limitsStatus(err error) (codes.Code, string) {
	if err == nil {
		return codes.OK, ""
	}
	if st, ok := status.FromError(err); ok {
		return st.Code(), st.Message()
	}
	return errdefs.Code(err), err.Error()
}

// limitsParallel runs job(0..n-1) on a bounded pool of workers; the first error stops
// the rest (they see ctx cancelled) and is returned.
func limitsParallel(ctx context.Context, n, workers int, job func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := job(ctx, i); err != nil {
					cancel(fmt.Errorf("job %d: %w", i, err))
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// limitsDo performs op through s and turns a socket error into an error too.
func limitsDo(ctx context.Context, s *client.Session, h uint32, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	resp, err := s.Do(ctx, h, op)
	if err != nil {
		return nil, err
	}
	if e := resp.GetEvent().GetError(); e != nil {
		return nil, fmt.Errorf("%s on handle %d raised %s (%s)", resp.GetEvent().GetOp(), h, e.GetName(), e.GetMessage())
	}
	return resp, nil
}

// TestLapsedLeaseFreesEverything lets a session holding ~50 sockets of every kind lapse and
// checks that the agent closes every one of them and forgets the session.
func TestLapsedLeaseFreesEverything(t *testing.T) {
	a := agenttest.Start(t)
	base := limitsBaseline(t, a)
	const lease = 200 * time.Millisecond
	s := a.Session(t, lease)
	if got := s.Opened.GetLease().AsDuration(); got != lease {
		t.Fatalf("granted lease = %v, want %v", got, lease)
	}
	// The lease is renewed while the sockets are built (so a slow machine cannot lapse it
	// half-way), then never again.
	renew := func() {
		t.Helper()
		if err := s.Renew(t.Context()); err != nil {
			t.Fatalf("renew while building: %v", err)
		}
	}
	var last uint32
	for range 8 { // 8 listeners and 8 connected pairs with their listeners: 32 sockets
		last, _ = s.Listener(limitsLo, 4)
		s.Pair(limitsLo)
		renew()
	}
	for range 9 { // 9 bound UDP sockets, each with a datagram to itself queued: 41
		h := s.Socket(client.Dgram)
		s.OK(h, client.Bind(limitsLo, 0))
		port := int(s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		s.OK(h, client.SendTo([]byte("to myself"), 0, limitsLo, port))
		renew()
	}
	for range 9 { // 9 fresh TCP sockets: 50
		s.Socket(client.Stream)
	}
	renew()
	held := limitsOpenFDs(t)
	if held < base+50 {
		t.Fatalf("with 50 sockets open the process has %d fds, baseline %d: want at least %d", held, base, base+50)
	}

	if n := limitsWaitFDs(t, base); n > base {
		t.Fatalf("5 s after the lease (%v) lapsed, %d fds are open, want the baseline %d", lease, n, base)
	}
	_, err := s.Session.Do(t.Context(), last, client.GetTimeout())
	if code, msg := limitsStatus(err); code != codes.NotFound || !strings.Contains(msg, "lease lapsed") {
		t.Errorf("Do(gettimeout) after the lapse code = %v (%q), want %v mentioning \"lease lapsed\"", code, msg, codes.NotFound)
	}
	if n := a.Sessions.Count(); n != 0 {
		t.Errorf("agent holds %d sessions after the lapse, want 0", n)
	}
}

// TestRenewKeepsSessionAlive renews a short lease for more than three times its length.
func TestRenewKeepsSessionAlive(t *testing.T) {
	a := agenttest.Start(t)
	const lease = 300 * time.Millisecond
	s := a.Session(t, lease)
	h := s.Socket(client.Dgram)
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if err := s.Renew(t.Context()); err != nil {
			t.Fatalf("renew: %v", err)
		}
	}
	// 1 s after opening, three leases later, the session and its socket still work.
	s.OK(h, client.Bind(limitsLo, 0))
	if got := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort(); got == 0 {
		t.Errorf("getsockname port after renewals = 0, want the bound port")
	}
}

// TestCloseSessionReportsClosedSockets closes a session holding sockets and checks the
// count it reports and that every fd is released.
func TestCloseSessionReportsClosedSockets(t *testing.T) {
	a := agenttest.Start(t)
	base := limitsBaseline(t, a)
	s := a.Session(t, time.Minute)
	cli, srv, _ := s.Pair(limitsLo) // 3 sockets
	s.Socket(client.Dgram)          // 4
	u := s.Socket(client.Dgram)     // 5
	s.OK(u, client.Close())         // the lab closes one itself: 4 left
	s.OK(cli, client.SendAll([]byte("bytes in flight"), 0))

	n, err := s.Close(t.Context())
	if err != nil {
		t.Fatalf("CloseSession: %v", err)
	}
	if n != 4 {
		t.Errorf("CloseSession closed_sockets = %d, want 4 (5 opened, 1 closed by the lab)", n)
	}
	if got := limitsWaitFDs(t, base); got > base {
		t.Errorf("after CloseSession %d fds are open, want the baseline %d", got, base)
	}
	_, err = s.Session.Do(t.Context(), srv, client.Recv(16, 0))
	if code, msg := limitsStatus(err); code != codes.NotFound || !strings.Contains(msg, "closed by the controller") {
		t.Errorf("Do(recv) after CloseSession code = %v (%q), want %v mentioning \"closed by the controller\"", code, msg, codes.NotFound)
	}
	_, err = s.Session.Close(t.Context())
	if code, _ := limitsStatus(err); code != codes.NotFound {
		t.Errorf("second CloseSession code = %v, want %v", code, codes.NotFound)
	}
}

// TestThousandSocketsInOneSession holds 500 connected TCP pairs in one session, moves data
// on all of them at once, and checks closing the session frees all 1,001 sockets.
func TestThousandSocketsInOneSession(t *testing.T) {
	const pairs, workers = 500, 32
	a := agenttest.Start(t)
	base := limitsBaseline(t, a)
	s := a.Session(t, time.Hour)
	lis, port := s.Listener(limitsLo, 512)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Connect and accept on a bounded pool. Accepts take connections in queue order, not
	// the worker's own, so pairs are matched afterwards by the client's port.
	var mu sync.Mutex
	cliByPort := map[uint32]uint32{} // client's local port -> client handle
	srvByPeer := map[uint32]uint32{} // accepted socket's peer port -> accepted handle
	err := limitsParallel(ctx, pairs, workers, func(ctx context.Context, i int) error {
		resp, err := limitsDo(ctx, s.Session, 0, client.Socket(client.Stream))
		if err != nil {
			return err
		}
		h := resp.GetEvent().GetResult().GetHandle()
		resp, err = limitsDo(ctx, s.Session, h, client.Connect(limitsLo, port))
		if err != nil {
			return err
		}
		local := resp.GetEvent().GetLocal().GetPort()
		acc, err := limitsDo(ctx, s.Session, lis, client.Accept())
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		cliByPort[local] = h
		srvByPeer[acc.GetEvent().GetResult().GetAddress().GetPort()] = acc.GetEvent().GetResult().GetHandle()
		return nil
	})
	if err != nil {
		t.Fatalf("building %d pairs: %v", pairs, err)
	}
	type pair struct{ cli, srv uint32 }
	var all []pair
	for p, srv := range srvByPeer {
		cli, ok := cliByPort[p]
		if !ok {
			t.Fatalf("accepted a connection from port %d, which no client of the session has", p)
		}
		all = append(all, pair{cli, srv})
	}
	if len(all) != pairs || len(cliByPort) != pairs {
		t.Fatalf("built %d pairs from %d clients, want %d", len(all), len(cliByPort), pairs)
	}
	if n := limitsOpenFDs(t); n < base+2*pairs+1 {
		t.Fatalf("with %d sockets open the process has %d fds, baseline %d", 2*pairs+1, n, base)
	}

	// Every pair says something each way at once, and each end reads exactly its peer's.
	recvAll := func(ctx context.Context, h uint32, n int) ([]byte, error) {
		var got []byte
		for i := 0; i < 64 && len(got) < n; i++ {
			resp, err := limitsDo(ctx, s.Session, h, client.Recv(n-len(got), 0))
			if err != nil {
				return got, err
			}
			if len(resp.GetData()) == 0 {
				return got, fmt.Errorf("recv on handle %d: end of stream after %q", h, got)
			}
			got = append(got, resp.GetData()...)
		}
		return got, nil
	}
	err = limitsParallel(ctx, len(all), workers, func(ctx context.Context, i int) error {
		p := all[i]
		ask := fmt.Sprintf("question %d from %d to %d", i, p.cli, p.srv)
		if _, err := limitsDo(ctx, s.Session, p.cli, client.SendAll([]byte(ask), 0)); err != nil {
			return err
		}
		got, err := recvAll(ctx, p.srv, len(ask))
		if err != nil {
			return err
		}
		if string(got) != ask {
			return fmt.Errorf("handle %d received %q, want %q", p.srv, got, ask)
		}
		reply := fmt.Sprintf("answer %d from %d to %d", i, p.srv, p.cli)
		if _, err := limitsDo(ctx, s.Session, p.srv, client.SendAll([]byte(reply), 0)); err != nil {
			return err
		}
		if got, err = recvAll(ctx, p.cli, len(reply)); err != nil {
			return err
		}
		if string(got) != reply {
			return fmt.Errorf("handle %d received %q, want %q", p.cli, got, reply)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("exchanging data on %d pairs: %v", pairs, err)
	}

	n, err := s.Close(t.Context())
	if err != nil {
		t.Fatalf("CloseSession: %v", err)
	}
	if want := 2*pairs + 1; n != want {
		t.Errorf("CloseSession closed_sockets = %d, want %d", n, want)
	}
	if got := limitsWaitFDs(t, base); got > base {
		t.Errorf("after closing %d sockets %d fds are open, want the baseline %d", 2*pairs+1, got, base)
	}
}

// TestBadRequests checks that each class of bad request gets its own gRPC code and a
// message saying what to change, and that none of them touches another session.
func TestBadRequests(t *testing.T) {
	const maxBytes, maxSockets, maxSessions = 1024, 3, 4
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) {
		p.Networks = policy.Loopback()
		p.MaxBytesPerOp = maxBytes
		p.MaxSockets = maxSockets
		p.MaxSessions = maxSessions
	}))
	api := a.Client.API()

	// B is open the whole time; bad input elsewhere must never reach it.
	b := a.Session(t, time.Minute)
	bh := b.Socket(client.Dgram)
	s := a.Session(t, time.Minute)
	tcp := s.Socket(client.Stream)
	udp := s.Socket(client.Dgram)
	third := s.Socket(client.Stream) // the session is now at its limit of 3 sockets
	s.OK(tcp, client.GetTimeout())   // seq 1 on tcp
	if third == bh {
		t.Fatalf("session A's handle %d is also session B's: the cross-session case would prove nothing", third)
	}

	perform := func(h uint32, seq uint64, op *socklabv1.Operation) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := api.Perform(ctx, &socklabv1.PerformRequest{SessionId: s.ID, Handle: h, Seq: seq, Operation: op})
			return err
		}
	}
	big := make([]byte, maxBytes+1)
	for _, tc := range []struct {
		name string
		do   func(context.Context) error
		code codes.Code
		msg  []string // what the message must say: what is wrong and what to change
	}{
		{"missing operation", perform(tcp, 0, nil),
			codes.InvalidArgument, []string{"operation is missing", "set one of socket"}},
		{"empty operation", perform(tcp, 0, &socklabv1.Operation{}),
			codes.InvalidArgument, []string{"operation is missing"}},
		{"socket with a handle", perform(tcp, 0, client.Socket(client.Stream)),
			codes.InvalidArgument, []string{"leave handle at 0", fmt.Sprint(tcp)}},
		{"bind without a handle", perform(0, 0, client.Bind(limitsLo, 0)),
			codes.InvalidArgument, []string{"bind needs a handle"}},
		{"port 70000", perform(tcp, 0, client.Connect(limitsLo, 70000)),
			codes.InvalidArgument, []string{"port must be 0-65535", "70000"}},
		{"host name", perform(tcp, 0, client.Connect("example.com", 80)),
			codes.InvalidArgument, []string{`"example.com" is not an IP address`, "resolves no names"}},
		{"unknown send flags", perform(tcp, 0, client.Send([]byte("x"), 0x2)), // MSG_PEEK makes no sense to send
			codes.InvalidArgument, []string{"flags 0x2 are not supported", "use MSG_DONTWAIT"}},
		{"unknown recv flags", perform(udp, 0, client.Recv(16, 0x4000)),
			codes.InvalidArgument, []string{"flags 0x4000 are not supported", "use MSG_PEEK"}},
		{"SO_BINDTODEVICE", perform(tcp, 0, client.SetSockOpt(1, 25, 0)),
			codes.InvalidArgument, []string{"level 1 name 25 is not supported"}},
		{"unknown session", func(ctx context.Context) error {
			_, err := api.Perform(ctx, &socklabv1.PerformRequest{SessionId: "ses_nosuchsession", Handle: tcp, Operation: client.GetTimeout()})
			return err
		}, codes.NotFound, []string{"no session ses_nosuchsession"}},
		{"unknown handle", perform(99, 0, client.GetTimeout()),
			codes.NotFound, []string{"has no handle 99"}},
		{"empty session id", func(ctx context.Context) error {
			_, err := api.Perform(ctx, &socklabv1.PerformRequest{Handle: tcp, Operation: client.GetTimeout()})
			return err
		}, codes.InvalidArgument, []string{"session_id is missing", "open a session first"}},
		{"connect outside the allowed networks", perform(tcp, 0, client.Connect("198.51.100.7", 80)),
			codes.PermissionDenied, []string{"198.51.100.7:80 is outside this agent's allowed networks", "127.0.0.0/8", "--allow-net"}},
		{"sendto outside the allowed networks", perform(udp, 0, client.SendTo([]byte("x"), 0, "198.51.100.7", 53)),
			codes.PermissionDenied, []string{"outside this agent's allowed networks", "--allow-net"}},
		{"bind to a privileged port", perform(tcp, 0, client.Bind(limitsLo, 80)),
			codes.PermissionDenied, []string{"port 80 is outside this agent's allowed ports (1024-65535)", "--bind-ports"}},
		{"send over MaxBytesPerOp", perform(tcp, 0, client.SendAll(big, 0)),
			codes.ResourceExhausted, []string{"1025 bytes is over this agent's limit of 1024 bytes"}},
		{"recv over MaxBytesPerOp", perform(udp, 0, client.RecvFrom(maxBytes+1, 0)),
			codes.ResourceExhausted, []string{"bufsize 1025 is over this agent's limit of 1024 bytes"}},
		{"more sockets than MaxSockets", perform(0, 0, client.Socket(client.Dgram)),
			codes.ResourceExhausted, []string{"holds 3 sockets", "close some first"}},
		{"more sessions than MaxSessions", func(ctx context.Context) error {
			for i := a.Sessions.Count(); i < maxSessions; i++ {
				filler, err := a.Client.Open(ctx, time.Minute, "filler")
				if err != nil {
					return fmt.Errorf("filler session %d: %w", i, err)
				}
				defer filler.Close(context.Background())
			}
			_, err := api.OpenSession(ctx, &socklabv1.OpenSessionRequest{Label: "one too many"})
			return err
		}, codes.ResourceExhausted, []string{"already has 4 open sessions", "close one first"}},
		{"seq already used", perform(tcp, 1, client.GetTimeout()),
			codes.InvalidArgument, []string{"seq 1 on handle", "already used", "next is 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			code, msg := limitsStatus(tc.do(ctx))
			if code != tc.code {
				t.Fatalf("Do(...) code = %v (%q), want %v", code, msg, tc.code)
			}
			for _, want := range tc.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("Do(...) message = %q, want it to say %q", msg, want)
				}
			}
		})
	}

	// The session that took all that bad input still works, and so does B.
	s.OK(udp, client.Bind(limitsLo, 0))
	port := int(s.OK(udp, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	b.OK(bh, client.Bind(limitsLo, 0))
	b.OK(bh, client.SendTo([]byte("still here"), 0, limitsLo, port))
	if got := string(s.OK(udp, client.RecvFrom(64, 0)).GetData()); got != "still here" {
		t.Errorf("recvfrom after the bad requests = %q, want %q", got, "still here")
	}
	if n := a.Sessions.Count(); n != 2 {
		t.Errorf("agent holds %d sessions after the bad requests, want 2", n)
	}

	// A's handle named with B's session id is B's business: B has no such handle.
	_, err := api.Perform(t.Context(), &socklabv1.PerformRequest{SessionId: b.ID, Handle: third, Operation: client.GetTimeout()})
	if code, msg := limitsStatus(err); code != codes.NotFound || !strings.Contains(msg, fmt.Sprintf("has no handle %d", third)) {
		t.Errorf("Do(A's handle %d with B's id) code = %v (%q), want %v", third, code, msg, codes.NotFound)
	}
}

// TestAuth checks the bearer token: required by the agent's service and by reflection,
// not by the standard health service.
func TestAuth(t *testing.T) {
	a := agenttest.Start(t)
	dial := func(t *testing.T, token string) *client.Client {
		t.Helper()
		c, err := client.Dial(a.Target, token)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	listServices := func(ctx context.Context, c *client.Client) ([]string, error) {
		st, err := reflectionpb.NewServerReflectionClient(c.Conn()).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		defer st.CloseSend()
		err = st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}})
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp, err := st.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, nil
	}

	for _, tc := range []struct {
		name, token string
		msg         string
	}{
		{"no token", "", "missing token"},
		{"wrong token", "not-" + agenttest.Token, "wrong token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.token)
			_, err := c.API().Hello(t.Context(), &socklabv1.HelloRequest{})
			if code, msg := limitsStatus(err); code != codes.Unauthenticated || !strings.Contains(msg, tc.msg) {
				t.Errorf("Hello code = %v (%q), want %v saying %q", code, msg, codes.Unauthenticated, tc.msg)
			}
			_, err = c.API().OpenSession(t.Context(), &socklabv1.OpenSessionRequest{})
			if code, _ := limitsStatus(err); code != codes.Unauthenticated {
				t.Errorf("OpenSession code = %v, want %v", code, codes.Unauthenticated)
			}
			st, err := c.API().StreamEvents(t.Context(), &socklabv1.StreamEventsRequest{SessionId: "ses_x"})
			if err == nil {
				_, err = st.Recv()
			}
			if code, _ := limitsStatus(err); code != codes.Unauthenticated {
				t.Errorf("StreamEvents code = %v, want %v", code, codes.Unauthenticated)
			}
			if names, err := listServices(t.Context(), c); status.Code(err) != codes.Unauthenticated {
				t.Errorf("reflection ListServices = %v, %v; want code %v", names, err, codes.Unauthenticated)
			}
		})
	}

	t.Run("health without a token", func(t *testing.T) {
		c := dial(t, "")
		for _, svc := range []string{"", socklabv1.AgentService_ServiceDesc.ServiceName} {
			resp, err := healthpb.NewHealthClient(c.Conn()).Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health Check(%q): %v", svc, err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health Check(%q) = %v, want SERVING", svc, resp.GetStatus())
			}
		}
	})

	t.Run("reflection with the token", func(t *testing.T) {
		names, err := listServices(t.Context(), a.Client)
		if err != nil {
			t.Fatalf("reflection ListServices: %v", err)
		}
		if !slices.Contains(names, "socklab.v1.AgentService") {
			t.Errorf("reflection ListServices = %v, want it to list socklab.v1.AgentService", names)
		}
	})

	t.Run("the token works", func(t *testing.T) {
		if _, err := a.Client.API().Hello(t.Context(), &socklabv1.HelloRequest{}); err != nil {
			t.Errorf("Hello with the token: %v", err)
		}
	})
}

// limitsFakeListener claims a non-loopback address without listening anywhere.
type limitsFakeListener struct{ addr net.Addr }

func (l limitsFakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l limitsFakeListener) Close() error              { return nil }
func (l limitsFakeListener) Addr() net.Addr            { return l.addr }

// TestNewRefusesNonLoopbackWithoutToken checks that an agent will not serve a reachable
// address unauthenticated unless its owner insists.
func TestNewRefusesNonLoopbackWithoutToken(t *testing.T) {
	public := limitsFakeListener{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7070}}
	loop := limitsFakeListener{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}}
	for _, tc := range []struct {
		name    string
		lis     net.Listener
		cfg     server.Config
		wantErr bool
	}{
		{"non-loopback without a token", public, server.Config{Policy: policy.Default()}, true},
		{"non-loopback with a token", public, server.Config{Token: "t", Policy: policy.Default()}, false},
		{"non-loopback insecure", public, server.Config{Insecure: true, Policy: policy.Default()}, false},
		{"loopback without a token", loop, server.Config{Policy: policy.Default()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := server.New(tc.lis, tc.cfg)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "--token") || !strings.Contains(err.Error(), "192.0.2.1:7070") {
					t.Errorf("server.New = %v, want an error naming the address and --token", err)
				}
				return
			}
			if err != nil || a == nil {
				t.Errorf("server.New = %v, want an agent", err)
			}
		})
	}
}

// TestStreamEventsAfterLapse follows a session's event stream through its lease lapsing:
// one background close per socket, then the session's end, then the stream's end.
func TestStreamEventsAfterLapse(t *testing.T) {
	a := agenttest.Start(t)
	const lease = 300 * time.Millisecond
	s := a.Session(t, lease)
	handles := []uint32{s.Socket(client.Dgram), s.Socket(client.Stream), s.Socket(client.Dgram)}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	// Two concurrent streams on one session: exactly one is refused. Which one the agent
	// sees first is not ours to choose, so the lease is renewed until the refusal proves
	// the other holds the stream, and only then allowed to lapse.
	type result struct {
		events []*socklabv1.Event
		err    error
	}
	results := make(chan result, 2)
	for range 2 {
		st, err := a.Client.API().StreamEvents(ctx, &socklabv1.StreamEventsRequest{SessionId: s.ID, MaxBatch: 2})
		if err != nil {
			t.Fatalf("StreamEvents: %v", err)
		}
		go func() {
			var r result
			for range 100 {
				resp, err := st.Recv()
				if err != nil {
					r.err = err
					results <- r
					return
				}
				r.events = append(r.events, resp.GetEvents()...)
			}
			r.err = errors.New("more than 100 batches")
			results <- r
		}()
	}
	var refused, stream result
	tick := time.NewTicker(lease / 4)
	defer tick.Stop()
wait:
	for {
		select {
		case refused = <-results:
			break wait
		case <-tick.C:
			if err := s.Renew(ctx); err != nil {
				t.Fatalf("renew while the streams start: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("neither event stream was refused within 10 s")
		}
	}
	tick.Stop()
	if code, msg := limitsStatus(refused.err); code != codes.FailedPrecondition || !strings.Contains(msg, "one at a time") {
		t.Fatalf("second StreamEvents code = %v (%q) after %d events, want %v", code, msg, len(refused.events), codes.FailedPrecondition)
	}
	select {
	case stream = <-results:
	case <-ctx.Done():
		t.Fatal("the event stream did not end within 10 s of the lease lapsing")
	}

	if !errors.Is(stream.err, io.EOF) {
		t.Errorf("event stream ended with %v, want io.EOF (a clean end)", stream.err)
	}
	evs := stream.events
	if len(evs) != len(handles)+1 {
		t.Fatalf("event stream delivered %d events, want %d background closes and the session's end: %v", len(evs), len(handles), evs)
	}
	var closed []uint32
	for i, ev := range evs[:len(handles)] {
		if ev.GetKind() != socklabv1.EventKind_EVENT_KIND_BACKGROUND || ev.GetOp() != "close" || !strings.Contains(ev.GetNote(), "lease lapsed") {
			t.Errorf("event %d = %v %q (%q), want a background close noting \"lease lapsed\"", i, ev.GetKind(), ev.GetOp(), ev.GetNote())
		}
		if ev.GetSessionId() != s.ID {
			t.Errorf("event %d session = %q, want %q", i, ev.GetSessionId(), s.ID)
		}
		closed = append(closed, ev.GetHandle())
	}
	slices.Sort(closed)
	if want := slices.Sorted(slices.Values(handles)); !slices.Equal(closed, want) {
		t.Errorf("background closes were for handles %v, want %v", closed, want)
	}
	if end := evs[len(evs)-1]; end.GetKind() != socklabv1.EventKind_EVENT_KIND_SESSION_END || !strings.Contains(end.GetNote(), "lease lapsed") {
		t.Errorf("last event = %v (%q), want EVENT_KIND_SESSION_END noting \"lease lapsed\"", end.GetKind(), end.GetNote())
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].GetSeq() <= evs[i-1].GetSeq() {
			t.Errorf("event %d seq %d follows seq %d, want strictly increasing", i, evs[i].GetSeq(), evs[i-1].GetSeq())
		}
	}
	if first := evs[0].GetSeq(); first <= uint64(len(handles)) {
		t.Errorf("first background event seq = %d, want it after the %d socket operations' seqs", first, len(handles))
	}
}
