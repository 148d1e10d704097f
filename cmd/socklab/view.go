package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
)

// The views of --view: how a run shows as text.
const (
	viewText   = "text"
	viewLadder = "ladder"
	viewUsage  = "how to show the run: text (a line per call) or ladder (a sequence diagram, a column per host)"
)

// checkView checks --view against --format.
func checkView(view, format string) error {
	switch {
	case view != viewText && view != viewLadder:
		return fmt.Errorf("--view %q: want text or ladder", view)
	case view == viewLadder && format != "text":
		return fmt.Errorf("--view ladder draws text: it goes with --format text, not %s", format)
	}
	return nil
}

// ladderWriter returns what draws a run on out as a ladder: as wide as out when it is a
// terminal (else 80 columns), in ASCII for TERM=dumb. A controller's run (remote)
// streams entries as they arrive, and the ladder wants them in display order: they are
// put in order first.
func ladderWriter(out io.Writer, color, remote bool) report.Writer {
	var w report.Writer = report.NewLadder(out, report.LadderOptions{Color: color, ASCII: os.Getenv("TERM") == "dumb", Width: terminalWidth(out)})
	if remote {
		w = report.InOrder(w, remoteLag)
	}
	return w
}

// terminalWidth is out's width when it is a terminal, else 0.
func terminalWidth(out io.Writer) int {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// remoteLag is how long a remote run's ladder holds an entry for those that should come
// before it, as a local run's window does.
const remoteLag = 500 * time.Millisecond

// inDisplayOrder has the runner hand w the run's entries in display order
// (Options.Ordered), as the ladder needs them (its arrows join a recv to the sends
// before it), besides whatever Options.Ordered already took them; sink then passes w
// the header only. With whole, it keeps the entries too, for --out: the record holds
// none when they go to Options.Ordered (see keepWhole).
func inDisplayOrder(opts *runner.Options, sink runner.Sink, w report.Writer, whole bool) (runner.Sink, *[]transcript.Entry) {
	var kept *[]transcript.Entry
	if whole {
		kept = new([]transcript.Entry)
	}
	before := opts.Ordered
	opts.Ordered = func(e transcript.Entry) {
		w.Entry(e)
		if before != nil {
			before(e)
		}
		if kept != nil {
			*kept = append(*kept, e)
		}
	}
	return headerOnly{sink}, kept
}

// keepWhole gives rec the entries inDisplayOrder kept, if it kept them.
func keepWhole(rec *transcript.Record, whole *[]transcript.Entry) {
	if whole != nil {
		rec.Entries = *whole
	}
}

// headerOnly is a run's sink whose entries go elsewhere in display order: it passes on
// the header only.
type headerOnly struct{ runner.Sink }

// Entry ignores an entry as it arrives: it comes again in display order.
func (headerOnly) Entry(transcript.Entry) {}
