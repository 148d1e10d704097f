package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/labs/plugins/lab"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// The test binary is also each plugin the tests start (a copy named testplugin-KIND,
// so that its argv[0] says which), and the controller the parent-death test kills.
const (
	pluginPrefix  = "testplugin-"
	controllerEnv = "SOCKLAB_TEST_PLUGIN_CONTROLLER"
)

func TestMain(m *testing.M) {
	process.Init() // the init of the jobs plugins run in, and of the programs labs spawn
	if kind, ok := strings.CutPrefix(filepath.Base(os.Args[0]), pluginPrefix); ok {
		servePlugin(kind)
		os.Exit(0)
	}
	if path := os.Getenv(controllerEnv); path != "" {
		os.Exit(runController(path))
	}
	code := m.Run()
	removeCopies()
	os.Exit(code)
}

// echoSpec is a small lab: one message over TCP, upper-cased back.
var echoSpec = lab.Spec{
	Name: "echo", Summary: "one message echoed upper-cased", Hosts: []string{"server", "client"},
	Params: []lab.Param{{Name: "port", Default: 9090}, {Name: "message", Default: []byte("hi")}},
	Checks: []lab.Check{{ID: "echoed", Description: "the reply is the message upper-cased", Points: 2}, {ID: "wrong", Description: "a check that fails"}},
}

func echo(t *lab.T) {
	server, client := t.Host("server"), t.Host("client")
	srv := server.Socket(lab.AF_INET, lab.SOCK_STREAM)
	srv.Bind(server.IP, t.Int("port"))
	srv.Listen(5)
	cli := client.Socket(lab.AF_INET, lab.SOCK_STREAM)
	cli.Connect(server.IP, t.Int("port"))
	conn, _ := srv.Accept()
	t.Say("the client says %s", t.Bytes("message"))
	cli.SendAll(t.Bytes("message"))
	conn.Send([]byte(strings.ToUpper(string(conn.Recv(1024)))))
	got := cli.Recv(1024)
	t.Check("echoed", string(got) == strings.ToUpper(string(t.Bytes("message"))), lab.Got(got), lab.Want([]byte(strings.ToUpper(string(t.Bytes("message"))))))
	t.Check("wrong", false, lab.Got(got), lab.Want([]byte("nope")), lab.Hint("it was never going to pass"))
	refused := t.Try(func() { client.Socket(lab.AF_INET, lab.SOCK_STREAM).Connect(server.IP, t.Int("port")+1) })
	t.Say("a connect to a closed port: %v", refused)
	u := server.Socket(lab.AF_INET, lab.SOCK_DGRAM)
	u.Bind(server.IP, 0)
	to := u.GetSockName()
	client.Socket(lab.AF_INET, lab.SOCK_DGRAM).SendTo([]byte("dgram"), to.Host, to.Port)
	d, from := u.RecvFrom(100)
	t.Say("udp %s from the client: %v", d, from.Host == client.IP)
}

// faultSpec is the lab of the misbehaving plugins.
var faultSpec = lab.Spec{Name: "fault", Summary: "a plugin that misbehaves", Hosts: []string{"server"},
	Checks: []lab.Check{{ID: "reached", Description: "never reached"}}}

// spawnSleeper starts a program on server that outlives the lab unless its session ends,
// and says its pid.
func spawnSleeper(t *lab.T) {
	p := t.Host("server").Spawn([]string{"python3", "-c", "import time; time.sleep(60)"}, lab.SpawnOptions{})
	t.Host("server").Socket(lab.AF_INET, lab.SOCK_STREAM)
	_ = p
}

// servePlugin serves the plugin KIND; it returns when the controller is done with it.
func servePlugin(kind string) {
	switch kind {
	case "echo":
		lab.Main(echoSpec, echo)
	case "whoami":
		lab.Main(faultSpec, func(t *lab.T) {
			t.Say("uid=%d gid=%d", os.Getuid(), os.Getgid())
			t.Say("env=%s", strings.Join(os.Environ(), " "))
			wd, _ := os.Getwd()
			t.Say("cwd=%s", wd)
		})
	case "panic":
		lab.Main(faultSpec, func(t *lab.T) {
			spawnSleeper(t)
			panic("boom")
		})
	case "exit":
		lab.Main(faultSpec, func(t *lab.T) {
			spawnSleeper(t)
			os.Exit(7)
		})
	case "hang":
		lab.Main(faultSpec, func(t *lab.T) {
			spawnSleeper(t)
			select {}
		})
	case "garbage":
		fmt.Println("hello, I am not a handshake")
		lab.Main(faultSpec, func(t *lab.T) {})
	case "longline":
		fmt.Print(strings.Repeat("x", 200<<10)) // longer than go-plugin's scanner takes
		time.Sleep(time.Minute)
	case "mute": // never says its handshake
		time.Sleep(time.Minute)
	case "silent":
		goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: lab.Handshake, GRPCServer: goplugin.DefaultGRPCServer,
			Plugins: goplugin.PluginSet{pluginv1.PluginName: silentPlugin{}}})
	case "v2":
		hs := lab.Handshake
		hs.ProtocolVersion = 2
		goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: hs, GRPCServer: goplugin.DefaultGRPCServer,
			Plugins: goplugin.PluginSet{pluginv1.PluginName: lab.Plugin(faultSpec, func(*lab.T) {})}})
	case "undeclared":
		lab.Main(faultSpec, func(t *lab.T) { t.Check("nonesuch", true) })
	default:
		fmt.Fprintf(os.Stderr, "no test plugin %q\n", kind)
		os.Exit(2)
	}
}

// silentPlugin serves a LabService that never answers Describe.
type silentPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (silentPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterLabServiceServer(s, silentServer{})
	return nil
}

func (silentPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

type silentServer struct {
	pluginv1.UnimplementedLabServiceServer
}

func (silentServer) Describe(ctx context.Context, _ *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

var (
	copiesMu sync.Mutex // protects copies
	copies   = map[string]string{}
)

// testPlugin returns the path of the test binary copied as the plugin KIND: readable by
// anyone, as a plugin the controller copies into its own box must be.
func testPlugin(t *testing.T, kind string) string {
	t.Helper()
	copiesMu.Lock()
	defer copiesMu.Unlock()
	if p, ok := copies[kind]; ok {
		return p
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "socklab-plugin-test-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, pluginPrefix+kind)
	if err := os.Link(self, p); err != nil {
		if _, err := copyExecutable(self, p, -1); err != nil {
			t.Fatal(err)
		}
	}
	copies[kind] = p
	return p
}

// removeCopies removes the test plugins once the package's tests have ended.
func removeCopies() {
	copiesMu.Lock()
	defer copiesMu.Unlock()
	for k, p := range copies {
		os.RemoveAll(filepath.Dir(p))
		delete(copies, k)
	}
}

// localTopology is where the tests' runs go: agents on this machine's loopback, which
// may start Python.
var localTopology = topology.Local{Programs: policy.LocalPrograms}

// descendants returns the pids of every process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// noOrphans fails t unless the processes below this one come back to before within 5 s.
func noOrphans(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := len(descendants(os.Getpid()))
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes below the test: %d after the run, %d before: %v", n, before, descendants(os.Getpid()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gone reports whether pid has ended (or is a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

// runController is the controller the parent-death test kills: it runs the plugin at
// path (a hanging one) and prints the pid of the plugin's init and of the plugin.
func runController(path string) int {
	l, err := Load(context.Background(), path, Options{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	go runner.Run(context.Background(), l, localTopology, runner.Options{}, nil)
	init := l.runner.job.Pid()
	for range 100 {
		if d := descendants(init); len(d) > 0 {
			fmt.Printf("pids %d %s\n", init, strings.Trim(fmt.Sprint(d), "[]"))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {}
}

// startController starts the test binary as a controller running the plugin at path, and
// returns it with the pids it printed: its plugin's init and what runs below it.
func startController(t *testing.T, path string) (*exec.Cmd, []int) {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), controllerEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "pids" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the controller said %q", line)
		}
		var pids []int
		for _, s := range f[1:] {
			n, _ := strconv.Atoi(s)
			pids = append(pids, n)
		}
		return cmd, pids
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the controller said nothing in 20 s")
	}
	return nil, nil
}
