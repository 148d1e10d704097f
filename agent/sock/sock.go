// Package sock holds one real operating-system socket driven with the exact semantics of
// Python's socket module on Linux.
//
// Every fd is non-blocking and owned by an *os.File, so blocking calls wait in Go's network
// poller rather than in a thread: ten thousand idle sockets cost no threads. Python's three
// modes are emulated on top, as CPython's sock_call_ex runs them: blocking (timeout None)
// and non-blocking (timeout 0) make the call at once; timeout mode (a positive duration)
// first waits for the socket to be ready, and makes the call only then. Receiving and
// sending wait on separate sides of the poller, so a send never waits behind a blocked
// recv on the same socket.
//
// Socket errors come back as unix.Errno values (ECONNREFUSED, EAGAIN, ...) or ErrTimeout,
// exactly on the call that caused them; a cancelled context comes back as the context's
// error.
package sock

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is the error of an operation whose socket timeout expired, Python's
// socket.timeout ("timed out").
var ErrTimeout = errors.New("timed out")

// DefaultBacklog is the backlog of listen() without an argument: min(SOMAXCONN, 128), as
// in CPython.
const DefaultBacklog = 128

// Addr is a socket address: an IP and a port for the inet families, a path for AF_UNIX.
type Addr struct {
	// IP is the host part; the zero Addr means "no address" (an unconnected peer).
	IP netip.Addr
	// Port is the port number.
	Port uint16
	// Path is an AF_UNIX address's filesystem path.
	Path string
}

// IsValid reports whether a holds an address.
func (a Addr) IsValid() bool { return a.IP.IsValid() || a.Path != "" }

// String formats a for messages: 127.0.0.1:8080, [::1]:8080 or the path.
func (a Addr) String() string {
	switch {
	case a.Path != "":
		return a.Path
	case !a.IP.IsValid():
		return "None"
	}
	return netip.AddrPortFrom(a.IP, a.Port).String()
}

// Socket is one OS socket. Its methods may be called from several goroutines: receiving
// and sending operations each run one at a time, independently of each other.
type Socket struct {
	family int
	typ    int
	source netip.Addr // host identity: bound before connect/send/listen when unbound

	file   *os.File
	rc     syscall.RawConn
	closed atomic.Bool
	bound  atomic.Bool // known to have a local address: autobind has nothing to do

	rmu sync.Mutex // serialises the receiving side (recv, recvfrom, accept)
	wmu sync.Mutex // serialises the sending side (send, sendall, sendto, connect)

	mu      sync.Mutex    // protects timeout and the deadline generations
	timeout time.Duration // < 0: blocking (None); 0: non-blocking; > 0: timeout
	gen     [2]uint64     // per side, bumped when an operation ends, to retire stale cancels
}

type side int

const (
	readSide side = iota
	writeSide
)

// Open makes a new socket of family (unix.AF_INET, unix.AF_INET6, unix.AF_UNIX) and type
// (unix.SOCK_STREAM or unix.SOCK_DGRAM). When source is valid and of the socket's family,
// the socket takes it as its own address before it connects, sends or listens while
// unbound, so peers see the agent's host address.
func Open(family, typ int, source netip.Addr) (*Socket, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 && family != unix.AF_UNIX {
		return nil, fmt.Errorf("socket: family %d: %w", family, unix.EAFNOSUPPORT)
	}
	if typ != unix.SOCK_STREAM && typ != unix.SOCK_DGRAM {
		return nil, fmt.Errorf("socket: type %d: %w", typ, unix.ESOCKTNOSUPPORT)
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return newSocket(fd, family, typ, source)
}

func newSocket(fd, family, typ int, source netip.Addr) (*Socket, error) {
	f := os.NewFile(uintptr(fd), "socket")
	if f == nil {
		unix.Close(fd)
		return nil, unix.EBADF
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	if source.IsValid() && !(family == unix.AF_INET && source.Is4() || family == unix.AF_INET6 && source.Is6()) {
		source = netip.Addr{}
	}
	return &Socket{family: family, typ: typ, source: source, file: f, rc: rc, timeout: -1}, nil
}

// Family returns the socket's address family.
func (s *Socket) Family() int { return s.family }

// Type returns the socket's type.
func (s *Socket) Type() int { return s.typ }

// IsStream reports whether the socket is a stream socket.
func (s *Socket) IsStream() bool { return s.typ == unix.SOCK_STREAM }

// Timeout returns the socket's timeout: negative for None (blocking), 0 for non-blocking.
func (s *Socket) Timeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timeout
}

// SetTimeout sets the timeout as Python's settimeout: negative is None, 0 non-blocking.
// On a closed socket it fails with EBADF, as CPython's fcntl on the fd does, having set
// the timeout all the same (gettimeout then returns it, as CPython's does).
func (s *Socket) SetTimeout(d time.Duration) error {
	s.mu.Lock()
	if d < 0 {
		d = -1
	}
	s.timeout = d
	s.mu.Unlock()
	return s.control(func(int) error { return nil })
}

// Close closes the socket. Operations blocked on it return EBADF. Closing twice is a no-op.
func (s *Socket) Close() error {
	s.closed.Store(true)
	err := s.file.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// control runs fn on the fd, or returns EBADF when the socket is closed.
func (s *Socket) control(fn func(fd int) error) error {
	var opErr error
	if err := s.rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return unix.EBADF
	}
	return opErr
}

// testHookParked, set only by tests, is called as an operation on s has found nothing to
// do and starts waiting on the poller for side sd: a blocked recv, say.
var testHookParked func(s *Socket, sd side)

// waiting is how a call waits for its socket, by the socket's mode: CPython's sock_call_ex.
type waiting int

const (
	// once makes one attempt (non-blocking mode, or MSG_DONTWAIT on a blocking socket).
	once waiting = iota
	// tryFirst attempts at once, then waits for readiness between attempts: a blocking
	// socket, whose call the kernel would make and block in.
	tryFirst
	// pollFirst waits for readiness before every attempt, until the deadline: timeout
	// mode, in which CPython polls before it calls, so that a call that would fail at once
	// (accept on a datagram socket, send on a listener) waits and raises timeout instead.
	pollFirst
)

// callMode returns how a call made now with flags waits, and its deadline (timeout mode
// only). MSG_DONTWAIT makes a blocking socket's call non-blocking; in timeout mode it
// changes nothing, since CPython polls first there and retries a call that would block.
func (s *Socket) callMode(flags int) (deadline time.Time, how waiting) {
	t := s.Timeout()
	switch {
	case t > 0:
		return time.Now().Add(t), pollFirst
	case t == 0 || flags&unix.MSG_DONTWAIT != 0:
		return time.Time{}, once
	}
	return time.Time{}, tryFirst
}

// wait runs attempt as how says, retrying it while it returns EAGAIN and waiting on the
// poller for side between attempts, as the kernel would block a blocking socket. It
// honours the deadline (zero: none) and ctx.
func (s *Socket) wait(ctx context.Context, sd side, deadline time.Time, how waiting, attempt func(fd int) error) error {
	if how == pollFirst {
		call := attempt
		attempt = func(fd int) error {
			ready, err := isReady(fd, sd)
			switch {
			case err != nil:
				return err
			case !ready:
				return unix.EAGAIN
			}
			return call(fd)
		}
	}
	retry := func(fd int) error {
		for {
			if err := attempt(fd); err != unix.EINTR {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Most calls complete at once: try before arming deadlines and cancellation.
	if err := s.control(retry); how == once || err != unix.EAGAIN {
		return err
	}
	done := s.arm(ctx, sd, deadline)
	defer done()
	if testHookParked != nil {
		testHookParked(s, sd)
	}
	var opErr error
	fn := func(fd uintptr) bool {
		opErr = retry(int(fd))
		return opErr != unix.EAGAIN
	}
	var err error
	if sd == readSide {
		err = s.rc.Read(fn)
	} else {
		err = s.rc.Write(fn)
	}
	switch {
	case err == nil:
		return opErr
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrTimeout
	case s.closed.Load():
		return unix.EBADF
	default:
		return err
	}
}

// isReady reports whether the fd is ready for side now, as poll(2) with no wait tells
// it: readable or writable, or in error or hung up, which poll reports whatever was asked.
func isReady(fd int, sd side) (bool, error) {
	events := int16(unix.POLLIN)
	if sd == writeSide {
		events = unix.POLLOUT
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(fds, 0)
	return n > 0, err
}

// arm sets side's deadline and arranges for ctx's cancellation to expire it at once. The
// returned func disarms; a cancellation that fires after it no longer touches the file.
func (s *Socket) arm(ctx context.Context, sd side, deadline time.Time) (disarm func()) {
	s.mu.Lock()
	gen := s.gen[sd]
	s.setDeadline(sd, deadline)
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen[sd] == gen {
			s.setDeadline(sd, time.Unix(1, 0))
		}
	})
	return func() {
		stop()
		s.mu.Lock()
		s.gen[sd]++
		s.mu.Unlock()
	}
}

func (s *Socket) setDeadline(sd side, t time.Time) {
	if sd == readSide {
		_ = s.file.SetReadDeadline(t)
	} else {
		_ = s.file.SetWriteDeadline(t)
	}
}

// Bind binds the socket to addr.
func (s *Socket) Bind(addr Addr) error {
	sa, err := s.sockaddr(addr)
	if err != nil {
		return err
	}
	return s.control(func(fd int) error { return unix.Bind(fd, sa) })
}

// Listen makes a stream socket listen with backlog (negative is taken as 0, as in Python).
func (s *Socket) Listen(backlog int) error {
	if backlog < 0 {
		backlog = 0
	}
	if err := s.autobind(Addr{}); err != nil {
		return err
	}
	return s.control(func(fd int) error { return unix.Listen(fd, backlog) })
}

// Accept waits for a connection and returns it as a new blocking socket (Python's accept
// gives a socket with the default timeout, None) and the peer's address.
func (s *Socket) Accept(ctx context.Context) (*Socket, Addr, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	deadline, how := s.callMode(0)
	var nfd int
	var from unix.Sockaddr
	err := s.wait(ctx, readSide, deadline, how, func(fd int) error {
		var err error
		nfd, from, err = unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return err
	})
	if err != nil {
		return nil, Addr{}, err
	}
	c, err := newSocket(nfd, s.family, s.typ, s.source)
	if err != nil {
		return nil, Addr{}, err
	}
	return c, fromSockaddr(from), nil
}

// Connect connects to addr. In non-blocking mode a TCP connect returns EINPROGRESS, as in
// Python; otherwise it waits for the handshake within the timeout.
//
// The fd being non-blocking, the kernel leaves the socket as after a non-blocking
// connect: still "connecting" once the handshake is over, a refused one at the end of its
// stream. That is what CPython leaves in timeout mode, where a second connect returns 0
// and recv returns b"" after a refusal. A blocking socket's connect, which the kernel
// would have waited in, is settled as that one would be (see settle).
func (s *Socket) Connect(ctx context.Context, addr Addr) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sa, err := s.sockaddr(addr)
	if err != nil {
		return err
	}
	if err := s.autobind(addr); err != nil {
		return err
	}
	deadline, how := s.callMode(0)
	if how == once {
		return s.control(func(fd int) error { return unix.Connect(fd, sa) })
	}
	// In timeout mode too, connect(2) is made first, as CPython's internal_connect makes
	// it; then the handshake is waited for.
	started, inProgress, failed := false, false, false
	err = s.wait(ctx, writeSide, deadline, tryFirst, func(fd int) error {
		if !started {
			started = true
			err := unix.Connect(fd, sa)
			if err == unix.EINPROGRESS {
				inProgress = true
				return unix.EAGAIN
			}
			return err
		}
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		switch e := unix.Errno(v); e {
		case 0, unix.EISCONN:
			// The poller may wake us before the handshake ends: check we are connected.
			if _, err := unix.Getpeername(fd); err != nil {
				return unix.EAGAIN
			}
			return nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return unix.EAGAIN
		default:
			failed = true
			return e
		}
	})
	if how == tryFirst && inProgress && (err == nil || failed) {
		s.settle(sa)
	}
	return err
}

// settle leaves a blocking socket whose handshake ran in the background as the kernel
// leaves one whose connect(2) blocked: one more connect(2) moves it out of "connecting".
// Connected, a later connect gives EISCONN; refused (or failed otherwise), the socket is
// disconnected again, so that recv gives ENOTCONN rather than the end of a stream and the
// next connect starts afresh rather than failing with ECONNABORTED.
func (s *Socket) settle(sa unix.Sockaddr) {
	_ = s.control(func(fd int) error { return unix.Connect(fd, sa) })
}

// Send sends data as Python's send: blocking, it returns when every byte is queued; with
// a timeout it makes one send(2) once the socket is writable, which may write part;
// non-blocking (or with MSG_DONTWAIT on a blocking socket), it may write part or fail
// with EAGAIN.
func (s *Socket) Send(ctx context.Context, data []byte, flags int) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	deadline, how := s.callMode(flags)
	n, err := s.sendLoop(ctx, data, flags, nil, deadline, how, how == tryFirst)
	if n > 0 && err != nil && ctx.Err() == nil {
		// Like the kernel's blocking send: bytes already queued are reported, the error
		// shows on the next call.
		return n, nil
	}
	return n, err
}

// SendAll sends every byte of data, as Python's sendall. Under a timeout the whole call
// must finish within it; the count returned with an error is how much was sent before it.
func (s *Socket) SendAll(ctx context.Context, data []byte, flags int) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	deadline, how := s.callMode(flags)
	if how == once {
		// CPython's sendall on a non-blocking socket loops until EAGAIN.
		total := 0
		for {
			n, err := s.sendOnce(data[total:], flags, nil)
			total += n
			if err != nil || total == len(data) {
				return total, err
			}
		}
	}
	return s.sendLoop(ctx, data, flags, nil, deadline, how, true)
}

// SendTo sends data to addr, as Python's sendto.
func (s *Socket) SendTo(ctx context.Context, data []byte, flags int, addr Addr) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sa, err := s.sockaddr(addr)
	if err != nil {
		return 0, err
	}
	if err := s.autobind(addr); err != nil {
		return 0, err
	}
	deadline, how := s.callMode(flags)
	return s.sendLoop(ctx, data, flags, sa, deadline, how, false)
}

// sendLoop sends data; with whole it keeps going until every byte is queued (a blocking
// stream send), else it returns after the first send(2) that wrote anything.
func (s *Socket) sendLoop(ctx context.Context, data []byte, flags int, to unix.Sockaddr, deadline time.Time, how waiting, whole bool) (int, error) {
	total := 0
	for {
		var n int
		err := s.wait(ctx, writeSide, deadline, how, func(fd int) error {
			var err error
			n, err = unix.SendmsgN(fd, data[total:], nil, to, flags|unix.MSG_NOSIGNAL)
			return err
		})
		if n > 0 {
			total += n
		}
		if err != nil {
			if total > 0 && !whole {
				return total, nil
			}
			return total, err
		}
		if !whole || total >= len(data) || !s.IsStream() {
			return total, nil
		}
	}
}

func (s *Socket) sendOnce(data []byte, flags int, to unix.Sockaddr) (int, error) {
	var n int
	err := s.control(func(fd int) error {
		var err error
		n, err = unix.SendmsgN(fd, data, nil, to, flags|unix.MSG_NOSIGNAL)
		return err
	})
	if n < 0 {
		n = 0
	}
	return n, err
}

// Received is what a recv or recvfrom returned.
type Received struct {
	// Data is the bytes returned.
	Data []byte
	// From is the sender's address (datagram sockets; invalid for a connected stream).
	From Addr
	// Length is the datagram's true length (datagram sockets), even when truncated.
	Length int
	// Truncated is set when the datagram was longer than the buffer: the rest is lost.
	Truncated bool
}

// Recv receives up to bufsize bytes, as Python's recv and recvfrom. MSG_WAITALL on a
// blocking stream waits for bufsize bytes, the end of the stream or an error; with a
// timeout or non-blocking it returns what one recv(2) gets, as in CPython, whose fd is then
// non-blocking: the kernel returns what is queued despite MSG_WAITALL.
func (s *Socket) Recv(ctx context.Context, bufsize, flags int) (Received, error) {
	return s.RecvInto(ctx, make([]byte, bufsize), flags)
}

// RecvInto is Recv into buf (its length is the bufsize): the Received's Data is part of
// buf, so that a caller receiving a long stream can reuse one buffer.
func (s *Socket) RecvInto(ctx context.Context, buf []byte, flags int) (Received, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	deadline, how := s.callMode(flags)
	bufsize := len(buf)
	sysFlags := flags &^ unix.MSG_WAITALL
	if !s.IsStream() {
		sysFlags |= unix.MSG_TRUNC // the return value becomes the datagram's true length
	}
	var r Received
	total := 0
	for {
		var n, rflags int
		var from unix.Sockaddr
		err := s.wait(ctx, readSide, deadline, how, func(fd int) error {
			var err error
			n, _, rflags, from, err = unix.Recvmsg(fd, buf[total:], nil, sysFlags)
			return err
		})
		if err != nil {
			if total > 0 {
				break // MSG_WAITALL returns what it has when interrupted
			}
			return Received{}, err
		}
		if !s.IsStream() {
			r.Length = n
			r.Truncated = rflags&unix.MSG_TRUNC != 0 || n > bufsize
			r.From = fromSockaddr(from)
			total = min(n, bufsize)
			break
		}
		total += n
		if flags&unix.MSG_WAITALL == 0 || how != tryFirst || n == 0 || total >= bufsize || flags&unix.MSG_PEEK != 0 {
			if from != nil {
				r.From = fromSockaddr(from)
			}
			break
		}
	}
	r.Data = buf[:total]
	return r, nil
}

// Shutdown shuts down reading (unix.SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR).
func (s *Socket) Shutdown(how int) error {
	return s.control(func(fd int) error { return unix.Shutdown(fd, how) })
}

// LocalAddr returns the socket's own address (getsockname).
func (s *Socket) LocalAddr() (Addr, error) {
	var a Addr
	err := s.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		a = fromSockaddr(sa)
		return nil
	})
	return a, err
}

// PeerAddr returns the connected peer's address (getpeername); ENOTCONN when there is none.
func (s *Socket) PeerAddr() (Addr, error) {
	var a Addr
	err := s.control(func(fd int) error {
		sa, err := unix.Getpeername(fd)
		if err != nil {
			return err
		}
		a = fromSockaddr(sa)
		return nil
	})
	return a, err
}

// SetOptionInt sets an integer socket option.
func (s *Socket) SetOptionInt(level, name, value int) error {
	return s.control(func(fd int) error { return unix.SetsockoptInt(fd, level, name, value) })
}

// SetOptionBytes sets a socket option from a raw buffer (a C struct, as Python passes one).
func (s *Socket) SetOptionBytes(level, name int, value []byte) error {
	return s.control(func(fd int) error { return unix.SetsockoptString(fd, level, name, string(value)) })
}

// OptionInt reads an integer socket option.
func (s *Socket) OptionInt(level, name int) (int, error) {
	var v int
	err := s.control(func(fd int) error {
		var err error
		v, err = unix.GetsockoptInt(fd, level, name)
		return err
	})
	return v, err
}

// OptionBytes reads a socket option as at most buflen raw bytes.
func (s *Socket) OptionBytes(level, name, buflen int) ([]byte, error) {
	buf := make([]byte, buflen)
	var n int
	err := s.control(func(fd int) error {
		var err error
		n, err = getsockoptRaw(fd, level, name, buf)
		return err
	})
	return buf[:n], err
}

// autobind gives an unbound socket the host identity before it talks to dest (invalid:
// before listen), so that peers see the host's address. TCP sockets defer the port choice
// to connect (IP_BIND_ADDRESS_NO_PORT), as an ordinary connect would. An AF_INET socket
// takes it before it talks to the wildcard (0.0.0.0) too, which then reaches its host:
// see Reaches.
func (s *Socket) autobind(dest Addr) error {
	if !s.source.IsValid() || s.bound.Load() {
		return nil
	}
	if to := s.wildcard(dest.IP, Addr{}); dest.IsValid() && !to.IsUnspecified() && s.source.IsLoopback() != to.IsLoopback() {
		return nil // a loopback identity that cannot reach dest (nor the reverse)
	}
	return s.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		if a := fromSockaddr(sa); a.Port != 0 || (a.IP.IsValid() && !a.IP.IsUnspecified()) {
			s.bound.Store(true)
			return nil
		}
		if s.IsStream() && dest.IsValid() && s.family == unix.AF_INET {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
				return err
			}
		}
		src, _ := s.sockaddr(Addr{IP: s.source})
		err = unix.Bind(fd, src)
		if err == nil || err == unix.EINVAL { // EINVAL: bound meanwhile
			s.bound.Store(true)
			return nil
		}
		return err
	})
}

// Reaches returns the address the kernel sends to when the socket connects or sends to
// ip: ip itself, but the wildcard (0.0.0.0, ::) stands for this host. An AF_INET socket
// reaches its own address: the one it is bound to, or the host identity autobind gives an
// unbound one first; one bound to the wildcard itself reaches 127.0.0.1. An AF_INET6
// socket reaches ::1 (127.0.0.1, v4-mapped, when bound to a v4-mapped address).
func (s *Socket) Reaches(ip netip.Addr) netip.Addr {
	if !ip.IsUnspecified() {
		return ip
	}
	local, _ := s.LocalAddr()
	to := s.wildcard(ip, local)
	switch {
	case !to.IsUnspecified():
		return to
	case local.IP.IsValid() && !local.IP.IsUnspecified():
		return local.IP
	case local.Port == 0 && s.source.IsValid():
		return s.source
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// wildcard returns where the kernel takes ip, the wildcard, from a socket whose own
// address is local: ::1 for AF_INET6 (127.0.0.1, v4-mapped, from a v4-mapped address). For
// AF_INET it returns ip unchanged: there the kernel takes the socket's own address, which
// autobind may give it first. Any other ip is returned as it is.
func (s *Socket) wildcard(ip netip.Addr, local Addr) netip.Addr {
	switch {
	case !ip.IsUnspecified() || s.family != unix.AF_INET6:
		return ip
	case local.IP.Is4In6():
		return netip.AddrFrom16(netip.AddrFrom4([4]byte{127, 0, 0, 1}).As16())
	}
	return netip.IPv6Loopback()
}

func (s *Socket) sockaddr(a Addr) (unix.Sockaddr, error) {
	switch s.family {
	case unix.AF_INET:
		if !a.IP.Is4() {
			return nil, unix.EAFNOSUPPORT
		}
		return &unix.SockaddrInet4{Addr: a.IP.As4(), Port: int(a.Port)}, nil
	case unix.AF_INET6:
		if !a.IP.IsValid() {
			return nil, unix.EAFNOSUPPORT
		}
		return &unix.SockaddrInet6{Addr: a.IP.As16(), Port: int(a.Port)}, nil
	case unix.AF_UNIX:
		if a.Path == "" {
			return nil, unix.EINVAL
		}
		return &unix.SockaddrUnix{Name: a.Path}, nil
	}
	return nil, unix.EAFNOSUPPORT
}

func fromSockaddr(sa unix.Sockaddr) Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return Addr{IP: netip.AddrFrom4(sa.Addr), Port: uint16(sa.Port)}
	case *unix.SockaddrInet6:
		return Addr{IP: netip.AddrFrom16(sa.Addr), Port: uint16(sa.Port)}
	case *unix.SockaddrUnix:
		if sa.Name == "@" {
			return Addr{} // an unnamed socket (x/sys shows its empty address as "@")
		}
		return Addr{Path: sa.Name}
	}
	return Addr{}
}
