package server_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestHostIdentity: sockets of an agent whose host address is 127.0.0.3 reach their peers
// from 127.0.0.3, as if the agent were its own machine, for TCP and UDP alike.
func TestHostIdentity(t *testing.T) {
	a := agenttest.Start(t, agenttest.HostIP("127.0.0.3"))
	s := a.Session(t, 0)

	t.Run("tcp", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		accepted := make(chan net.Addr, 1)
		go func() {
			c, err := lis.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c.RemoteAddr()
			c.Close()
		}()
		h := s.Socket(client.Stream)
		s.OK(h, client.Connect("127.0.0.1", lis.Addr().(*net.TCPAddr).Port))
		got := <-accepted
		if ip := got.(*net.TCPAddr).IP.String(); ip != "127.0.0.3" {
			t.Errorf("the peer sees the connection from %s, want 127.0.0.3", ip)
		}
		if l := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress(); l.GetHost() != "127.0.0.3" {
			t.Errorf("getsockname = %v, want 127.0.0.3", l)
		}
	})

	t.Run("udp", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		h := s.Socket(client.Dgram)
		s.OK(h, client.SendTo([]byte("hi"), 0, "127.0.0.1", pc.LocalAddr().(*net.UDPAddr).Port))
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 16)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if ip := from.(*net.UDPAddr).IP.String(); ip != "127.0.0.3" || string(buf[:n]) != "hi" {
			t.Errorf("got %q from %s, want \"hi\" from 127.0.0.3", buf[:n], ip)
		}
	})

	t.Run("listen without bind", func(t *testing.T) {
		h := s.Socket(client.Stream)
		s.OK(h, client.Listen(1))
		if l := s.OK(h, client.GetSockName()).GetEvent().GetResult().GetAddress(); l.GetHost() != "127.0.0.3" || l.GetPort() == 0 {
			t.Errorf("getsockname of a listener never bound = %v, want 127.0.0.3 with a port", l)
		}
	})

	t.Run("explicit bind wins", func(t *testing.T) {
		h := s.Socket(client.Stream)
		s.OK(h, client.Bind("127.0.0.1", 0))
		lis, port := s.Listener("127.0.0.3", 1)
		s.OK(h, client.Connect("127.0.0.3", port))
		if from := s.OK(lis, client.Accept()).GetEvent().GetResult().GetAddress(); from.GetHost() != "127.0.0.1" {
			t.Errorf("accepted from %v, want 127.0.0.1 (the socket's own bind)", from)
		}
	})
}

// blockedRecv starts a recv on h that blocks, and returns once the agent runs it. The
// returned expect checks the recv: still blocked (want ""), or returned with want.
func blockedRecv(t *testing.T, s *agenttest.Session, h uint32) (expect func(want string)) {
	t.Helper()
	done := make(chan *socklabv1.PerformResponse, 1)
	go func() {
		resp, err := s.Session.Do(context.Background(), h, client.Recv(100, 0))
		if err != nil {
			t.Errorf("recv: %v", err)
		}
		done <- resp
	}()
	s.AwaitRunning(h, "recv") // the recv holds its lane before anything else starts
	return func(want string) {
		t.Helper()
		if want == "" {
			select {
			case <-done:
				t.Fatal("the blocked recv returned before anything was sent to it")
			default:
			}
			return
		}
		select {
		case resp := <-done:
			if string(resp.GetData()) != want {
				t.Errorf("blocked recv = %q, want %q", resp.GetData(), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the blocked recv never returned")
		}
	}
}

// TestSendNeverWaitsBehindRecv: while a recv blocks on a socket, a send on the same socket
// goes through, and the blocked recv then gets the reply.
func TestSendNeverWaitsBehindRecv(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	cli, conn, _ := s.Pair("127.0.0.1")

	expect := blockedRecv(t, s, cli)
	s.OK(cli, client.Send([]byte("ping"), 0))
	if got := s.OK(conn, client.Recv(100, 0)).GetData(); string(got) != "ping" {
		t.Fatalf("peer recv = %q, want %q", got, "ping")
	}
	expect("")
	s.OK(conn, client.Send([]byte("pong"), 0))
	expect("pong")
}

// TestControlNeverWaitsBehindRecv: while a recv blocks on a socket, its control
// operations (options, names, timeouts) still run.
func TestControlNeverWaitsBehindRecv(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	cli, conn, _ := s.Pair("127.0.0.1")

	expect := blockedRecv(t, s, cli)
	s.OK(cli, client.GetTimeout())
	s.OK(cli, client.GetSockName())
	s.OK(cli, client.SetSockOpt(client.IPPROTO_TCP, client.TCP_NODELAY, 1))
	expect("")
	s.OK(conn, client.Send([]byte("done"), 0))
	expect("done")
}

// TestCancelBlockingOperation: a blocking recv ends when its RPC is cancelled; the socket
// stays usable and the session's stream records the cancelled operation.
func TestCancelBlockingOperation(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	cli, conn, _ := s.Pair("127.0.0.1")

	stream, err := a.Client.API().StreamEvents(t.Context(), &socklabv1.StreamEventsRequest{SessionId: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Session.Do(ctx, conn, client.Recv(10, 0))
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) {
		t.Fatalf("recv with a 100ms deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled recv took %v to return", d)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ev := resp.GetEvents()[0]
	if ev.GetOp() != "recv" || ev.GetError().GetName() != "cancelled" || ev.GetHandle() != conn {
		t.Errorf("stream event = %s on %d error %v, want the cancelled recv on %d", ev.GetOp(), ev.GetHandle(), ev.GetError(), conn)
	}
	// The socket still works, in order, for the next operation on the same lane.
	s.OK(cli, client.Send([]byte("after"), 0))
	if got := s.OK(conn, client.Recv(10, 0)).GetData(); string(got) != "after" {
		t.Errorf("recv after a cancelled recv = %q, want %q", got, "after")
	}
}

// TestSequenceOrder: operations that arrive out of order start in seq order, and a seq
// cannot be used twice.
func TestSequenceOrder(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	cli, conn, _ := s.Pair("127.0.0.1")
	seq := s.LastSeq(cli)
	errs := make(chan error, 2)
	send := func(seq uint64, data string) {
		_, err := a.Client.API().Perform(context.Background(), &socklabv1.PerformRequest{
			SessionId: s.ID, Handle: cli, Seq: seq, Operation: client.Send([]byte(data), 0)})
		errs <- err
	}
	go send(seq+2, "b") // arrives first, must wait for seq+1
	s.AwaitWaiting(cli, 1)
	go send(seq+1, "a")
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := s.OK(conn, client.Recv(2, client.MSG_WAITALL)).GetData(); string(got) != "ab" {
		t.Errorf("peer received %q, want %q: seq order not kept", got, "ab")
	}
	_, err := a.Client.API().Perform(context.Background(), &socklabv1.PerformRequest{
		SessionId: s.ID, Handle: cli, Seq: seq + 1, Operation: client.GetTimeout()})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("reused seq: %v, want InvalidArgument", err)
	}
}
