package report

import (
	"fmt"
	"strconv"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// A socket's life: making it, addressing it, connecting it, ending it.
func init() {
	register("socket", operation{
		makes: true,
		args: func(ev *socklabv1.Event, _ int) []string {
			s := ev.GetOperation().GetSocket()
			var proto string // left out when 0, as Python code leaves it out
			if p := s.GetProto(); p != 0 {
				proto = levelName(p) // IPPROTO_TCP: the protocols are also option levels
			}
			return []string{familyName(s.GetFamily()), typeName(s.GetType()), proto}
		},
		// The new socket's handle; the agent may put it on the event instead.
		result: func(ev *socklabv1.Event, _ int) string {
			h := ev.GetResult().GetHandle()
			if h == 0 {
				h = ev.GetHandle()
			}
			return handle(h)
		},
	})
	register("bind", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{Address(ev.GetOperation().GetBind().GetAddress())}
		},
	})
	register("listen", operation{
		// listen() without a backlog leaves Python's default.
		args: func(ev *socklabv1.Event, _ int) []string {
			l := ev.GetOperation().GetListen()
			if l == nil || l.Backlog == nil {
				return nil
			}
			return []string{strconv.Itoa(int(l.GetBacklog()))}
		},
	})
	register("accept", operation{
		result: func(ev *socklabv1.Event, _ int) string {
			res := ev.GetResult()
			return fmt.Sprintf("(%s, %s)", handle(res.GetHandle()), Address(res.GetAddress()))
		},
	})
	register("connect", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{Address(ev.GetOperation().GetConnect().GetAddress())}
		},
	})
	register("connect_ex", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{Address(ev.GetOperation().GetConnectEx().GetAddress())}
		},
		result:     value,
		errnoValue: true,
	})
	register("shutdown", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{howName(ev.GetOperation().GetShutdown().GetHow())}
		},
	})
	register("close", operation{})
	register("getsockname", operation{result: address})
	register("getpeername", operation{result: address})
}

// address returns the address in the event's result: what getsockname and getpeername
// return.
func address(ev *socklabv1.Event, _ int) string { return Address(ev.GetResult().GetAddress()) }
