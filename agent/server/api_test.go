package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestAPIOperations drives the operations that complete Python's socket API (socket's
// proto, socketpair, select, recv_into, sendfile) through a real agent over gRPC, and
// checks what Python would return and what the agent refuses.
func TestAPIOperations(t *testing.T) {
	a := agenttest.Start(t)
	inet, unix := socklabv1.Family_FAMILY_INET, socklabv1.Family_FAMILY_UNIX
	const lo = "127.0.0.1"

	t.Run("socket proto", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, tc := range []struct {
			name   string
			family socklabv1.Family
			typ    socklabv1.SocketType
			proto  int
			want   string // the socket error's name; "" for none
		}{
			{"tcp", inet, client.Stream, 6, ""},
			{"udp", inet, client.Dgram, 17, ""},
			{"stream with udp", inet, client.Stream, 17, "EPROTONOSUPPORT"},
			{"unix with tcp", unix, client.Stream, 6, "EPROTONOSUPPORT"},
		} {
			if got := s.Errno(0, client.SocketProto(tc.family, tc.typ, tc.proto)); got != tc.want {
				t.Errorf("%s: socket(%v, %v, %d) raised %q, want %q", tc.name, tc.family, tc.typ, tc.proto, got, tc.want)
			}
		}
		_, err := s.Session.Do(t.Context(), 0, client.SocketProto(inet, client.Stream, 132)) // IPPROTO_SCTP
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) = %v, want InvalidArgument", err)
		}
	})

	t.Run("socketpair", func(t *testing.T) {
		s := a.Session(t, 0)
		for _, typ := range []socklabv1.SocketType{client.Stream, client.Dgram} {
			hs := s.OK(0, client.SocketPair(unix, typ)).GetEvent().GetResult().GetHandles()
			if len(hs) != 2 || hs[0] == 0 || hs[1] == 0 || hs[0] == hs[1] {
				t.Fatalf("socketpair(AF_UNIX, %v) handles = %v, want two new ones", typ, hs)
			}
			s.OK(hs[0], client.Send([]byte("ping"), 0))
			if got := s.OK(hs[1], client.Recv(10, 0)).GetData(); string(got) != "ping" {
				t.Errorf("socketpair(AF_UNIX, %v): recv = %q, want \"ping\"", typ, got)
			}
		}
		if got := s.Errno(0, client.SocketPair(inet, client.Stream)); got != "ENOTSUP" {
			t.Errorf("socketpair(AF_INET) raised %q, want ENOTSUP (errno 95, as Python names it)", got)
		}
	})

	t.Run("socketpair within the socket limit", func(t *testing.T) {
		a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) { p.MaxSockets = 3 }))
		s := a.Session(t, 0)
		s.Socket(client.Stream)
		s.Socket(client.Stream)
		_, err := s.Session.Do(t.Context(), 0, client.SocketPair(unix, client.Stream))
		if !errors.Is(err, errdefs.ErrResourceExhausted) {
			t.Fatalf("socketpair with one place left = %v, want ResourceExhausted", err)
		}
		s.OK(0, client.Socket(client.Stream)) // the refused pair took no place
	})

	t.Run("select", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, lis := s.Pair(lo)
		sel := func(read, write, except []uint32, timeout *float64) *socklabv1.Ready {
			t.Helper()
			return s.OK(0, client.Select(read, write, except, timeout)).GetEvent().GetResult().GetReady()
		}
		zero := ptr(0.0)
		if r := sel([]uint32{srv, lis}, []uint32{cli}, nil, zero); len(r.GetRead()) != 0 || !slices.Equal(r.GetWrite(), []uint32{cli}) {
			t.Errorf("select(idle) = %v, want only the client writable", r)
		}
		s.OK(cli, client.Send([]byte("hi"), 0))
		if r := sel([]uint32{lis, srv, srv}, nil, []uint32{srv}, ptr(5.0)); !slices.Equal(r.GetRead(), []uint32{srv, srv}) || len(r.GetExceptional()) != 0 {
			t.Errorf("select(data waiting) = %v, want the server readable (twice, as listed)", r)
		}
		s.OK(cli, client.Send([]byte("!"), client.MSG_OOB))
		if r := sel(nil, nil, []uint32{srv, cli}, ptr(5.0)); !slices.Equal(r.GetExceptional(), []uint32{srv}) {
			t.Errorf("select(out-of-band data) = %v, want the server exceptional", r)
		}
		c2 := s.Socket(client.Stream)
		s.OK(c2, client.Connect(lo, port(t, s, lis)))
		if r := sel([]uint32{lis}, nil, nil, ptr(5.0)); !slices.Equal(r.GetRead(), []uint32{lis}) {
			t.Errorf("select(a connection to accept) = %v, want the listener readable", r)
		}
		start := time.Now()
		if r := sel([]uint32{c2}, nil, nil, ptr(0.05)); len(r.GetRead()) != 0 {
			t.Errorf("select(nothing to read, 0.05) = %v, want nothing", r)
		}
		if waited := time.Since(start); waited < 50*time.Millisecond {
			t.Errorf("select(0.05) returned after %v, before its timeout", waited)
		}
		s.OK(c2, client.Close())
		if got := s.Errno(0, client.Select([]uint32{c2}, nil, nil, zero)); got != "EBADF" {
			t.Errorf("select on a closed socket raised %q, want EBADF", got)
		}
	})

	t.Run("select waits for a non-blocking connect", func(t *testing.T) {
		s := a.Session(t, 0)
		_, p := s.Listener(lo, 4)
		closed := s.Socket(client.Stream)
		s.OK(closed, client.Bind(lo, 0))
		shut := int(s.OK(closed, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		for _, tc := range []struct {
			port    int
			soError int64
		}{{p, 0}, {shut, 111}} {
			c := s.Socket(client.Stream)
			s.OK(c, client.SetBlocking(false))
			if got := s.Do(c, client.ConnectEx(lo, tc.port)).GetEvent().GetResult().GetValue(); got != 115 {
				t.Fatalf("non-blocking connect_ex = %d, want 115 (EINPROGRESS)", got)
			}
			r := s.OK(0, client.Select(nil, []uint32{c}, nil, ptr(5.0))).GetEvent().GetResult().GetReady()
			if !slices.Equal(r.GetWrite(), []uint32{c}) {
				t.Errorf("select for the connect to port %d = %v, want the socket writable", tc.port, r)
			}
			if got := s.OK(c, client.GetSockOpt(client.SOL_SOCKET, client.SO_ERROR)).GetEvent().GetResult().GetValue(); got != tc.soError {
				t.Errorf("SO_ERROR after the connect to port %d = %d, want %d", tc.port, got, tc.soError)
			}
		}
	})

	t.Run("select is cancelled with its request", func(t *testing.T) {
		s := a.Session(t, 0)
		h := s.Socket(client.Dgram)
		s.OK(h, client.Bind(lo, 0))
		before := openFiles(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := s.Session.Do(ctx, 0, client.Select([]uint32{h}, nil, nil, nil)); err == nil {
			t.Fatal("select(None) with nothing to read returned, want the request's deadline")
		}
		for deadline := time.Now().Add(5 * time.Second); openFiles(t) > before && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if after := openFiles(t); after > before {
			t.Errorf("open files: %d before the cancelled select, %d after", before, after)
		}
		s.OK(0, client.Select([]uint32{h}, nil, nil, ptr(0.0))) // the session goes on
	})

	t.Run("select bounds", func(t *testing.T) {
		s := a.Session(t, 0)
		many := make([]uint32, 1025)
		for i := range many {
			many[i] = uint32(i + 1)
		}
		for _, tc := range []struct {
			name string
			op   *socklabv1.Operation
			want error
		}{
			{"too many sockets", client.Select(many, nil, nil, nil), errdefs.ErrResourceExhausted},
			{"the host's handle", client.Select([]uint32{0}, nil, nil, nil), errdefs.ErrInvalidArgument},
			{"a negative timeout", client.Select(nil, nil, nil, ptr(-1.0)), errdefs.ErrInvalidArgument},
			{"an unknown handle", client.Select([]uint32{99}, nil, nil, nil), errdefs.ErrNotFound},
		} {
			if _, err := s.Session.Do(t.Context(), 0, tc.op); !errors.Is(err, tc.want) {
				t.Errorf("%s: select = %v, want %v", tc.name, err, tc.want)
			}
		}
	})

	t.Run("recv_into", func(t *testing.T) {
		s := a.Session(t, 0)
		cli, srv, _ := s.Pair(lo)
		s.OK(cli, client.Send([]byte("hello"), 0))
		resp := s.OK(srv, client.RecvInto(3, 0))
		if got, data := resp.GetEvent().GetResult().GetValue(), resp.GetData(); got != 3 || string(data) != "hel" {
			t.Errorf("recv_into(3) = %d, %q; want 3, \"hel\"", got, data)
		}
		if ev := resp.GetEvent(); string(ev.GetPayload()) != "hel" || ev.GetStreamOffset() != 0 {
			t.Errorf("recv_into's event: payload %q at offset %d, want \"hel\" at 0", ev.GetPayload(), ev.GetStreamOffset())
		}
		if ev := s.OK(srv, client.RecvInto(10, 0)).GetEvent(); ev.GetResult().GetValue() != 2 || ev.GetStreamOffset() != 3 {
			t.Errorf("the next recv_into = %d at offset %d, want 2 at 3", ev.GetResult().GetValue(), ev.GetStreamOffset())
		}
		hs := s.OK(0, client.SocketPair(unix, client.Dgram)).GetEvent().GetResult().GetHandles()
		s.OK(hs[0], client.Send([]byte("datagram"), 0))
		if res := s.OK(hs[1], client.RecvInto(4, 0)).GetEvent().GetResult(); res.GetValue() != 4 || !res.GetTruncated() {
			t.Errorf("recv_into(4) of an 8-byte datagram = %d (truncated %v), want 4, truncated", res.GetValue(), res.GetTruncated())
		}
		if _, err := s.Session.Do(t.Context(), srv, client.RecvInto(1, 0x4000)); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("recv_into with MSG_NOSIGNAL = %v, want InvalidArgument", err)
		}
	})

	t.Run("sendfile", func(t *testing.T) {
		a := agenttest.Start(t, withPrograms("sh"))
		s := a.Session(t, 0)
		data := bytes.Repeat([]byte("line one\nline two\n"), 100)
		script := "ln -s /etc/hostname out && echo x > other && ln other hard && mkdir dir && mkfifo fifo && : > empty"
		p := s.OK(0, spawnOp([]string{"sh", "-c", script}, map[string][]byte{"data.bin": data}, nil)).GetEvent().GetResult().GetHandle()
		if code := s.OK(p, procOp(&socklabv1.WaitOp{})).GetEvent().GetResult().GetExit().GetCode(); code != 0 {
			t.Fatalf("the script that makes the files exited %d: %s", code, s.OK(p, &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}).GetEvent().GetResult().GetBytesValue())
		}
		cli, srv, _ := s.Pair(lo)
		recvAll := func(n int) []byte {
			t.Helper()
			var got []byte
			for len(got) < n {
				got = append(got, s.OK(srv, client.Recv(n-len(got), 0)).GetData()...)
			}
			return got
		}
		ev := s.OK(cli, client.SendFile("data.bin", 0, nil)).GetEvent()
		if ev.GetResult().GetValue() != int64(len(data)) || ev.GetPayloadLength() != uint64(len(data)) || !bytes.HasPrefix(data, ev.GetPayload()) || len(ev.GetPayload()) == 0 {
			t.Errorf("sendfile(data.bin) = %d (payload %d bytes of %d), want %d", ev.GetResult().GetValue(), len(ev.GetPayload()), ev.GetPayloadLength(), len(data))
		}
		if got := recvAll(len(data)); !bytes.Equal(got, data) {
			t.Errorf("the peer received %d bytes that differ from the file's", len(got))
		}
		if ev := s.OK(cli, client.SendFile("data.bin", 5, ptr(uint64(4)))).GetEvent(); ev.GetResult().GetValue() != 4 || ev.GetStreamOffset() != uint64(len(data)) {
			t.Errorf("sendfile(data.bin, 5, 4) = %d at offset %d, want 4 at %d", ev.GetResult().GetValue(), ev.GetStreamOffset(), len(data))
		}
		if got := recvAll(4); string(got) != "one\n" {
			t.Errorf("sendfile(data.bin, 5, 4) sent %q, want \"one\\n\"", got)
		}
		if got := s.OK(cli, client.SendFile("empty", 0, nil)).GetEvent().GetResult().GetValue(); got != 0 {
			t.Errorf("sendfile(empty) = %d, want 0", got)
		}
		for _, tc := range []struct{ file, want string }{{"missing", "ENOENT"}, {"dir", "EISDIR"}} {
			if got := s.Errno(cli, client.SendFile(tc.file, 0, nil)); got != tc.want {
				t.Errorf("sendfile(%s) raised %q, want %s", tc.file, got, tc.want)
			}
		}
		udp := s.Socket(client.Dgram)
		blocking := s.Socket(client.Stream)
		s.OK(blocking, client.SetBlocking(false))
		for _, tc := range []struct {
			name string
			h    uint32
			file string
			want error
		}{
			{"a path outside", cli, "../data.bin", errdefs.ErrPermissionDenied},
			{"an absolute path", cli, "/etc/hostname", errdefs.ErrPermissionDenied},
			{"a link that leads outside", cli, "out", errdefs.ErrPermissionDenied},
			{"a hard link", cli, "hard", errdefs.ErrPermissionDenied},
			{"a FIFO", cli, "fifo", errdefs.ErrInvalidArgument},
			{"no name", cli, "", errdefs.ErrInvalidArgument},
			{"a datagram socket", udp, "data.bin", errdefs.ErrInvalidArgument},
			{"a non-blocking socket", blocking, "data.bin", errdefs.ErrFailedPrecondition},
		} {
			if _, err := s.Session.Do(t.Context(), tc.h, client.SendFile(tc.file, 0, nil)); !errors.Is(err, tc.want) {
				t.Errorf("%s: sendfile(%q) = %v, want %v", tc.name, tc.file, err, tc.want)
			}
		}
	})
}

// port returns the port a listener is bound to.
func port(t *testing.T, s *agenttest.Session, h uint32) int {
	t.Helper()
	return int(s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
}

// openFiles counts this process's open file descriptors: the agent's, in tests.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func ptr[T any](v T) *T { return &v }
