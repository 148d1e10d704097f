package report_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/report"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// ports matches the port of a rendered address, which the kernel chose.
var ports = regexp.MustCompile(`', \d+\)`)

// TestAgentEvents renders the events of a real agent's operations on loopback sockets, so
// that Call and Outcome keep up with what the agent records (the payload moved out of a
// send's operation, connect_ex's errno as a value, a truncated datagram).
func TestAgentEvents(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	const lo = "127.0.0.1"
	var got []string
	do := func(h uint32, o *socklabv1.Operation) *socklabv1.Event {
		t.Helper()
		ev := s.Do(h, o).GetEvent()
		got = append(got, ports.ReplaceAllString(report.Call(ev)+" -> "+report.Outcome(ev), "', PORT)"))
		return ev
	}

	lis := do(0, client.Socket(client.Stream)).GetResult().GetHandle()
	do(lis, client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1))
	do(lis, client.Bind(lo, 0))
	do(lis, client.Listen(5))
	port := int(do(lis, client.GetSockName()).GetResult().GetAddress().GetPort())
	cli := do(0, client.Socket(client.Stream)).GetResult().GetHandle()
	do(cli, client.Connect(lo, port))
	srv := do(lis, client.Accept()).GetResult().GetHandle()
	do(cli, client.SendAll([]byte("hello\n"), 0))
	do(srv, client.Recv(1024, client.MSG_PEEK))
	do(srv, client.Recv(1024, 0))
	do(srv, client.Send([]byte("HELLO"), 0))
	do(cli, client.Recv(1024, 0))
	do(srv, client.SetTimeout(0.05))
	do(srv, client.GetTimeout())
	do(srv, client.Recv(1024, 0))
	do(cli, client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_WR))
	do(srv, client.Recv(1024, 0))
	do(srv, client.GetSockOpt(client.SOL_SOCKET, client.SO_ERROR))

	closed := do(0, client.Socket(client.Stream)).GetResult().GetHandle()
	do(closed, client.Bind(lo, 0))
	closedPort := int(s.OK(closed, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	probe := do(0, client.Socket(client.Stream)).GetResult().GetHandle()
	do(probe, client.ConnectEx(lo, closedPort))
	probe2 := s.Socket(client.Stream)
	do(probe2, client.Connect(lo, closedPort))

	u1 := do(0, client.Socket(client.Dgram)).GetResult().GetHandle()
	do(u1, client.Bind(lo, 0))
	uport := int(s.OK(u1, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	u2 := s.Socket(client.Dgram)
	do(u2, client.SendTo(bytes.Repeat([]byte("x"), 100), 0, lo, uport))
	do(u1, client.RecvFrom(10, 0))
	do(u1, client.GetBlocking())
	do(u1, client.SetBlocking(false))
	do(u1, client.GetBlocking())
	do(u1, client.RecvFrom(10, 0))
	do(u1, client.Close())

	want := []string{
		"socket(AF_INET, SOCK_STREAM) -> s1",
		"setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) -> None",
		"bind(('127.0.0.1', PORT)) -> None",
		"listen(5) -> None",
		"getsockname() -> ('127.0.0.1', PORT)",
		"socket(AF_INET, SOCK_STREAM) -> s2",
		"connect(('127.0.0.1', PORT)) -> None",
		"accept() -> (s3, ('127.0.0.1', PORT))",
		"sendall(b'hello\\n') -> None",
		"recv(1024, MSG_PEEK) -> b'hello\\n'",
		"recv(1024) -> b'hello\\n'",
		"send(b'HELLO') -> 5",
		"recv(1024) -> b'HELLO'",
		"settimeout(0.05) -> None",
		"gettimeout() -> 0.05",
		"recv(1024) -> timeout: timed out",
		"shutdown(SHUT_WR) -> None",
		"recv(1024) -> b''",
		"getsockopt(SOL_SOCKET, SO_ERROR) -> 0",
		"socket(AF_INET, SOCK_STREAM) -> s4",
		"bind(('127.0.0.1', PORT)) -> None",
		"socket(AF_INET, SOCK_STREAM) -> s5",
		"connect_ex(('127.0.0.1', PORT)) -> 111",
		"connect(('127.0.0.1', PORT)) -> ECONNREFUSED [Errno 111] Connection refused",
		"socket(AF_INET, SOCK_DGRAM) -> s7",
		"bind(('127.0.0.1', PORT)) -> None",
		"sendto(b'" + string(bytes.Repeat([]byte("x"), report.PreviewMax)) + "'... (100 bytes), ('127.0.0.1', PORT)) -> 100",
		"recvfrom(10) -> (b'xxxxxxxxxx', ('127.0.0.1', PORT)) [truncated: 100-byte datagram]",
		"getblocking() -> True",
		"setblocking(False) -> None",
		"getblocking() -> False",
		"recvfrom(10) -> EAGAIN [Errno 11] Resource temporarily unavailable",
		"close() -> None",
	}
	if len(got) != len(want) {
		t.Errorf("got %d events, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("event %d = %q, want %q", i+1, got[i], want[i])
		}
	}
}
