package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/socklab/socklab/agent/netns"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/session"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Config is how an agent is run.
type Config struct {
	// Name is the agent's name (Hello, events).
	Name string
	// HostIP is the address its sockets take as their own; invalid means the listen
	// address's IP when that is a concrete address.
	HostIP netip.Addr
	// Token is the bearer token every call but health needs; empty means none.
	Token string
	// Insecure allows serving with no token on a non-loopback address.
	Insecure bool
	// Policy is the owner's policy.
	Policy policy.Policy
	// Log receives the agent's log.
	Log *slog.Logger
	// NetNS is the network namespace the agent's sockets and programs live in; nil is
	// this process's own. The agent does not close it.
	NetNS *netns.Namespace
}

// stopGrace bounds how long a stopping agent waits for calls in flight to finish.
const stopGrace = 5 * time.Second

// Agent is a running agent: its gRPC server and its sessions.
type Agent struct {
	// Sessions holds the agent's sessions.
	Sessions *session.Manager
	grpc     *grpc.Server
	health   *health.Server
	lis      net.Listener
}

// New prepares an agent to serve on lis. It refuses a listener on a non-loopback address
// without a token unless cfg.Insecure is set.
func New(lis net.Listener, cfg Config) (*Agent, error) {
	tcp, _ := lis.Addr().(*net.TCPAddr)
	var lip netip.Addr
	if tcp != nil {
		lip, _ = netip.AddrFromSlice(tcp.IP)
		lip = lip.Unmap()
	}
	if err := CheckExposure(lip, lis.Addr().String(), cfg.Token, cfg.Insecure); err != nil {
		return nil, err
	}
	host := cfg.HostIP
	if !host.IsValid() && lip.IsValid() && !lip.IsUnspecified() {
		host = lip
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	msgMax := MessageLimit(cfg.Policy)
	conns := &connections{}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(msgMax), grpc.MaxSendMsgSize(msgMax),
		grpc.MaxConcurrentStreams(MaxStreams),
		// Fixed windows: a call whose request is not being read holds at most 64 KiB of it
		// (gRPC's own window estimate would let each hold up to 16 MiB).
		grpc.InitialWindowSize(64 << 10), grpc.InitialConnWindowSize(1 << 20),
		grpc.StatsHandler(conns),
		grpc.ChainStreamInterceptor(recvSlots),
		// Calls run on long-lived workers (a new goroutine only when all are busy), whose
		// stacks have grown already: a fresh goroutine per call grows its stack again on
		// each Perform. Runs of many short operations go about 10% faster.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}
	opts = append(opts, newStrictCodec().options()...)
	opts = append(opts, TokenOptions(cfg.Token)...)
	gs := grpc.NewServer(opts...)
	if removed, err := session.RemoveStale(cfg.Policy.SessionRoot); err != nil || len(removed) > 0 {
		cfg.Log.Info("removed the session directories of agents that were killed", "removed", removed, "error", err)
	}
	m := session.New(cfg.Name, host, cfg.Policy, cfg.NetNS)
	socklabv1.RegisterAgentServiceServer(gs, NewService(m, cfg.Log))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(socklabv1.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	conns.unary = unaryMethods(gs)
	_, maxConns := policy.FileBudget(nofile())
	return &Agent{Sessions: m, grpc: gs, health: hs, lis: limitConns(lis, maxConns, cfg.Log)}, nil
}

// MaxStreams bounds the calls one gRPC connection has in progress at once; a client past
// the bound waits for one of its calls to end (gRPC's own queue). A lab's calls to one
// host are as many as its threads blocked on that host at once, far fewer. What the calls
// make the agent hold is bounded apart: RecvSlots requests being read, each holding at
// most MessageLimit bytes, and policy.HeldPerConn bytes of requests read and not yet
// answered; the others have sent at most their 64 KiB flow-control window.
const MaxStreams = 100

// RecvSlots bounds the requests one gRPC connection has being read at once (see conn):
// with MessageLimit, what a connection can make the agent hold of requests it has not
// yet handled.
const RecvSlots = 2

// unaryMethods returns the full names of the unary methods gs serves.
func unaryMethods(gs *grpc.Server) map[string]bool {
	unary := map[string]bool{}
	for svc, info := range gs.GetServiceInfo() {
		for _, m := range info.Methods {
			if !m.IsClientStream && !m.IsServerStream {
				unary["/"+svc+"/"+m.Name] = true
			}
		}
	}
	return unary
}

// MessageLimit is the largest message an agent under pol receives or sends: one
// operation's bytes (MaxBytesPerOp), the event's capped payload (MaxPayloadCap) and the
// envelope. A request over it is refused (ResourceExhausted) as its length arrives, before
// its bytes are read.
func MessageLimit(pol policy.Policy) int {
	return pol.MaxBytesPerOp + pol.MaxPayloadCap + 64<<10
}

// nofile returns this process's open-file limit, or the kernel's usual default when it
// cannot be read.
func nofile() uint64 {
	n, err := session.OpenFileLimit()
	if err != nil {
		return 1024
	}
	return n
}

// CheckExposure refuses to serve ip (shown as addr) without a token unless it is a
// loopback address or insecure is set: an agent open to the network with no token would
// let anyone drive sockets on its host.
func CheckExposure(ip netip.Addr, addr, token string, insecure bool) error {
	if token != "" || insecure || (ip.IsValid() && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("listen %s: refusing to serve a non-loopback address without a token: set --token (or SOCKLAB_TOKEN), or --insecure", addr)
}

// Addr returns the address the agent serves on.
func (a *Agent) Addr() net.Addr { return a.lis.Addr() }

// Serve serves until ctx ends, then stops gracefully (in-flight calls are cancelled as
// every session closes) and returns.
func (a *Agent) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.grpc.Serve(a.lis) }()
	select {
	case err := <-errc:
		a.Sessions.CloseAll("agent stopped")
		return err
	case <-ctx.Done():
	}
	a.health.Shutdown()
	a.Sessions.CloseAll("agent stopped")
	stopped := make(chan struct{})
	go func() {
		a.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopGrace):
		a.grpc.Stop() // a client that stopped reading must not hold the agent open
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
