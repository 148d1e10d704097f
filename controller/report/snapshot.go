package report

import (
	"fmt"
	"strings"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// snapshotRows is how many of a host's sockets a failed check's snapshot lists; the
// rest are counted.
const snapshotRows = 8

// SnapshotLines says what each host's kernel socket table held when a check failed, a
// line per socket as ss shows it ("a  tcp ESTABLISHED 127.5.0.2:8080 -> 127.5.0.3:40000
// recv-q 6 unread"), at most snapshotRows of each host's; addr names an address as the view
// does (nil: as the host:port it is).
func SnapshotLines(hosts []*socklabv1.HostSockets, addr func(*socklabv1.Address) string) []string {
	if addr == nil {
		addr = func(a *socklabv1.Address) string {
			if a.GetPath() != "" {
				return a.GetPath()
			}
			return hostPort(a)
		}
	}
	roleW := 0
	for _, h := range hosts {
		roleW = max(roleW, runes(h.GetRole()))
	}
	var out []string
	for _, h := range hosts {
		role := pad(h.GetRole(), roleW)
		switch {
		case h.GetError() != "":
			out = append(out, role+"  ("+h.GetError()+")")
			continue
		case len(h.GetSockets()) == 0:
			out = append(out, role+"  (no sockets)")
			continue
		}
		for i, so := range h.GetSockets() {
			if i == snapshotRows {
				out = append(out, fmt.Sprintf("%s  ... and %d more", role, len(h.GetSockets())-i))
				break
			}
			out = append(out, role+"  "+socketRow(so, addr))
		}
	}
	return out
}

// socketRow is one kernel socket as ss shows it: protocol, state, addresses, queues.
func socketRow(so *socklabv1.KernelSocket, addr func(*socklabv1.Address) string) string {
	var b strings.Builder
	b.WriteString(so.GetProtocol() + " " + so.GetState() + " " + addr(so.GetLocal()))
	if p := so.GetPeer(); p != nil && p.GetPort() != 0 {
		b.WriteString(" -> " + addr(p))
	}
	if q := so.GetRecvQueue(); q > 0 {
		if so.GetState() == "LISTEN" {
			fmt.Fprintf(&b, "  %d waiting to be accepted", q)
		} else {
			fmt.Fprintf(&b, "  recv-q %d unread", q)
		}
	}
	if q := so.GetSendQueue(); q > 0 && so.GetState() != "LISTEN" {
		fmt.Fprintf(&b, "  send-q %d", q)
	}
	return b.String()
}
