package session

import (
	"context"
	"net/netip"
	"strings"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that read the host's own state: its kernel socket table and its sysctls.

func init() {
	register("ss", spec[*socklabv1.SsOp]{
		check: func(o *socklabv1.SsOp, _ *policy.Policy) error {
			if p := o.GetProtocol(); p != "" && p != "tcp" && p != "udp" {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "ss: protocol %q: use \"tcp\", \"udp\" or \"\" for both", p)
			}
			if o.GetPort() > 65535 {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "ss: port must be 0-65535 (got %d)", o.GetPort())
			}
			if h := o.GetHost(); h != "" {
				if _, err := netip.ParseAddr(h); err != nil {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "ss: host %q is not an IP address", h)
				}
			}
			return nil
		},
		host: func(_ context.Context, c *call, o *socklabv1.SsOp) error {
			f := kernel.Filter{Port: uint16(o.GetPort()), State: o.GetState(), Protocol: o.GetProtocol()}
			f.Host, _ = netip.ParseAddr(o.GetHost())
			rows, err := c.s.m.sockets(f)
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "ss: %v", err)
			}
			c.ev.Result = &socklabv1.Result{}
			for _, r := range rows {
				c.ev.Result.Sockets = append(c.ev.Result.Sockets, kernelSocket(r))
			}
			return nil
		},
	})

	register("sysctl", spec[*socklabv1.SysctlOp]{
		check: func(o *socklabv1.SysctlOp, _ *policy.Policy) error {
			if n := o.GetName(); !strings.HasPrefix(n, "net.") || strings.ContainsAny(n, "/ ") || strings.Contains(n, "..") {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "sysctl: %q is not a network knob such as net.ipv4.tcp_tw_reuse", n)
			}
			return nil
		},
		host: func(_ context.Context, c *call, o *socklabv1.SysctlOp) error {
			text, found, err := c.s.m.sysctl(o.GetName())
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "sysctl: %v", err)
			}
			c.ev.Result = &socklabv1.Result{Text: text, Found: found}
			return nil
		},
	})
}

func init() {
	register("netstat", spec[*socklabv1.NetstatOp]{
		check: func(o *socklabv1.NetstatOp, _ *policy.Policy) error {
			if g, f, ok := strings.Cut(o.GetName(), "."); !ok || g == "" || f == "" || strings.ContainsAny(o.GetName(), "/ ") {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "netstat: %q is not a counter name such as Tcp.RetransSegs", o.GetName())
			}
			return nil
		},
		host: func(_ context.Context, c *call, o *socklabv1.NetstatOp) error {
			var v uint64
			var found bool
			var err error
			if nerr := c.s.m.inNetns(func() error {
				v, found, err = kernel.Counter(o.GetName())
				return nil
			}); nerr != nil {
				return errdefs.Errorf(errdefs.ErrInternal, "netstat: %v", nerr)
			}
			if err != nil {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "netstat: %v", err)
			}
			c.ev.Result = &socklabv1.Result{Value: int64(v), Found: found}
			return nil
		},
	})
}

// kernelSocket turns a row of the kernel's socket table into the API's.
func kernelSocket(r kernel.Socket) *socklabv1.KernelSocket {
	k := &socklabv1.KernelSocket{Protocol: r.Protocol, State: r.State, RecvQueue: r.RecvQ, SendQueue: r.SendQ, Inode: r.Inode, Uid: r.UID,
		Local: &socklabv1.Address{Host: r.Local.Addr().String(), Port: uint32(r.Local.Port())}}
	if r.Peer.IsValid() {
		k.Peer = &socklabv1.Address{Host: r.Peer.Addr().String(), Port: uint32(r.Peer.Port())}
	}
	return k
}
