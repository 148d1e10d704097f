package server_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/policy"
)

// TestHelperAcceptor is not a test: run by BenchmarkHold10kConnections as a separate
// process (the machine's 20,000-file limit is per process), it accepts and holds every
// connection to a loopback listener until its stdin closes.
func TestHelperAcceptor(t *testing.T) {
	if os.Getenv("SOCKLAB_ACCEPTOR") != "1" {
		t.Skip("helper process for BenchmarkHold10kConnections")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(lis.Addr().String() + "\n")
	var held []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // until the benchmark is done
	lis.Close()
	os.Exit(0)
}

// BenchmarkHold10kConnections: one agent opens and holds 10,000 TCP connections (their
// other ends in another process). It reports the agent process's RSS growth per
// connection (target <= 16 KiB) and the time until the process's fd count is back to its
// baseline after the session closes (target <= 1 s). Run it with
// go test -run '^$' -bench Hold10k -benchtime 1x ./agent/server/
func BenchmarkHold10kConnections(b *testing.B) {
	const n = 10000
	a := agenttest.Start(b, agenttest.WithPolicy(func(p *policy.Policy) { p.MaxSockets = n + 100 }))
	acceptor := exec.Command(os.Args[0], "-test.run", "^TestHelperAcceptor$")
	acceptor.Env = append(os.Environ(), "SOCKLAB_ACCEPTOR=1")
	stdin, err := acceptor.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := acceptor.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := acceptor.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); acceptor.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("acceptor: %v", err)
	}
	host, portStr, _ := net.SplitHostPort(strings.TrimSpace(line))
	port, _ := strconv.Atoi(portStr)

	for b.Loop() {
		s := a.Session(b, time.Hour)
		debug.FreeOSMemory() // RSS then counts what is live, not garbage
		baseFDs, baseRSS := benchFDs(b), benchRSS(b)
		start := time.Now()
		ev := s.OK(0, client.ConnectMany(host, port, n)).GetEvent()
		opened := time.Since(start)
		if got := len(ev.GetResult().GetHandles()); got != n {
			b.Fatalf("connect_many = %d connections, want %d", got, n)
		}
		debug.FreeOSMemory()
		rss := benchRSS(b)
		closeStart := time.Now()
		if _, err := s.Session.Close(b.Context()); err != nil {
			b.Fatal(err)
		}
		for benchFDs(b) > baseFDs && time.Since(closeStart) < 10*time.Second {
			time.Sleep(time.Millisecond)
		}
		freed := time.Since(closeStart)
		perConn := float64(rss-baseRSS) / n
		b.ReportMetric(perConn, "rss-B/conn")
		b.ReportMetric(float64(freed.Milliseconds()), "free-ms")
		b.ReportMetric(float64(opened.Milliseconds()), "open-ms")
		b.Logf("%d connections opened in %v; RSS +%.1f KiB per connection (target <= 16 KiB); fds back to baseline %v after close (target <= 1s)",
			n, opened.Round(time.Millisecond), perConn/1024, freed.Round(time.Millisecond))
	}
}

// benchFDs counts this process's open files.
func benchFDs(b *testing.B) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Skipf("cannot count fds: %v", err)
	}
	return len(ents)
}

// benchRSS reads this process's resident set size in bytes.
func benchRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("cannot read RSS: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	b.Skip("no VmRSS in /proc/self/status")
	return 0
}
