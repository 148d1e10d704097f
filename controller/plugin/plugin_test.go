package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs/plugins/lab"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// both is a go-plugin plugin with the SDK's server side and the controller's client
// side, for plugin.TestPluginGRPCConn, which gives one plugin set to both.
type both struct {
	goplugin.NetRPCUnsupportedPlugin
	server goplugin.GRPCPlugin
}

func (b both) GRPCServer(br *goplugin.GRPCBroker, s *grpc.Server) error {
	return b.server.GRPCServer(br, s)
}

func (b both) GRPCClient(ctx context.Context, br *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return hostPlugin{}.GRPCClient(ctx, br, c)
}

// ops returns the operations of a run's transcript, "host op", in order.
func ops(rec *transcript.Record) []string {
	var out []string
	for _, e := range rec.Entries {
		switch e.Kind {
		case transcript.Operation:
			out = append(out, e.Host+" "+e.Event.GetOp())
		case transcript.Say:
			out = append(out, "say "+e.Text)
		}
	}
	return out
}

func checkOf(rec *transcript.Record, id string) transcript.Check {
	for _, c := range rec.Checks {
		if c.ID == id {
			return c
		}
	}
	return transcript.Check{}
}

// TestInProcess runs a lab served in this process (plugin.TestPluginGRPCConn) on real
// local agents: its operations, narration and checks land in the run's record.
func TestInProcess(t *testing.T) {
	hclog.DefaultOutput = io.Discard // TestPluginGRPCConn's logger
	ps := map[string]goplugin.Plugin{pluginv1.PluginName: both{server: lab.Plugin(echoSpec, echo).(goplugin.GRPCPlugin)}}
	client, _ := goplugin.TestPluginGRPCConn(t, false, ps)
	defer client.Close() // its Shutdown stops the server (a Stop of ours too would race go-plugin's)
	raw, err := client.Dispense(pluginv1.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	l, err := connected(t.Context(), raw.(*labClient), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Info(); got.Name != "echo" || strings.Join(got.Hosts, ",") != "server,client" || got.Checks[0].MaxPoints != 2 {
		t.Fatalf("Info() = %+v", got)
	}
	rec := runner.Run(t.Context(), l, localTopology, runner.Options{Params: []string{"message=hello"}}, nil)
	if rec.ExitCode != transcript.ExitFailed || rec.Error != "" {
		t.Fatalf("exit %d, error %q; want 1 (the failing check) and no error", rec.ExitCode, rec.Error)
	}
	want := []string{"server socket", "server bind", "server listen", "client socket", "client connect", "server accept",
		"say the client says hello", "client sendall", "server recv", "server send", "client recv", "client socket", "client connect"}
	got := ops(rec)
	if strings.Join(got[:len(want)], "|") != strings.Join(want, "|") {
		t.Errorf("operations:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(strings.Join(got, "\n"), "say a connect to a closed port: ECONNREFUSED: [Errno 111]") {
		t.Errorf("no narration of the caught ECONNREFUSED in %q", got)
	}
	if !strings.Contains(strings.Join(got, "\n"), "say udp dgram from the client: true") {
		t.Errorf("no datagram from the client in %q", got)
	}
	if c := checkOf(rec, "echoed"); !c.Passed || c.Points() != 2 {
		t.Errorf("echoed = %+v, want passed for 2 points", c)
	}
	failed := 0
	for _, e := range rec.Entries {
		if e.Kind == transcript.Failed {
			failed++
			if e.Check != "wrong" || len(e.Snapshot) != 2 || !strings.HasPrefix(e.Pos, "main_test.go:") {
				t.Errorf("failed-check entry %+v: want check wrong, both hosts' socket tables, the plugin's position", e)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed-check entries in the transcript, want 1 (as a Starlark lab records)", failed)
	}
	c := checkOf(rec, "wrong")
	if c.Passed || c.Message != "got b'HELLO', want b'nope'" || c.Hint("en") != "it was never going to pass" || !strings.HasPrefix(c.Pos, "main_test.go:") {
		t.Errorf("wrong = %+v", c)
	}
}

// TestExecutable runs the test binary as a real plugin: contained, with a clean
// environment, and gone after its run.
func TestExecutable(t *testing.T) {
	t.Setenv("SOCKLAB_TOKEN", "controller-secret") // what the plugin must not see
	t.Setenv("SOCKLAB_DB", "/nonexistent/history.db")
	before := len(descendants(os.Getpid()))
	l, err := Load(t.Context(), testPlugin(t, "whoami"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pid := l.runner.job.Pid()
	contained := l.runner.job.Containment()
	if !strings.Contains(contained, "namespaces") || !strings.Contains(contained, "rlimits") || os.Geteuid() == 0 && !strings.Contains(contained, "uid ") {
		t.Errorf("the plugin is contained by %q", contained)
	}
	t.Logf("containment: %s", contained)
	rec := runner.Run(t.Context(), l, localTopology, runner.Options{}, nil)
	if rec.ExitCode != transcript.ExitFailed || rec.Error != "" { // its one check is never reached
		t.Fatalf("exit %d, error %q", rec.ExitCode, rec.Error)
	}
	said := strings.Join(ops(rec), "\n")
	if os.Geteuid() == 0 {
		m := regexp.MustCompile(`uid=(\d+) gid=(\d+)`).FindStringSubmatch(said)
		if m == nil || m[1] == "0" || m[2] == "0" {
			t.Errorf("the plugin runs as %v: want a uid and gid of its own", m)
		}
	}
	for _, leak := range []string{"controller-secret", "SOCKLAB_TOKEN", "SOCKLAB_DB", "GOPATH", "HOME=/root"} {
		if strings.Contains(said, leak) {
			t.Errorf("the plugin's environment holds %s:\n%s", leak, said)
		}
	}
	if !strings.Contains(said, "cwd=/tmp/socklab-plugin-") && !strings.Contains(said, "cwd="+os.TempDir()) {
		t.Errorf("the plugin's working directory is not its own: %s", said)
	}
	if !gone(pid) {
		t.Errorf("the plugin's init %d still runs after the run", pid)
	}
	if _, err := os.Stat(l.box.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("its box %s is still there: %v", l.box.dir, err)
	}
	noOrphans(t, before)
}

// TestFaults runs plugins that crash, exit or hang mid-run: each ends its run with a
// clear error and exit code 3, the program it spawned is gone with its session, and so
// is its process.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want string // the run's error, a regular expression
	}{
		{"panic", `^the lab plugin exited during its run \(exit 2\): panic: boom`},
		{"exit", `^the lab plugin exited during its run \(exit 7\)`},
		{"hang", `^the lab plugin hangs: it asked for nothing for 1\.\d+s, with no call in progress \(its watchdog\)$`},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			before := len(descendants(os.Getpid()))
			l, err := Load(t.Context(), testPlugin(t, tc.kind), Options{Idle: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			pid := l.runner.job.Pid()
			start := time.Now()
			rec := runner.Run(t.Context(), l, localTopology, runner.Options{}, nil)
			if !regexp.MustCompile(tc.want).MatchString(rec.Error) || rec.ExitCode != transcript.ExitInfra {
				t.Errorf("exit %d, error %q; want 3 and %s", rec.ExitCode, rec.Error, tc.want)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the run took %s", took)
			}
			var spawned int
			for _, e := range rec.Entries {
				if e.Kind == transcript.Operation && e.Event.GetOp() == "spawn" {
					spawned = int(e.Event.GetResult().GetValue())
				}
			}
			if spawned == 0 {
				t.Fatalf("the plugin spawned nothing: %q", ops(rec))
			}
			if err := syscall.Kill(spawned, 0); !errors.Is(err, syscall.ESRCH) && !gone(spawned) {
				t.Errorf("the program the plugin spawned (pid %d) outlived the run's sessions: %v", spawned, err)
			}
			if c := checkOf(rec, "reached"); c.Reached || !strings.HasPrefix(c.Message, "not reached: the lab plugin") {
				t.Errorf("check = %+v", c)
			}
			if !gone(pid) {
				t.Errorf("the plugin's init %d still runs", pid)
			}
			noOrphans(t, before)
		})
	}
}

// TestNotALab loads programs that are no valid lab plugin: each is a clear *LabError (or
// a ChecksumError), and nothing of it is left running.
func TestNotALab(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) on this machine")
	}
	for _, tc := range []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"garbage", testPlugin(t, "garbage"), Options{}, `not a socklab lab plugin: its first line of output was "hello, I am not a handshake", where the go-plugin handshake \(1\|1\|unix\|\.\.\.\|grpc\|\.\.\.\) was expected`},
		{"silent", testPlugin(t, "silent"), Options{DescribeTimeout: time.Second}, `the plugin did not answer Describe within 1s: is it a socklab lab plugin\?`},
		{"v2", testPlugin(t, "v2"), Options{}, `the plugin speaks lab plugin protocol version 2; this socklab speaks version 1: rebuild the plugin`},
		{"long line", testPlugin(t, "longline"), Options{StartTimeout: 2 * time.Second}, `not a socklab lab plugin`},
		{"mute", testPlugin(t, "mute"), Options{StartTimeout: time.Second}, `the plugin gave no handshake within 1s`},
		{"true", truePath, Options{}, `not a socklab lab plugin: it ended before its handshake, saying nothing`},
		{"missing", "/nonexistent/plugin", Options{}, `no lab plugin here: no such file or directory`},
		{"pinned", testPlugin(t, "echo"), Options{Checksum: make([]byte, 32)}, `its SHA-256 is [0-9a-f]{64}, but its pin says 0{64}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(descendants(os.Getpid()))
			l, err := Load(t.Context(), tc.path, tc.opts)
			if err == nil {
				l.Close()
				t.Fatal("Load succeeded")
			}
			var le *runner.LabError
			var ce *ChecksumError
			if !errors.As(err, &le) && !errors.As(err, &ce) {
				t.Errorf("Load() = %T %v, want a *runner.LabError or *ChecksumError", err, err)
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("Load() = %q\nwant %s", err, tc.want)
			}
			noOrphans(t, before)
		})
	}
}

// TestUndeclaredCheck is a plugin's mistake the controller sees itself: the run ends as a
// bad lab (exit 2).
func TestUndeclaredCheck(t *testing.T) {
	l, err := Load(t.Context(), testPlugin(t, "undeclared"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, localTopology, runner.Options{}, nil)
	if rec.ExitCode != transcript.ExitBadLab || !strings.Contains(rec.Error, `check "nonesuch" is not declared`) {
		t.Errorf("exit %d, error %q; want 2 and the undeclared check", rec.ExitCode, rec.Error)
	}
}

// TestControllerKilled kills a controller running a plugin with SIGKILL: the plugin's
// init dies by its parent-death signal, and the plugin with it.
func TestControllerKilled(t *testing.T) {
	cmd, pids := startController(t, testPlugin(t, "hang"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d (of the plugin's %v) outlived its controller by 5 s", pid, pids)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("the plugin's processes %v ended with their controller", pids)
}

// TestInterrupted interrupts a run whose plugin is busy (Ctrl-C): the run ends as
// interrupted at once, and the plugin's process is gone.
func TestInterrupted(t *testing.T) {
	before := len(descendants(os.Getpid()))
	l, err := Load(t.Context(), testPlugin(t, "hang"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pid := l.runner.job.Pid()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	rec := runner.Run(ctx, l, localTopology, runner.Options{}, nil)
	if rec.ExitCode != transcript.ExitInterrupted {
		t.Errorf("exit %d (%s), want %d", rec.ExitCode, rec.Error, transcript.ExitInterrupted)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %s after its interruption at 1s", took)
	}
	if !gone(pid) {
		t.Errorf("the plugin's init %d still runs", pid)
	}
	noOrphans(t, before)
}
