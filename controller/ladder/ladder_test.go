package ladder_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	process.Init()
	topology.Init()
	os.Exit(m.Run())
}

// run runs a built-in lab on the local topology and returns its record.
func run(t *testing.T, name string, params ...string) *transcript.Record {
	t.Helper()
	return runOn(t, topology.Local{}, name, params...)
}

// runOn runs a built-in lab on topo.
func runOn(t *testing.T, topo topology.Topology, name string, params ...string) *transcript.Record {
	t.Helper()
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topo, runner.Options{Params: params}, runner.Discard{})
	if rec.ExitCode != transcript.ExitPassed {
		t.Fatalf("%s ended with %d: %s", name, rec.ExitCode, rec.Error)
	}
	return rec
}

// describe writes each arrow as "kind from:op -> to:op bytes".
func describe(steps []ladder.Step, arrows []ladder.Arrow) []string {
	var out []string
	for _, a := range arrows {
		s := fmt.Sprintf("%s %s:%s", a.Kind, a.From, steps[a.Send].Entry.Event.GetOp())
		if a.Recv >= 0 {
			s += fmt.Sprintf(" -> %s:%s", a.To, steps[a.Recv].Entry.Event.GetOp())
		}
		if a.Bytes > 0 {
			s += fmt.Sprintf(" %q", a.Payload)
		}
		out = append(out, s)
	}
	return out
}

// TestChatRelay: every message of chat-relay is an arrow from the step that sent it to
// the step that got it, and both ends of a connection have one number.
func TestChatRelay(t *testing.T) {
	rec := run(t, "chat-relay")
	steps, arrows := ladder.Build(rec.Entries)
	got := describe(steps, arrows)
	want := []string{
		"connect alice:connect -> server:accept",
		"connect bob:connect -> server:accept",
		`data alice:sendall -> server:recv "hi bob!\n"`,
		`data server:sendall -> bob:recv "alice: hi bob!\n"`,
		`data bob:sendall -> server:recv "hello alice\n"`,
		`data server:sendall -> alice:recv "bob: hello alice\n"`,
		"fin alice:close -> server:recv",
		`data server:sendall -> bob:recv "* alice left\n"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("arrows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range arrows {
		if s, r := steps[a.Send], steps[a.Recv]; s.Conn != a.Conn || r.Conn != a.Conn || a.Conn == 0 {
			t.Errorf("%s arrow of conn %d joins steps of conns %d and %d", a.Kind, a.Conn, s.Conn, r.Conn)
		}
		if a.Kind == ladder.Data && a.Send >= a.Recv {
			t.Errorf("data arrow from step %d to an earlier step %d", a.Send, a.Recv)
		}
	}
	conns := map[int]bool{}
	for _, s := range steps {
		if s.Conn != 0 {
			conns[s.Conn] = true
		}
	}
	if len(conns) != 2 {
		t.Errorf("%d connections numbered, want 2 (alice's and bob's)", len(conns))
	}
}

// TestDatagrams: a datagram is joined to the recvfrom that got it; one no recv got is
// lost.
func TestDatagrams(t *testing.T) {
	rec := run(t, "udp-echo")
	steps, arrows := ladder.Build(rec.Entries)
	got := describe(steps, arrows)
	for _, a := range got {
		if !strings.HasPrefix(a, "datagram ") {
			t.Errorf("udp-echo has arrow %q, want datagrams only", a)
		}
	}
	if len(got) < 2 {
		t.Errorf("udp-echo has %d arrows, want a datagram and its echo at least: %q", len(got), got)
	}

	if os.Geteuid() != 0 {
		t.Skip("lossy-udp needs network namespaces: run as root")
	}
	rec = runOn(t, topology.Netns{}, "lossy-udp")
	steps, arrows = ladder.Build(rec.Entries)
	sent, delivered, lost := 0, 0, 0
	for _, s := range steps {
		if ev := s.Entry.Event; ev != nil && ev.GetError() == nil && (ev.GetOp() == "sendto" || ev.GetOp() == "send") {
			sent++
		}
	}
	for _, a := range arrows {
		switch a.Kind {
		case ladder.Datagram:
			delivered++
		case ladder.Lost:
			lost++
			if a.Recv != -1 || a.To != "" {
				t.Errorf("a lost datagram has a receiver: %+v", a)
			}
		}
	}
	t.Logf("lossy-udp: %d sent, %d delivered, %d lost", sent, delivered, lost)
	if lost == 0 || delivered == 0 || delivered+lost != sent {
		t.Errorf("lossy-udp: %d sent, %d delivered, %d lost: want some of each, adding up", sent, delivered, lost)
	}
}

// TestReset: a close with unread data resets the connection; the peer's ECONNRESET is
// joined to that close.
func TestReset(t *testing.T) {
	rec := run(t, "rst-on-close")
	steps, arrows := ladder.Build(rec.Entries)
	got := describe(steps, arrows)
	t.Logf("rst-on-close: %q", got)
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "rst ") }) {
		t.Errorf("rst-on-close has no rst arrow: %q", got)
	}
}

// TestBuilderHoldsLittle: a long ping-pong holds nothing once each recv came.
func TestBuilderHoldsLittle(t *testing.T) {
	rec := run(t, "tcp-loop")
	var b ladder.Builder
	n := 0
	for _, e := range rec.Entries {
		_, as := b.Add(e)
		n += len(as)
	}
	if n == 0 {
		t.Fatal("tcp-loop drew no arrow")
	}
	if lost := b.End(); len(lost) != 0 {
		t.Errorf("tcp-loop lost %d datagrams", len(lost))
	}
}
