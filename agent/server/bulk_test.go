package server_test

import (
	"bytes"
	"hash/crc32"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestBulk: send_bulk and drain move megabytes on the agent itself, with matching counts
// and checksums; connect_many opens many connections in one call.
func TestBulk(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	cli, conn, lis := s.Pair("127.0.0.1")
	const n = 8 << 20
	sent := make(chan *socklabv1.Event, 1)
	go func() {
		resp, err := s.Session.Do(t.Context(), cli, client.SendBulk(n))
		if err != nil {
			t.Errorf("send_bulk: %v", err)
		}
		sent <- resp.GetEvent()
	}()
	got := s.OK(conn, client.Drain(n)).GetEvent()
	snd := <-sent
	if got.GetResult().GetValue() != n || snd.GetResult().GetValue() != n {
		t.Fatalf("drained %d of send_bulk's %d, want %d both", got.GetResult().GetValue(), snd.GetResult().GetValue(), n)
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i % 251)
	}
	if c := crc32.ChecksumIEEE(want); got.GetResult().GetChecksum() != c || snd.GetResult().GetChecksum() != c {
		t.Errorf("checksums: drain %08x, send_bulk %08x, want %08x", got.GetResult().GetChecksum(), snd.GetResult().GetChecksum(), c)
	}
	if len(got.GetPayload()) != 0 || got.GetPayloadLength() != n {
		t.Errorf("drain event payload %d bytes (length %d), want none carried, length %d", len(got.GetPayload()), got.GetPayloadLength(), n)
	}
	// After the peer closes, drain stops early at the end of the stream.
	s.OK(cli, client.SendBulk(1000))
	s.OK(cli, client.Close())
	if v := s.OK(conn, client.Drain(1<<20)).GetEvent().GetResult().GetValue(); v != 1000 {
		t.Errorf("drain past the end of the stream = %d, want the 1000 sent", v)
	}

	port := int(s.OK(lis, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	s.OK(lis, client.Listen(128))
	many := s.OK(0, client.ConnectMany("127.0.0.1", port, 50)).GetEvent()
	if hs := many.GetResult().GetHandles(); len(hs) != 50 || many.GetError() != nil {
		t.Fatalf("connect_many(50) = %d handles, error %v", len(hs), many.GetError())
	}
}

// TestServe: a listener served in the background with each behaviour answers real
// clients, and its traffic arrives on the session's event stream.
func TestServe(t *testing.T) {
	for _, tc := range []struct {
		b     socklabv1.Behaviour
		reply string
	}{
		{socklabv1.Behaviour_BEHAVIOUR_ECHO, "hello"},
		{socklabv1.Behaviour_BEHAVIOUR_UPPER, "HELLO"},
		{socklabv1.Behaviour_BEHAVIOUR_DISCARD, ""},
	} {
		t.Run(tc.b.String(), func(t *testing.T) {
			a := agenttest.Start(t)
			s := a.Session(t, 0)
			stream, err := a.Client.API().StreamEvents(t.Context(), &socklabv1.StreamEventsRequest{SessionId: s.ID})
			if err != nil {
				t.Fatal(err)
			}
			lis, port := s.Listener("127.0.0.1", 16)
			s.OK(lis, client.Serve(tc.b))
			// Two clients at once: a background server is concurrent.
			var clis []uint32
			for range 2 {
				c := s.Socket(client.Stream)
				s.OK(c, client.Connect("127.0.0.1", port))
				clis = append(clis, c)
			}
			for _, c := range clis {
				s.OK(c, client.SendAll([]byte("hello"), 0))
			}
			for _, c := range clis {
				s.OK(c, client.SetTimeout(0.3))
				got := s.Do(c, client.Recv(100, 0))
				if tc.reply == "" {
					if got.GetEvent().GetError().GetName() != "timeout" {
						t.Errorf("discard answered %q, want nothing (timeout)", got.GetData())
					}
					continue
				}
				if string(got.GetData()) != tc.reply {
					t.Errorf("%v answered %q, want %q", tc.b, got.GetData(), tc.reply)
				}
			}
			s.OK(clis[0], client.Close())
			// The stream shows the server's accepts, recvs, sends and the close. Each
			// connection's server records its events as it goes, so one's close may come
			// before the other's sendall: wait until all have come.
			ops := map[string]int{}
			seenAll := func() bool {
				return ops["accept"] == 2 && ops["recv"] >= 2 && (tc.reply == "" || ops["sendall"] >= 2) && ops["close"] > 0
			}
			deadline := time.After(5 * time.Second)
			for !seenAll() {
				resp := make(chan *socklabv1.StreamEventsResponse, 1)
				go func() { r, _ := stream.Recv(); resp <- r }()
				select {
				case r := <-resp:
					if r == nil {
						t.Fatal("the stream ended early")
					}
					for _, ev := range r.GetEvents() {
						if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND {
							ops[ev.GetOp()]++
						}
					}
				case <-deadline:
					t.Fatalf("background events within 5s: %v, want 2 accepts, 2 recvs, (unless discard) 2 sendalls and a close", ops)
				}
			}
		})
	}
}

// TestServeChat: a chat server relays each client's lines to the other clients.
func TestServeChat(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	accepted := make(chan uint32, 3)
	go func() { // keep the stream drained: background servers wait for their reader
		st, err := s.Events(t.Context())
		if err != nil {
			return
		}
		for {
			evs, err := st.Recv()
			if err != nil {
				return
			}
			for _, ev := range evs {
				if ev.GetOp() == "accept" {
					select {
					case accepted <- ev.GetResult().GetHandle():
					default:
					}
				}
			}
		}
	}()
	lis, port := s.Listener("127.0.0.1", 16)
	s.OK(lis, client.Serve(socklabv1.Behaviour_BEHAVIOUR_CHAT))
	var users []uint32
	for range 3 {
		c := s.Socket(client.Stream)
		s.OK(c, client.Connect("127.0.0.1", port))
		users = append(users, c)
	}
	for range 3 { // the server accepts all three, and each joins the room, before anyone speaks
		select {
		case h := <-accepted:
			s.AwaitRunning(h, "recv")
		case <-time.After(10 * time.Second):
			t.Fatal("the chat server did not accept three connections within 10 s")
		}
	}
	s.OK(users[0], client.SendAll([]byte("hi all\n"), 0))
	for _, u := range users[1:] {
		s.OK(u, client.SetTimeout(2))
		if got := s.OK(u, client.Recv(100, 0)).GetData(); !bytes.Equal(got, []byte("hi all\n")) {
			t.Errorf("user %d heard %q, want %q", u, got, "hi all\n")
		}
	}
	s.OK(users[0], client.SetTimeout(0.2))
	if e := s.Errno(users[0], client.Recv(100, 0)); e != "timeout" {
		t.Errorf("the speaker heard its own line back (%q), want nothing", e)
	}
}
