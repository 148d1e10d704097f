package export

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// isFailed reports whether e records a declared check that failed.
func isFailed(e transcript.Entry) bool { return e.Kind == transcript.Failed }

// failedText says, a line each, which check failed, why, where, and the hosts' socket
// tables at that moment summed up:
//
//	check gets-upper failed
//	got ..., want ...
//	at lab.star:27:12
//	sockets: server 1 LISTEN, 1 CLOSE_WAIT; client 1 FIN_WAIT2
func failedText(e transcript.Entry) string {
	lines := []string{"check " + e.Check + " failed"}
	if e.Text != "" {
		lines = append(lines, e.Text)
	}
	if e.Pos != "" {
		lines = append(lines, "at "+e.Pos)
	}
	if sum := snapshotSummary(e.Snapshot); sum != "" {
		lines = append(lines, "sockets: "+sum)
	}
	return strings.Join(lines, "\n")
}

// snapshotSummary counts each host's sockets by state, in the order the states first
// appear: "server 1 LISTEN, 2 ESTABLISHED; client none".
func snapshotSummary(snap []*socklabv1.HostSockets) string {
	var hosts []string
	for _, h := range snap {
		if h.GetError() != "" {
			hosts = append(hosts, h.GetRole()+" ("+h.GetError()+")")
			continue
		}
		var states []string
		count := map[string]int{}
		for _, ks := range h.GetSockets() {
			st := ks.GetState()
			if count[st] == 0 {
				states = append(states, st)
			}
			count[st]++
		}
		parts := make([]string, 0, len(states))
		for _, st := range states {
			parts = append(parts, strconv.Itoa(count[st])+" "+st)
		}
		if len(parts) == 0 {
			parts = append(parts, "none")
		}
		hosts = append(hosts, h.GetRole()+" "+strings.Join(parts, ", "))
	}
	return strings.Join(hosts, "; ")
}

// snapshotRows returns each host's socket table as ss would print its rows:
// "server: tcp CLOSE_WAIT 127.0.0.2:8080 127.0.0.3:40000 recv-q 0 send-q 0".
func snapshotRows(snap []*socklabv1.HostSockets) []string {
	var rows []string
	for _, h := range snap {
		if h.GetError() != "" {
			rows = append(rows, h.GetRole()+": "+h.GetError())
			continue
		}
		if len(h.GetSockets()) == 0 {
			rows = append(rows, h.GetRole()+": no sockets")
		}
		for _, ks := range h.GetSockets() {
			peer := "*"
			if ks.GetPeer() != nil {
				peer = addr(ks.GetPeer())
			}
			rows = append(rows, fmt.Sprintf("%s: %s %s %s %s recv-q %d send-q %d", h.GetRole(), ks.GetProtocol(), ks.GetState(),
				addr(ks.GetLocal()), peer, ks.GetRecvQueue(), ks.GetSendQueue()))
		}
	}
	return rows
}

// addr writes an address as ss does: host:port, [v6]:port, or a path.
func addr(a *socklabv1.Address) string {
	if a.GetPath() != "" {
		return a.GetPath()
	}
	return net.JoinHostPort(a.GetHost(), strconv.FormatUint(uint64(a.GetPort()), 10))
}
