package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/python"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// pyTimeout bounds every Python peer's whole life, and every wait for one of its lines.
const pyTimeout = 10 * time.Second

// pyPeer is a running Python program, the other end of an interop test.
type pyPeer struct {
	t      testing.TB
	lines  chan string   // stdout, a line at a time; closed at EOF
	done   chan struct{} // closed once the process has been waited for
	err    error         // Wait's error, set before done closes
	stderr bytes.Buffer  // read only after done
}

// pyStart runs script under the real python3 with args, unbuffered (-u), isolated from the
// user's site and PYTHON* variables (-I), with an explicit, minimal environment. The
// process is killed after pyTimeout or when the test ends, whichever comes first.
func pyStart(t *testing.T, script string, args ...string) *pyPeer {
	t.Helper()
	exe, err := python.Find()
	if err != nil {
		t.Skipf("python3 not found: install python3 (apt-get install python3) or set %s to run interop tests: %v", python.EnvVar, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), pyTimeout)
	cmd := exec.CommandContext(ctx, exe, append([]string{"-I", "-u", "-c", script}, args...)...)
	cmd.Env = []string{"LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
	cmd.WaitDelay = time.Second
	p := &pyPeer{t: t, lines: make(chan string, 16), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("python stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", exe, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel() // kills the process if it is still running
		for range p.lines {
		}
		<-p.done
		if t.Failed() {
			t.Logf("python exited: %v; stderr:\n%s", p.err, p.stderr.String())
		}
	})
	return p
}

// line returns Python's next line of output, failing the test if none comes in time.
func (p *pyPeer) line() string {
	p.t.Helper()
	timer := time.NewTimer(pyTimeout)
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			p.t.Fatalf("python ended its output early (%v); stderr:\n%s", p.err, p.stderr.String())
		}
		return l
	case <-timer.C:
		p.t.Fatalf("python printed nothing within %v", pyTimeout)
	}
	return ""
}

// wait waits for Python to exit and fails the test unless it exited 0.
func (p *pyPeer) wait() {
	p.t.Helper()
	timer := time.NewTimer(pyTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if ok {
				p.t.Errorf("python printed an unexpected line: %q", l)
				continue
			}
			<-p.done
			if p.err != nil {
				p.t.Fatalf("python: %v; stderr:\n%s", p.err, p.stderr.String())
			}
			return
		case <-timer.C:
			p.t.Fatalf("python did not exit within %v", pyTimeout)
		}
	}
}

// pyAddr parses Python's "host port" line.
func pyAddr(t *testing.T, line string) *socklabv1.Address {
	t.Helper()
	host, port, ok := strings.Cut(line, " ")
	n, err := strconv.ParseUint(port, 10, 16)
	if !ok || err != nil {
		t.Fatalf("python printed %q, want \"HOST PORT\"", line)
	}
	return &socklabv1.Address{Host: host, Port: uint32(n)}
}

func pyAddrString(a *socklabv1.Address) string {
	if a == nil {
		return "None"
	}
	return fmt.Sprintf("('%s', %d)", a.GetHost(), a.GetPort())
}

func pySameAddr(a, b *socklabv1.Address) bool {
	return a.GetHost() == b.GetHost() && a.GetPort() == b.GetPort()
}

// pyRecvAll receives on a stream until n bytes or the end of the stream.
func pyRecvAll(t *testing.T, s *agenttest.Session, h uint32, n int) ([]byte, *socklabv1.Event) {
	t.Helper()
	var got []byte
	var last *socklabv1.Event
	for len(got) < n {
		resp := s.OK(h, client.Recv(1024, 0))
		last = resp.GetEvent()
		if len(resp.GetData()) == 0 {
			break
		}
		got = append(got, resp.GetData()...)
	}
	return got, last
}

// pyPrelude starts every script: the modules they use and out, which prints one line and
// flushes it (the scripts run with -u too, so output never waits in a buffer).
const pyPrelude = `
import socket, sys
def out(*a):
    print(*a, flush=True)
`

// TestPythonInterop exchanges data between the agent and a real Python program, both
// ways, over TCP and UDP on loopback: each side must see exactly the bytes and addresses
// the other sent from.
func TestPythonInterop(t *testing.T) {
	if _, err := python.Find(); err != nil {
		t.Skipf("python3 not found: install python3 (apt-get install python3) or set %s to run interop tests: %v", python.EnvVar, err)
	}
	a := agenttest.Start(t)
	const lo = "127.0.0.1"

	t.Run("TCP python client to agent listener", func(t *testing.T) {
		s := a.Session(t, 0)
		lis, port := s.Listener(lo, 1)
		py := pyStart(t, pyPrelude+`
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
out(*c.getsockname())
c.sendall(b"hello")
data = b""
while len(data) < 5:
    chunk = c.recv(1024)
    if not chunk:
        break
    data += chunk
out(repr(data))
c.close()
`, strconv.Itoa(port))
		acc := s.OK(lis, client.Accept()).GetEvent()
		conn := acc.GetResult().GetHandle()
		pyLocal := pyAddr(t, py.line())
		if !pySameAddr(acc.GetPeer(), pyLocal) || !pySameAddr(acc.GetResult().GetAddress(), pyLocal) {
			t.Errorf("accept peer = %s (result %s), want the Python client's %s", pyAddrString(acc.GetPeer()), pyAddrString(acc.GetResult().GetAddress()), pyAddrString(pyLocal))
		}
		got, ev := pyRecvAll(t, s, conn, 5)
		if string(got) != "hello" {
			t.Errorf("recv = %q, want %q", got, "hello")
		}
		if !pySameAddr(ev.GetPeer(), pyLocal) {
			t.Errorf("recv event peer = %s, want the Python client's %s", pyAddrString(ev.GetPeer()), pyAddrString(pyLocal))
		}
		s.OK(conn, client.SendAll(bytes.ToUpper(got), 0))
		if l := py.line(); l != "b'HELLO'" {
			t.Errorf("python received %s, want b'HELLO'", l)
		}
		// Python closes after its reply: the stream ends with nothing more in it.
		if data := s.OK(conn, client.Recv(1024, 0)).GetData(); len(data) != 0 {
			t.Errorf("recv after python closed = %q, want b\"\"", data)
		}
		py.wait()
	})

	t.Run("TCP agent client to python server", func(t *testing.T) {
		s := a.Session(t, 0)
		py := pyStart(t, pyPrelude+`
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(10)
s.bind(("127.0.0.1", 0))
s.listen(1)
out(s.getsockname()[1])
c, addr = s.accept()
c.settimeout(10)
out(*addr)
data = b""
while len(data) < 5:
    chunk = c.recv(1024)
    if not chunk:
        break
    data += chunk
c.sendall(data.upper())
c.close()
s.close()
out(repr(data))
`)
		port, err := strconv.Atoi(py.line())
		if err != nil {
			t.Fatalf("python's first line is not its port: %v", err)
		}
		h := s.Socket(client.Stream)
		conn := s.OK(h, client.Connect(lo, port)).GetEvent()
		if want := (&socklabv1.Address{Host: lo, Port: uint32(port)}); !pySameAddr(conn.GetPeer(), want) {
			t.Errorf("connect event peer = %s, want %s", pyAddrString(conn.GetPeer()), pyAddrString(want))
		}
		local := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress()
		if seen := pyAddr(t, py.line()); !pySameAddr(seen, local) {
			t.Errorf("python accepted from %s, want the agent socket's getsockname %s", pyAddrString(seen), pyAddrString(local))
		}
		if n := s.OK(h, client.SendAll([]byte("hello"), 0)).GetEvent().GetResult().GetValue(); n != 5 {
			t.Errorf("sendall = %d, want 5", n)
		}
		got, _ := pyRecvAll(t, s, h, 5)
		if string(got) != "HELLO" {
			t.Errorf("recv = %q, want %q", got, "HELLO")
		}
		if l := py.line(); l != "b'hello'" {
			t.Errorf("python received %s, want b'hello'", l)
		}
		for i := range 2 {
			if data := s.OK(h, client.Recv(1024, 0)).GetData(); len(data) != 0 {
				t.Errorf("recv #%d after python closed = %q, want b\"\"", i+1, data)
			}
		}
		py.wait()
	})

	t.Run("UDP python client to agent", func(t *testing.T) {
		s := a.Session(t, 0)
		h := s.Socket(client.Dgram)
		s.OK(h, client.Bind(lo, 0))
		local := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress()
		py := pyStart(t, pyPrelude+`
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.bind(("127.0.0.1", 0))
out(*u.getsockname())
u.sendto(b"hello", ("127.0.0.1", int(sys.argv[1])))
data, addr = u.recvfrom(1024)
out(repr(data))
out(*addr)
u.close()
`, strconv.Itoa(int(local.GetPort())))
		pyLocal := pyAddr(t, py.line())
		resp := s.OK(h, client.RecvFrom(1024, 0))
		ev := resp.GetEvent()
		if string(resp.GetData()) != "hello" {
			t.Errorf("recvfrom = %q, want %q", resp.GetData(), "hello")
		}
		if !pySameAddr(ev.GetResult().GetAddress(), pyLocal) || !pySameAddr(ev.GetPeer(), pyLocal) {
			t.Errorf("recvfrom address = %s (event peer %s), want the Python socket's %s", pyAddrString(ev.GetResult().GetAddress()), pyAddrString(ev.GetPeer()), pyAddrString(pyLocal))
		}
		if ev.GetResult().GetDatagramLength() != 5 || ev.GetResult().GetTruncated() {
			t.Errorf("recvfrom datagram_length = %d truncated = %v, want 5, false", ev.GetResult().GetDatagramLength(), ev.GetResult().GetTruncated())
		}
		s.OK(h, client.SendTo([]byte("HELLO"), 0, pyLocal.GetHost(), int(pyLocal.GetPort())))
		if l := py.line(); l != "b'HELLO'" {
			t.Errorf("python received %s, want b'HELLO'", l)
		}
		if from := pyAddr(t, py.line()); !pySameAddr(from, local) {
			t.Errorf("python's recvfrom address = %s, want the agent socket's %s", pyAddrString(from), pyAddrString(local))
		}
		py.wait()
	})

	t.Run("UDP agent client to python server", func(t *testing.T) {
		s := a.Session(t, 0)
		py := pyStart(t, pyPrelude+`
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.bind(("127.0.0.1", 0))
out(u.getsockname()[1])
data, addr = u.recvfrom(1024)
out(*addr)
u.sendto(data.upper(), addr)
u.close()
out(repr(data))
`)
		port, err := strconv.Atoi(py.line())
		if err != nil {
			t.Fatalf("python's first line is not its port: %v", err)
		}
		h := s.Socket(client.Dgram)
		sent := s.OK(h, client.SendTo([]byte("hello"), 0, lo, port)).GetEvent()
		if n := sent.GetResult().GetValue(); n != 5 {
			t.Errorf("sendto = %d, want 5", n)
		}
		// An unbound socket's sendto binds it: that address is what Python sees.
		local := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress()
		if local.GetPort() == 0 {
			t.Fatalf("getsockname after sendto = %s, want a bound port", pyAddrString(local))
		}
		if seen := pyAddr(t, py.line()); !pySameAddr(seen, local) {
			t.Errorf("python's recvfrom address = %s, want the agent socket's getsockname %s", pyAddrString(seen), pyAddrString(local))
		}
		resp := s.OK(h, client.RecvFrom(1024, 0))
		if string(resp.GetData()) != "HELLO" {
			t.Errorf("recvfrom = %q, want %q", resp.GetData(), "HELLO")
		}
		if want := (&socklabv1.Address{Host: lo, Port: uint32(port)}); !pySameAddr(resp.GetEvent().GetResult().GetAddress(), want) {
			t.Errorf("recvfrom address = %s, want python's %s", pyAddrString(resp.GetEvent().GetResult().GetAddress()), pyAddrString(want))
		}
		if l := py.line(); l != "b'hello'" {
			t.Errorf("python received %s, want b'hello'", l)
		}
		py.wait()
	})
}

// TestPythonPeerIsBounded checks the harness itself: a Python program that would never end
// is killed when its test ends, and it ran with the explicit environment only.
func TestPythonPeerIsBounded(t *testing.T) {
	var py *pyPeer
	t.Cleanup(func() { // runs after pyStart's cleanup, which must have ended the process
		select {
		case <-py.done:
		default:
			t.Error("python still running after its test's cleanup")
		}
	})
	py = pyStart(t, pyPrelude+`
import os, time
out("ready", os.environ.get("PYTHONUNBUFFERED", "unset"))
time.sleep(3600)
`)
	// This machine sets PYTHONUNBUFFERED globally; it must not leak into the peer, whose
	// line arrives anyway because of -u and the explicit flush.
	if l := py.line(); l != "ready unset" {
		t.Errorf("python printed %q, want %q", l, "ready unset")
	}
}
