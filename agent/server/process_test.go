package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// echoUpper is a student's server as the tutorial writes it: one client, its lines
// upper-cased, on the port in $PORT.
const echoUpper = `import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(1)
print("listening", flush=True)
conn, addr = s.accept()
print("connected", flush=True)
while True:
    data = conn.recv(1024)
    if not data:
        break
    conn.sendall(data.upper())
print("client left")
`

func spawnOp(argv []string, files map[string][]byte, env map[string]string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{Argv: argv, Files: files, Env: env}}}
}

func procOp(op any) *socklabv1.Operation {
	switch o := op.(type) {
	case *socklabv1.WaitOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: o}}
	case *socklabv1.SignalOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_Signal{Signal: o}}
	case *socklabv1.WaitListeningOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: o}}
	case *socklabv1.WaitOutputOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: o}}
	case *socklabv1.CpuSecondsOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_CpuSeconds{CpuSeconds: o}}
	case *socklabv1.AliveOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_Alive{Alive: o}}
	case *socklabv1.KillOp:
		return &socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: o}}
	}
	panic(fmt.Sprintf("procOp(%T)", op))
}

func stdoutOp() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func withPrograms(programs ...string) agenttest.Option {
	return agenttest.WithPolicy(func(p *policy.Policy) { p.Programs = programs })
}

// TestSpawnServer: a student's server runs as a process; the agent sees it listen in the
// kernel's table without connecting, a socket of the same agent talks to it, its output
// is read, and a SIGTERM ends it.
func TestSpawnServer(t *testing.T) {
	a := agenttest.Start(t, withPrograms("python3"))
	s := a.Session(t, 0)
	port := freePort(t)
	ev := s.OK(0, spawnOp([]string{"python3", "server.py"}, map[string][]byte{"server.py": []byte(echoUpper)},
		map[string]string{"PORT": fmt.Sprint(port)})).GetEvent()
	if ev.GetError() != nil {
		t.Fatalf("spawn: %v", ev.GetError())
	}
	p, res := ev.GetResult().GetHandle(), ev.GetResult()
	if p == 0 || res.GetValue() <= 0 || !strings.Contains(res.GetContainment(), "namespaces") {
		t.Fatalf("spawn result = %v: want a handle, the pid and the containment", res)
	}
	rows := s.OK(p, procOp(&socklabv1.WaitListeningOp{Port: uint32(port), Protocol: "tcp"})).GetEvent().GetResult().GetSockets()
	if len(rows) != 1 || rows[0].GetState() != "LISTEN" || rows[0].GetLocal().GetPort() != uint32(port) {
		t.Fatalf("wait_listening(%d) = %v, want the server's LISTEN row", port, rows)
	}
	// The program prints after listen(): its line may follow the wait by a moment.
	s.OK(p, procOp(&socklabv1.WaitOutputOp{Literal: []byte("listening\n")}))
	if got := s.OK(p, stdoutOp()).GetEvent().GetResult().GetBytesValue(); string(got) != "listening\n" {
		t.Errorf("stdout before any client = %q, want only %q: the wait must not have connected", got, "listening\n")
	}
	c := s.Socket(client.Stream)
	s.OK(c, client.Connect("127.0.0.1", port))
	s.OK(c, client.SendAll([]byte("hello"), 0))
	if got := s.OK(c, client.Recv(5, client.MSG_WAITALL)).GetData(); string(got) != "HELLO" {
		t.Errorf("the server answered %q, want HELLO", got)
	}
	if m := s.OK(p, procOp(&socklabv1.WaitOutputOp{Regexp: `conn\w+`})).GetEvent().GetResult().GetBytesValue(); string(m) != "connected" {
		t.Errorf("wait_output = %q, want %q", m, "connected")
	}
	if alive := s.OK(p, procOp(&socklabv1.AliveOp{})).GetEvent().GetResult().GetValue(); alive != 1 {
		t.Error("alive = False while the server runs")
	}
	s.OK(p, procOp(&socklabv1.SignalOp{Name: "SIGTERM"}))
	res = s.OK(p, procOp(&socklabv1.WaitOp{})).GetEvent().GetResult()
	if res.GetExit().GetSignal() != "SIGTERM" || res.GetExit().GetCode() != -1 {
		t.Errorf("wait after SIGTERM = %v, want SIGTERM", res.GetExit())
	}
	if alive := s.OK(p, procOp(&socklabv1.AliveOp{})).GetEvent().GetResult().GetValue(); alive != 0 {
		t.Error("alive = True after the server ended")
	}
}

// TestSpawnRefused: an agent whose owner allows no programs refuses spawn, saying how
// to allow one; a bad request is InvalidArgument.
func TestSpawnRefused(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	_, err := s.Session.Do(t.Context(), 0, spawnOp([]string{"python3", "-c", "pass"}, nil, nil))
	if !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), "--allow-exec") {
		t.Errorf("spawn on an agent that allows nothing: %v, want PermissionDenied naming --allow-exec", err)
	}
	b := agenttest.Start(t, withPrograms("python3"))
	sb := b.Session(t, 0)
	for _, op := range []*socklabv1.Operation{
		spawnOp(nil, nil, nil),
		spawnOp([]string{"python3"}, map[string][]byte{"../x.py": nil}, nil),
		spawnOp([]string{"python3"}, nil, map[string]string{"SOCKLAB_HOST": "x"}),
		spawnOp([]string{"/bin/sh"}, nil, nil),
	} {
		if _, err := sb.Session.Do(t.Context(), 0, op); !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrPermissionDenied) {
			t.Errorf("spawn %v: %v, want it refused", op.GetSpawn(), err)
		}
	}
	// Limits may tighten the agent's, never loosen them.
	for _, tc := range []struct {
		limits *socklabv1.ProcessLimits
		want   string
	}{
		{&socklabv1.ProcessLimits{MemoryBytes: 1 << 40}, `spawn: limits["memory"] is 1099511627776, over this agent's limit of 536870912 bytes: a lab may only tighten it`},
		{&socklabv1.ProcessLimits{WallSeconds: 3600}, `spawn: limits["wall"] is 3600, over this agent's limit of 60 seconds: a lab may only tighten it`},
		{&socklabv1.ProcessLimits{Processes: -1}, `spawn: limits["processes"] is -1: give a positive number`},
		{&socklabv1.ProcessLimits{MemoryBytes: 4096}, `spawn: limits["memory"] is 4096 bytes: give at least 1 MiB (1 << 20)`},
	} {
		op := spawnOp([]string{"python3", "-c", "pass"}, nil, nil)
		op.GetSpawn().Limits = tc.limits
		_, err := sb.Session.Do(t.Context(), 0, op)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("spawn with limits %v: %v, want InvalidArgument saying %q", tc.limits, err, tc.want)
		}
	}
}

// TestSessionEndEndsPrograms: a program that daemonised (fork, setsid, fork) and one that
// ignores SIGTERM both end with their session, and the session's stream tells how.
func TestSessionEndEndsPrograms(t *testing.T) {
	a := agenttest.Start(t, withPrograms("python3"))
	s := a.Session(t, 0)
	const daemon = `import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000.618)
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(1000.618)
`
	p := s.OK(0, spawnOp([]string{"python3", "-c", daemon}, nil, nil)).GetEvent().GetResult().GetHandle()
	s.OK(p, procOp(&socklabv1.WaitOutputOp{Literal: []byte("ready")}))
	for deadline := time.Now().Add(5 * time.Second); len(agenttest.ProcessesWith("1000.618")) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(agenttest.ProcessesWith("1000.618")); n < 1 {
		t.Fatalf("the program's processes never ran (%d found)", n)
	}
	stream, err := s.Session.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The program's output is on the stream: once it arrives, the stream is the
	// session's, and closing the session cannot outrun it.
	first, err := stream.Recv()
	if err != nil || len(first) == 0 || first[0].GetOp() != "output" {
		t.Fatalf("the stream's first events = %v, %v; want the program's output", first, err)
	}
	if _, err := s.Session.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var exit *socklabv1.Event
	for exit == nil {
		evs, err := stream.Recv()
		if err != nil {
			t.Fatalf("the stream ended without the program's exit: %v", err)
		}
		for _, ev := range evs {
			if ev.GetOp() == "exit" && ev.GetHandle() == p {
				exit = ev
			}
		}
	}
	if !strings.Contains(exit.GetNote(), "SIGKILL") || !strings.Contains(exit.GetNote(), "session ended") {
		t.Errorf("exit event note %q, want SIGKILL (session ended)", exit.GetNote())
	}
	if left := agenttest.ProcessesWith("1000.618"); len(left) > 0 {
		t.Errorf("processes outlived their session: %v", left)
	}
}

// TestWaitListeningIsTheProgramsOwn: a port the program does not hold (here, one this
// agent's own socket listens on) never satisfies wait_listening, and a program that ends
// without listening ends the wait with an error that says so.
func TestWaitListeningIsTheProgramsOwn(t *testing.T) {
	a := agenttest.Start(t, withPrograms("python3"))
	s := a.Session(t, 0)
	_, port := s.Listener("127.0.0.1", 1)
	p := s.OK(0, spawnOp([]string{"python3", "-c", "import time; time.sleep(30)"}, nil, nil)).GetEvent().GetResult().GetHandle()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := s.Session.Do(ctx, p, procOp(&socklabv1.WaitListeningOp{Port: uint32(port)})); err == nil {
		t.Error("wait_listening found the agent's own listener as the program's")
	}
	s.OK(p, procOp(&socklabv1.KillOp{}))

	q := s.OK(0, spawnOp([]string{"python3", "-c", "print('bye')"}, nil, nil)).GetEvent().GetResult().GetHandle()
	ev := s.Do(q, procOp(&socklabv1.WaitListeningOp{Port: uint32(port)})).GetEvent()
	if e := ev.GetError(); e == nil || !strings.Contains(e.GetMessage(), "the process ended (exit 0)") {
		t.Errorf("wait_listening on a program that ended: %v, want an error saying it ended", e)
	}
}

// BenchmarkWaitListening measures how long after a program's listen() wait_listening
// returns (target <= 20 ms at the median): the program prints CLOCK_MONOTONIC right after
// listen, the test reads the same clock when the operation returns.
func BenchmarkWaitListening(b *testing.B) {
	a := agenttest.Start(b, withPrograms("python3"))
	s := a.Session(b, time.Hour)
	const prog = `import os, socket, sys, time
sys.stdin.readline()
s = socket.socket()
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(1)
print(time.clock_gettime_ns(time.CLOCK_MONOTONIC), flush=True)
time.sleep(30)
`
	var lat []time.Duration
	for b.Loop() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		op := spawnOp([]string{"python3", "-c", prog}, nil, map[string]string{"PORT": fmt.Sprint(port)})
		op.GetSpawn().Stdin = true
		p := s.OK(0, op).GetEvent().GetResult().GetHandle()
		s.OK(p, &socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{Data: []byte("go\n")}}})
		s.OK(p, procOp(&socklabv1.WaitListeningOp{Port: uint32(port)}))
		var now unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
		s.OK(p, procOp(&socklabv1.WaitOutputOp{Literal: []byte("\n")})) // the printed time is in
		got := s.OK(p, stdoutOp()).GetEvent().GetResult().GetBytesValue()
		var listened int64
		fmt.Sscan(string(got), &listened)
		lat = append(lat, time.Duration(now.Nano()-listened))
		s.OK(p, procOp(&socklabv1.KillOp{}))
		s.OK(p, procOp(&socklabv1.WaitOp{}))
	}
	slices.Sort(lat)
	med := lat[len(lat)/2]
	b.ReportMetric(float64(med.Microseconds()), "detect-p50-us")
	b.Logf("wait_listening: %d runs, detection p50 %s after listen() (target <= 20ms)", len(lat), med)
}
