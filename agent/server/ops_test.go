package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/kernel"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestOperations drives every operation through a real agent over gRPC, on real TCP and
// UDP sockets, and checks what Python would return.
func TestOperations(t *testing.T) {
	a := agenttest.Start(t)
	const lo = "127.0.0.1"

	t.Run("socket", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, typ := range []socklabv1.SocketType{client.Stream, client.Dgram} {
			ev := s.OK(0, client.Socket(typ)).GetEvent()
			if ev.GetResult().GetHandle() == 0 || ev.GetHandle() != ev.GetResult().GetHandle() {
				t.Errorf("socket(%v) handle = %d, event handle %d, want the same non-zero", typ, ev.GetResult().GetHandle(), ev.GetHandle())
			}
			want := map[socklabv1.SocketType]int64{client.Stream: 1, client.Dgram: 2}[typ]
			if got := s.OK(ev.GetHandle(), client.GetSockOpt(client.SOL_SOCKET, client.SO_TYPE)).GetEvent().GetResult().GetValue(); got != want {
				t.Errorf("getsockopt(SO_TYPE) = %d, want %d", got, want)
			}
		}
	})

	t.Run("setsockopt/getsockopt", func(t *testing.T) {
		s := a.Session(t, 0)
		tcp := s.Socket(client.Stream)
		udp := s.Socket(client.Dgram)
		for _, tc := range []struct {
			name        string
			h           uint32
			level, opt  int
			set         int64
			want        int64
			wantSymbol  string
			compareLess bool // the kernel may round the value up (buffer sizes are doubled)
		}{
			{"SO_REUSEADDR", tcp, client.SOL_SOCKET, client.SO_REUSEADDR, 1, 1, "SO_REUSEADDR", false},
			{"TCP_NODELAY", tcp, client.IPPROTO_TCP, client.TCP_NODELAY, 1, 1, "TCP_NODELAY", false},
			{"SO_KEEPALIVE", tcp, client.SOL_SOCKET, client.SO_KEEPALIVE, 1, 1, "SO_KEEPALIVE", false},
			{"SO_BROADCAST", udp, client.SOL_SOCKET, client.SO_BROADCAST, 1, 1, "SO_BROADCAST", false},
			{"IP_TTL", udp, client.IPPROTO_IP, client.IP_TTL, 7, 7, "IP_TTL", false},
			{"SO_REUSEPORT", udp, client.SOL_SOCKET, 15, 1, 1, "SO_REUSEPORT", false},
			{"TCP_KEEPIDLE", tcp, client.IPPROTO_TCP, 4, 30, 30, "TCP_KEEPIDLE", false},
			{"TCP_USER_TIMEOUT", tcp, client.IPPROTO_TCP, 18, 5000, 5000, "TCP_USER_TIMEOUT", false},
			{"SO_RCVBUF", tcp, client.SOL_SOCKET, client.SO_RCVBUF, 8192, 8192 * 2, "SO_RCVBUF", false},
			{"SO_SNDBUF", udp, client.SOL_SOCKET, client.SO_SNDBUF, 8192, 8192 * 2, "SO_SNDBUF", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if before := s.OK(tc.h, client.GetSockOpt(tc.level, tc.opt)).GetEvent().GetResult().GetValue(); before == tc.want {
					t.Fatalf("getsockopt(%s) = %d before setsockopt: the test would prove nothing", tc.name, before)
				}
				ev := s.OK(tc.h, client.SetSockOpt(tc.level, tc.opt, tc.set)).GetEvent()
				if ev.GetResult().GetOptionName() != tc.wantSymbol {
					t.Errorf("setsockopt option_name = %q, want %q", ev.GetResult().GetOptionName(), tc.wantSymbol)
				}
				if got := s.OK(tc.h, client.GetSockOpt(tc.level, tc.opt)).GetEvent().GetResult().GetValue(); got != tc.want {
					t.Errorf("getsockopt(%s) = %d, want %d", tc.name, got, tc.want)
				}
			})
		}
		t.Run("SO_LINGER bytes", func(t *testing.T) {
			on := []byte{1, 0, 0, 0, 0, 0, 0, 0} // struct linger {l_onoff=1, l_linger=0}
			s.OK(tcp, client.SetSockOptBytes(client.SOL_SOCKET, client.SO_LINGER, on))
			got := s.OK(tcp, client.GetSockOptBytes(client.SOL_SOCKET, client.SO_LINGER, 8)).GetEvent().GetResult().GetBytesValue()
			if !bytes.Equal(got, on) {
				t.Errorf("getsockopt(SO_LINGER, 8) = %v, want %v", got, on)
			}
		})
		t.Run("SO_ERROR is read-only", func(t *testing.T) {
			_, err := s.Session.Do(t.Context(), tcp, client.SetSockOpt(client.SOL_SOCKET, client.SO_ERROR, 1))
			if err == nil {
				t.Fatal("setsockopt(SO_ERROR) succeeded, want InvalidArgument")
			}
		})
	})

	t.Run("bind/getsockname", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, typ := range []socklabv1.SocketType{client.Stream, client.Dgram} {
			h := s.Socket(typ)
			if got := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress(); got.GetHost() != "0.0.0.0" || got.GetPort() != 0 {
				t.Errorf("getsockname before bind = %v, want 0.0.0.0:0", got)
			}
			s.OK(h, client.Bind(lo, 0))
			got := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress()
			if got.GetHost() != lo || got.GetPort() == 0 {
				t.Errorf("getsockname after bind = %v, want %s with a port", got, lo)
			}
			if e := s.Errno(h, client.Bind(lo, 0)); e != "EINVAL" {
				t.Errorf("second bind = %q, want EINVAL", e)
			}
		}
		h := s.Socket(client.Stream)
		if e := s.Errno(h, client.Bind("127.0.0.1", 0)); e != "" {
			t.Fatalf("bind = %s", e)
		}
		port := int(s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		s.OK(h, client.Listen(1))
		if e := s.Errno(s.Socket(client.Stream), client.Bind(lo, port)); e != "EADDRINUSE" {
			t.Errorf("bind to a listening port = %q, want EADDRINUSE", e)
		}
		if e := s.Errno(s.Socket(client.Stream), client.Bind("127.0.0.1", 0)); e != "" {
			t.Errorf("bind 127.0.0.1:0 = %q, want success", e)
		}
	})

	t.Run("listen/accept/connect/getpeername", func(t *testing.T) {
		s := a.Session(t, 0)
		lis, port := s.Listener(lo, -1)
		if got := s.OK(lis, client.GetSockOpt(client.SOL_SOCKET, 30)).GetEvent().GetResult().GetValue(); got != 1 {
			t.Errorf("SO_ACCEPTCONN after listen() = %d, want 1", got)
		}
		cli := s.Socket(client.Stream)
		if e := s.Errno(cli, client.GetPeerName()); e != "ENOTCONN" {
			t.Errorf("getpeername before connect = %q, want ENOTCONN", e)
		}
		ev := s.OK(cli, client.Connect(lo, port)).GetEvent()
		if ev.GetPeer().GetPort() != uint32(port) {
			t.Errorf("connect event peer = %v, want port %d", ev.GetPeer(), port)
		}
		cliAddr := s.OK(cli, client.GetSockName()).GetEvent().GetResult().GetAddress()
		acc := s.OK(lis, client.Accept()).GetEvent()
		conn := acc.GetResult().GetHandle()
		if conn == 0 || conn == lis || conn == cli {
			t.Fatalf("accept handle = %d, want a new one", conn)
		}
		if got := acc.GetResult().GetAddress(); got.GetHost() != cliAddr.GetHost() || got.GetPort() != cliAddr.GetPort() {
			t.Errorf("accept addr = %v, want the client's %v", got, cliAddr)
		}
		if got := s.OK(cli, client.GetPeerName()).GetEvent().GetResult().GetAddress(); got.GetPort() != uint32(port) {
			t.Errorf("getpeername = %v, want port %d", got, port)
		}
		if got := s.OK(conn, client.GetTimeout()).GetEvent().GetResult(); got.TimeoutSeconds != nil {
			t.Errorf("accepted socket gettimeout = %v, want None (blocking)", got.GetTimeoutSeconds())
		}
		if e := s.Errno(cli, client.Connect(lo, port)); e != "EISCONN" {
			t.Errorf("second connect = %q, want EISCONN", e)
		}
	})

	t.Run("connect_ex", func(t *testing.T) {
		s := a.Session(t, 0)
		_, port := s.Listener(lo, 1)
		ev := s.Do(s.Socket(client.Stream), client.ConnectEx(lo, port)).GetEvent()
		if ev.GetError() != nil || ev.GetResult().GetValue() != 0 {
			t.Errorf("connect_ex to a listener = %d (%v), want 0", ev.GetResult().GetValue(), ev.GetError())
		}
	})

	t.Run("send/recv TCP", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, conn, _ := s.Pair(lo)
		ev := s.OK(cli, client.Send([]byte("hello"), 0)).GetEvent()
		if ev.GetResult().GetValue() != 5 || string(ev.GetPayload()) != "hello" || ev.GetStreamOffset() != 0 {
			t.Errorf("send = %d payload %q offset %d, want 5 \"hello\" 0", ev.GetResult().GetValue(), ev.GetPayload(), ev.GetStreamOffset())
		}
		if ev.GetOperation().GetSend().GetData() != nil {
			t.Errorf("send event keeps the data in operation too; it belongs in payload only")
		}
		resp := s.OK(conn, client.Recv(1024, 0))
		if string(resp.GetData()) != "hello" {
			t.Errorf("recv = %q, want %q", resp.GetData(), "hello")
		}
		s.OK(cli, client.Send([]byte("world"), 0))
		peek := s.OK(conn, client.Recv(3, client.MSG_PEEK)).GetEvent()
		if string(peek.GetPayload()) != "wor" || peek.GetStreamOffset() != 5 {
			t.Errorf("recv(MSG_PEEK) = %q at %d, want \"wor\" at 5", peek.GetPayload(), peek.GetStreamOffset())
		}
		ev = s.OK(conn, client.Recv(1024, 0)).GetEvent()
		if string(ev.GetPayload()) != "world" || ev.GetStreamOffset() != 5 {
			t.Errorf("recv after peek = %q at offset %d, want \"world\" at 5", ev.GetPayload(), ev.GetStreamOffset())
		}
	})

	t.Run("recv MSG_WAITALL", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, conn, _ := s.Pair(lo)
		got := make(chan *socklabv1.PerformResponse, 1)
		go func() {
			resp, _ := s.Session.Do(context.Background(), conn, client.Recv(10, client.MSG_WAITALL))
			got <- resp
		}()
		s.AwaitRunning(conn, "recv")
		s.OK(cli, client.Send([]byte("01234"), 0))
		awaitTaken(t, s, cli) // the first half arrives alone
		s.OK(cli, client.Send([]byte("56789"), 0))
		select {
		case resp := <-got:
			if string(resp.GetData()) != "0123456789" {
				t.Errorf("recv(10, MSG_WAITALL) = %q, want all ten bytes", resp.GetData())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("recv(MSG_WAITALL) did not return")
		}
	})

	t.Run("sendall large with a slow reader", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, conn, _ := s.Pair(lo)
		s.OK(cli, client.SetSockOpt(client.SOL_SOCKET, client.SO_SNDBUF, 4096))
		data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, far over the buffers
		done := make(chan *socklabv1.PerformResponse, 1)
		go func() {
			resp, _ := s.Session.Do(context.Background(), cli, client.SendAll(data, 0))
			done <- resp
		}()
		var got []byte
		for i := 0; i < 10000 && len(got) < len(data); i++ {
			got = append(got, s.OK(conn, client.Recv(64<<10, 0)).GetData()...)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, want the %d sent, in order", len(got), len(data))
		}
		ev := (<-done).GetEvent()
		if ev.GetResult().GetValue() != int64(len(data)) || ev.GetPayloadLength() != uint64(len(data)) || len(ev.GetPayload()) > 64<<10 {
			t.Errorf("sendall = %d, payload_length %d, payload %d bytes; want %d, %d, capped", ev.GetResult().GetValue(), ev.GetPayloadLength(), len(ev.GetPayload()), len(data), len(data))
		}
	})

	t.Run("non-blocking send writes part, then EAGAIN", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, _, _ := s.Pair(lo)
		s.OK(cli, client.SetSockOpt(client.SOL_SOCKET, client.SO_SNDBUF, 4096))
		s.OK(cli, client.SetBlocking(false))
		data := bytes.Repeat([]byte("x"), 8<<20)
		ev := s.OK(cli, client.Send(data, 0)).GetEvent()
		if n := ev.GetResult().GetValue(); n <= 0 || n >= int64(len(data)) {
			t.Fatalf("non-blocking send of %d bytes = %d, want part of it", len(data), n)
		}
		// The peer's receive buffer soaks up some more; once both are full: EAGAIN.
		e := ""
		for i := 0; i < 1000 && e == ""; i++ {
			e = s.Errno(cli, client.Send(data[:64<<10], 0))
		}
		if e != "EAGAIN" {
			t.Errorf("non-blocking send into full buffers = %q, want EAGAIN", e)
		}
	})

	t.Run("sendall under settimeout reports the partial count", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, _, _ := s.Pair(lo)
		s.OK(cli, client.SetTimeout(0.2))
		data := bytes.Repeat([]byte("x"), 16<<20)
		ev := s.Do(cli, client.SendAll(data, 0)).GetEvent()
		if ev.GetError().GetName() != "timeout" {
			t.Fatalf("sendall into a peer that never reads = %v, want timeout", ev.GetError())
		}
		if n := ev.GetResult().GetValue(); n <= 0 || n >= int64(len(data)) {
			t.Errorf("sendall partial count = %d, want between 0 and %d", n, len(data))
		}
	})

	t.Run("sendto/recvfrom UDP", func(t *testing.T) {
		s := a.Session(t, 0)
		rx := s.Socket(client.Dgram)
		s.OK(rx, client.Bind(lo, 0))
		port := int(s.OK(rx, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		tx := s.Socket(client.Dgram)
		ev := s.OK(tx, client.SendTo([]byte("ping"), 0, lo, port)).GetEvent()
		if ev.GetResult().GetValue() != 4 || ev.GetPeer().GetPort() != uint32(port) {
			t.Errorf("sendto = %d to %v, want 4 to port %d", ev.GetResult().GetValue(), ev.GetPeer(), port)
		}
		txAddr := s.OK(tx, client.GetSockName()).GetEvent().GetResult().GetAddress()
		resp := s.OK(rx, client.RecvFrom(1024, 0))
		from := resp.GetEvent().GetResult().GetAddress()
		if string(resp.GetData()) != "ping" || from.GetPort() != txAddr.GetPort() || from.GetHost() != txAddr.GetHost() {
			t.Errorf("recvfrom = %q from %v, want \"ping\" from %v", resp.GetData(), from, txAddr)
		}
		if resp.GetEvent().GetResult().GetDatagramLength() != 4 || resp.GetEvent().GetResult().GetTruncated() {
			t.Errorf("recvfrom datagram_length %d truncated %v, want 4 false", resp.GetEvent().GetResult().GetDatagramLength(), resp.GetEvent().GetResult().GetTruncated())
		}
		// A connected UDP socket uses send/recv.
		s.OK(tx, client.Connect(lo, port))
		s.OK(tx, client.Send([]byte("pong"), 0))
		if got := s.OK(rx, client.Recv(1024, 0)).GetData(); string(got) != "pong" {
			t.Errorf("recv on UDP = %q, want %q", got, "pong")
		}
		if e := s.Errno(s.Socket(client.Dgram), client.Send([]byte("x"), 0)); e != "EDESTADDRREQ" {
			t.Errorf("send on an unconnected UDP socket = %q, want EDESTADDRREQ", e)
		}
	})

	t.Run("sendto on connected TCP", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, conn, _ := s.Pair(lo)
		port := int(s.OK(cli, client.GetPeerName()).GetEvent().GetResult().GetAddress().GetPort())
		// Linux ignores the address of a sendto on a connected TCP socket (macOS and the
		// BSDs raise EISCONN): the byte goes to the connected peer.
		if n := s.OK(cli, client.SendTo([]byte("x"), 0, lo, port)).GetEvent().GetResult().GetValue(); n != 1 {
			t.Errorf("sendto with an address on connected TCP = %d, want 1 (Linux)", n)
		}
		if addr := s.OK(conn, client.RecvFrom(10, 0)).GetEvent().GetResult().GetAddress(); addr != nil {
			t.Errorf("recvfrom on TCP address = %v, want None", addr)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		for _, tc := range []struct {
			how            socklabv1.ShutdownHow
			peerSeesEOF    bool
			canStillSend   bool
			canStillRecvOK bool
		}{
			{socklabv1.ShutdownHow_SHUTDOWN_HOW_WR, true, false, true},
			// Linux still queues data that arrives after SHUT_RD: recv returns it.
			{socklabv1.ShutdownHow_SHUTDOWN_HOW_RD, false, true, true},
			{socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR, true, false, false},
		} {
			t.Run(tc.how.String(), func(t *testing.T) {
				s := a.Session(t, 0)
				cli, conn, _ := s.Pair(lo)
				s.OK(cli, client.Shutdown(tc.how))
				s.OK(conn, client.SetTimeout(0.2))
				r := s.Do(conn, client.Recv(10, 0)).GetEvent()
				if gotEOF := r.GetError() == nil && r.GetPayloadLength() == 0; gotEOF != tc.peerSeesEOF {
					t.Errorf("peer recv after shutdown(%v): EOF %v (error %v), want EOF %v", tc.how, gotEOF, r.GetError(), tc.peerSeesEOF)
				}
				if e := s.Errno(cli, client.Send([]byte("x"), 0)); (e == "") != tc.canStillSend {
					t.Errorf("send after shutdown(%v) = %q, want success %v", tc.how, e, tc.canStillSend)
				}
				s.OK(cli, client.SetTimeout(0.2))
				s.OK(conn, client.Send([]byte("y"), 0))
				got := s.Do(cli, client.Recv(10, 0))
				if ok := string(got.GetData()) == "y"; ok != tc.canStillRecvOK {
					t.Errorf("recv after shutdown(%v) = %q, want data %v", tc.how, got.GetData(), tc.canStillRecvOK)
				}
			})
		}
		s := a.Session(t, 0)
		if e := s.Errno(s.Socket(client.Stream), client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR)); e != "ENOTCONN" {
			t.Errorf("shutdown on an unconnected socket = %q, want ENOTCONN", e)
		}
	})

	t.Run("close", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, conn, _ := s.Pair(lo)
		ev := s.OK(cli, client.Close()).GetEvent()
		if ev.GetLocal() == nil || ev.GetPeer() == nil {
			t.Errorf("close event local %v peer %v, want both addresses", ev.GetLocal(), ev.GetPeer())
		}
		if e := s.Errno(cli, client.Send([]byte("x"), 0)); e != "EBADF" {
			t.Errorf("send after close = %q, want EBADF", e)
		}
		s.OK(cli, client.Close()) // closing twice is harmless, as in Python
		if got := s.OK(conn, client.Recv(10, 0)); len(got.GetData()) != 0 {
			t.Errorf("peer recv after close = %q, want b\"\"", got.GetData())
		}
	})

	t.Run("settimeout/setblocking/gettimeout", func(t *testing.T) {
		s := a.Session(t, 0)
		h := s.Socket(client.Stream)
		timeout := func() *float64 { return s.OK(h, client.GetTimeout()).GetEvent().GetResult().TimeoutSeconds }
		blocking := func() bool { return s.OK(h, client.GetBlocking()).GetEvent().GetResult().GetValue() == 1 }
		if got := timeout(); got != nil {
			t.Errorf("a new socket's gettimeout = %v, want None", *got)
		}
		if !blocking() {
			t.Error("a new socket's getblocking = False, want True")
		}
		s.OK(h, client.SetTimeout(2.5))
		if got := timeout(); got == nil || *got != 2.5 {
			t.Errorf("gettimeout after settimeout(2.5) = %v, want 2.5", got)
		}
		if !blocking() {
			t.Error("getblocking after settimeout(2.5) = False, want True (a timeout still blocks)")
		}
		s.OK(h, client.SetBlocking(false))
		if got := timeout(); got == nil || *got != 0 {
			t.Errorf("gettimeout after setblocking(False) = %v, want 0.0", got)
		}
		if blocking() {
			t.Error("getblocking after setblocking(False) = True, want False")
		}
		s.OK(h, client.SetBlocking(true))
		if got := timeout(); got != nil {
			t.Errorf("gettimeout after setblocking(True) = %v, want None", *got)
		}
		s.OK(h, client.SetTimeout(1))
		s.OK(h, client.SetTimeoutNone())
		if got := timeout(); got != nil {
			t.Errorf("gettimeout after settimeout(None) = %v, want None", *got)
		}
	})

	t.Run("non-blocking connect gives EINPROGRESS", func(t *testing.T) {
		s := a.Session(t, 0)
		_, port := s.Listener(lo, 1)
		h := s.Socket(client.Stream)
		s.OK(h, client.SetBlocking(false))
		if e := s.Errno(h, client.Connect(lo, port)); e != "EINPROGRESS" {
			t.Errorf("non-blocking connect = %q, want EINPROGRESS", e)
		}
	})

	t.Run("accept under settimeout times out", func(t *testing.T) {
		s := a.Session(t, 0)
		lis, _ := s.Listener(lo, 1)
		s.OK(lis, client.SetTimeout(0.1))
		ev := s.Do(lis, client.Accept()).GetEvent()
		if ev.GetError().GetName() != "timeout" || ev.GetError().GetMessage() != "timed out" {
			t.Errorf("accept with nobody connecting = %v, want timeout \"timed out\"", ev.GetError())
		}
		if d := time.Duration(ev.GetDurationNs()); d < 100*time.Millisecond {
			t.Errorf("accept timed out after %v, before its 100ms timeout", d)
		}
	})

	t.Run("events carry session, seq and timing", func(t *testing.T) {
		s := a.Session(t, 0)
		var last uint64
		for i := 0; i < 5; i++ {
			ev := s.OK(0, client.Socket(client.Dgram)).GetEvent()
			if ev.GetSessionId() != s.ID || ev.GetHost() != "test-agent" || ev.GetSeq() <= last || ev.GetStartNs() <= 0 || ev.GetDurationNs() <= 0 {
				t.Fatalf("event %d = session %q host %q seq %d (last %d) start %d duration %d", i, ev.GetSessionId(), ev.GetHost(), ev.GetSeq(), last, ev.GetStartNs(), ev.GetDurationNs())
			}
			last = ev.GetSeq()
		}
	})
}

// awaitTaken waits until what stream socket h sent has been acknowledged by its peer and
// taken from the peer's receive queue by a recv, as the kernel's socket table shows, and
// fails the test if that does not happen within 10 s.
func awaitTaken(t *testing.T, s *agenttest.Session, h uint32) {
	t.Helper()
	local := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress()
	peer := s.OK(h, client.GetPeerName()).GetEvent().GetResult().GetAddress()
	var rows []kernel.Socket
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var err error
		if rows, err = kernel.Sockets(kernel.Filter{Protocol: "tcp", Port: uint16(local.GetPort())}); err != nil {
			t.Fatalf("kernel socket table: %v", err)
		}
		sent, taken := false, false
		for _, r := range rows {
			switch {
			case r.Local.Port() == uint16(local.GetPort()) && r.Peer.Port() == uint16(peer.GetPort()):
				sent = r.SendQ == 0
			case r.Local.Port() == uint16(peer.GetPort()) && r.Peer.Port() == uint16(local.GetPort()):
				taken = r.RecvQ == 0
			}
		}
		if sent && taken {
			return
		}
	}
	t.Fatalf("handle %d's bytes still unacknowledged or unread after 10 s: %+v", h, rows)
}
