package report

import (
	"fmt"
	"strings"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Link faults: what a host's packets toward a peer meet, and how it ended.
func init() {
	register("fault", operation{
		// fault('10.1.2.3', loss = 20.0), fault('10.1.2.3', delay = 0.05, jitter = 0.01)
		args: func(ev *socklabv1.Event, _ int) []string {
			f := ev.GetOperation().GetFault()
			args := []string{pyrepr.Str(f.GetPeer())}
			switch f.GetKind() {
			case socklabv1.FaultKind_FAULT_KIND_DOWN:
				args = append(args, "down = True")
			case socklabv1.FaultKind_FAULT_KIND_LOSS:
				args = append(args, "loss = "+pyrepr.Float(f.GetPercent()))
				if f.GetEvery() {
					args = append(args, "every = True")
				}
			case socklabv1.FaultKind_FAULT_KIND_DUPLICATE:
				args = append(args, "duplicate = "+pyrepr.Float(f.GetPercent()))
			case socklabv1.FaultKind_FAULT_KIND_REORDER:
				args = append(args, "reorder = "+pyrepr.Float(f.GetPercent()))
				if d := f.GetDelaySeconds(); d > 0 {
					args = append(args, "delay = "+pyrepr.Float(d))
				}
			case socklabv1.FaultKind_FAULT_KIND_DELAY:
				args = append(args, "delay = "+pyrepr.Float(f.GetDelaySeconds()))
				if j := f.GetJitterSeconds(); j > 0 {
					args = append(args, "jitter = "+pyrepr.Float(j))
				}
			case socklabv1.FaultKind_FAULT_KIND_RATE:
				args = append(args, fmt.Sprintf("rate_kbit = %d", f.GetRateKbit()))
			}
			return args
		},
	})
	register("clear_faults", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Str(ev.GetOperation().GetClearFaults().GetPeer())}
		},
		result: func(ev *socklabv1.Event, _ int) string { return faultCountsText(ev.GetResult().GetFaultCounts()) },
	})
	register("reset_link", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Str(ev.GetOperation().GetResetLink().GetPeer())}
		},
		result: func(ev *socklabv1.Event, _ int) string {
			return fmt.Sprintf("%d (TCP connections reset)", ev.GetResult().GetValue())
		},
	})
}

// faultCountsText says what a link's faults did: "None (60 packets: 12 dropped)".
func faultCountsText(c *socklabv1.FaultCounts) string {
	if c.GetPackets() == 0 {
		return "None"
	}
	var parts []string
	for _, p := range []struct {
		n    uint64
		what string
	}{{c.GetDropped(), "dropped"}, {c.GetDelayed(), "delayed"}, {c.GetDuplicated(), "duplicated"}, {c.GetReordered(), "reordered"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("None (%d packets, none touched)", c.GetPackets())
	}
	return fmt.Sprintf("None (%d packets: %s)", c.GetPackets(), strings.Join(parts, ", "))
}
