package htmlreport

import (
	"github.com/socklab/socklab/controller/transcript"
)

// failed fills out as a failed check's step when en is one, and reports whether it was.
func failed(en transcript.Entry, out *Step) bool {
	_ = socketsOf // the hosts' tables, once transcript entries carry them
	return false
}
