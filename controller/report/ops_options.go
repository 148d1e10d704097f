package report

import (
	"strconv"

	"github.com/socklab/socklab/agent/sockconst"
	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// A socket's options and its timeout.
func init() {
	register("setsockopt", operation{
		args: func(ev *socklabv1.Event, max int) []string {
			s := ev.GetOperation().GetSetsockopt()
			v := strconv.FormatInt(s.GetIntValue(), 10)
			if b, ok := s.GetValue().(*socklabv1.SetSockOptOp_BytesValue); ok {
				v = pyrepr.Bytes(b.BytesValue, 0, max)
			}
			return []string{levelName(s.GetLevel()), optionName(ev, s.GetLevel(), s.GetName()), v}
		},
	})
	register("getsockopt", operation{
		// A buflen asks for the option's bytes; without one, getsockopt returns an int.
		args: func(ev *socklabv1.Event, _ int) []string {
			g := ev.GetOperation().GetGetsockopt()
			var buflen string
			if g.GetBuflen() > 0 {
				buflen = count(g.GetBuflen())
			}
			return []string{levelName(g.GetLevel()), optionName(ev, g.GetLevel(), g.GetName()), buflen}
		},
		result: func(ev *socklabv1.Event, max int) string {
			if ev.GetOperation().GetGetsockopt().GetBuflen() > 0 {
				return pyrepr.Bytes(ev.GetResult().GetBytesValue(), 0, max)
			}
			return value(ev, max)
		},
	})
	register("settimeout", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			s := ev.GetOperation().GetSettimeout()
			if s == nil || s.Seconds == nil {
				return []string{"None"}
			}
			return []string{pyrepr.Float(s.GetSeconds())}
		},
	})
	register("setblocking", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Bool(ev.GetOperation().GetSetblocking().GetBlocking())}
		},
	})
	register("getblocking", operation{
		result: func(ev *socklabv1.Event, _ int) string { return pyrepr.Bool(ev.GetResult().GetValue() != 0) },
	})
	register("gettimeout", operation{
		// None for a blocking socket without a timeout.
		result: func(ev *socklabv1.Event, _ int) string {
			if res := ev.GetResult(); res != nil && res.TimeoutSeconds != nil {
				return pyrepr.Float(res.GetTimeoutSeconds())
			}
			return "None"
		},
	})
}

// levelName returns an option level as Python names it, "SOL_SOCKET", or its number.
func levelName(level int32) string { return sockconst.Name(sockconst.Level, int(level)) }

// optionName returns an option as Python names it, "SO_REUSEADDR", or its number. The name
// the agent put in the event's result comes first: it is the option the agent acted on.
func optionName(ev *socklabv1.Event, level, name int32) string {
	if s := ev.GetResult().GetOptionName(); s != "" {
		return s
	}
	return sockconst.OptionName(int(level), int(name))
}
