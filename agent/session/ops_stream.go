package session

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	"github.com/socklab/socklab/agent/sockconst"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that connect and move data: accept and connect, the sends and recvs.

// The flags each operation accepts; anything else is refused, so a request cannot reach
// kernel behaviour the agent does not model.
var (
	sendFlags = msgFlags("MSG_DONTWAIT", "MSG_NOSIGNAL", "MSG_MORE", "MSG_OOB")
	recvFlags = msgFlags("MSG_PEEK", "MSG_WAITALL", "MSG_DONTWAIT", "MSG_OOB")
)

// flagSet is a set of MSG_* flags an operation accepts.
type flagSet struct {
	bits  int
	names string // "MSG_PEEK, MSG_WAITALL or MSG_OOB", for messages
}

// msgFlags returns the set of the named MSG_* flags; it panics on a name sockconst does
// not hold as a flag.
func msgFlags(names ...string) flagSet {
	var f flagSet
	for _, name := range names {
		c, ok := sockconst.Lookup(name)
		if !ok || c.Kind != sockconst.MsgFlag {
			panic("session: " + name + " is not a MSG_* flag of sockconst")
		}
		f.bits |= c.Value
	}
	f.names = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return f
}

// refuse returns a request error naming the flags outside f, if any.
func (f flagSet) refuse(op string, flags int32) error {
	if bad := int(flags) &^ f.bits; bad != 0 {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s: flags 0x%x are not supported; use %s", op, bad, f.names)
	}
	return nil
}

func init() {
	register("accept", spec[*socklabv1.AcceptOp]{
		lane:     recvLane,
		reserves: true,
		run: func(ctx context.Context, c *call, _ *socklabv1.AcceptOp) error {
			conn, from, err := c.so.Accept(ctx)
			if err != nil {
				c.s.unreserve()
				return err
			}
			h, _, err := c.s.register(c.s.newSocket(conn), "")
			if err != nil {
				return err
			}
			c.ev.Result = &socklabv1.Result{Handle: h, Address: c.so.toAddress(from)}
			c.ev.Peer = c.so.toAddress(from)
			return nil
		},
	})

	register("connect", spec[*socklabv1.ConnectOp]{
		lane:    sendLane,
		address: (*socklabv1.ConnectOp).GetAddress,
		run: func(ctx context.Context, c *call, _ *socklabv1.ConnectOp) error {
			c.ev.Peer = c.so.toAddress(c.addr)
			return c.so.Connect(ctx, c.addr)
		},
	})

	register("connect_ex", spec[*socklabv1.ConnectOp]{
		lane:    sendLane,
		address: (*socklabv1.ConnectOp).GetAddress,
		run: func(ctx context.Context, c *call, _ *socklabv1.ConnectOp) error {
			c.ev.Peer = c.so.toAddress(c.addr)
			err := c.so.Connect(ctx, c.addr)
			if errors.Is(err, sock.ErrTimeout) {
				err = unix.EAGAIN // CPython's connect_ex reports a timeout as EWOULDBLOCK
			}
			var errno unix.Errno
			if errors.As(err, &errno) {
				c.ev.Result = &socklabv1.Result{Value: int64(errno)}
			}
			return err
		},
	})

	register("send", spec[*socklabv1.SendOp]{
		lane:  sendLane,
		check: checkSend[*socklabv1.SendOp]("send"),
		run: func(ctx context.Context, c *call, o *socklabv1.SendOp) error {
			return c.send(o.GetData(), func() (int, error) {
				return c.so.Send(ctx, o.GetData(), int(o.GetFlags()))
			}, &socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{Flags: o.GetFlags()}}})
		},
	})

	register("sendall", spec[*socklabv1.SendOp]{
		lane:  sendLane,
		check: checkSend[*socklabv1.SendOp]("sendall"),
		run: func(ctx context.Context, c *call, o *socklabv1.SendOp) error {
			return c.send(o.GetData(), func() (int, error) {
				return c.so.SendAll(ctx, o.GetData(), int(o.GetFlags()))
			}, &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{Flags: o.GetFlags()}}})
		},
	})

	register("sendto", spec[*socklabv1.SendToOp]{
		lane:    sendLane,
		address: (*socklabv1.SendToOp).GetAddress,
		check:   checkSend[*socklabv1.SendToOp]("sendto"),
		run: func(ctx context.Context, c *call, o *socklabv1.SendToOp) error {
			c.ev.Peer = c.so.toAddress(c.addr)
			return c.send(o.GetData(), func() (int, error) {
				return c.so.SendTo(ctx, o.GetData(), int(o.GetFlags()), c.addr)
			}, &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Flags: o.GetFlags(), Address: o.GetAddress()}}})
		},
	})

	register("recv", spec[*socklabv1.RecvOp]{
		lane:  recvLane,
		check: checkRecv("recv"),
		run: func(ctx context.Context, c *call, o *socklabv1.RecvOp) error {
			return c.recv(ctx, o)
		},
	})

	register("recvfrom", spec[*socklabv1.RecvOp]{
		lane:  recvLane,
		check: checkRecv("recvfrom"),
		run: func(ctx context.Context, c *call, o *socklabv1.RecvOp) error {
			err := c.recv(ctx, o)
			if err == nil && c.ev.Result.Address == nil && !c.so.IsStream() {
				c.ev.Result.Address = c.ev.Peer
			}
			return err
		},
	})
}

// sending is what every sending operation carries: its data and flags.
type sending interface {
	GetData() []byte
	GetFlags() int32
}

// checkSend returns the check of a sending operation: its bytes against the policy's
// limit per operation, its flags against those a send accepts.
func checkSend[T sending](op string) func(T, *policy.Policy) error {
	return func(o T, pol *policy.Policy) error {
		if n := len(o.GetData()); n > pol.MaxBytesPerOp {
			return errdefs.Errorf(errdefs.ErrResourceExhausted, "%s: %d bytes is over this agent's limit of %d bytes per operation", op, n, pol.MaxBytesPerOp)
		}
		return sendFlags.refuse(op, o.GetFlags())
	}
}

// checkRecv returns the check of recv or recvfrom: its buffer against the policy's limit
// per operation, its flags against those a recv accepts.
func checkRecv(op string) func(*socklabv1.RecvOp, *policy.Policy) error {
	return func(o *socklabv1.RecvOp, pol *policy.Policy) error {
		if int64(o.GetBufsize()) > int64(pol.MaxBytesPerOp) {
			return errdefs.Errorf(errdefs.ErrResourceExhausted, "%s: bufsize %d is over this agent's limit of %d bytes per operation", op, o.GetBufsize(), pol.MaxBytesPerOp)
		}
		return recvFlags.refuse(op, o.GetFlags())
	}
}

// send runs a sending operation and records its count, payload and stream offset; the
// event shows shown, the operation without its data (which moves to the payload, capped).
func (c *call) send(data []byte, do func() (int, error), shown *socklabv1.Operation) error {
	c.ev.Operation = shown
	c.ev.StreamOffset = c.so.sent
	n, err := do()
	if c.so.IsStream() {
		c.so.sent += uint64(n)
	}
	sent := data[:n]
	c.ev.Result = &socklabv1.Result{Value: int64(n)}
	c.ev.Payload = capped(sent, c.s.payloadCap)
	c.ev.PayloadLength = uint64(len(sent))
	return err
}

// recv runs recv or recvfrom and records the data, sender and stream offset.
func (c *call) recv(ctx context.Context, o *socklabv1.RecvOp) error {
	so, ev := c.so, c.ev
	ev.StreamOffset = so.received
	r, err := so.Recv(ctx, int(o.GetBufsize()), int(o.GetFlags()))
	if err != nil {
		return err
	}
	if so.IsStream() && o.GetFlags()&unix.MSG_PEEK == 0 {
		so.received += uint64(len(r.Data))
	}
	c.resp.Data = r.Data
	ev.Payload = capped(r.Data, c.s.payloadCap)
	ev.PayloadLength = uint64(len(r.Data))
	ev.Result = &socklabv1.Result{Truncated: r.Truncated}
	if !so.IsStream() {
		ev.Result.DatagramLength = uint64(r.Length)
	}
	if r.From.IsValid() {
		ev.Peer = so.toAddress(r.From)
		ev.Result.Address = ev.Peer
	}
	return nil
}
