package session

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	"github.com/socklab/socklab/agent/sockconst"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that complete Python's socket API beyond the everyday calls: select,
// socketpair, recv_into and sendfile.

func init() {
	register("socketpair", spec[*socklabv1.SocketPairOp]{
		check: func(o *socklabv1.SocketPairOp, _ *policy.Policy) error {
			if _, ok := families[o.GetFamily()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socketpair: family %s is not valid; use FAMILY_UNIX (Linux pairs no other)", o.GetFamily())
			}
			if _, ok := socketTypes[o.GetType()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socketpair: type %s is not supported; use SOCKET_TYPE_STREAM or SOCKET_TYPE_DGRAM", o.GetType())
			}
			return checkProto("socketpair", o.GetProto())
		},
		host: socketpair,
	})

	register("select", spec[*socklabv1.SelectOp]{
		check: func(o *socklabv1.SelectOp, _ *policy.Policy) error {
			if o.TimeoutSeconds != nil {
				if t := o.GetTimeoutSeconds(); math.IsNaN(t) || t < 0 || t > 1e9 {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "select: timeout %v is out of range: use None, 0 or a positive number of seconds", t)
				}
			}
			handles := map[uint32]bool{}
			for _, list := range [][]uint32{o.GetRead(), o.GetWrite(), o.GetExceptional()} {
				for _, h := range list {
					if h == 0 {
						return errdefs.Errorf(errdefs.ErrInvalidArgument, "select: handle 0 is the host, not a socket: give the handles socket or accept returned")
					}
					handles[h] = true
				}
			}
			if len(handles) > maxSelect {
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "select: %d sockets is over this agent's limit of %d per select: select over fewer", len(handles), maxSelect)
			}
			return nil
		},
		host: selectReady,
	})

	register("recv_into", spec[*socklabv1.RecvOp]{
		lane:  recvLane,
		check: checkRecv("recv_into"),
		run: func(ctx context.Context, c *call, o *socklabv1.RecvOp) error {
			if err := c.recv(ctx, o); err != nil {
				return err
			}
			c.ev.Result.Value = int64(len(c.resp.GetData()))
			return nil
		},
	})

	register("sendfile", spec[*socklabv1.SendFileOp]{
		lane: sendLane,
		check: func(o *socklabv1.SendFileOp, _ *policy.Policy) error {
			name := o.GetFile()
			switch {
			case name == "" || strings.ContainsRune(name, 0):
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "sendfile: file %q: name a file of the session's directory, such as \"data.bin\"", name)
			case !filepath.IsLocal(name):
				return errdefs.Errorf(errdefs.ErrPermissionDenied, "sendfile: file %q is outside the session's directory: name a file there, such as \"data.bin\" (a program or spawn's files put it there)", name)
			case o.GetOffset() > maxBulk, o.Count != nil && (o.GetCount() == 0 || o.GetCount() > maxBulk):
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "sendfile: offset %d and count %d: give a count of 1 to %d bytes, from an offset of at most %d", o.GetOffset(), o.GetCount(), uint64(maxBulk), uint64(maxBulk))
			}
			return nil
		},
		run: sendfile,
	})
}

// sendfile sends a file of the session's directory on a stream, as Python's
// socket.sendfile. The file is opened beneath the directory (os.Root: no path or link
// leads out of it) and must be a regular file with one name, so that a program under
// test cannot make the agent read what the session does not own through a symbolic or
// hard link. A file that cannot be opened (ENOENT) is the event's error, as Python's
// open raises it.
func sendfile(ctx context.Context, c *call, o *socklabv1.SendFileOp) error {
	so := c.so
	if !so.IsStream() {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "sendfile: only SOCK_STREAM type sockets are supported, as in Python")
	}
	if so.Timeout() == 0 {
		return errdefs.Errorf(errdefs.ErrFailedPrecondition, "sendfile: non-blocking sockets are not supported, as in Python: setblocking(True) or settimeout(seconds) first")
	}
	root, err := os.OpenRoot(c.s.dir)
	if err != nil {
		return errdefs.Errorf(errdefs.ErrInternal, "sendfile: the session's directory: %v", err)
	}
	defer root.Close()
	name := o.GetFile()
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return errno // ENOENT, EACCES, ELOOP...: the event's, as open() raises it
		}
		return errdefs.Errorf(errdefs.ErrPermissionDenied, "sendfile: file %q leads outside the session's directory: name a file there", name)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return unix.EISDIR
	}
	if !st.Mode().IsRegular() {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "sendfile: %q is not a regular file (%s): sendfile sends files", name, st.Mode().Type())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
		return errdefs.Errorf(errdefs.ErrPermissionDenied, "sendfile: %q has %d names (a hard link): sendfile sends only files made in the session's directory", name, sys.Nlink)
	}
	offset, count := int64(o.GetOffset()), int64(o.GetCount())
	c.ev.StreamOffset = so.sent
	n, err := so.SendFile(ctx, f, offset, count)
	so.sent += uint64(n)
	c.ev.Result = &socklabv1.Result{Value: n}
	c.ev.PayloadLength = uint64(n)
	if preview := min(n, int64(c.s.payloadCap)); preview > 0 {
		buf := make([]byte, preview)
		if k, _ := f.ReadAt(buf, offset); k > 0 {
			c.ev.Payload = buf[:k]
		}
	}
	return err
}

// maxSelect bounds the distinct sockets one select waits on: FD_SETSIZE, the most
// Python's select.select takes.
const maxSelect = 1024

// selectReady waits until sockets of the session are ready, as Python's select.select.
// Each socket it waits on costs the agent a descriptor while it waits, counted against
// the agent's files. A closed socket is the event's EBADF.
func selectReady(ctx context.Context, c *call, o *socklabv1.SelectOp) error {
	s := c.s
	lists := [][]uint32{o.GetRead(), o.GetWrite(), o.GetExceptional()}
	wants := []sock.Events{sock.Readable, sock.Writable, sock.Exceptional}
	index := map[uint32]int{} // handle -> its place in socks
	var socks []*sock.Socket
	var events []sock.Events
	for i, list := range lists {
		for _, h := range list {
			at, seen := index[h]
			if !seen {
				e, err := s.entry(h)
				if err != nil {
					return err
				}
				so, ok := e.res.(*socket)
				if !ok {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "select: handle %d holds a %s, not a socket", h, e.res.Kind())
				}
				at = len(socks)
				index[h] = at
				socks = append(socks, so.Socket)
				events = append(events, 0)
			}
			events[at] |= wants[i]
		}
	}
	if err := s.m.takeFiles(len(socks)+1, "select's copies of its sockets"); err != nil {
		return err
	}
	defer s.m.giveFiles(len(socks) + 1)
	timeout := time.Duration(-1)
	if o.TimeoutSeconds != nil {
		timeout = time.Duration(o.GetTimeoutSeconds() * float64(time.Second))
	}
	ready, err := sock.Select(ctx, socks, events, timeout)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	case err != nil:
		c.ev.Error = SocketError(err)
		return nil
	}
	r := &socklabv1.Ready{}
	found := []*[]uint32{&r.Read, &r.Write, &r.Exceptional}
	for i, list := range lists {
		for _, h := range list {
			if ready[index[h]]&wants[i] != 0 {
				*found[i] = append(*found[i], h)
			}
		}
	}
	c.ev.Result = &socklabv1.Result{Ready: r}
	return nil
}

// socketTypes maps the API's socket types onto Linux's.
var socketTypes = map[socklabv1.SocketType]int{
	socklabv1.SocketType_SOCKET_TYPE_STREAM: unix.SOCK_STREAM,
	socklabv1.SocketType_SOCKET_TYPE_DGRAM:  unix.SOCK_DGRAM,
}

// socketpair makes two connected sockets, each a handle of the session counted against
// its limit; a kernel error (EOPNOTSUPP for an inet family) is the event's.
func socketpair(_ context.Context, c *call, o *socklabv1.SocketPairOp) error {
	s := c.s
	if err := s.reserve(); err != nil {
		return err
	}
	if err := s.reserve(); err != nil {
		s.unreserve()
		return err
	}
	a, b, err := sock.Pair(families[o.GetFamily()], socketTypes[o.GetType()], int(o.GetProto()))
	if err != nil {
		s.unreserve()
		s.unreserve()
		c.ev.Error = SocketError(err)
		return nil
	}
	c.ev.Result = &socklabv1.Result{}
	pair := []*sock.Socket{a, b}
	for i, so := range pair {
		h, _, err := s.register(s.newSocket(so), "")
		if err != nil { // the session ended: register closed so, and ending closed the one before
			for _, rest := range pair[i:] {
				rest.Close()
				s.unreserve()
			}
			return err
		}
		c.ev.Result.Handles = append(c.ev.Result.Handles, h)
	}
	return nil
}

// checkProto checks socket()'s proto argument: 0, IPPROTO_TCP or IPPROTO_UDP. The kernel
// checks it against the family and type; any other protocol (raw IP, SCTP) is refused,
// so a request cannot reach kernel code the agent does not model.
func checkProto(op string, proto int32) error {
	switch proto {
	case 0, sockconst.IPProtoTCP, sockconst.IPProtoUDP:
		return nil
	}
	return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: proto %d is not supported; use 0, IPPROTO_TCP (6) or IPPROTO_UDP (17)", op, proto)
}

// openSocketProto makes a socket of the agent's network namespace with socket()'s proto
// argument (0: the family's own protocol).
func (m *Manager) openSocketProto(family, typ, proto int) (so *sock.Socket, err error) {
	if nerr := m.inNetns(func() error {
		so, err = sock.OpenProto(family, typ, proto, m.hostIP)
		return nil
	}); nerr != nil {
		return nil, nerr
	}
	return so, err
}
