package service_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// agentToken is the token the controllers of these tests give their agents.
const agentToken = "agent-secret"

// startRealController serves ControllerService as `socklab controller` does, choosing
// hosts through topology.Choose with an agent token (and inv, if not nil).
func startRealController(t *testing.T, inv *topology.Inventory) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "ctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	topo := func(agents map[string]string) topology.Topology {
		return topology.Choose(agents, inv, agentToken, service.Local)
	}
	gs := grpc.NewServer(server.TokenOptions(token)...)
	socklabv1.RegisterControllerServiceServer(gs, service.New(st, topo, 0).WithInventory(inv, agentToken))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// fakeAgent is a gRPC server that answers every call Unimplemented and records the
// metadata each carried: what a controller would hand whatever listens where a caller
// points it.
type fakeAgent struct {
	addr string
	mu   sync.Mutex
	seen []metadata.MD
}

func startFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAgent{addr: lis.Addr().String()}
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		f.mu.Lock()
		f.seen = append(f.seen, md)
		f.mu.Unlock()
		return errors.New("fake")
	}))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return f
}

func (f *fakeAgent) calls() []metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metadata.MD(nil), f.seen...)
}

// TestRemoteRunNamesNoAddress: a remote caller cannot make the controller dial an
// address of its choosing (a gRPC server, a closed port, a Unix socket), nor learn what
// answered where: every such binding gets the same "no agent named" answer, and nothing
// reaches the address, the agents' token least of all. With an inventory, only its
// agents' names bind.
func TestRemoteRunNamesNoAddress(t *testing.T) {
	fake := startFakeAgent(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	inv := &topology.Inventory{Agents: []topology.InventoryAgent{{Name: "lab1", Address: "127.0.0.1:1"}}}
	for _, ctl := range []struct {
		name string
		inv  *topology.Inventory
	}{{"no inventory", nil}, {"inventory", inv}} {
		t.Run(ctl.name, func(t *testing.T) {
			c := dial(t, startRealController(t, ctl.inv), token)
			var answers []string
			for _, target := range []string{fake.addr, closedAddr, "unix:///run/some.sock"} {
				ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
				req := &socklabv1.RunLabRequest{Lab: "tcp-simple", Agents: map[string]string{"client": target, "server": target}}
				_, err := c.RunLab(ctx, req, nil, newRecorder())
				cancel()
				if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("no agent named %q is available to you", target)) {
					t.Errorf("a run binding its hosts to %s: %v; want NotFound, no agent named %q", target, err, target)
				}
				if err != nil {
					answers = append(answers, strings.ReplaceAll(err.Error(), target, "X"))
				}
			}
			for i := 1; i < len(answers); i++ {
				if answers[i] != answers[0] {
					t.Errorf("the answers tell the targets apart:\n%s\n%s", answers[0], answers[i])
				}
			}
			if calls := fake.calls(); len(calls) > 0 {
				t.Errorf("the controller called the caller's address %d times, with %v", len(calls), calls)
			}
		})
	}
}

// TestRemoteLabConfined: a lab sent to a controller runs on agents confined to the run's
// own 127.R.S.0/24: it reaches no service on the controller host's loopback, by TCP or
// UDP, and listens on no address but its own (the wildcard least of all), while the same
// lab's own hosts still reach each other.
func TestRemoteLabConfined(t *testing.T) {
	secret, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer secret.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := secret.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	c := dial(t, startRealController(t, nil), token)
	port := secret.Addr().(*net.TCPAddr).Port
	uport := udp.LocalAddr().(*net.UDPAddr).Port
	for _, tc := range []struct {
		name, step, want string
	}{
		{"connect to the controller's loopback", fmt.Sprintf(`s = t.a.socket(AF_INET, SOCK_STREAM)
    s.connect(("127.0.0.1", %d))`, port), "connect to 127.0.0.1:%d is outside this agent's allowed networks"},
		// The wildcard is the lab's own host, as the kernel takes it from a socket with the
		// host's address: nothing listens there.
		{"connect to the wildcard", fmt.Sprintf(`s = t.a.socket(AF_INET, SOCK_STREAM)
    s.connect(("0.0.0.0", %d))`, port), "ECONNREFUSED: [Errno 111] Connection refused (connect on a/s2)"},
		{"sendto the controller's loopback", fmt.Sprintf(`s = t.a.socket(AF_INET, SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", %d))`, uport), "sendto to 127.0.0.1:%d is outside this agent's allowed networks"},
		{"listen on every interface", `s = t.a.socket(AF_INET, SOCK_STREAM)
    s.bind(("", 0))`, "bind to 0.0.0.0 (every interface) is outside the addresses this agent may take"},
		{"listen on the controller's loopback", `s = t.a.socket(AF_INET, SOCK_STREAM)
    s.bind(("127.0.0.1", 0))`, "bind to 127.0.0.1 is outside the addresses this agent may take"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf(`lab(name = "probe", summary = "tries to leave its run", hosts = ["a", "b"], checks = {"own": "the run's own hosts reach each other"})

def main(t):
    l = t.b.socket(AF_INET, SOCK_STREAM)
    l.bind((t.b.ip, 0))
    l.listen(1)
    s0 = t.a.socket(AF_INET, SOCK_STREAM)
    s0.connect(l.getsockname())
    t.check("own", True)
    %s
`, tc.step)
			ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
			defer cancel()
			res, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Source: []byte(src), FileName: "probe.star"}, nil, newRecorder())
			if err != nil {
				t.Fatalf("RunLab: %v", err)
			}
			want := tc.want
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, port)
				if strings.Contains(tc.step, "sendto") {
					want = fmt.Sprintf(tc.want, uport)
				}
			}
			if res.ExitCode == transcript.ExitPassed || !strings.Contains(res.Error, want) {
				t.Errorf("exit %d, error %q; want the step refused: %q", res.ExitCode, res.Error, want)
			}
			if ch := checkOf(t, res, "own"); !ch.Passed {
				t.Errorf("the run's own hosts did not reach each other: %+v", ch)
			}
		})
	}
	select {
	case <-accepted:
		t.Error("a remote lab connected to a service on the controller's loopback")
	case <-time.After(50 * time.Millisecond):
	}
	udp.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := udp.ReadFrom(make([]byte, 8)); err == nil {
		t.Error("a remote lab's datagram reached a service on the controller's loopback")
	}
}
