package topology_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/topology"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// needRoot skips a test that makes namespaces when this run is not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netns topology: making network namespaces, a bridge and veths needs root (CI runs as root)")
	}
}

// owned returns the namespaces that carry owner: what runs of this process made.
func owned(t *testing.T, owner topology.Owner) []string {
	t.Helper()
	mark := "socklab-" + owner.String() + "-"
	var out []string
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mark) {
			out = append(out, e.Name())
		}
	}
	return out
}

// links returns the names of this namespace's links.
func links(t *testing.T) []string {
	t.Helper()
	all, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range all {
		out = append(out, l.Attrs().Name)
	}
	return out
}

// session opens a session on host's agent, closed when the test ends.
func session(t *testing.T, h topology.Host) *client.Session {
	t.Helper()
	c, err := client.Dial(h.Target, h.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.Open(t.Context(), time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// do performs op and fails the test on an error or a socket error.
func do(t *testing.T, s *client.Session, h uint32, op *socklabv1.Operation) *socklabv1.Event {
	t.Helper()
	resp, err := s.Do(t.Context(), h, op)
	if err != nil {
		t.Fatalf("%v: %v", op, err)
	}
	if e := resp.GetEvent().GetError(); e != nil {
		t.Fatalf("%v: %s %s", op, e.GetName(), e.GetMessage())
	}
	return resp.GetEvent()
}

// TestNetnsHostsApart: each host has its own port space and loopback (two hosts both
// bind 127.0.0.1:8080), reaches another at its address over the run's bridge, and not on
// the other's loopback; nothing of the run is in this namespace; Close removes every
// namespace the run made.
func TestNetnsHostsApart(t *testing.T) {
	needRoot(t)
	owner, err := topology.Self()
	if err != nil {
		t.Fatal(err)
	}
	before, linksBefore := owned(t, owner), links(t)
	pool, err := topology.Netns{}.Start(t.Context(), []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			pool.Close()
		}
	}()
	hosts := pool.Hosts()
	if len(hosts) != 3 || hosts[0].IP == hosts[1].IP || !hosts[0].IP.Is4() || hosts[0].IP.As4()[0] != 10 {
		t.Fatalf("hosts = %+v, want three on a 10.R.S.0/24", hosts)
	}
	if made := owned(t, owner); len(made) != len(before)+4 {
		t.Errorf("the run made %v, want 3 hosts' namespaces and a switch's", made)
	}
	// Links other tests' Docker networks make and remove meanwhile (br-*, veth*) aside,
	// none appeared here: the run's belong in its namespaces.
	for _, l := range links(t) {
		if !slices.Contains(linksBefore, l) && !strings.HasPrefix(l, "br-") && !strings.HasPrefix(l, "veth") {
			t.Errorf("link %s appeared here (before: %v): the run's belong in its namespaces", l, linksBefore)
		}
	}
	listen := func(s *client.Session, host string) uint32 {
		h := do(t, s, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
		do(t, s, h, client.Bind(host, 8080))
		do(t, s, h, client.Listen(4))
		return h
	}
	sa, sb, sc := session(t, hosts[0]), session(t, hosts[1]), session(t, hosts[2])
	listen(sa, "127.0.0.1")
	listen(sb, "127.0.0.1") // its own port space: no EADDRINUSE
	la := listen(sa, hosts[0].IP.String())

	// c reaches a at a's address, over the bridge.
	cs := do(t, sc, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
	do(t, sc, cs, client.Connect(hosts[0].IP.String(), 8080))
	peer := do(t, sa, la, client.Accept()).GetResult().GetAddress()
	if peer.GetHost() != hosts[2].IP.String() {
		t.Errorf("a accepted from %s, want c's address %s", peer.GetHost(), hosts[2].IP)
	}
	// c's own loopback has nothing on 8080: a's and b's listeners are on theirs.
	probe := do(t, sc, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
	if r, err := sc.Do(t.Context(), probe, client.Connect("127.0.0.1", 8080)); err != nil || r.GetEvent().GetError().GetName() != "ECONNREFUSED" {
		t.Errorf("connect(127.0.0.1:8080) on c: %v %v, want ECONNREFUSED", r.GetEvent().GetError(), err)
	}
	// The kernel's table on b shows b's own listener only.
	ss := do(t, sb, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{Port: 8080}}})
	if n := len(ss.GetResult().GetSockets()); n != 1 {
		t.Errorf("ss on b shows %d sockets on 8080, want its one listener: %v", n, ss.GetResult().GetSockets())
	}
	closed = true
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := owned(t, owner); len(left) != len(before) {
		t.Errorf("after Close: %v, want %v", left, before)
	}
}

// TestCleanNetns: a cleaner removes what a dead owner's run left and leaves a live
// run's alone.
func TestCleanNetns(t *testing.T) {
	needRoot(t)
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	self, _ := topology.Self()
	ghost := topology.Owner{PID: dead.Process.Pid, Start: self.Start}
	name := "socklab-" + ghost.String() + "-dead00-0"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	pool, err := topology.Netns{}.Start(t.Context(), []string{"live"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := topology.CleanNetns(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Error("the dead owner's namespace is still there")
	}
	if live := owned(t, self); len(live) != 2 {
		t.Errorf("the live run's namespaces: %v, want its host's and its switch's kept", live)
	}
}

// BenchmarkNetnsStart starts and closes a 3-host run on network namespaces and,
// interleaved, on the local topology (the baseline), and reports the medians and what
// namespaces add (target: <= 200 ms).
func BenchmarkNetnsStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("netns topology: needs root")
	}
	roles := []string{"server", "client", "third"}
	run := func(topo topology.Topology) time.Duration {
		t0 := time.Now()
		p, err := topo.Start(context.Background(), roles)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var ns, lo []time.Duration
	for b.Loop() {
		ns = append(ns, run(topology.Netns{}))
		lo = append(lo, run(topology.Local{}))
	}
	median := func(xs []time.Duration) time.Duration { slices.Sort(xs); return xs[len(xs)/2] }
	nm, lm := median(ns), median(lo)
	b.ReportMetric(float64(nm.Microseconds())/1000, "netns-p50-ms")
	b.ReportMetric(float64(lm.Microseconds())/1000, "local-p50-ms")
	b.ReportMetric(float64((nm-lm).Microseconds())/1000, "added-ms")
	b.Logf("3 hosts, start and close, %d runs each: netns p50 %s, local p50 %s, added %s (target <= 200ms)", len(ns), nm, lm, nm-lm)
}

// TestNetnsUnprivileged: without root, a netns run is hosted by a child that is root of a
// user namespace of its own: two hosts both bind 127.0.0.1:8080, one reaches the other
// at its address, a program starts inside its host's namespace, and Close leaves no
// process and no directory behind. As root, the test runs itself again as nobody.
func TestNetnsUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		if testing.Short() {
			t.Skip("-short: the unprivileged re-run is skipped")
		}
		if out := agenttest.AsNobody(t, "^TestNetnsUnprivileged$"); !strings.Contains(string(out), "--- PASS: TestNetnsUnprivileged") {
			t.Errorf("the run as nobody did not run the test:\n%s", out)
		}
		return
	}
	if os.Getenv(agenttest.UnprivilegedEnv) == "" {
		t.Skip("not root: the run as nobody happens only from a root run (CI is root)")
	}
	tmp := os.TempDir()
	before, _ := os.ReadDir(tmp)
	pool, err := topology.Netns{Programs: []string{"python3"}}.Start(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := pool.Hosts()
	sa, sb := session(t, hosts[0]), session(t, hosts[1])
	for _, s := range []*client.Session{sa, sb} {
		h := do(t, s, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
		do(t, s, h, client.Bind("127.0.0.1", 8080))
		do(t, s, h, client.Listen(1))
	}
	la := do(t, sa, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
	do(t, sa, la, client.Bind(hosts[0].IP.String(), 8080))
	do(t, sa, la, client.Listen(1))
	cb := do(t, sb, 0, client.Socket(socklabv1.SocketType_SOCKET_TYPE_STREAM)).GetHandle()
	do(t, sb, cb, client.Connect(hosts[0].IP.String(), 8080))
	spawn := &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{
		Argv: []string{"python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 8080)); print('bound')"}}}}
	p := do(t, sb, 0, spawn).GetResult().GetHandle()
	wait := do(t, sb, p, &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}})
	// b's own 127.0.0.1:8080 is taken by b's listener, in b's namespace: the program there
	// cannot bind it.
	stderr := do(t, sb, p, &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}).GetResult().GetBytesValue()
	if code := wait.GetResult().GetExit().GetCode(); code != 1 || !strings.Contains(string(stderr), "Address already in use") {
		t.Errorf("a program binding 127.0.0.1:8080 on b: exit %d, stderr %q; want 1 and EADDRINUSE", code, stderr)
	}
	sa.Close(t.Context())
	sb.Close(t.Context())
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	after, _ := os.ReadDir(tmp)
	if len(after) != len(before) {
		t.Errorf("%s held %d entries before the run and %d after", tmp, len(before), len(after))
	}
}
