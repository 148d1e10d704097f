package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Process operations, built as the controller sends them.

func spawnOp(s *socklabv1.SpawnOp) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: s}}
}

func writeOp(data string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{Data: []byte(data)}}}
}

func signalOp(name string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Signal{Signal: &socklabv1.SignalOp{Name: name}}}
}

func waitOutputOp(w *socklabv1.WaitOutputOp) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: w}}
}

func waitListeningOp(port uint32, proto string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: port, Protocol: proto}}}
}

var (
	closeStdinOp = &socklabv1.Operation{Op: &socklabv1.Operation_CloseStdin{CloseStdin: &socklabv1.CloseStdinOp{}}}
	killOp       = &socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: &socklabv1.KillOp{}}}
	waitOp       = &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}}
	stdoutOp     = &socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}
	stderrOp     = &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}
	cpuOp        = &socklabv1.Operation{Op: &socklabv1.Operation_CpuSeconds{CpuSeconds: &socklabv1.CpuSecondsOp{}}}
	rssOp        = &socklabv1.Operation{Op: &socklabv1.Operation_Rss{Rss: &socklabv1.RssOp{}}}
	aliveOp      = &socklabv1.Operation{Op: &socklabv1.Operation_Alive{Alive: &socklabv1.AliveOp{}}}
)

// ended is the error of a wait that the process's end cut short.
var ended = sockErr("error", 0, "the process ended (exit 1) before its stdout held b'ready'")

func TestProcessCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *socklabv1.Event
		want string
	}{
		{"spawn", op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "server.py"}})), "spawn(['python3', 'server.py'])"},
		{"spawn with everything", op(spawnOp(&socklabv1.SpawnOp{
			Argv:  []string{"python3", "server.py", "it's"},
			Files: map[string][]byte{"server.py": []byte("print(1)"), "data.txt": nil},
			Stdin: true, Env: map[string]string{"PORT": "8080", "MODE": "upper"}, Cwd: "work",
		})), `spawn(['python3', 'server.py', "it's"], files = {'data.txt': ..., 'server.py': ...}, stdin = True, ` +
			`env = {'MODE': 'upper', 'PORT': '8080'}, cwd = 'work')`},
		{"spawn with limits", op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"./server"}, Limits: &socklabv1.ProcessLimits{
			CpuSeconds: 2, MemoryBytes: 64 << 20, Processes: 8, OpenFiles: 32, OutputBytes: 4096, WallSeconds: 0.5}})),
			"spawn(['./server'], limits = {'cpu': 2, 'memory': 67108864, 'processes': 8, 'open_files': 32, 'output': 4096, 'wall': 0.5})"},
		{"spawn no argv", op(spawnOp(&socklabv1.SpawnOp{})), "spawn([])"},
		{"spawn a long program", op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "-c", "\n" + strings.Repeat("print(1)\n", 20)}})),
			`spawn(['python3', '-c', '\nprint(1)\nprint(1)\nprint(1)\nprint(1)\nprint(1)\nprint(1)'... (181 characters)])`},
		{"spawn a long environment value", op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"sh"}, Env: map[string]string{"X": strings.Repeat("é", 70)}})),
			`spawn(['sh'], env = {'X': '` + strings.Repeat("é", PreviewMax) + `'... (70 characters)})`},
		{"spawn a long argument with escapes", op(spawnOp(&socklabv1.SpawnOp{Argv: []string{strings.Repeat("\t", 61)}})),
			`spawn(['` + strings.Repeat(`\t`, PreviewMax/2) + `'... (61 characters)])`},
		{"write", op(writeOp("hi\n")), `write(b'hi\n')`},
		{"write from payload", op(writeOp(""), payload("hello", 5)), "write(b'hello')"},
		{"write long", op(writeOp(""), payload(strings.Repeat("a", 100), 100)),
			"write(b'" + strings.Repeat("a", PreviewMax) + "'... (100 bytes))"},
		{"close_stdin", op(closeStdinOp), "close_stdin()"},
		{"signal", op(signalOp("SIGTERM")), "signal('SIGTERM')"},
		{"kill", op(killOp), "kill()"},
		{"wait", op(waitOp), "wait()"},
		{"stdout", op(stdoutOp), "stdout()"},
		{"stderr", op(stderrOp), "stderr()"},
		{"cpu_seconds", op(cpuOp), "cpu_seconds()"},
		{"rss", op(rssOp), "rss()"},
		{"alive", op(aliveOp), "alive()"},
		{"wait_output literal", op(waitOutputOp(&socklabv1.WaitOutputOp{Literal: []byte("ready\n")})), `wait_output(b'ready\n')`},
		{"wait_output regexp", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: `listening on \d+`})), `wait_output(r'listening on \d+')`},
		{"wait_output plain regexp", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: "ready|set"})), "wait_output('ready|set')"},
		{"wait_output regexp with a quote", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: `it's \w+`})), `wait_output(r"it's \w+")`},
		{"wait_output regexp ending in a backslash", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: `a\`})), `wait_output('a\\')`},
		{"wait_output regexp with a newline", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: "\\d\n"})), `wait_output('\\d\n')`},
		{"wait_output stderr", op(waitOutputOp(&socklabv1.WaitOutputOp{Literal: []byte("Traceback"), Stderr: true})),
			"wait_output(b'Traceback', stderr = True)"},
		{"wait_listening", op(waitListeningOp(8080, "")), "wait_listening(8080)"},
		{"wait_listening tcp", op(waitListeningOp(8080, "tcp")), "wait_listening(8080)"},
		{"wait_listening udp", op(waitListeningOp(9000, "udp")), "wait_listening(9000, 'udp')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Call(tc.ev); got != tc.want {
				t.Errorf("Call() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessOutcome(t *testing.T) {
	spawn := op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3"}}))
	for _, tc := range []struct {
		name string
		ev   *socklabv1.Event
		want string
	}{
		{"spawn", op(spawn.Operation, result(&socklabv1.Result{Handle: 3, Value: 4242,
			Containment: "pid and mount namespaces, uid 1879048203, cgroups (pids, memory), rlimits"})), "p3 (pid 4242)"},
		{"spawn handle on event", op(spawn.Operation, result(&socklabv1.Result{Value: 7}), func(ev *socklabv1.Event) { ev.Handle = 4 }),
			"p4 (pid 7)"},
		{"spawn cannot start", op(spawn.Operation, sockErr("error", 0, "start job: fork/exec /nope: no such file or directory")),
			"error: start job: fork/exec /nope: no such file or directory"},
		{"write", op(writeOp("hi\n"), result(&socklabv1.Result{Value: 3})), "3"},
		{"write broken pipe", op(writeOp("hi\n"), sockErr("EPIPE", 32, "Broken pipe")), "EPIPE [Errno 32] Broken pipe"},
		{"close_stdin", op(closeStdinOp), "None"},
		{"signal", op(signalOp("SIGTERM")), "None"},
		{"kill", op(killOp), "None"},
		{"wait exit 0", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{}, Seconds: 0.02})), "exit 0"},
		{"wait exit 2", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: 2}})), "exit 2"},
		{"wait signal", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: -1, Signal: "SIGTERM"}})), "SIGTERM"},
		{"wait killed by the agent", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: -1, Signal: "SIGKILL",
			Reason: "wall time limit (60s)"}})), "SIGKILL (wall time limit (60s))"},
		{"stdout", op(stdoutOp, result(&socklabv1.Result{BytesValue: []byte("hello\n"), Value: 6})), `b'hello\n'`},
		{"stdout empty", op(stdoutOp, result(&socklabv1.Result{})), "b''"},
		{"wait at limits", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: -1, Signal: "SIGKILL",
			Reason: "wall time limit (1s)", Limits: []string{"memory limit (64 MiB)", "stdout beyond 1 MiB dropped (5000000 bytes in all)"}}})),
			"SIGKILL (wall time limit (1s); memory limit (64 MiB); stdout beyond 1 MiB dropped (5000000 bytes in all))"},
		{"wait at the CPU limit", op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: -1, Signal: "SIGXCPU",
			Limits: []string{"CPU time limit (1s)"}}})), "SIGXCPU (CPU time limit (1s))"},
		{"stdout capped", op(stdoutOp, result(&socklabv1.Result{BytesValue: []byte("abc"), Value: 2 << 20})), "b'abc' of 2097152 written"},
		{"stdout capped long", op(stdoutOp, result(&socklabv1.Result{BytesValue: []byte(strings.Repeat("y", 100)), Value: 2 << 20})),
			"b'" + strings.Repeat("y", PreviewMax) + "'... (100 bytes) of 2097152 written"},
		{"stderr", op(stderrOp, result(&socklabv1.Result{BytesValue: []byte("Traceback"), Value: 9})), "b'Traceback'"},
		{"stderr long", op(stderrOp, result(&socklabv1.Result{BytesValue: []byte(strings.Repeat("e", 100)), Value: 100})),
			"b'" + strings.Repeat("e", PreviewMax) + "'... (100 bytes)"},
		{"cpu_seconds", op(cpuOp, result(&socklabv1.Result{Seconds: 0.25})), "0.25"},
		{"cpu_seconds none", op(cpuOp, result(&socklabv1.Result{})), "0.0"},
		{"rss", op(rssOp, result(&socklabv1.Result{Value: 9 << 20})), "9437184"},
		{"alive", op(aliveOp, result(&socklabv1.Result{Value: 1})), "True"},
		{"not alive", op(aliveOp, result(&socklabv1.Result{})), "False"},
		{"wait_output", op(waitOutputOp(&socklabv1.WaitOutputOp{Regexp: `listening on \d+`}),
			result(&socklabv1.Result{BytesValue: []byte("listening on 8080")})), "b'listening on 8080'"},
		{"wait_output ended first", op(waitOutputOp(&socklabv1.WaitOutputOp{Literal: []byte("ready")}), ended),
			"error: the process ended (exit 1) before its stdout held b'ready'"},
		{"wait_listening", op(waitListeningOp(8080, "tcp"), result(&socklabv1.Result{Sockets: []*socklabv1.KernelSocket{
			{Protocol: "tcp", State: "LISTEN", Local: addr("127.5.0.2", 8080)}}})), "1 row(s): tcp LISTEN 127.5.0.2:8080"},
		{"wait_listening udp", op(waitListeningOp(9000, "udp"), result(&socklabv1.Result{Sockets: []*socklabv1.KernelSocket{
			{Protocol: "udp", State: "UNCONN", Local: addr("0.0.0.0", 9000)}, {Protocol: "udp6", State: "UNCONN", Local: addr("::", 9000)}}})),
			"2 row(s): udp UNCONN 0.0.0.0:9000, udp6 UNCONN [::]:9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Outcome(tc.ev); got != tc.want {
				t.Errorf("Outcome() = %q, want %q", got, tc.want)
			}
		})
	}
}

// background is a process's event on the session's stream: its output or its end.
func background(opName, note, data string) *socklabv1.Event {
	return &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Op: opName, Note: note,
		Payload: []byte(data), PayloadLength: uint64(len(data))}
}

func TestProcessEntries(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name string
		e    transcript.Entry
		want string
	}{
		{"spawn leaves the handle column empty", at(0, "server", 3, op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "server.py"}}),
			result(&socklabv1.Result{Handle: 3, Value: 4242}))),
			"  0.000000  server  127.5.0.2          spawn(['python3', 'server.py'])  -> p3 (pid 4242)\n"},
		{"a method names the process", at(0, "server", 3, op(signalOp("SIGTERM"))),
			"  0.000000  server  127.5.0.2  p3      signal('SIGTERM')  -> None\n"},
		{"a socket is still s", at(0, "server", 3, op(client.Close())),
			"  0.000000  server  127.5.0.2  s3      close()  -> None\n"},
		{"stdout", at(0, "server", 3, background("output", "stdout", "hello\n")),
			"  0.000000  server  127.5.0.2  p3      stdout: b'hello\\n'\n"},
		{"stderr", at(0, "server", 12, background("output", "stderr", "Traceback (most recent call last):\n")),
			"  0.000000  server  127.5.0.2  p12     stderr: b'Traceback (most recent call last):\\n'\n"},
		{"output cut to fit", at(0, "server", 3, background("output", "stdout", long)),
			"  0.000000  server  127.5.0.2  p3      stdout: b'" + strings.Repeat("x", 29) + "'... (200 bytes)\n"},
		{"output capped by the agent", at(0, "server", 3, func() *socklabv1.Event {
			ev := background("output", "stdout", "abc")
			ev.PayloadLength = 70000
			return ev
		}()), "  0.000000  server  127.5.0.2  p3      stdout: b'abc'... (70000 bytes)\n"},
		{"exit", at(0, "server", 3, background("exit", "exit 0", "")),
			"  0.000000  server  127.5.0.2  p3      exited: exit 0\n"},
		{"exit by a signal the agent sent", at(0, "server", 3, background("exit", "SIGKILL (wall time limit (60s))", "")),
			"  0.000000  server  127.5.0.2  p3      exited: SIGKILL (wall time limit (60s))\n"},
		{"a socket's background close is no process's", at(0, "server", 2, op(client.Close(), func(ev *socklabv1.Event) {
			ev.Kind, ev.Note = socklabv1.EventKind_EVENT_KIND_BACKGROUND, "closed by the agent: session closed"
		})), "  0.000000  server  127.5.0.2  s2      close()  -> None  (closed by the agent: session closed)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tx := NewText(&b, TextOptions{})
			tx.Header(transcript.Header{Lab: "lab", Hosts: hosts})
			b.Reset()
			tx.Entry(tc.e)
			if got := b.String(); got != tc.want {
				t.Errorf("Entry() = %q, want %q", got, tc.want)
			}
			if n := runes(strings.TrimSuffix(b.String(), "\n")); n > DefaultWidth {
				t.Errorf("Entry() is %d characters, want at most %d", n, DefaultWidth)
			}
		})
	}
}

// TestSpawnLine: a program given to python3 -c is cut as far as a payload would be, and
// the short arguments after it stay whole, even when the line cannot fit.
func TestSpawnLine(t *testing.T) {
	var b bytes.Buffer
	tx := NewText(&b, TextOptions{})
	tx.Header(transcript.Header{Lab: "lab", Hosts: hosts})
	b.Reset()
	tx.Entry(at(0, "server", 1, op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "-c", strings.Repeat("print(1)\n", 40), "127.222.22.2", "8080"}}),
		result(&socklabv1.Result{Handle: 1, Value: 13850}))))
	want := "  0.000000  server  127.5.0.2          spawn(['python3', '-c', 'print(1)'... (360 characters), '127.222.22.2', '8080'])  -> p1 (pid 13850)\n"
	if got := b.String(); got != want {
		t.Errorf("Entry() = %q, want %q", got, want)
	}
}

// TestProcessTranscriptGolden renders a lab that starts a server program, probes it from
// another host and stops it, as testdata/process.golden.
func TestProcessTranscriptGolden(t *testing.T) {
	exit := func(note string) *socklabv1.Event { return background("exit", note, "") }
	entries := []transcript.Entry{
		say(0.1, "the server program starts"),
		at(1.0, "server", 1, op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "server.py", "8080"},
			Files: map[string][]byte{"server.py": []byte("...")}}), result(&socklabv1.Result{Handle: 1, Value: 4242,
			Containment: "pid and mount namespaces, rlimits"}))),
		at(40.0, "server", 1, background("output", "stdout", "listening on 8080\n")),
		at(41.0, "server", 1, op(waitListeningOp(8080, "tcp"), result(&socklabv1.Result{Sockets: []*socklabv1.KernelSocket{
			{Protocol: "tcp", State: "LISTEN", Local: addr("127.5.0.2", 8080)}}}))),
		at(42.0, "client", 2, op(client.Close())),
		at(43.0, "server", 1, op(stdoutOp, result(&socklabv1.Result{BytesValue: []byte("listening on 8080\n"), Value: 18}))),
		at(44.0, "server", 1, op(cpuOp, result(&socklabv1.Result{Seconds: 0.031}))),
		at(45.0, "server", 1, op(signalOp("SIGTERM"))),
		at(46.0, "server", 1, background("output", "stderr", "Terminated\n")),
		at(47.0, "server", 1, exit("SIGTERM")),
		at(47.5, "server", 1, op(waitOp, result(&socklabv1.Result{Exit: &socklabv1.ProcessExit{Code: -1, Signal: "SIGTERM"}}))),
		at(48.0, "server", 3, op(spawnOp(&socklabv1.SpawnOp{Argv: []string{"python3", "-c", "import sys; sys.exit(1)"}}),
			result(&socklabv1.Result{Handle: 3, Value: 4250}))),
		at(80.0, "server", 3, exit("exit 1")),
		at(81.0, "server", 3, op(waitOutputOp(&socklabv1.WaitOutputOp{Literal: []byte("ready")}), ended)),
	}
	var b bytes.Buffer
	tx := NewText(&b, TextOptions{})
	tx.Header(transcript.Header{Lab: "spawn", Summary: "A program under test, probed and stopped", Hosts: hosts})
	for _, e := range entries {
		tx.Entry(e)
	}
	golden(t, "testdata/process.golden", b.String())
}
