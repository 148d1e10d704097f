package report

import (
	"strings"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The calls that complete Python's socket API: socketpair, select, recv_into, sendfile.
func init() {
	register("socketpair", operation{
		makes: true,
		args: func(ev *socklabv1.Event, _ int) []string {
			s := ev.GetOperation().GetSocketpair()
			var proto string
			if p := s.GetProto(); p != 0 {
				proto = levelName(p)
			}
			return []string{familyName(s.GetFamily()), typeName(s.GetType()), proto}
		},
		// The two new sockets, as Python's tuple.
		result: func(ev *socklabv1.Event, _ int) string { return handleTuple(ev.GetResult().GetHandles()) },
	})
	register("select", operation{
		// The three lists of sockets, and the timeout unless it is None.
		args: func(ev *socklabv1.Event, _ int) []string {
			s := ev.GetOperation().GetSelect()
			args := []string{handleList(s.GetRead()), handleList(s.GetWrite()), handleList(s.GetExceptional())}
			if s.TimeoutSeconds != nil {
				args = append(args, pyrepr.Float(s.GetTimeoutSeconds()))
			}
			return args
		},
		// The ready sockets of each list, as Python's tuple of three lists.
		result: func(ev *socklabv1.Event, _ int) string {
			r := ev.GetResult().GetReady()
			return "(" + handleList(r.GetRead()) + ", " + handleList(r.GetWrite()) + ", " + handleList(r.GetExceptional()) + ")"
		},
	})
}

func init() {
	register("recv_into", operation{
		// The lab's buffer has no name in the event: it shows as buffer.
		args: func(ev *socklabv1.Event, _ int) []string {
			r := ev.GetOperation().GetRecvInto()
			return []string{"buffer", count(r.GetBufsize()), flagNames(r.GetFlags())}
		},
		// How many bytes came, and what they were.
		result: func(ev *socklabv1.Event, max int) string {
			return value(ev, max) + " (" + received(ev, max) + ")" + truncated(ev.GetResult())
		},
	})
}

func init() {
	register("sendfile", operation{
		// The file by its name in the session's directory; offset and count as Python's
		// positional arguments, when given.
		args: func(ev *socklabv1.Event, _ int) []string {
			f := ev.GetOperation().GetSendfile()
			args := []string{pyrepr.Str(f.GetFile())}
			switch {
			case f.Count != nil:
				args = append(args, count(f.GetOffset()), count(f.GetCount()))
			case f.GetOffset() > 0:
				args = append(args, count(f.GetOffset()))
			}
			return args
		},
		result: value,
	})
}

// handleList returns handles as Python writes a list of the sockets: [s1, s2].
func handleList(hs []uint32) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = handle(h)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// handleTuple returns handles as Python writes a tuple of the sockets: (s1, s2).
func handleTuple(hs []uint32) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = handle(h)
	}
	if len(names) == 1 {
		return "(" + names[0] + ",)"
	}
	return "(" + strings.Join(names, ", ") + ")"
}
