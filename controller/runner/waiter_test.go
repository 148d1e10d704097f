package runner_test

import (
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
)

// waiter is a Sink that is a Waiter: it keeps the calls it is told of.
type waiter struct {
	recorder
	calling  []transcript.Entry
	returned []uint64
	open     map[uint64]bool
}

var _ runner.Waiter = (*waiter)(nil)

func (w *waiter) Calling(id uint64, e transcript.Entry) {
	if w.open == nil {
		w.open = map[uint64]bool{}
	}
	w.open[id] = true
	w.calling = append(w.calling, e)
}

func (w *waiter) Returned(id uint64) {
	delete(w.open, id)
	w.returned = append(w.returned, id)
}

// TestWaiter: a Waiter sink is told of each call as it is sent, with its host, handle
// and operation, and of its return, even when the watchdog cut it short; the watchdog's
// cut is a note on the call's host that says so.
func TestWaiter(t *testing.T) {
	var w waiter
	res := runFile(t, t.Context(), "watchdog.star", &w)
	if res.ExitCode != transcript.ExitFailed {
		t.Fatalf("exit code = %d (%s), want %d", res.ExitCode, res.Error, transcript.ExitFailed)
	}
	if len(w.calling) != 3 || len(w.returned) != 3 || len(w.open) != 0 {
		t.Fatalf("told of %d calls and %d returns, %d still open; want socket, bind and recv, each returned", len(w.calling), len(w.returned), len(w.open))
	}
	recv := w.calling[2]
	if recv.Host != "a" || recv.Event.GetHandle() == 0 || recv.Event.GetOperation().GetRecv() == nil {
		t.Errorf("the third call = %s handle %d %v, want a's recv on its socket", recv.Host, recv.Event.GetHandle(), recv.Event.GetOperation())
	}
	var notes []string
	for _, e := range w.entries {
		if e.Kind == transcript.Note {
			notes = append(notes, e.Host+": "+e.Text)
		}
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "a: watchdog: recv got no answer and was cut short") {
		t.Errorf("notes = %q, want a's watchdog cutting its recv short", notes)
	}
}
