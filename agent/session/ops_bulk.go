package session

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations whose data the agent makes or consumes itself, so that load and bulk
// labs never stream their bytes through gRPC: send_bulk, drain, connect_many, serve.

// maxBulk bounds one send_bulk or drain: 64 GiB, far more than any lab moves.
const maxBulk = 64 << 30

// bulkChunk is the size of one send or recv of a bulk operation.
const bulkChunk = 64 << 10

// behaviours are the built-in behaviours of a background server.
var behaviours = map[socklabv1.Behaviour]string{
	socklabv1.Behaviour_BEHAVIOUR_ECHO:    "echo",
	socklabv1.Behaviour_BEHAVIOUR_UPPER:   "upper",
	socklabv1.Behaviour_BEHAVIOUR_DISCARD: "discard",
	socklabv1.Behaviour_BEHAVIOUR_CHAT:    "chat",
}

func init() {
	register("send_bulk", spec[*socklabv1.SendBulkOp]{
		lane: sendLane,
		check: func(o *socklabv1.SendBulkOp, _ *policy.Policy) error {
			if o.GetCount() > maxBulk {
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "send_bulk: %d bytes is over the limit of %d", o.GetCount(), uint64(maxBulk))
			}
			return nil
		},
		run: func(ctx context.Context, c *call, o *socklabv1.SendBulkOp) error {
			return c.sendBulk(ctx, o.GetCount())
		},
	})

	register("drain", spec[*socklabv1.DrainOp]{
		lane: recvLane,
		check: func(o *socklabv1.DrainOp, _ *policy.Policy) error {
			if o.GetCount() > maxBulk {
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "drain: %d bytes is over the limit of %d", o.GetCount(), uint64(maxBulk))
			}
			return nil
		},
		run: func(ctx context.Context, c *call, o *socklabv1.DrainOp) error {
			return c.drain(ctx, o.GetCount())
		},
	})

	register("connect_many", spec[*socklabv1.ConnectManyOp]{
		address: (*socklabv1.ConnectManyOp).GetAddress,
		check: func(o *socklabv1.ConnectManyOp, pol *policy.Policy) error {
			if n := o.GetCount(); n == 0 || int64(n) > int64(pol.MaxSockets) {
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "connect_many: count %d: want 1 to %d (this agent's socket limit)", n, pol.MaxSockets)
			}
			return nil
		},
		host: func(ctx context.Context, c *call, o *socklabv1.ConnectManyOp) error {
			return c.connectMany(ctx, o)
		},
	})

	register("serve", spec[*socklabv1.ServeOp]{
		lane: recvLane,
		check: func(o *socklabv1.ServeOp, _ *policy.Policy) error {
			if _, ok := behaviours[o.GetBehaviour()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "serve: behaviour %s is not valid; use BEHAVIOUR_ECHO, _UPPER, _DISCARD or _CHAT", o.GetBehaviour())
			}
			return nil
		},
		run: func(_ context.Context, c *call, o *socklabv1.ServeOp) error {
			if v, err := c.so.OptionInt(unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v == 0 {
				return unix.EINVAL // as accept() on a socket that does not listen
			}
			c.s.serve(c.h, c.e, c.so, o.GetBehaviour())
			return nil
		},
	})
}

// sendBulk sends count bytes of the bulk pattern, all of them, as sendall would. Each
// chunk is a slice of the precomputed pattern, and the checksum of what was sent is
// worked out from its length.
func (c *call) sendBulk(ctx context.Context, count uint64) error {
	so := c.so
	c.ev.StreamOffset = so.sent
	var total uint64
	var err error
	for total < count && err == nil {
		var n int
		n, err = so.SendAll(ctx, patternAt(total, int(min(count-total, bulkChunk))), 0)
		total += uint64(n)
	}
	if so.IsStream() {
		so.sent += total
	}
	c.ev.Result = &socklabv1.Result{Value: int64(total), Checksum: patternCRC(0, total)}
	c.ev.PayloadLength = total
	return err
}

// drain receives count bytes, or until the end of the stream, counting and checksumming
// into one buffer.
func (c *call) drain(ctx context.Context, count uint64) error {
	so := c.so
	c.ev.StreamOffset = so.received
	buf := make([]byte, min(count, bulkChunk))
	var total uint64
	var sum patternSum
	var err error
	for total < count {
		var r sock.Received
		r, err = so.RecvInto(ctx, buf[:min(count-total, bulkChunk)], 0)
		if err != nil || len(r.Data) == 0 {
			break
		}
		sum.add(r.Data)
		total += uint64(len(r.Data))
	}
	if so.IsStream() {
		so.received += total
	}
	c.ev.Result = &socklabv1.Result{Value: int64(total), Checksum: sum.sum()}
	c.ev.PayloadLength = total
	return err
}

// connectMany opens count TCP connections to the operation's address, one after another,
// and stops at the first error (reported as the event's error with the handles so far).
func (c *call) connectMany(ctx context.Context, o *socklabv1.ConnectManyOp) error {
	s, ev := c.s, c.ev
	spec, err := parseAddr("connect_many", o.GetAddress())
	if err != nil {
		return err
	}
	family := unix.AF_INET
	if spec.ip.Is6() && !spec.ip.Is4In6() {
		family = unix.AF_INET6
	}
	addr, err := spec.forFamily("connect_many", family)
	if err != nil {
		return err
	}
	if !addr.IP.IsUnspecified() && !s.m.policy.AllowsDestination(addr.IP) {
		return errdefs.Errorf(errdefs.ErrPermissionDenied, "connect_many to %s is outside this agent's allowed networks (%s)", addr, s.m.policy.NetworksString())
	}
	ev.Result = &socklabv1.Result{}
	ev.Peer = &socklabv1.Address{Host: addr.IP.String(), Port: uint32(addr.Port)}
	for range o.GetCount() {
		if err := s.reserve(); err != nil {
			return err
		}
		so, err := s.m.openSocket(family, unix.SOCK_STREAM)
		if err != nil {
			s.unreserve()
			ev.Error = SocketError(err)
			return nil
		}
		if to := so.Reaches(addr.IP); to != addr.IP && !s.m.policy.AllowsDestination(to) {
			so.Close()
			s.unreserve()
			return errdefs.Errorf(errdefs.ErrPermissionDenied, "connect_many to %s (this host, reached at %s) is outside this agent's allowed networks (%s)", addr, to, s.m.policy.NetworksString())
		}
		if err := so.Connect(ctx, addr); err != nil {
			so.Close()
			s.unreserve()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ev.Error = SocketError(err)
			return nil
		}
		h, _, err := s.register(s.newSocket(so), "")
		if err != nil {
			return err
		}
		ev.Result.Handles = append(ev.Result.Handles, h)
	}
	return nil
}
