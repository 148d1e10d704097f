// Package export writes a run in the formats other tools read: Mermaid sequenceDiagram
// text (GitHub renders it), a ShiViz log with vector clocks, Chrome/Perfetto trace event
// JSON, and JUnit XML with the lab's checks as test cases.
//
// Each format is a report.Writer, so a stored run is exported through the same Replay
// path that prints it as text, entry by entry: memory is bounded by what is in flight
// (the ladder's pending sends, a window of recent steps), never by the run's length.
// Entries come in display order, as transcript.Merger emits them.
package export

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Formats are the names New takes, in the order the command line lists them.
var Formats = []string{"mermaid", "shiviz", "chrome-trace", "junit"}

// Writer is a report.Writer that reports the first error writing its output.
type Writer interface {
	report.Writer
	// Err returns the first error writing, if any.
	Err() error
}

// New returns the writer of the named format (one of Formats) to w.
func New(format string, w io.Writer) (Writer, error) {
	switch format {
	case "mermaid":
		return NewMermaid(w), nil
	case "shiviz":
		return NewShiViz(w), nil
	case "chrome-trace":
		return NewChromeTrace(w), nil
	case "junit":
		return NewJUnit(w), nil
	}
	return nil, fmt.Errorf("export format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// window is how many of the latest steps a writer remembers: an arrow whose send is
// older than that (a message read long after it was sent) is left out.
const window = 1 << 16

// recent keeps what a writer needs of the latest window steps, by step index. Steps are
// put in index order, from 0.
type recent[T any] struct {
	items []T
	next  int
}

// put records the next step's value.
func (r *recent[T]) put(v T) {
	if len(r.items) < window {
		r.items = append(r.items, v)
	} else {
		r.items[r.next%window] = v
	}
	r.next++
}

// get returns step i's value, and whether it is still remembered.
func (r *recent[T]) get(i int) (T, bool) {
	var zero T
	if i < 0 || i >= r.next || i < r.next-window {
		return zero, false
	}
	return r.items[i%window], true
}

// hosts numbers a run's hosts in the lab's order, from 0, and knows them by address; a
// host the header did not name is numbered when first seen.
type hosts struct {
	roles  []string
	addrs  []string
	byRole map[string]int
}

// header numbers the header's hosts in the lab's order and keeps their addresses.
func (h *hosts) header(hd transcript.Header) {
	for _, host := range hd.Hosts {
		i := h.index(host.Role)
		h.addrs[i] = host.Address
	}
}

// index returns role's number, numbering it when new.
func (h *hosts) index(role string) int {
	if h.byRole == nil {
		h.byRole = map[string]int{}
	}
	if i, ok := h.byRole[role]; ok {
		return i
	}
	h.byRole[role] = len(h.roles)
	h.roles = append(h.roles, role)
	h.addrs = append(h.addrs, "")
	return len(h.roles) - 1
}

// byAddress returns the number of the host with address addr, or -1.
func (h *hosts) byAddress(addr string) int {
	if addr == "" {
		return -1
	}
	return slices.Index(h.addrs, addr)
}

// destination returns the host a datagram send went to (by its peer address), or -1.
func (h *hosts) destination(ev *socklabv1.Event) int {
	return h.byAddress(ev.GetPeer().GetHost())
}

// previewMax is how many characters of a payload's repr an arrow's label shows.
const previewMax = 24

// label says what an arrow carries in a few words: its payload's start and byte count,
// or what kind of message it is.
func label(a ladder.Arrow) string {
	conn := ""
	if a.Conn > 0 {
		conn = fmt.Sprintf(" [conn %d]", a.Conn)
	}
	switch a.Kind {
	case ladder.Connect:
		return "connect" + conn
	case ladder.FIN:
		return "FIN b''" + conn
	case ladder.RST:
		return "RST" + conn
	case ladder.Lost:
		return "lost: " + report.Bytes(a.Payload, a.Bytes, previewMax) + " " + byteCount(a.Bytes)
	}
	return report.Bytes(a.Payload, a.Bytes, previewMax) + " " + byteCount(a.Bytes) + conn
}

func byteCount(n uint64) string {
	if n == 1 {
		return "(1 byte)"
	}
	return fmt.Sprintf("(%d bytes)", n)
}

// The background events a program under test sends carry no Operation; their op names
// them (as report's text transcript reads them).
const (
	programOutput = "output" // a chunk of its output: note says "stdout" or "stderr"
	programExit   = "exit"   // its end: note says how it ended ("exit 0", "SIGTERM")
)

// programEvent returns the text of a program's output or end ("p1 stdout: b'hi\n'",
// "p1 exited: exit 0"), and whether ev is one.
func programEvent(ev *socklabv1.Event) (string, bool) {
	if ev.GetOperation().GetOp() != nil || ev.GetKind() != socklabv1.EventKind_EVENT_KIND_BACKGROUND {
		return "", false
	}
	p := fmt.Sprintf("p%d", ev.GetHandle())
	switch ev.GetOp() {
	case programExit:
		return p + " exited: " + ev.GetNote(), true
	case programOutput:
		return p + " " + ev.GetNote() + ": " + report.Bytes(ev.GetPayload(), ev.GetPayloadLength(), 2*previewMax), true
	}
	return "", false
}

// describe returns an operation as the text transcript shows it: the Python call and what
// it returned, or an event's note.
func describe(ev *socklabv1.Event) string {
	if s, ok := programEvent(ev); ok {
		return s
	}
	switch ev.GetKind() {
	case socklabv1.EventKind_EVENT_KIND_DROPPED:
		return fmt.Sprintf("%d events lost %s", ev.GetDropped(), ev.GetNote())
	case socklabv1.EventKind_EVENT_KIND_SESSION_END:
		return "session ended " + ev.GetNote()
	}
	s := report.Call(ev) + " -> " + report.Outcome(ev)
	if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND && ev.GetNote() != "" {
		s += " (" + ev.GetNote() + ")"
	}
	return s
}

// output buffers what a writer writes to w and remembers the first error, after which
// it writes nothing.
type output struct {
	w   *bufio.Writer
	err error
}

func newOutput(w io.Writer) output { return output{w: bufio.NewWriter(w)} }

func (o *output) write(s string) {
	if o.err == nil {
		_, o.err = o.w.WriteString(s)
	}
}

func (o *output) bytes(b []byte) {
	if o.err == nil {
		_, o.err = o.w.Write(b)
	}
}

// flush writes what is buffered; it returns the first error.
func (o *output) flush() error {
	if o.err == nil {
		o.err = o.w.Flush()
	}
	return o.err
}
