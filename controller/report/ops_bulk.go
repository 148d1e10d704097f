package report

import (
	"fmt"
	"strings"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Load and background work: bulk data, many connections, a serving listener.
func init() {
	register("send_bulk", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{count(ev.GetOperation().GetSendBulk().GetCount())}
		},
		result: value,
	})
	register("drain", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{count(ev.GetOperation().GetDrain().GetCount())}
		},
		// How many bytes arrived, and their checksum.
		result: func(ev *socklabv1.Event, _ int) string {
			res := ev.GetResult()
			return fmt.Sprintf("(%d, 0x%08x)", res.GetValue(), res.GetChecksum())
		},
	})
	register("connect_many", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			c := ev.GetOperation().GetConnectMany()
			return []string{Address(c.GetAddress()), count(c.GetCount())}
		},
		// The handles of the new sockets, the first and last of a longer list.
		result: func(ev *socklabv1.Event, _ int) string {
			hs := ev.GetResult().GetHandles()
			switch len(hs) {
			case 0:
				return "[]"
			case 1:
				return "[" + handle(hs[0]) + "]"
			}
			return fmt.Sprintf("[%s ... %s] (%d sockets)", handle(hs[0]), handle(hs[len(hs)-1]), len(hs))
		},
	})
	register("serve", operation{
		// The behaviour as a lab names it: BEHAVIOUR_ECHO is 'echo'.
		args: func(ev *socklabv1.Event, _ int) []string {
			b := ev.GetOperation().GetServe().GetBehaviour().String()
			return []string{pyrepr.Str(strings.ToLower(strings.TrimPrefix(b, "BEHAVIOUR_")))}
		},
	})
}
