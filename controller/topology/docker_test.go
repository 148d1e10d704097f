package topology_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	agentclient "github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/topology"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// dockerEngine skips t under -short (it builds the socklab binary and runs it in
// containers) and when no Docker engine answers; otherwise it returns a client of the
// engine, closed when t ends.
func dockerEngine(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the socklab binary and runs it in containers; skipped with -short")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Skipf("docker: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Skipf("docker: no engine at %s: %v", cli.DaemonHost(), err)
	}
	return cli
}

// dockerSocklab builds the socklab binary into a directory of t's and returns its path:
// built with -trimpath, it is the same from any checkout, and so is the image made of it.
func dockerSocklab(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "socklab")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/socklab")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/socklab: %v\n%s", err, out)
	}
	return bin
}

// resources counts the containers (running or not) and networks labelled label=value.
func dockerResources(t testing.TB, cli *client.Client, label, value string) (containers, networks int) {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", label+"="+value))
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs), len(ns)
}

func dockerSelf(t testing.TB) topology.Owner {
	t.Helper()
	o, err := topology.Self()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// session opens a session on host h's agent, closed when t ends.
func dockerSession(t *testing.T, h topology.Host) *agentclient.Session {
	t.Helper()
	c, err := agentclient.Dial(h.Target, h.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.Open(t.Context(), 5*time.Minute, t.Name())
	if err != nil {
		t.Fatalf("host %s: %v", h.Role, err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// do performs op on s and fails t on a request error or a socket error.
func dockerDo(t *testing.T, s *agentclient.Session, h uint32, op *socklabv1.Operation) *socklabv1.PerformResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp, err := s.Do(ctx, h, op)
	if err != nil {
		t.Fatalf("%v: %v", op, err)
	}
	if e := resp.GetEvent().GetError(); e != nil {
		t.Fatalf("%v raised %s (%s)", op, e.GetName(), e.GetMessage())
	}
	return resp
}

func dockerSpawn(argv []string, files map[string][]byte) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{Argv: argv, Files: files}}}
}

var (
	dockerWaitOp   = &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}}
	dockerStdoutOp = &socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}
	dockerStderrOp = &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}
)

func dockerWaitListening(port int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: uint32(port), Protocol: "tcp"}}}
}

// run spawns argv on s, waits for it to end and returns its spawn result, exit and
// output.
func dockerRun(t *testing.T, s *agentclient.Session, argv ...string) (spawned *socklabv1.Result, exit *socklabv1.ProcessExit, stdout, stderr string) {
	t.Helper()
	spawned = dockerDo(t, s, 0, dockerSpawn(argv, nil)).GetEvent().GetResult()
	p := spawned.GetHandle()
	exit = dockerDo(t, s, p, dockerWaitOp).GetEvent().GetResult().GetExit()
	stdout = string(dockerDo(t, s, p, dockerStdoutOp).GetEvent().GetResult().GetBytesValue())
	stderr = string(dockerDo(t, s, p, dockerStderrOp).GetEvent().GetResult().GetBytesValue())
	return spawned, exit, stdout, stderr
}

// dockerUpperServer is a student's server: one client, its bytes upper-cased, bound to the
// host's address on the port in argv[1].
const dockerUpperServer = `import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((os.environ["SOCKLAB_HOST_IP"], int(sys.argv[1])))
s.listen(1)
conn, addr = s.accept()
print("client", addr[0], flush=True)
while True:
    data = conn.recv(1024)
    if not data:
        break
    conn.sendall(data.upper())
`

// TestDockerNoEngine: with no engine where DOCKER_HOST says, Start and CleanDocker fail
// saying so, and NoEngine tells that failure from others.
func TestDockerNoEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "docker.sock"))
	_, err := topology.Docker{}.Start(t.Context(), []string{"a"})
	if !topology.NoEngine(err) || !strings.HasPrefix(err.Error(), "docker: no engine at unix://") {
		t.Errorf("Start with no engine: %v, want an error NoEngine knows, saying where it looked", err)
	}
	if _, err := topology.CleanDocker(t.Context()); !topology.NoEngine(err) {
		t.Errorf("CleanDocker with no engine: %v, want an error NoEngine knows", err)
	}
	if topology.NoEngine(errors.New("docker topology: something else")) || topology.NoEngine(nil) {
		t.Error("NoEngine holds for an error that is not about the engine")
	}
}

// TestDockerStart: three hosts, each a container whose agent answers as its host on its
// own address of one fresh 10.R.S.0/24; an agent's socket connects to another's across
// the run's network, which sees it come from the first host's address; python3 runs
// there as a contained job under a uid of its own, seeing only its job, not at idle
// priority, and unable to reach out of the run's network; a student's server it runs is
// reached from another host.
func TestDockerStart(t *testing.T) {
	dockerEngine(t)
	d := topology.Docker{Binary: dockerSocklab(t), Programs: []string{"python3"}}
	roles := []string{"server", "client", "third"}
	started := time.Now()
	pool, err := d.Start(t.Context(), roles)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 hosts in %v (the image built if it had to be)", time.Since(started).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := pool.Close(); err != nil {
			t.Error(err)
		}
	})
	hosts := pool.Hosts()
	if len(hosts) != len(roles) {
		t.Fatalf("%d hosts, want %d", len(hosts), len(roles))
	}
	subnet := netip.PrefixFrom(hosts[0].IP, 24).Masked()
	if !netip.MustParsePrefix("10.0.0.0/8").Contains(subnet.Addr()) {
		t.Errorf("the run's network %s is not in 10.0.0.0/8", subnet)
	}
	for i, h := range hosts {
		want := netip.AddrFrom4([4]byte{subnet.Addr().As4()[0], subnet.Addr().As4()[1], subnet.Addr().As4()[2], byte(2 + i)})
		if h.Role != roles[i] || h.IP != want || h.Target != want.String()+":7070" || h.Token == "" || h.Token != hosts[0].Token {
			t.Errorf("host %d = %+v; want role %s, IP %s, target %s:7070 and the run's token", i, h, roles[i], want, want)
		}
		c, err := agentclient.Dial(h.Target, h.Token)
		if err != nil {
			t.Fatal(err)
		}
		hello, err := c.Hello(t.Context())
		c.Close()
		if err != nil || hello.GetHostAddress() != h.IP.String() || hello.GetName() != h.Role {
			t.Errorf("host %s: Hello = %v, %v; want name %s, host address %s", h.Role, hello, err, h.Role, h.IP)
		}
	}

	// The client's agent connects to the server's across the run's network.
	srv, cli := dockerSession(t, hosts[0]), dockerSession(t, hosts[1])
	lis := dockerDo(t, srv, 0, agentclient.Socket(agentclient.Stream)).GetEvent().GetResult().GetHandle()
	dockerDo(t, srv, lis, agentclient.Bind(hosts[0].IP.String(), 0))
	dockerDo(t, srv, lis, agentclient.Listen(1))
	port := int(dockerDo(t, srv, lis, agentclient.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	sock := dockerDo(t, cli, 0, agentclient.Socket(agentclient.Stream)).GetEvent().GetResult().GetHandle()
	dockerDo(t, cli, sock, agentclient.Connect(hosts[0].IP.String(), port))
	acc := dockerDo(t, srv, lis, agentclient.Accept()).GetEvent()
	if peer := acc.GetResult().GetAddress().GetHost(); peer != hosts[1].IP.String() {
		t.Errorf("the server accepted a connection from %s, want the client host's %s", peer, hosts[1].IP)
	}
	conn := acc.GetResult().GetHandle()
	msg := []byte("hello across the bridge")
	dockerDo(t, cli, sock, agentclient.SendAll(msg, 0))
	if got := dockerDo(t, srv, conn, agentclient.Recv(len(msg), agentclient.MSG_WAITALL)).GetData(); !bytes.Equal(got, msg) {
		t.Errorf("the server received %q, want %q", got, msg)
	}

	// python3 runs in the container, contained. The second job starts on the init the
	// first left ready, which waited at idle priority: its program must not.
	const probe = `import os
procs = [d for d in os.listdir("/proc") if d.isdigit()]
print("hello from", os.environ["SOCKLAB_HOST"], os.getuid(), len(procs), os.sched_getscheduler(0), "groups", os.getgroups())`
	for i := range 2 {
		t0 := time.Now()
		spawned, exit, out, errOut := dockerRun(t, srv, "python3", "-c", probe)
		t.Logf("spawn %d (%v): containment %q, %s, stdout %q, stderr %q", i+1, time.Since(t0).Round(time.Millisecond), spawned.GetContainment(), exit, out, errOut)
		var uid, procs, policy int
		if n, _ := fmt.Sscanf(out, "hello from server %d %d %d", &uid, &procs, &policy); n != 3 || exit.GetCode() != 0 || errOut != "" {
			t.Fatalf("python3 in the container: %v, stdout %q, stderr %q; want exit 0 and %q", exit, out, errOut, "hello from server UID PROCESSES POLICY ...")
		}
		if uid == 0 || procs != 2 || policy != 0 {
			t.Errorf("the program runs as uid %d, sees %d processes, scheduling policy %d: want a uid of its own, its job's 2 (its init and itself), SCHED_OTHER (0)", uid, procs, policy)
		}
		if c := spawned.GetContainment(); !strings.Contains(c, "pid and mount namespaces, uid ") {
			t.Errorf("containment %q: want pid and mount namespaces and a uid of its own", c)
		}
		time.Sleep(300 * time.Millisecond) // time for the next init to load
	}

	// The agent ends a program that would run on.
	sleeper := dockerDo(t, srv, 0, dockerSpawn([]string{"python3", "-c", "import time; time.sleep(60)"}, nil)).GetEvent().GetResult().GetHandle()
	dockerDo(t, srv, sleeper, &socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: &socklabv1.KillOp{}}})
	if exit := dockerDo(t, srv, sleeper, dockerWaitOp).GetEvent().GetResult().GetExit(); exit.GetSignal() != "SIGKILL" {
		t.Errorf("a killed program ended with %v, want SIGKILL", exit)
	}

	// The run's network is internal: what leaves it is dropped on the run's bridge, so a
	// program's connect to anywhere else fails.
	const out = `import errno, socket
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("192.0.2.1", 9))
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e))`
	if _, exit, got, _ := dockerRun(t, srv, "python3", "-c", out); !slices.Contains([]string{"timed out\n", "ENETUNREACH\n", "EHOSTUNREACH\n"}, got) {
		t.Errorf("a connect out of the run's network: %q (%v), want it to fail", got, exit)
	}

	// A student's server in one container, reached from another.
	sport := port + 1
	p := dockerDo(t, srv, 0, dockerSpawn([]string{"python3", "server.py", fmt.Sprint(sport)}, map[string][]byte{"server.py": []byte(dockerUpperServer)})).GetEvent().GetResult().GetHandle()
	dockerDo(t, srv, p, dockerWaitListening(sport))
	c2 := dockerDo(t, cli, 0, agentclient.Socket(agentclient.Stream)).GetEvent().GetResult().GetHandle()
	dockerDo(t, cli, c2, agentclient.Connect(hosts[0].IP.String(), sport))
	dockerDo(t, cli, c2, agentclient.SendAll([]byte("shout"), 0))
	if got := dockerDo(t, cli, c2, agentclient.Recv(5, agentclient.MSG_WAITALL)).GetData(); string(got) != "SHOUT" {
		t.Errorf("the student's server answered %q, want SHOUT", got)
	}
	dockerDo(t, cli, c2, agentclient.Close())
	if exit := dockerDo(t, srv, p, dockerWaitOp).GetEvent().GetResult().GetExit(); exit.GetCode() != 0 {
		t.Errorf("the student's server ended with %v, want exit 0", exit)
	}
	if out := string(dockerDo(t, srv, p, dockerStdoutOp).GetEvent().GetResult().GetBytesValue()); out != "client "+hosts[1].IP.String()+"\n" {
		t.Errorf("the student's server printed %q, want its client's address %s", out, hosts[1].IP)
	}
}

// TestDockerClose: a run's containers and network are there while it runs and gone once
// its pool closes (twice is no error); a start that fails (an invalid host name, an
// agent that exits at once, a cancelled context) leaves nothing behind.
func TestDockerClose(t *testing.T) {
	cli := dockerEngine(t)
	bin := dockerSocklab(t)
	owner := dockerSelf(t).String()
	c0, n0 := dockerResources(t, cli, topology.LabelOwner, owner)

	t0 := time.Now()
	pool, err := topology.Docker{Binary: bin}.Start(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %v", time.Since(t0).Round(time.Millisecond))
	if c, n := dockerResources(t, cli, topology.LabelOwner, owner); c != c0+2 || n != n0+1 {
		t.Errorf("while the run runs: %d containers and %d networks of this owner, want %d and %d", c, n, c0+2, n0+1)
	}
	t0 = time.Now()
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	t.Logf("closed in %v", time.Since(t0).Round(time.Millisecond))
	if c, n := dockerResources(t, cli, topology.LabelOwner, owner); c != c0 || n != n0 {
		t.Errorf("after Close: %d containers and %d networks of this owner, want %d and %d", c, n, c0, n0)
	}
	if err := pool.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}

	if _, err := (topology.Docker{Binary: bin}).Start(t.Context(), []string{"a/b"}); err == nil || !strings.Contains(err.Error(), `host "a/b"`) {
		t.Errorf("Start with host a/b: %v, want an error naming it", err)
	}

	// An agent that exits at once: /bin/false in its place.
	falseAgent := topology.Docker{Binary: "/bin/false"}
	tag, err := falseAgent.BuildImage(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove the test's image %s: %v", tag, err)
		}
	})
	t0 = time.Now()
	_, err = falseAgent.Start(t.Context(), []string{"gone"})
	t.Logf("the agent that exits failed its start in %v", time.Since(t0).Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "host gone exited") {
		t.Errorf("Start with an agent that exits: %v, want an error saying host gone's agent exited", err)
	}
	t.Logf("an agent that exits: %v", err)

	// A start cancelled part-way, wherever it was.
	for _, after := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(t.Context(), after)
		t0 := time.Now()
		p, err := topology.Docker{Binary: bin}.Start(ctx, []string{"a", "b", "c"})
		cancel()
		t.Logf("a start cancelled after %v: %v after %v", after, err, time.Since(t0).Round(time.Millisecond))
		if err == nil {
			p.Close()
			t.Logf("a start cancelled after %v had finished", after)
		}
	}
	if c, n := dockerResources(t, cli, topology.LabelOwner, owner); c != c0 || n != n0 {
		t.Errorf("after failed starts: %d containers and %d networks of this owner, want %d and %d", c, n, c0, n0)
	}
}

// TestCleanDocker: CleanDocker removes the containers and networks labelled with an owner
// that has ended, and leaves those of a live owner, those with an unreadable owner and
// those with no owner label alone.
func TestCleanDocker(t *testing.T) {
	cli := dockerEngine(t)
	ctx := t.Context()
	tag, err := topology.Docker{Binary: dockerSocklab(t)}.BuildImage(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ended := exec.Command("/bin/true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	dead := topology.Owner{PID: ended.Process.Pid, Start: dockerSelf(t).Start}
	if dead.Alive() {
		t.Fatalf("owner %v, a process that has ended, counts as alive", dead)
	}
	var b [4]byte
	rand.Read(b[:])
	mark := hex.EncodeToString(b[:]) // on everything this test makes
	const testLabel = "socklab.test"
	made := map[string]map[string]string{ // name: labels
		"dead":       {topology.LabelOwner: dead.String()},
		"live":       {topology.LabelOwner: dockerSelf(t).String()},
		"unreadable": {topology.LabelOwner: "not-an-owner"},
		"unowned":    {},
	}
	name := func(kind string) string { return "socklab-cleantest-" + mark + "-" + kind }
	for kind, labels := range made {
		labels[testLabel] = mark
		if _, err := cli.NetworkCreate(ctx, name(kind), network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		_, err := cli.ContainerCreate(ctx, &container.Config{Image: tag, Cmd: []string{"/socklab", "--help"}, Labels: labels},
			&container.HostConfig{NetworkMode: container.NetworkMode(name(kind))}, nil, nil, name(kind))
		if err != nil {
			t.Fatal(err)
		}
	}
	removeAll := func() {
		for kind := range made {
			cli.ContainerRemove(context.Background(), name(kind), container.RemoveOptions{Force: true})
			cli.NetworkRemove(context.Background(), name(kind))
		}
	}
	t.Cleanup(removeAll)

	removed, err := topology.CleanDocker(ctx)
	if err != nil {
		t.Fatalf("CleanDocker: %v", err)
	}
	t.Logf("CleanDocker removed %v", removed)
	deadNamed := 0
	for _, r := range removed {
		if r == name("dead") {
			deadNamed++
		}
	}
	if deadNamed != 2 {
		t.Errorf("CleanDocker removed %v: want the dead owner's container and network, both %s", removed, name("dead"))
	}
	for kind := range made {
		_, cerr := cli.ContainerInspect(ctx, name(kind))
		_, nerr := cli.NetworkInspect(ctx, name(kind), network.InspectOptions{})
		gone := client.IsErrNotFound(cerr) && client.IsErrNotFound(nerr)
		if gone != (kind == "dead") {
			t.Errorf("the %s owner's container and network: gone %v (%v, %v), want %v", kind, gone, cerr, nerr, kind == "dead")
		}
		if kind != "dead" && slices.Contains(removed, name(kind)) {
			t.Errorf("CleanDocker says it removed %s", name(kind))
		}
	}
	removeAll()
	if c, n := dockerResources(t, cli, testLabel, mark); c != 0 || n != 0 {
		t.Errorf("after the test: %d containers and %d networks of its own left", c, n)
	}
}

// BenchmarkDockerStart times a run's start and close of three hosts on Docker against the
// same on the local topology, in the same run (the image built before), and reports the
// medians and the median of what Docker adds.
func BenchmarkDockerStart(b *testing.B) {
	dockerEngine(b)
	d := topology.Docker{Binary: dockerSocklab(b)}
	if _, err := d.BuildImage(b.Context(), nil); err != nil {
		b.Fatal(err)
	}
	roles := []string{"server", "client", "third"}
	startClose := func(top topology.Topology) time.Duration {
		t0 := time.Now()
		p, err := top.Start(b.Context(), roles)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var local, docker, added []time.Duration
	b.ResetTimer()
	for range b.N {
		l := startClose(topology.Local{})
		dk := startClose(d)
		local, docker, added = append(local, l), append(docker, dk), append(added, dk-l)
	}
	b.StopTimer()
	med := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		m := s[len(s)/2]
		if len(s)%2 == 0 {
			m = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return float64(m) / float64(time.Millisecond)
	}
	b.ReportMetric(med(local), "local-ms")
	b.ReportMetric(med(docker), "docker-ms")
	b.ReportMetric(med(added), "added-ms")
	b.Logf("start+close of 3 hosts over %d rounds: local median %.1f ms, docker median %.1f ms, docker adds (median of the differences) %.1f ms",
		b.N, med(local), med(docker), med(added))
}
