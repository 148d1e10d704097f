package htmlreport

import (
	"github.com/socklab/socklab/controller/transcript"
)

// failed fills out as a failed check's step when en is one (transcript.Failed: the
// check, its message, and each host's kernel socket table when it failed), and reports
// whether it was.
func failed(en transcript.Entry, out *Step) bool {
	if en.Kind != transcript.Failed {
		return false
	}
	out.Kind, out.Check, out.Text = KindFailed, en.Check, en.Text
	for _, hs := range en.Snapshot {
		out.Snapshot = append(out.Snapshot, HostSockets{Role: hs.GetRole(), Sockets: socketsOf(hs.GetSockets()), Error: hs.GetError()})
	}
	return true
}
