package sock

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// pair returns a connected TCP pair on loopback.
func pair(t *testing.T) (cli, srv *Socket) {
	t.Helper()
	lis, err := Open(unix.AF_INET, unix.SOCK_STREAM, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	if err := lis.Bind(Addr{IP: loopback}); err != nil {
		t.Fatal(err)
	}
	if err := lis.Listen(1); err != nil {
		t.Fatal(err)
	}
	addr, _ := lis.LocalAddr()
	cli, err = Open(unix.AF_INET, unix.SOCK_STREAM, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if err := cli.Connect(t.Context(), addr); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	srv, _, err = lis.Accept(t.Context())
	if err != nil {
		t.Fatalf("Accept = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return cli, srv
}

// parkedOn returns a channel that receives (without ever blocking the socket) when an
// operation on s starts waiting for its read side; the hook is removed as the test ends.
func parkedOn(t *testing.T, s *Socket) <-chan struct{} {
	ch := make(chan struct{}, 1)
	testHookParked = func(got *Socket, sd side) {
		if got == s && sd == readSide {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	t.Cleanup(func() { testHookParked = nil })
	return ch
}

// awaitParked waits for parked, failing the test after 5 s.
func awaitParked(t *testing.T, parked <-chan struct{}) {
	t.Helper()
	select {
	case <-parked:
	case <-time.After(5 * time.Second):
		t.Fatal("the recv did not start waiting for data within 5 s")
	}
}

func TestCancelledRecvLeavesNextRecvAlone(t *testing.T) {
	cli, srv := pair(t)
	parked := parkedOn(t, srv)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		_, err := srv.Recv(ctx, 10, 0)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv with an expiring context = %v, want DeadlineExceeded", err)
		}
		// A later blocking recv must wait for data, not inherit the expired deadline.
		select {
		case <-parked: // the cancelled recv's
		default:
		}
		got := make(chan error, 1)
		go func() {
			r, err := srv.Recv(t.Context(), 10, 0)
			if err == nil && string(r.Data) != "x" {
				err = errors.New("wrong data " + string(r.Data))
			}
			got <- err
		}()
		awaitParked(t, parked)
		if _, err := cli.Send(t.Context(), []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("round %d: Recv after a cancelled one = %v", i, err)
		}
	}
}

func TestCloseWakesBlockedRecvWithEBADF(t *testing.T) {
	_, srv := pair(t)
	parked := parkedOn(t, srv)
	got := make(chan error, 1)
	go func() {
		_, err := srv.Recv(context.Background(), 10, 0)
		got <- err
	}()
	awaitParked(t, parked)
	srv.Close()
	select {
	case err := <-got:
		if !errors.Is(err, unix.EBADF) {
			t.Errorf("blocked Recv after Close = %v, want EBADF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the blocked Recv")
	}
}

func TestTimeoutMode(t *testing.T) {
	_, srv := pair(t)
	srv.SetTimeout(30 * time.Millisecond)
	start := time.Now()
	_, err := srv.Recv(t.Context(), 10, 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Recv under a 30ms timeout = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("timed out after %v, before the timeout", d)
	}
	srv.SetTimeout(0)
	if _, err := srv.Recv(t.Context(), 10, 0); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("non-blocking Recv = %v, want EAGAIN", err)
	}
}

func TestOpenRefusesOtherFamilies(t *testing.T) {
	for _, fam := range []int{unix.AF_PACKET, unix.AF_NETLINK} {
		if _, err := Open(fam, unix.SOCK_DGRAM, netip.Addr{}); !errors.Is(err, unix.EAFNOSUPPORT) {
			t.Errorf("Open(family %d) = %v, want EAFNOSUPPORT: only inet, inet6 and unix sockets", fam, err)
		}
	}
}
