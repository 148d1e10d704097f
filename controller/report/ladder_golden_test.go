package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// chatRun is a small hand-built run of three hosts that shows every kind of row a ladder
// draws: a connection, its bytes and its FIN, datagrams (one lost, one to a program's
// socket, which no event shows), a failed check with its sockets, a watchdog's note, a
// program's output and exit.
func chatRun() (transcript.Header, []transcript.Entry) {
	hosts := []transcript.Host{{Role: "server", Address: "127.5.0.2"}, {Role: "alice", Address: "127.5.0.3"}, {Role: "bob", Address: "127.5.0.4"}}
	ip := map[string]string{"server": "127.5.0.2", "alice": "127.5.0.3", "bob": "127.5.0.4"}
	srv, ali := addr("127.5.0.2", 9000), addr("127.5.0.3", 40000)
	udp, bob := addr("127.5.0.2", 9001), addr("127.5.0.4", 5000)
	ms := 0.0
	var entries []transcript.Entry
	add := func(role string, h uint32, name string, ev *socklabv1.Event, mods ...func(*socklabv1.Event)) {
		ms += 0.5
		ev.Op, ev.Handle = name, h
		for _, m := range mods {
			m(ev)
		}
		entries = append(entries, transcript.Entry{Kind: transcript.Operation, At: time.Duration(ms * float64(time.Millisecond)),
			Duration: 100 * time.Microsecond, Host: role, Address: ip[role], Event: ev})
	}
	ends := func(local, peer *socklabv1.Address, off uint64) func(*socklabv1.Event) {
		return func(ev *socklabv1.Event) { ev.Local, ev.Peer, ev.StreamOffset = local, peer, off }
	}
	note := func(kind transcript.Kind, role, text string) {
		ms += 0.5
		entries = append(entries, transcript.Entry{Kind: kind, At: time.Duration(ms * float64(time.Millisecond)), Host: role, Address: ip[role], Text: text})
	}
	note(transcript.Say, "", "alice joins; the server reads her line")
	add("server", 0, "socket", op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 1})))
	add("server", 1, "bind", op(client.Bind("127.5.0.2", 9000)), func(ev *socklabv1.Event) { ev.Local = srv })
	add("server", 1, "listen", op(client.Listen(5)))
	add("alice", 0, "socket", op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 1})))
	add("alice", 1, "connect", op(client.Connect("127.5.0.2", 9000)), ends(ali, srv, 0))
	add("server", 1, "accept", op(client.Accept(), result(&socklabv1.Result{Handle: 2, Address: ali})), func(ev *socklabv1.Event) { ev.Local = srv })
	add("alice", 1, "sendall", op(client.SendAll(nil, 0), payload("hi bob!\n", 8)), ends(ali, srv, 0))
	add("server", 2, "recv", op(client.Recv(1024, 0), payload("hi bob!\n", 8)), ends(srv, ali, 0))
	add("alice", 1, "close", op(client.Close()), ends(ali, srv, 8))
	add("server", 2, "recv", op(client.Recv(1024, 0), payload("", 0)), ends(srv, ali, 8))
	ms += 0.5
	entries = append(entries, transcript.Entry{Kind: transcript.Failed, At: time.Duration(ms * float64(time.Millisecond)), Check: "relayed",
		Text: "bob got nothing", Pos: "chat.star:12", Snapshot: []*socklabv1.HostSockets{
			{Role: "server", Sockets: []*socklabv1.KernelSocket{
				{Protocol: "tcp", State: "LISTEN", Local: srv},
				{Protocol: "tcp", State: "CLOSE_WAIT", Local: srv, Peer: ali, RecvQueue: 1},
			}},
			{Role: "alice", Sockets: []*socklabv1.KernelSocket{{Protocol: "tcp", State: "FIN_WAIT2", Local: ali, Peer: srv}}},
			{Role: "bob", Error: "the host's agent stopped answering"},
		}})
	note(transcript.Say, "", "bob pings the server's UDP port twice; one ping is lost")
	add("server", 0, "socket", op(client.Socket(client.Dgram), result(&socklabv1.Result{Handle: 3})))
	add("server", 3, "bind", op(client.Bind("127.5.0.2", 9001)), func(ev *socklabv1.Event) { ev.Local = udp })
	add("bob", 0, "socket", op(client.Socket(client.Dgram), result(&socklabv1.Result{Handle: 1})))
	add("bob", 1, "sendto", op(client.SendTo(nil, 0, "127.5.0.2", 9001), payload("ping 1", 6), result(&socklabv1.Result{Value: 6})),
		func(ev *socklabv1.Event) { ev.Local, ev.Peer = bob, udp })
	add("bob", 1, "sendto", op(client.SendTo(nil, 0, "127.5.0.2", 9001), payload("ping 2", 6), result(&socklabv1.Result{Value: 6})),
		func(ev *socklabv1.Event) { ev.Local, ev.Peer = bob, udp })
	add("server", 3, "recvfrom", op(client.RecvFrom(1024, 0), payload("ping 2", 6), result(&socklabv1.Result{Address: bob, DatagramLength: 6})),
		func(ev *socklabv1.Event) { ev.Local, ev.Peer = udp, bob })
	add("bob", 1, "sendto", op(client.SendTo(nil, 0, "127.5.0.2", 7000), payload("to a program", 12), result(&socklabv1.Result{Value: 12})),
		func(ev *socklabv1.Event) { ev.Local, ev.Peer = bob, addr("127.5.0.2", 7000) })
	note(transcript.Note, "bob", "watchdog: recv got no answer and was cut short")
	add("server", 0, "spawn", op(&socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{Argv: []string{"python3", "echo.py"}}}},
		result(&socklabv1.Result{Handle: 4})))
	add("server", 4, opOutput, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Note: "stdout"}, payload("listening on 9002\n", 18))
	add("server", 4, opExit, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Note: "exit 0"})
	return transcript.Header{Lab: "chat", Summary: "a hand-built run with a row of every kind", Hosts: hosts}, entries
}

// TestLadderGolden draws chatRun as a ladder, in box-drawing characters and in ASCII,
// and compares it with testdata/ladder.golden and testdata/ladder-ascii.golden (go test
// ./controller/report -update rewrites them).
func TestLadderGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts LadderOptions
	}{
		{"testdata/ladder.golden", LadderOptions{}},
		{"testdata/ladder-ascii.golden", LadderOptions{ASCII: true}},
	} {
		h, entries := chatRun()
		var b bytes.Buffer
		l := NewLadder(&b, tc.opts)
		l.Header(h)
		for _, e := range entries {
			l.Entry(e)
		}
		l.End(&transcript.Result{Header: h, ExitCode: transcript.ExitFailed, Checks: []transcript.Check{
			{ID: "relayed", Description: "bob hears alice", MaxPoints: 1, Reached: true, Message: "bob got nothing", Pos: "chat.star:12"},
		}})
		golden(t, tc.file, b.String())
		for i, line := range strings.Split(b.String(), "\n") {
			if n := runes(line); n > 80 {
				t.Errorf("%s: line %d is %d wide, want at most 80: %q", tc.file, i+1, n, line)
			}
		}
	}
}
