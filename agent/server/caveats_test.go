package server_test

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

const caveatsLo = "127.0.0.1"

// caveatsErr checks that ev raised the socket error name (errno, message); errno < 0
// skips the number and message "" skips the message.
func caveatsErr(t *testing.T, op string, ev *socklabv1.Event, name string, errno int32, message string) {
	t.Helper()
	e := ev.GetError()
	if e.GetName() != name || (errno >= 0 && e.GetErrno() != errno) || (message != "" && e.GetMessage() != message) {
		t.Errorf("%s raised %q errno %d %q, want %q errno %d %q", op, e.GetName(), e.GetErrno(), e.GetMessage(), name, errno, message)
	}
}

// caveatsTimeWait waits (bounded) until ss shows a TIME_WAIT connection whose local port
// is port, and fails the test if none appears. Without ss it says so and returns.
func caveatsTimeWait(t *testing.T, port int) {
	t.Helper()
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Logf("ss is not on PATH: not confirming the TIME_WAIT state of port %d", port)
		return
	}
	var out []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, err = exec.CommandContext(t.Context(), ss, "-Htan", "state", "time-wait", "sport", "=", ":"+strconv.Itoa(port)).Output()
		if err != nil {
			t.Fatalf("ss -tan: %v", err)
		}
		if strings.Contains(string(out), caveatsLo+":"+strconv.Itoa(port)+" ") {
			return
		}
	}
	t.Fatalf("no TIME_WAIT connection on local port %d after 5s; ss shows:\n%s", port, out)
}

// TestTutorialCaveats shows, at the socket level, the pitfalls Python's socket tutorial
// warns about, as a user of the agent would see them: error names, data and flags.
func TestTutorialCaveats(t *testing.T) {
	a := agenttest.Start(t)
	const lo = caveatsLo

	t.Run("EADDRINUSE while TIME_WAIT", func(t *testing.T) {
		for _, tc := range []struct {
			name            string
			oldReuse, reuse bool   // SO_REUSEADDR on the old listener, on the new socket
			want            string // bind's error name, "" for success
		}{
			{"neither sets SO_REUSEADDR", false, false, "EADDRINUSE"},
			{"only the new socket sets SO_REUSEADDR", false, true, "EADDRINUSE"},
			{"both set SO_REUSEADDR", true, true, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := a.Session(t, 0)
				lis := s.Socket(client.Stream)
				if tc.oldReuse {
					s.OK(lis, client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1))
				}
				s.OK(lis, client.Bind(lo, 0))
				s.OK(lis, client.Listen(1))
				port := int(s.OK(lis, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
				cli := s.Socket(client.Stream)
				s.OK(cli, client.Connect(lo, port))
				srv := s.OK(lis, client.Accept()).GetEvent().GetResult().GetHandle()

				// The server closes first, so the server side ends in TIME_WAIT; the client
				// sees the end of the stream, then closes too.
				s.OK(srv, client.Close())
				if data := s.OK(cli, client.Recv(1024, 0)).GetData(); len(data) != 0 {
					t.Fatalf("client recv after the server closed = %q, want b\"\"", data)
				}
				s.OK(cli, client.Close())
				s.OK(lis, client.Close())
				caveatsTimeWait(t, port)

				again := s.Socket(client.Stream)
				if tc.reuse {
					s.OK(again, client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1))
				}
				ev := s.Do(again, client.Bind(lo, port)).GetEvent()
				if tc.want == "" {
					if ev.GetError() != nil {
						t.Fatalf("bind to port %d raised %s (%s), want success", port, ev.GetError().GetName(), ev.GetError().GetMessage())
					}
					s.OK(again, client.Listen(1)) // and it serves again
					return
				}
				caveatsErr(t, "bind", ev, tc.want, 98, "Address already in use")
			})
		}
	})

	t.Run("connect to a port with no server", func(t *testing.T) {
		s := a.Session(t, 0)
		// A bound socket that does not listen holds the port, so nothing can serve on it.
		hold := s.Socket(client.Stream)
		s.OK(hold, client.Bind(lo, 0))
		port := int(s.OK(hold, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())

		ev := s.Do(s.Socket(client.Stream), client.Connect(lo, port)).GetEvent()
		caveatsErr(t, "connect", ev, "ECONNREFUSED", 111, "Connection refused")

		ev = s.Do(s.Socket(client.Stream), client.ConnectEx(lo, port)).GetEvent()
		if got := ev.GetResult().GetValue(); got != 111 {
			t.Errorf("connect_ex = %d, want 111 (ECONNREFUSED)", got)
		}
	})

	t.Run("empty TCP send", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		if n := s.OK(cli, client.Send(nil, 0)).GetEvent().GetResult().GetValue(); n != 0 {
			t.Errorf("send(b\"\") = %d, want 0", n)
		}
		s.OK(srv, client.SetTimeout(0.3))
		resp := s.Do(srv, client.Recv(1024, 0))
		if len(resp.GetData()) != 0 {
			t.Errorf("recv = %q, want nothing: an empty send sends nothing", resp.GetData())
		}
		caveatsErr(t, "recv after send(b\"\")", resp.GetEvent(), "timeout", 0, "timed out")
	})

	t.Run("empty UDP datagram", func(t *testing.T) {
		s := a.Session(t, 0)
		rcv := s.Socket(client.Dgram)
		s.OK(rcv, client.Bind(lo, 0))
		port := int(s.OK(rcv, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		snd := s.Socket(client.Dgram)
		if n := s.OK(snd, client.SendTo(nil, 0, lo, port)).GetEvent().GetResult().GetValue(); n != 0 {
			t.Errorf("sendto(b\"\") = %d, want 0", n)
		}
		from := s.OK(snd, client.GetSockName()).GetEvent().GetResult().GetAddress()
		s.OK(rcv, client.SetTimeout(5))
		resp := s.OK(rcv, client.RecvFrom(1024, 0))
		ev := resp.GetEvent()
		if len(resp.GetData()) != 0 || ev.GetResult().GetDatagramLength() != 0 || ev.GetResult().GetTruncated() {
			t.Errorf("recvfrom = %q (datagram_length %d, truncated %v), want b\"\" (0, false)", resp.GetData(), ev.GetResult().GetDatagramLength(), ev.GetResult().GetTruncated())
		}
		if got := ev.GetResult().GetAddress(); got.GetHost() != from.GetHost() || got.GetPort() != from.GetPort() || from.GetPort() == 0 {
			t.Errorf("recvfrom address = %s:%d, want the sender's getsockname %s:%d", got.GetHost(), got.GetPort(), from.GetHost(), from.GetPort())
		}
		// It was one datagram, and it is gone.
		s.OK(rcv, client.SetBlocking(false))
		caveatsErr(t, "recvfrom after the empty datagram", s.Do(rcv, client.RecvFrom(1024, 0)).GetEvent(), "EAGAIN", 11, "")
	})

	t.Run("recvfrom truncates a datagram", func(t *testing.T) {
		s := a.Session(t, 0)
		rcv := s.Socket(client.Dgram)
		s.OK(rcv, client.Bind(lo, 0))
		port := int(s.OK(rcv, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		snd := s.Socket(client.Dgram)
		msg := bytes.Repeat([]byte("0123456789"), 10)
		s.OK(snd, client.SendTo(msg, 0, lo, port))
		s.OK(rcv, client.SetTimeout(5))
		resp := s.OK(rcv, client.RecvFrom(10, 0))
		if got, want := resp.GetData(), msg[:10]; !bytes.Equal(got, want) {
			t.Errorf("recvfrom(10) = %q, want %q", got, want)
		}
		r := resp.GetEvent().GetResult()
		if !r.GetTruncated() || r.GetDatagramLength() != 100 {
			t.Errorf("recvfrom(10) truncated = %v, datagram_length = %d, want true, 100", r.GetTruncated(), r.GetDatagramLength())
		}
		s.OK(rcv, client.SetBlocking(false))
		resp = s.Do(rcv, client.RecvFrom(1024, 0))
		if len(resp.GetData()) != 0 {
			t.Errorf("recvfrom after truncation = %q, want nothing: the rest is lost", resp.GetData())
		}
		caveatsErr(t, "recvfrom after truncation", resp.GetEvent(), "EAGAIN", 11, "")
	})

	t.Run("recv returns b\"\" after the peer closes, every time", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		s.OK(cli, client.Close())
		s.OK(srv, client.SetTimeout(5)) // a recv that waited would fail with "timeout"
		for i := range 3 {
			ev := s.Do(srv, client.Recv(1024, 0)).GetEvent()
			if ev.GetError() != nil || len(ev.GetPayload()) != 0 || ev.GetPayloadLength() != 0 {
				t.Errorf("recv #%d = %q (error %v), want b\"\"", i+1, ev.GetPayload(), ev.GetError())
			}
			if d := time.Duration(ev.GetDurationNs()); d > time.Second {
				t.Errorf("recv #%d took %v, want it to return at once", i+1, d)
			}
		}
	})

	t.Run("nothing to receive", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			mode    *socklabv1.Operation
			want    string
			errno   int32
			message string
			atLeast time.Duration
		}{
			{"setblocking(False)", client.SetBlocking(false), "EAGAIN", 11, "Resource temporarily unavailable", 0},
			{"settimeout(0.2)", client.SetTimeout(0.2), "timeout", 0, "timed out", 200 * time.Millisecond},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := a.Session(t, 0)
				_, srv, _ := s.Pair(lo)
				s.OK(srv, tc.mode)
				ev := s.Do(srv, client.Recv(1024, 0)).GetEvent()
				caveatsErr(t, "recv", ev, tc.want, tc.errno, tc.message)
				if d := time.Duration(ev.GetDurationNs()); d < tc.atLeast {
					t.Errorf("recv failed after %v, want at least %v", d, tc.atLeast)
				}
			})
		}
	})

	t.Run("MSG_PEEK leaves the data", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		s.OK(cli, client.Send([]byte("peekaboo"), 0))
		for i, tc := range []struct {
			flags int
			want  string
		}{
			{client.MSG_PEEK, "peekaboo"},
			{client.MSG_PEEK, "peekaboo"},
			{0, "peekaboo"},
		} {
			if got := s.OK(srv, client.Recv(1024, tc.flags)).GetData(); string(got) != tc.want {
				t.Errorf("recv #%d (flags %#x) = %q, want %q", i+1, tc.flags, got, tc.want)
			}
		}
		s.OK(srv, client.SetBlocking(false))
		caveatsErr(t, "recv after the data was read", s.Do(srv, client.Recv(1024, 0)).GetEvent(), "EAGAIN", 11, "")
	})

	t.Run("MSG_WAITALL waits for every byte", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		first := s.OK(cli, client.Send([]byte("hello"), 0)).GetEvent()
		type result struct {
			resp *socklabv1.PerformResponse
			err  error
		}
		got := make(chan result, 1)
		go func() {
			resp, err := s.Session.Do(t.Context(), srv, client.Recv(10, client.MSG_WAITALL))
			got <- result{resp, err}
		}()
		// Half the bytes are there: a plain recv would return them; MSG_WAITALL must not.
		select {
		case r := <-got:
			t.Fatalf("recv(10, MSG_WAITALL) returned %q (%v) with only %q sent", r.resp.GetData(), r.err, "hello")
		case <-time.After(200 * time.Millisecond):
		}
		second := s.OK(cli, client.Send([]byte("world"), 0)).GetEvent()
		var r result
		select {
		case r = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("recv(10, MSG_WAITALL) did not return after all ten bytes were sent")
		}
		if r.err != nil {
			t.Fatalf("recv(10, MSG_WAITALL): %v", r.err)
		}
		if got := r.resp.GetData(); string(got) != "helloworld" {
			t.Errorf("recv(10, MSG_WAITALL) = %q, want %q", got, "helloworld")
		}
		// The recv was under way across the second send: it started before and ended after.
		ev := r.resp.GetEvent()
		if start, end := ev.GetStartNs(), ev.GetStartNs()+ev.GetDurationNs(); start > second.GetStartNs() || end < second.GetStartNs() {
			t.Errorf("recv ran from %d to %d ns, want it to span the second send at %d ns (first at %d)", start, end, second.GetStartNs(), first.GetStartNs())
		}
	})

	t.Run("MSG_WAITALL under a timeout returns what is there", func(t *testing.T) {
		// CPython runs a socket with a timeout non-blocking: it waits for readability, then
		// makes one recv, which returns what is queued even with MSG_WAITALL.
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		s.OK(cli, client.Send([]byte("hello"), 0))
		s.OK(srv, client.SetTimeout(5))
		// Wait until "hello" is queued: a peek returns as soon as it is there.
		s.OK(srv, client.Recv(5, client.MSG_PEEK))
		resp := s.OK(srv, client.Recv(10, client.MSG_WAITALL))
		if got := resp.GetData(); string(got) != "hello" {
			t.Errorf("recv(10, MSG_WAITALL) with settimeout(5) = %q, want %q", got, "hello")
		}
		if d := time.Duration(resp.GetEvent().GetDurationNs()); d > time.Second {
			t.Errorf("recv(10, MSG_WAITALL) with settimeout(5) took %v, want it to return at once", d)
		}
	})
}
