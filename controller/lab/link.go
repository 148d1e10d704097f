package lab

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Link faults in labs: host.fault, host.clear_faults and host.reset_link act on the
// packets one host sends toward a peer; t.link(a, b) is the link between two hosts, whose
// methods set those on one end or both.

// peerIP reads a fault's peer: a host, or an IP address as a string.
func peerIP(name string, v starlark.Value) (string, error) {
	switch p := v.(type) {
	case *hostValue:
		return p.ip, nil
	case starlark.String:
		return string(p), nil
	}
	return "", fmt.Errorf("%s: peer must be a host (t.server) or an IP address, not %s", name, v.Type())
}

// percentArg reads a share of packets, 0 < p <= 100.
func percentArg(name, kw string, v starlark.Value) (float64, error) {
	f, ok := starlark.AsFloat(v)
	if !ok || math.IsNaN(f) || f <= 0 || f > 100 {
		return 0, fmt.Errorf("%s: %s must be a percentage above 0 and at most 100, not %s", name, kw, v)
	}
	return f, nil
}

// fault(peer, down = False, loss = None, every = False, delay = None, jitter = None,
// reorder = None, duplicate = None, rate_kbit = 0) sets one fault on the packets this host sends toward peer: exactly one
// of down, loss, delay, reorder, duplicate and rate_kbit; delays in seconds.
func (h *hostValue) fault(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var peer starlark.Value
	var down bool
	var loss, delay, jitter, reorder, duplicate starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	rate := 0
	every := false
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("fault", args, kwargs, "peer", &peer, "down?", &down, "loss?", &loss, "every?", &every, "delay?", &delay,
		"jitter?", &jitter, "reorder?", &reorder, "duplicate?", &duplicate, "rate_kbit?", &rate, "watchdog?", &wd); err != nil {
		return nil, err
	}
	ip, err := peerIP("fault", peer)
	if err != nil {
		return nil, err
	}
	f := &socklabv1.FaultOp{Peer: ip}
	kinds := 0
	set := func(k socklabv1.FaultKind) { f.Kind = k; kinds++ }
	if down {
		set(socklabv1.FaultKind_FAULT_KIND_DOWN)
	}
	for _, p := range []struct {
		kw   string
		v    starlark.Value
		kind socklabv1.FaultKind
	}{{"loss", loss, socklabv1.FaultKind_FAULT_KIND_LOSS}, {"reorder", reorder, socklabv1.FaultKind_FAULT_KIND_REORDER},
		{"duplicate", duplicate, socklabv1.FaultKind_FAULT_KIND_DUPLICATE}} {
		if p.v == starlark.None {
			continue
		}
		if f.Percent, err = percentArg("fault", p.kw, p.v); err != nil {
			return nil, err
		}
		set(p.kind)
	}
	if delay != starlark.None {
		d, err := seconds(delay)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("fault: delay must be a positive number of seconds, not %s", delay)
		}
		f.DelaySeconds = d.Seconds()
		if f.Kind != socklabv1.FaultKind_FAULT_KIND_REORDER {
			set(socklabv1.FaultKind_FAULT_KIND_DELAY)
		}
	}
	if jitter != starlark.None {
		j, err := seconds(jitter)
		if err != nil || f.Kind != socklabv1.FaultKind_FAULT_KIND_DELAY {
			return nil, fmt.Errorf("fault: jitter goes with delay, in seconds (got %s)", jitter)
		}
		f.JitterSeconds = j.Seconds()
	}
	if rate < 0 {
		return nil, fmt.Errorf("fault: rate_kbit must be positive, not %d", rate)
	}
	if rate > 0 {
		f.RateKbit = uint32(rate)
		set(socklabv1.FaultKind_FAULT_KIND_RATE)
	}
	if every {
		n := 100 / f.Percent
		if f.Kind != socklabv1.FaultKind_FAULT_KIND_LOSS || n != math.Trunc(n) {
			return nil, fmt.Errorf("fault: every = True goes with a loss whose 100 / percent is whole (20: every fifth packet), not %v", f.Percent)
		}
		f.Every = true
	}
	if kinds != 1 {
		return nil, fmt.Errorf("fault: give exactly one of down = True, loss, delay, reorder, duplicate and rate_kbit (got %d)", kinds)
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Fault{Fault: f}}
	if _, err := h.do(th, 0, op, "fault", wd); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// peerCall performs a host operation whose one argument is a peer (and the watchdog):
// clear_faults and reset_link.
func (h *hostValue) peerCall(th *starlark.Thread, name string, args starlark.Tuple, kwargs []starlark.Tuple, op func(ip string) *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	var peer starlark.Value
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "peer", &peer, "watchdog?", &wd); err != nil {
		return nil, err
	}
	ip, err := peerIP(name, peer)
	if err != nil {
		return nil, err
	}
	return h.do(th, 0, op(ip), name, wd)
}

// clear_faults(peer) ends every fault on this host's packets toward peer; None.
func (h *hostValue) clearFaults(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, err := h.peerCall(th, "clear_faults", args, kwargs, func(ip string) *socklabv1.Operation {
		return &socklabv1.Operation{Op: &socklabv1.Operation_ClearFaults{ClearFaults: &socklabv1.ClearFaultsOp{Peer: ip}}}
	})
	if err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// reset_link(peer) aborts every TCP connection between this host and peer: the peer's
// ends get an RST (ECONNRESET), this host's are aborted (ECONNABORTED). It returns how many.
func (h *hostValue) resetLink(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	resp, err := h.peerCall(th, "reset_link", args, kwargs, func(ip string) *socklabv1.Operation {
		return &socklabv1.Operation{Op: &socklabv1.Operation_ResetLink{ResetLink: &socklabv1.ResetLinkOp{Peer: ip}}}
	})
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(resp.GetEvent().GetResult().GetValue()), nil
}

// linkValue is t.link(a, b, direction): the link between two hosts, or one way of it.
type linkValue struct {
	a, b   *hostValue
	aToB   bool // faults act on what a sends to b
	bToA   bool // and on what b sends to a
	tuples string
}

var _ starlark.HasAttrs = (*linkValue)(nil)

func (l *linkValue) String() string        { return "<link " + l.tuples + ">" }
func (l *linkValue) Type() string          { return "link" }
func (l *linkValue) Freeze()               {}
func (l *linkValue) Truth() starlark.Bool  { return true }
func (l *linkValue) Hash() (uint32, error) { return starlark.String(l.tuples).Hash() }

// LinkAttrs returns the methods of t.link(a, b), sorted.
func LinkAttrs() []string { return (&linkValue{}).AttrNames() }

func (l *linkValue) AttrNames() []string {
	return []string{"clear", "delay", "down", "duplicate", "loss", "rate", "reorder", "reset", "up"}
}

func (l *linkValue) Attr(name string) (starlark.Value, error) {
	for _, n := range l.AttrNames() {
		if n == name {
			return starlark.NewBuiltin("link."+name, l.method), nil
		}
	}
	return nil, nil
}

// ends returns the hosts that set the link's faults, each with its peer.
func (l *linkValue) ends() [][2]*hostValue {
	var out [][2]*hostValue
	if l.aToB {
		out = append(out, [2]*hostValue{l.a, l.b})
	}
	if l.bToA {
		out = append(out, [2]*hostValue{l.b, l.a})
	}
	return out
}

// method is every method of a link: down(), up(), delay(ms, jitter = 0), loss(percent, every = False),
// reorder(percent, ms = 10), duplicate(percent), rate(kbit), reset(), clear().
func (l *linkValue) method(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name := b.Name()[len("link."):]
	var kw []starlark.Tuple
	switch name {
	case "down":
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		kw = []starlark.Tuple{{starlark.String("down"), starlark.True}}
	case "up", "clear":
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		for _, e := range l.ends() {
			if _, err := e[0].clearFaults(th, b, starlark.Tuple{e[1]}, nil); err != nil {
				return nil, err
			}
		}
		return starlark.None, nil
	case "reset":
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		return l.a.resetLink(th, b, starlark.Tuple{l.b}, nil)
	case "delay":
		var ms, jitter starlark.Value = nil, starlark.MakeInt(0)
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ms", &ms, "jitter?", &jitter); err != nil {
			return nil, err
		}
		d, ok1 := starlark.AsFloat(ms)
		j, ok2 := starlark.AsFloat(jitter)
		if !ok1 || !ok2 || d <= 0 || j < 0 || j > d {
			return nil, fmt.Errorf("%s: want delay(ms, jitter = 0) in milliseconds, jitter at most the delay (got %s, %s)", b.Name(), ms, jitter)
		}
		kw = []starlark.Tuple{{starlark.String("delay"), starlark.Float(d / 1000)}}
		if j > 0 {
			kw = append(kw, starlark.Tuple{starlark.String("jitter"), starlark.Float(j / 1000)})
		}
	case "loss":
		var p starlark.Value
		every := false
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "percent", &p, "every?", &every); err != nil {
			return nil, err
		}
		kw = []starlark.Tuple{{starlark.String(name), p}}
		if every {
			kw = append(kw, starlark.Tuple{starlark.String("every"), starlark.True})
		}
	case "duplicate":
		var p starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "percent", &p); err != nil {
			return nil, err
		}
		kw = []starlark.Tuple{{starlark.String(name), p}}
	case "reorder":
		var p starlark.Value
		var ms starlark.Value = starlark.MakeInt(10)
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "percent", &p, "ms?", &ms); err != nil {
			return nil, err
		}
		d, ok := starlark.AsFloat(ms)
		if !ok || d <= 0 {
			return nil, fmt.Errorf("%s: ms, how long a reordered packet is held, must be positive (got %s)", b.Name(), ms)
		}
		kw = []starlark.Tuple{{starlark.String("reorder"), p}, {starlark.String("delay"), starlark.Float(d / 1000)}}
	case "rate":
		var kbit int
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kbit", &kbit); err != nil {
			return nil, err
		}
		kw = []starlark.Tuple{{starlark.String("rate_kbit"), starlark.MakeInt(kbit)}}
	}
	for _, e := range l.ends() {
		if _, err := e[0].fault(th, b, starlark.Tuple{e[1]}, kw); err != nil {
			return nil, err
		}
	}
	return starlark.None, nil
}

// link(a, b, direction = "both") returns the link between hosts a and b; direction
// "a->b" or "b->a" makes its faults act one way only.
func (t *tValue) link(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, bv starlark.Value
	direction := "both"
	if err := starlark.UnpackArgs("link", args, kwargs, "a", &av, "b", &bv, "direction?", &direction); err != nil {
		return nil, err
	}
	a, ok1 := av.(*hostValue)
	bh, ok2 := bv.(*hostValue)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("link: a and b must be hosts (t.client, t.server), not %s and %s", av.Type(), bv.Type())
	}
	if a.role == bh.role {
		return nil, fmt.Errorf("link: a and b are the same host, %s", a.role)
	}
	l := &linkValue{a: a, b: bh, tuples: a.role + "-" + bh.role}
	switch direction {
	case "both":
		l.aToB, l.bToA = true, true
	case "a->b":
		l.aToB, l.tuples = true, a.role+"->"+bh.role
	case "b->a":
		l.bToA, l.tuples = true, bh.role+"->"+a.role
	default:
		return nil, fmt.Errorf("link: direction %q: use \"both\", \"a->b\" or \"b->a\"", direction)
	}
	return l, nil
}
