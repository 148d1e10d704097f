package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// agentEnv is a runner.Env whose Do answers from a function and records what the lab
// sent: what a lab turns its calls into is the contract with the agent.
type agentEnv struct {
	do func(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error)

	mu   sync.Mutex // guards sent
	sent []sentOp
}

type sentOp struct {
	handle   uint32
	op       *socklabv1.Operation
	deadline time.Duration // how long the call had, from when it was made
}

func (e *agentEnv) Do(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error) {
	dl, _ := ctx.Deadline()
	e.mu.Lock()
	e.sent = append(e.sent, sentOp{handle: handle, op: op, deadline: time.Until(dl).Round(100 * time.Millisecond)})
	e.mu.Unlock()
	ev, err := e.do(ctx, handle, op)
	if err != nil {
		return nil, err
	}
	return &socklabv1.PerformResponse{Event: ev}, nil
}

func (e *agentEnv) Say(text, pos string) {}

// processAgent answers as an agent does for a program that prints "ready" and ends on
// SIGTERM: spawn makes p7 (pid 4242), and a wait_output for anything but "ready" finds
// the process ended.
func processAgent(_ context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
	res := &socklabv1.Result{}
	ev := &socklabv1.Event{Handle: handle, Operation: op, Result: res}
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Spawn:
		res.Handle, res.Value = 7, 4242
	case *socklabv1.Operation_Write:
		res.Value = int64(len(o.Write.GetData()))
	case *socklabv1.Operation_Wait:
		res.Exit = &socklabv1.ProcessExit{Code: -1, Signal: "SIGTERM"}
	case *socklabv1.Operation_Stdout:
		res.BytesValue, res.Value = []byte("ready\n"), 6
	case *socklabv1.Operation_Stderr:
		res.BytesValue, res.Value = []byte("warning\n"), 8
	case *socklabv1.Operation_CpuSeconds:
		res.Seconds = 0.25
	case *socklabv1.Operation_Rss:
		res.Value = 9 << 20
	case *socklabv1.Operation_Alive:
		res.Value = 1
	case *socklabv1.Operation_WaitOutput:
		if string(o.WaitOutput.GetLiteral()) != "ready" && o.WaitOutput.GetRegexp() != `rea\w+` {
			ev.Error = &socklabv1.SocketError{Name: "error", Message: "the process ended (exit 1) before its stdout held the pattern"}
			break
		}
		res.BytesValue = []byte("ready")
	case *socklabv1.Operation_WaitListening:
		res.Sockets = []*socklabv1.KernelSocket{{Protocol: o.WaitListening.GetProtocol(), State: "LISTEN",
			Local: &socklabv1.Address{Host: "127.5.0.2", Port: o.WaitListening.GetPort()}, Inode: 99}}
	}
	return ev, nil
}

// runLab loads src as lab.star, with files beside it, and runs it against env on one host,
// "server".
func runLab(t *testing.T, src string, files map[string]string, env runner.Env, filesDir string) *runner.Outcome {
	t.Helper()
	fsys := fstest.MapFS{"labs/lab.star": &fstest.MapFile{Data: []byte(src)}}
	for name, data := range files {
		fsys["labs/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	l, err := lab.Load(lab.FSSources{FS: fsys}, "labs/lab.star")
	if err != nil {
		t.Fatal(err)
	}
	l.FilesDir = filesDir
	return l.Run(t.Context(), env, []runner.HostInfo{{Role: "server", IP: "127.5.0.2"}}, nil)
}

const header = `
lab(name = "p", summary = "processes", hosts = ["server"], watchdog = 3, checks = {"ok": "it holds"})
`

// TestProcessMethods: each method sends its operation on the process's handle and
// returns what Python's would.
func TestProcessMethods(t *testing.T) {
	src := header + `
def main(t):
    p = t.server.spawn(["python3", "server.py", "8080"], files = t.files("server.py", "lib/util.py"),
                       stdin = True, env = {"MODE": "upper"}, cwd = "work")
    t.check("ok", p.pid == 4242 and p.handle == 7 and p.host == t.server, got = (p.pid, p.handle))
    t.check("ok", p.write(b"hi\n") == 3)
    p.close_stdin()
    p.signal("SIGTERM")
    p.kill()
    t.check("ok", p.wait(timeout = 10) == -15)
    t.check("ok", p.stdout() == b"ready\n" and p.stderr() == b"warning\n")
    t.check("ok", p.cpu_seconds() == 0.25 and p.rss() == 9437184 and p.alive() == True)
    t.check("ok", p.wait_output(b"ready") == b"ready")
    t.check("ok", p.wait_output("rea\\w+", stderr = True, timeout = 1) == b"ready")
    rows = p.wait_listening(8080)
    t.check("ok", rows[0].local == ("127.5.0.2", 8080) and rows[0].proto == "tcp", got = rows[0].local)
    t.check("ok", p.wait_bound(9000)[0].proto == "udp")
    t.check("ok", p.wait_listening(9001, "udp")[0].proto == "udp")
    e = t.raises("error", p.wait_output, b"never")
    t.check("ok", e.name == "error" and e.errno == 0 and e.strerror.startswith("the process ended"), got = e.strerror)
`
	env := &agentEnv{do: processAgent}
	out := runLab(t, src, map[string]string{"server.py": "print('ready')\n", "lib/util.py": "X = 1\n"}, env, "")
	if out.Err != nil || !out.Passed() {
		t.Fatalf("Run() = error %v, checks %+v; want every check passed", out.Err, out.Checks)
	}
	op := func(o proto.Message) string { return prototext.Format(o) }
	want := []struct {
		handle uint32
		op     *socklabv1.Operation
		wd     time.Duration
	}{
		{0, &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{
			Argv:  []string{"python3", "server.py", "8080"},
			Files: map[string][]byte{"server.py": []byte("print('ready')\n"), "util.py": []byte("X = 1\n")},
			Stdin: true, Env: map[string]string{"MODE": "upper"}, Cwd: "work"}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{Data: []byte("hi\n")}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_CloseStdin{CloseStdin: &socklabv1.CloseStdinOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Signal{Signal: &socklabv1.SignalOp{Name: "SIGTERM"}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: &socklabv1.KillOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}}, 10 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_CpuSeconds{CpuSeconds: &socklabv1.CpuSecondsOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Rss{Rss: &socklabv1.RssOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_Alive{Alive: &socklabv1.AliveOp{}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: &socklabv1.WaitOutputOp{Literal: []byte("ready")}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: &socklabv1.WaitOutputOp{Regexp: `rea\w+`, Stderr: true}}}, time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: 8080, Protocol: "tcp"}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: 9000, Protocol: "udp"}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: 9001, Protocol: "udp"}}}, 3 * time.Second},
		{7, &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: &socklabv1.WaitOutputOp{Literal: []byte("never")}}}, 3 * time.Second},
	}
	if len(env.sent) != len(want) {
		t.Fatalf("the lab sent %d operations, want %d", len(env.sent), len(want))
	}
	for i, w := range want {
		got := env.sent[i]
		if got.handle != w.handle || !proto.Equal(got.op, w.op) {
			t.Errorf("operation %d = handle %d %s, want handle %d %s", i, got.handle, op(got.op), w.handle, op(w.op))
		}
		if got.deadline != w.wd {
			t.Errorf("operation %d (%s) had %v, want %v", i, op(got.op), got.deadline, w.wd)
		}
	}
}

// TestProcessReturncode: wait() returns what Python's Popen.returncode holds.
func TestProcessReturncode(t *testing.T) {
	for _, tc := range []struct {
		exit *socklabv1.ProcessExit
		want string
	}{
		{&socklabv1.ProcessExit{}, "0"},
		{&socklabv1.ProcessExit{Code: 3}, "3"},
		{&socklabv1.ProcessExit{Code: -1, Signal: "SIGTERM"}, "-15"},
		{&socklabv1.ProcessExit{Code: -1, Signal: "SIGKILL", Reason: "wall time limit (60s)"}, "-9"},
		{&socklabv1.ProcessExit{Code: -1, Signal: "SIGINT"}, "-2"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			env := &agentEnv{do: func(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
				ev, _ := processAgent(ctx, handle, op)
				if op.GetWait() != nil {
					ev.Result.Exit = tc.exit
				}
				return ev, nil
			}}
			out := runLab(t, header+`
def main(t):
    p = t.server.spawn(["python3", "-c", "pass"])
    code = p.wait()
    t.check("ok", code == `+tc.want+`, got = code)
`, nil, env, "")
			if out.Err != nil || !out.Passed() {
				t.Errorf("Run() = error %v, checks %+v; want wait() == %s", out.Err, out.Checks, tc.want)
			}
		})
	}
}

// TestProcessErrors: a mistake in a call stops the lab at its line, before any agent sees
// it; an error the agent reports raises as a socket error does.
func TestProcessErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "client.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		body     string
		filesDir string
		want     string // the run's error, after "labs/lab.star:"
		sent     int    // operations the agent saw
	}{
		{"a missing file", `t.files("server.py", "nope.py")`, "",
			`5:12: files: no file labs/nope.py (file names are relative to the lab's own directory)`, 0},
		{"a path out of the directory", `t.files("../secret")`, "", `5:12: files: "../secret" is not a relative file name`, 0},
		{"an absolute path", `t.files("/etc/passwd")`, "", `5:12: files: "/etc/passwd" is not a relative file name`, 0},
		{"two files of one name", `t.files("server.py", "lib/server.py")`, "",
			`5:12: files: "server.py" and "lib/server.py" would both be server.py in the program's directory`, 0},
		{"a missing file of --files", `t.files("server.py")`, dir, `5:12: files: no file ` + filepath.Join(dir, "server.py"), 0},
		{"argv as one string", `t.server.spawn("python3 server.py")`, "",
			`5:19: spawn: argv must be a list of strings, such as ["python3", "server.py"], not string`, 0},
		{"empty argv", `t.server.spawn([])`, "", `5:19: spawn: argv is empty`, 0},
		{"a str file", `t.server.spawn(["python3"], files = {"a.py": "print(1)"})`, "",
			`5:19: spawn: files["a.py"]: TypeError: a bytes-like object is required, not 'str'`, 0},
		{"env of ints", `t.server.spawn(["python3"], env = {"N": 1})`, "",
			`5:19: spawn: env: names and values must be strings, as in os.environ, not string: int`, 0},
		{"write a str", `t.server.spawn(["cat"], stdin = True).write("hi")`, "",
			`5:48: write: TypeError: a bytes-like object is required, not 'str'`, 1},
		{"an unknown signal", `t.server.spawn(["cat"]).signal("SIGNOPE")`, "",
			`5:35: signal: "SIGNOPE" is not a signal's name`, 1},
		{"a bad regular expression", `t.server.spawn(["cat"]).wait_output("(")`, "",
			`5:40: wait_output: pattern "(" is no regular expression`, 1},
		{"an int pattern", `t.server.spawn(["cat"]).wait_output(1)`, "",
			`5:40: wait_output: pattern must be bytes (found as they are) or a str (a regular expression), not int`, 1},
		{"a bad port", `t.server.spawn(["cat"]).wait_listening(0)`, "", `5:43: wait_listening: port must be 1-65535`, 1},
		{"a bad protocol", `t.server.spawn(["cat"]).wait_bound(53, "icmp")`, "", `5:39: wait_bound: proto "icmp": use "tcp" or "udp"`, 1},
		{"a bad timeout", `t.server.spawn(["cat"]).wait(timeout = -1)`, "", `5:33: wait: timeout must be a positive number of seconds`, 1},
		{"the process ended first", `t.server.spawn(["cat"]).wait_output(b"never")`, "",
			`5:40: error: the process ended (exit 1) before its stdout held the pattern (wait_output on server/p7)`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &agentEnv{do: processAgent}
			out := runLab(t, header+"\ndef main(t):\n    "+tc.body+"\n",
				map[string]string{"server.py": "", "lib/server.py": ""}, env, tc.filesDir)
			if got := errorText(out); !strings.HasPrefix(got, "labs/lab.star:"+tc.want) {
				t.Errorf("Run() error = %q, want it to start with %q", got, "labs/lab.star:"+tc.want)
			}
			if len(env.sent) != tc.sent {
				t.Errorf("the agent saw %d operations, want %d", len(env.sent), tc.sent)
			}
		})
	}
}

// TestFilesDir: --files reads a run's files from a directory of its own.
func TestFilesDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "client.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := &agentEnv{do: processAgent}
	out := runLab(t, header+`
def main(t):
    f = t.files("sub/client.py")
    t.check("ok", f == {"client.py": b"print(1)\n"}, got = f)
`, map[string]string{"sub/client.py": "not this one"}, env, dir)
	if out.Err != nil || !out.Passed() {
		t.Errorf("Run() = error %v, checks %+v; want the file of --files", out.Err, out.Checks)
	}
}

func errorText(out *runner.Outcome) string {
	if out.Err == nil {
		return ""
	}
	if out.Pos == "" {
		return out.Err.Error()
	}
	return out.Pos + ": " + out.Err.Error()
}
