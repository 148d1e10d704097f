package report

import (
	"fmt"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Sending and receiving data, on streams and datagrams.
func init() {
	register("send", operation{
		args: func(ev *socklabv1.Event, max int) []string {
			s := ev.GetOperation().GetSend()
			return []string{sent(ev, s.GetData(), max), flagNames(s.GetFlags())}
		},
		result: value,
	})
	register("sendall", operation{
		args: func(ev *socklabv1.Event, max int) []string {
			s := ev.GetOperation().GetSendall()
			return []string{sent(ev, s.GetData(), max), flagNames(s.GetFlags())}
		},
	})
	register("sendto", operation{
		args: func(ev *socklabv1.Event, max int) []string {
			s := ev.GetOperation().GetSendto()
			return []string{sent(ev, s.GetData(), max), flagNames(s.GetFlags()), Address(s.GetAddress())}
		},
		result: value,
	})
	register("recv", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			r := ev.GetOperation().GetRecv()
			return []string{count(r.GetBufsize()), flagNames(r.GetFlags())}
		},
		result: func(ev *socklabv1.Event, max int) string {
			return received(ev, max) + truncated(ev.GetResult())
		},
	})
	register("recvfrom", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			r := ev.GetOperation().GetRecvfrom()
			return []string{count(r.GetBufsize()), flagNames(r.GetFlags())}
		},
		// The agent sets the sender's address for datagrams; on a stream Python returns None.
		result: func(ev *socklabv1.Event, max int) string {
			res := ev.GetResult()
			return fmt.Sprintf("(%s, %s)", received(ev, max), Address(res.GetAddress())) + truncated(res)
		},
	})
}

// sent returns the repr of the data a sending call sent: the event's payload (where the
// agent moves it), else the operation's own data. A call that failed before sending a
// byte shows "..." (Python's Ellipsis): the event does not say what it tried to send.
func sent(ev *socklabv1.Event, data []byte, max int) string {
	switch {
	case len(ev.GetPayload()) > 0 || ev.GetPayloadLength() > 0:
		return pyrepr.Bytes(ev.GetPayload(), ev.GetPayloadLength(), max)
	case len(data) > 0:
		return pyrepr.Bytes(data, 0, max)
	case ev.GetError() != nil:
		return "..."
	}
	return "b''"
}

// received returns the repr of the data a receiving call returned: the event's payload.
func received(ev *socklabv1.Event, max int) string {
	return pyrepr.Bytes(ev.GetPayload(), ev.GetPayloadLength(), max)
}

// truncated notes a datagram that did not fit the buffer: the rest of it is lost.
func truncated(res *socklabv1.Result) string {
	switch {
	case !res.GetTruncated():
		return ""
	case res.GetDatagramLength() > 0:
		return fmt.Sprintf(" [truncated: %d-byte datagram]", res.GetDatagramLength())
	}
	return " [truncated]"
}
