package sock

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// open returns a new socket of family and type on loopback, closed as the test ends.
func open(t *testing.T, family, typ int) *Socket {
	t.Helper()
	s, err := Open(family, typ, loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listener returns a TCP socket listening on loopback and its address.
func listener(t *testing.T) (*Socket, Addr) {
	t.Helper()
	lis := open(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := lis.Bind(Addr{IP: loopback}); err != nil {
		t.Fatal(err)
	}
	if err := lis.Listen(8); err != nil {
		t.Fatal(err)
	}
	addr, err := lis.LocalAddr()
	if err != nil {
		t.Fatal(err)
	}
	return lis, addr
}

// unusedPort returns a loopback address nothing listens on.
func unusedPort(t *testing.T) Addr {
	t.Helper()
	s := open(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := s.Bind(Addr{IP: loopback}); err != nil {
		t.Fatal(err)
	}
	addr, _ := s.LocalAddr()
	s.Close()
	return addr
}

// TestTimeoutModePollsFirst: with a timeout, a call that would fail at once waits for
// readiness and raises timeout, as CPython's does; blocking and non-blocking calls are
// made at once and fail with their errno.
func TestTimeoutModePollsFirst(t *testing.T) {
	const timeout = 20 * time.Millisecond
	u := open(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := u.Bind(Addr{IP: loopback}); err != nil {
		t.Fatal(err)
	}
	lis, _ := listener(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		call    func() error
		want    error
	}{
		{"recv MSG_DONTWAIT, timeout", timeout, func() error { _, err := u.Recv(t.Context(), 10, unix.MSG_DONTWAIT); return err }, ErrTimeout},
		{"recv MSG_DONTWAIT, blocking", -1, func() error { _, err := u.Recv(t.Context(), 10, unix.MSG_DONTWAIT); return err }, unix.EAGAIN},
		{"accept on UDP, timeout", timeout, func() error { _, _, err := u.Accept(t.Context()); return err }, ErrTimeout},
		{"accept on UDP, non-blocking", 0, func() error { _, _, err := u.Accept(t.Context()); return err }, unix.EOPNOTSUPP},
		{"send on a listener, timeout", timeout, func() error { _, err := lis.Send(t.Context(), []byte("x"), 0); return err }, ErrTimeout},
		{"send on a listener, blocking", -1, func() error { _, err := lis.Send(t.Context(), []byte("x"), 0); return err }, unix.EPIPE},
		{"recv on a listener, timeout", timeout, func() error { _, err := lis.Recv(t.Context(), 10, 0); return err }, ErrTimeout},
		{"recv on a listener, blocking", -1, func() error { _, err := lis.Recv(t.Context(), 10, 0); return err }, unix.ENOTCONN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u.SetTimeout(tc.timeout)
			lis.SetTimeout(tc.timeout)
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRefusedConnect: a refused blocking connect leaves the socket unconnected, as the
// kernel leaves a connect that blocked; in timeout mode it leaves what a non-blocking
// connect leaves, the end of a stream, as CPython's does.
func TestRefusedConnect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		recv    error // what recv gives after the refusal (nil: b"")
	}{
		{"blocking", -1, unix.ENOTCONN},
		{"timeout", 2 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, unix.AF_INET, unix.SOCK_STREAM)
			c.SetTimeout(tc.timeout)
			if err := c.Connect(t.Context(), unusedPort(t)); !errors.Is(err, unix.ECONNREFUSED) {
				t.Fatalf("Connect = %v, want ECONNREFUSED", err)
			}
			r, err := c.Recv(t.Context(), 10, 0)
			if !errors.Is(err, tc.recv) || tc.recv == nil && (err != nil || len(r.Data) != 0) {
				t.Errorf("Recv after the refusal = %q, %v; want %v", r.Data, err, tc.recv)
			}
		})
	}
}

// TestConnectTwice: a socket connected in timeout mode is left "connecting" by the kernel,
// so a second connect succeeds and only a third gives EISCONN, as in CPython; a blocking
// socket's second connect gives EISCONN.
func TestConnectTwice(t *testing.T) {
	_, addr := listener(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		second  error
	}{
		{"blocking", -1, unix.EISCONN},
		{"timeout", 2 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, unix.AF_INET, unix.SOCK_STREAM)
			c.SetTimeout(tc.timeout)
			if err := c.Connect(t.Context(), addr); err != nil {
				t.Fatalf("Connect = %v", err)
			}
			if err := c.Connect(t.Context(), addr); !errors.Is(err, tc.second) {
				t.Errorf("second Connect = %v, want %v", err, tc.second)
			}
			if err := c.Connect(t.Context(), addr); !errors.Is(err, unix.EISCONN) {
				t.Errorf("third Connect = %v, want EISCONN", err)
			}
		})
	}
}

// TestSetTimeoutOnClosed: settimeout on a closed socket fails with EBADF, having set the
// timeout all the same, as CPython's does.
func TestSetTimeoutOnClosed(t *testing.T) {
	s := open(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := s.SetTimeout(time.Second); err != nil {
		t.Fatalf("SetTimeout on an open socket = %v", err)
	}
	s.Close()
	if err := s.SetTimeout(0); !errors.Is(err, unix.EBADF) {
		t.Errorf("SetTimeout on a closed socket = %v, want EBADF", err)
	}
	if got := s.Timeout(); got != 0 {
		t.Errorf("Timeout after a failed SetTimeout(0) = %v, want 0", got)
	}
}
