package report

import (
	"fmt"
	"strings"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Looking at the host: its kernel socket table and its sysctl knobs.
func init() {
	register("ss", operation{
		// Only the filters that are set, as keyword arguments.
		args: func(ev *socklabv1.Event, _ int) []string {
			s := ev.GetOperation().GetSs()
			var kw []string
			if p := s.GetPort(); p != 0 {
				kw = append(kw, fmt.Sprintf("port = %d", p))
			}
			if st := s.GetState(); st != "" {
				kw = append(kw, "state = "+pyrepr.Str(st))
			}
			if pr := s.GetProtocol(); pr != "" {
				kw = append(kw, "proto = "+pyrepr.Str(pr))
			}
			if h := s.GetHost(); h != "" {
				kw = append(kw, "host = "+pyrepr.Str(h))
			}
			return kw
		},
		result: func(ev *socklabv1.Event, _ int) string { return ssRows(ev.GetResult().GetSockets()) },
	})
	register("sysctl", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Str(ev.GetOperation().GetSysctl().GetName())}
		},
		result: func(ev *socklabv1.Event, _ int) string {
			res := ev.GetResult()
			if !res.GetFound() {
				return "None (no such knob on this kernel)"
			}
			return pyrepr.Str(res.GetText())
		},
	})
}

func init() {
	register("netstat", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Str(ev.GetOperation().GetNetstat().GetName())}
		},
		result: func(ev *socklabv1.Event, _ int) string {
			if !ev.GetResult().GetFound() {
				return "None (no such counter on this kernel)"
			}
			return fmt.Sprint(ev.GetResult().GetValue())
		},
	})
}

// ssRows summarises the kernel's socket rows on one line: state local -> peer, ...
func ssRows(rows []*socklabv1.KernelSocket) string {
	if len(rows) == 0 {
		return "[] (no such socket)"
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = r.GetProtocol() + " " + r.GetState() + " " + hostPort(r.GetLocal())
		if r.GetPeer() != nil {
			parts[i] += " -> " + hostPort(r.GetPeer())
		}
	}
	return fmt.Sprintf("%d row(s): %s", len(rows), strings.Join(parts, ", "))
}

// hostPort returns an address as ss prints it: 127.0.0.1:8080, [::1]:8080.
func hostPort(a *socklabv1.Address) string {
	if strings.Contains(a.GetHost(), ":") {
		return fmt.Sprintf("[%s]:%d", a.GetHost(), a.GetPort())
	}
	return fmt.Sprintf("%s:%d", a.GetHost(), a.GetPort())
}
