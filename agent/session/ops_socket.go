package session

import (
	"context"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	"github.com/socklab/socklab/agent/sockconst"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that make, set up, inspect and close a socket.

// families maps the API's families onto Linux's.
var families = map[socklabv1.Family]int{
	socklabv1.Family_FAMILY_INET:  unix.AF_INET,
	socklabv1.Family_FAMILY_INET6: unix.AF_INET6,
	socklabv1.Family_FAMILY_UNIX:  unix.AF_UNIX,
}

// shutdownHow maps the API's shutdown directions onto Linux's.
var shutdownHow = map[socklabv1.ShutdownHow]int{
	socklabv1.ShutdownHow_SHUTDOWN_HOW_RD:   unix.SHUT_RD,
	socklabv1.ShutdownHow_SHUTDOWN_HOW_WR:   unix.SHUT_WR,
	socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR: unix.SHUT_RDWR,
}

// maxOptionBuffer bounds an option's value passed as bytes, set or read.
const maxOptionBuffer = 1024

func init() {
	register("socket", spec[*socklabv1.SocketOp]{
		check: func(o *socklabv1.SocketOp, _ *policy.Policy) error {
			if _, ok := families[o.GetFamily()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socket: family %s is not valid; use FAMILY_INET, FAMILY_INET6 or FAMILY_UNIX", o.GetFamily())
			}
			switch o.GetType() {
			case socklabv1.SocketType_SOCKET_TYPE_STREAM, socklabv1.SocketType_SOCKET_TYPE_DGRAM:
			default:
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "socket: type %s is not supported; use SOCKET_TYPE_STREAM or SOCKET_TYPE_DGRAM", o.GetType())
			}
			return checkProto("socket", o.GetProto())
		},
		host: func(_ context.Context, c *call, o *socklabv1.SocketOp) error {
			typ := unix.SOCK_STREAM
			if o.GetType() == socklabv1.SocketType_SOCKET_TYPE_DGRAM {
				typ = unix.SOCK_DGRAM
			}
			if err := c.s.reserve(); err != nil {
				return err
			}
			so, err := c.s.m.openSocketProto(families[o.GetFamily()], typ, int(o.GetProto()))
			if err != nil {
				c.s.unreserve()
				c.ev.Error = SocketError(err)
				return nil
			}
			h, _, err := c.s.register(c.s.newSocket(so), "")
			if err != nil {
				return err
			}
			c.ev.Handle = h
			c.ev.Result = &socklabv1.Result{Handle: h}
			return nil
		},
	})

	register("setsockopt", spec[*socklabv1.SetSockOptOp]{
		check: func(o *socklabv1.SetSockOptOp, _ *policy.Policy) error {
			opt, ok := sockconst.LookupOption(int(o.GetLevel()), int(o.GetName()))
			if !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "setsockopt: option level %d name %d is not supported by this agent", o.GetLevel(), o.GetName())
			}
			if opt.ReadOnly {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "setsockopt: %s can only be read", opt.Name)
			}
			switch v := o.GetValue().(type) {
			case nil:
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "setsockopt %s: value is missing: set int_value or bytes_value", opt.Name)
			case *socklabv1.SetSockOptOp_IntValue:
				if v.IntValue < math.MinInt32 || v.IntValue > math.MaxInt32 {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "setsockopt %s: value %d does not fit a C int", opt.Name, v.IntValue)
				}
			case *socklabv1.SetSockOptOp_BytesValue:
				if len(v.BytesValue) > maxOptionBuffer {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "setsockopt %s: %d bytes is too long a buffer (at most %d)", opt.Name, len(v.BytesValue), maxOptionBuffer)
				}
			}
			return nil
		},
		run: func(_ context.Context, c *call, o *socklabv1.SetSockOptOp) error {
			opt, _ := sockconst.LookupOption(int(o.GetLevel()), int(o.GetName()))
			c.ev.Result = &socklabv1.Result{OptionName: opt.Name}
			if b, ok := o.GetValue().(*socklabv1.SetSockOptOp_BytesValue); ok {
				return c.so.SetOptionBytes(opt.Level, opt.Value, b.BytesValue)
			}
			return c.so.SetOptionInt(opt.Level, opt.Value, int(o.GetIntValue()))
		},
	})

	register("getsockopt", spec[*socklabv1.GetSockOptOp]{
		check: func(o *socklabv1.GetSockOptOp, _ *policy.Policy) error {
			if _, ok := sockconst.LookupOption(int(o.GetLevel()), int(o.GetName())); !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "getsockopt: option level %d name %d is not supported by this agent", o.GetLevel(), o.GetName())
			}
			if o.GetBuflen() > maxOptionBuffer {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "getsockopt: buflen %d is too large (at most %d)", o.GetBuflen(), maxOptionBuffer)
			}
			return nil
		},
		run: func(_ context.Context, c *call, o *socklabv1.GetSockOptOp) error {
			opt, _ := sockconst.LookupOption(int(o.GetLevel()), int(o.GetName()))
			c.ev.Result = &socklabv1.Result{OptionName: opt.Name}
			if n := o.GetBuflen(); n > 0 {
				b, err := c.so.OptionBytes(opt.Level, opt.Value, int(n))
				c.ev.Result.BytesValue = b
				return err
			}
			v, err := c.so.OptionInt(opt.Level, opt.Value)
			c.ev.Result.Value = int64(v)
			return err
		},
	})

	register("bind", spec[*socklabv1.BindOp]{
		address: (*socklabv1.BindOp).GetAddress,
		run: func(_ context.Context, c *call, _ *socklabv1.BindOp) error {
			return c.so.Bind(c.addr)
		},
	})

	register("listen", spec[*socklabv1.ListenOp]{
		run: func(_ context.Context, c *call, o *socklabv1.ListenOp) error {
			backlog := sock.DefaultBacklog
			if o.Backlog != nil {
				backlog = int(o.GetBacklog())
			}
			return c.so.Listen(backlog)
		},
	})

	register("close", spec[*socklabv1.CloseOp]{
		run: func(_ context.Context, c *call, _ *socklabv1.CloseOp) error {
			_, err := c.s.closeHandle(c.e, c.ev)
			return err
		},
	})

	register("shutdown", spec[*socklabv1.ShutdownOp]{
		check: func(o *socklabv1.ShutdownOp, _ *policy.Policy) error {
			if _, ok := shutdownHow[o.GetHow()]; !ok {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "shutdown: how %s is not valid; use SHUTDOWN_HOW_RD, SHUTDOWN_HOW_WR or SHUTDOWN_HOW_RDWR", o.GetHow())
			}
			return nil
		},
		run: func(_ context.Context, c *call, o *socklabv1.ShutdownOp) error {
			return c.so.Shutdown(shutdownHow[o.GetHow()])
		},
	})

	register("getsockname", spec[*socklabv1.GetSockNameOp]{
		run: func(_ context.Context, c *call, _ *socklabv1.GetSockNameOp) error {
			a, err := c.so.LocalAddr()
			if err == nil {
				c.ev.Result = &socklabv1.Result{Address: c.so.toAddress(a)}
			}
			return err
		},
	})

	register("getpeername", spec[*socklabv1.GetPeerNameOp]{
		run: func(_ context.Context, c *call, _ *socklabv1.GetPeerNameOp) error {
			a, err := c.so.PeerAddr()
			if err == nil {
				c.ev.Result = &socklabv1.Result{Address: c.so.toAddress(a)}
			}
			return err
		},
	})

	register("settimeout", spec[*socklabv1.SetTimeoutOp]{
		check: func(o *socklabv1.SetTimeoutOp, _ *policy.Policy) error {
			if o.Seconds != nil {
				s := o.GetSeconds()
				if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 || s > 1e9 {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "settimeout: timeout %v is out of range: use None, 0 or a positive number of seconds", s)
				}
			}
			return nil
		},
		run: func(_ context.Context, c *call, o *socklabv1.SetTimeoutOp) error {
			if o.Seconds == nil {
				return c.so.SetTimeout(-1)
			}
			return c.so.SetTimeout(time.Duration(o.GetSeconds() * float64(time.Second)))
		},
	})

	register("setblocking", spec[*socklabv1.SetBlockingOp]{
		run: func(_ context.Context, c *call, o *socklabv1.SetBlockingOp) error {
			if o.GetBlocking() {
				return c.so.SetTimeout(-1)
			}
			return c.so.SetTimeout(0)
		},
	})

	register("getblocking", spec[*socklabv1.GetBlockingOp]{
		run: func(_ context.Context, c *call, _ *socklabv1.GetBlockingOp) error {
			c.ev.Result = &socklabv1.Result{}
			if c.so.Timeout() != 0 { // None (blocking) or a timeout: Python's gettimeout() != 0.0
				c.ev.Result.Value = 1
			}
			return nil
		},
	})
	register("gettimeout", spec[*socklabv1.GetTimeoutOp]{
		run: func(_ context.Context, c *call, _ *socklabv1.GetTimeoutOp) error {
			c.ev.Result = &socklabv1.Result{}
			if t := c.so.Timeout(); t >= 0 {
				secs := t.Seconds()
				c.ev.Result.TimeoutSeconds = &secs
			}
			return nil
		},
	})
}
