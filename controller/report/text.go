// Package report renders a run for people: a live text transcript for a terminal or a
// log, with each socket operation written as Python would write the call, and a table of
// the lab's checks.
package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/socklab/socklab/controller/pyrepr"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// DefaultWidth is the line width Text aims for when TextOptions.Width is 0.
const DefaultWidth = 100

// minPreview is the fewest payload characters Text keeps when it shortens a long line.
const minPreview = 8

// ANSI SGR codes.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	boldRed = "\x1b[1;31m"
	boldGrn = "\x1b[1;32m"
)

// hostColors are the hosts' colours, given out in the order roles are first seen; red,
// green and yellow are left to errors, outcomes and notes.
var hostColors = []string{"\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[95m", "\x1b[94m"}

// TextOptions configures a Text.
type TextOptions struct {
	// Color turns on ANSI colour; the CLI sets it only when the output is a terminal.
	Color bool
	// Width is the total line width to aim for; 0 means DefaultWidth.
	Width int
	// Lang is the language of the checks' hints ("en", "zh"); "" means "en". A check
	// without a hint in Lang shows its English one.
	Lang string
}

// Text renders a run as it happens, as lines of text: a header, one line per transcript
// entry, the checks table and a verdict. Its methods may be called from several
// goroutines; each writes whole lines.
type Text struct {
	color bool
	width int
	lang  string

	mu        sync.Mutex // guards the fields below and writes to w
	w         io.Writer
	err       error          // the first write error
	roles     map[string]int // role -> colour index, in the order first seen
	roleWidth int            // the longest role in the header
	addrWidth int            // the longest address in the header
}

// NewText returns a Text that writes to w.
func NewText(w io.Writer, opts TextOptions) *Text {
	width := opts.Width
	if width <= 0 {
		width = DefaultWidth
	}
	lang := opts.Lang
	if lang == "" {
		lang = transcript.DefaultLang
	}
	return &Text{color: opts.Color, width: width, lang: lang, w: w, roles: map[string]int{}}
}

// Err returns the first error writing to the output, if any.
func (t *Text) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

var _ Writer = (*Text)(nil)

// Header prints the lab's name and summary and a line per host: role and address. It
// sets the widths of the host and address columns of the lines that follow.
func (t *Text) Header(h transcript.Header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lab, summary, hosts := h.Lab, h.Summary, h.Hosts
	for _, h := range hosts {
		t.roleWidth = max(t.roleWidth, runes(h.Role))
		t.addrWidth = max(t.addrWidth, runes(h.Address))
		t.roleIndex(h.Role)
	}
	var b strings.Builder
	b.WriteString(t.paint(bold, lab))
	if summary != "" {
		b.WriteString(": " + summary)
	}
	b.WriteString("\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  %s  %s\n", t.host(h.Role, pad(h.Role, t.roleWidth)), h.Address)
	}
	b.WriteString("\n")
	t.write(b.String())
}

// Entry prints one transcript entry as one line. An operation's line has aligned columns:
// time in seconds, host, address, handle, the call, then "-> outcome" or "!! error"; a
// background event adds its note in parentheses, a dropped marker says how many events
// were lost, and a session's end prints nothing. Narration and notes are set apart under
// the time column, marked "»" and "!".
//
// The handle column names a socket s3 and a process p3. An event is about a process when
// its operation is spawn or a process's method, or it is one of the background events a
// process sends with no operation: a chunk of its output, shown as stdout: b'hello\n'
// (or stderr:), and its end, shown as exited: exit 0. Agents number a session's sockets
// and processes from one counter, so each event tells on its own.
func (t *Text) Entry(e transcript.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case e.Kind == transcript.Say:
		t.write(t.aside("»", bold, e.Text))
	case e.Kind == transcript.Note:
		t.write(t.aside("!", yellow, e.Text))
	case e.Kind == transcript.Failed: // the checks' table says it at the end
	case e.Event == nil:
		if e.Text != "" {
			t.write(t.aside("»", bold, e.Text))
		}
	case e.Event.GetKind() == socklabv1.EventKind_EVENT_KIND_SESSION_END:
	case e.Event.GetKind() == socklabv1.EventKind_EVENT_KIND_DROPPED:
		t.write(t.dropped(e))
	case isProcess(e.Event) && e.Event.GetOperation().GetOp() == nil:
		t.write(t.processEvent(e))
	default:
		t.write(t.operation(e))
	}
}

// aside formats narration or a note: marker and text under the time column, each line of
// a multi-line text indented alike.
func (t *Text) aside(marker, code, text string) string {
	indent := strings.Repeat(" ", runes(stamp(0))+2)
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		m := marker
		if i > 0 {
			m = strings.Repeat(" ", runes(marker))
		}
		b.WriteString(indent + t.paint(code, m+" "+line) + "\n")
	}
	return b.String()
}

// prefix returns the time, host, address and handle columns of an event's line, plain and
// painted; hs is the handle's name ("s3", "p3") or "".
func (t *Text) prefix(e transcript.Entry, hs string) (plain, painted string) {
	ts, role, addr := stamp(e.At), pad(e.Host, t.roleWidth), pad(e.Address, t.addrWidth)
	hs = pad(hs, 3)
	plain = ts + "  " + role + "  " + addr + "  " + hs + "  "
	painted = t.paint(dim, ts) + "  " + t.host(e.Host, role) + "  " + addr + "  " + hs + "  "
	return plain, painted
}

// dropped formats a marker for events lost because the stream fell behind.
func (t *Text) dropped(e transcript.Entry) string {
	_, pre := t.prefix(e, "")
	n := e.Event.GetDropped()
	msg := fmt.Sprintf("! %d events lost", n)
	if n == 1 {
		msg = "! 1 event lost"
	}
	if note := e.Event.GetNote(); note != "" {
		msg += " (" + note + ")"
	}
	return pre + t.paint(yellow, msg) + "\n"
}

// operation formats an operation's line. When it is wider than t.width, payload previews
// are shortened (to no fewer than minPreview characters) while that makes it shorter; the
// outcome, error and note are never cut.
func (t *Text) operation(e transcript.Entry) string {
	ev := e.Event
	plain, pre := t.prefix(e, handleName(ev))
	arrow, code := "  -> ", green
	if raised(ev) {
		arrow, code = "  !! ", red
	}
	errno, note := "", ""
	if returnsErrno(ev) && ev.GetError().GetName() != "" {
		errno = " (" + ev.GetError().GetName() + ")"
	}
	if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND && ev.GetNote() != "" {
		note = "  (" + ev.GetNote() + ")"
	}
	tail := errno + note
	slack := t.slack()
	c, out := call(ev, PreviewMax), outcome(ev, PreviewMax)
	n := runes(plain+c+arrow+out+tail) + slack
	for preview := PreviewMax; n > t.width && preview > minPreview; {
		preview = max(minPreview, preview-(n-t.width))
		c2, out2 := call(ev, preview), outcome(ev, preview)
		if n2 := runes(plain+c2+arrow+out2+tail) + slack; n2 < n {
			c, out, n = c2, out2, n2
		}
	}
	return pre + c + t.paint(code, arrow+out+errno) + t.paint(dim, note) + "\n"
}

// slack is what a line is measured longer than it is: as if every address were as long as
// the longest IPv4 address, so that how far a preview is shortened never depends on which
// addresses a run drew.
func (t *Text) slack() int { return max(0, len("255.255.255.255")-t.addrWidth) }

// handleName names the event's handle for the handle column: "s3" for a socket, "p3" for
// a process, "" for none and for the call that made it (socket, spawn), whose outcome
// names it.
func handleName(ev *socklabv1.Event) string {
	h := ev.GetHandle()
	if _, op, ok := operationOf(ev); ok && op.makes {
		h = 0
	}
	switch {
	case h == 0:
		return ""
	case isProcess(ev):
		return processHandle(h)
	}
	return handle(h)
}

// processEvent formats a process's background event: a chunk of its output,
// "stdout: b'hello\n'", its preview shortened as an operation's is to fit the width, or
// its end, "exited: exit 0".
func (t *Text) processEvent(e transcript.Entry) string {
	ev := e.Event
	plain, pre := t.prefix(e, handleName(ev))
	if ev.GetOp() == opExit {
		return pre + t.paint(dim, "exited:") + " " + ev.GetNote() + "\n"
	}
	label := ev.GetNote()
	if label == "" {
		label = ev.GetOp()
	}
	label += ":"
	data := func(cut int) string { return pyrepr.Bytes(ev.GetPayload(), ev.GetPayloadLength(), cut) }
	out := data(PreviewMax)
	n := runes(plain+label+" "+out) + t.slack()
	for preview := PreviewMax; n > t.width && preview > minPreview; {
		preview = max(minPreview, preview-(n-t.width))
		out2 := data(preview)
		if n2 := runes(plain+label+" "+out2) + t.slack(); n2 < n {
			out, n = out2, n2
		}
	}
	return pre + t.paint(dim, label) + " " + out + "\n"
}

// End prints how the run ended: the checks table (when the run reached its hosts) and
// the verdict, with the error that stopped the run, if any.
func (t *Text) End(res *transcript.Result) {
	if len(res.Header.Hosts) > 0 {
		t.Checks(res.Checks)
	}
	t.Footer(res.Verdict(), res.Error)
}

// Checks prints the checks table: id, points (earned/max), PASS or FAIL, and a message
// (the description of a passed check, the failure's message after the lab line that made
// the check, or "not reached: " and the
// error that stopped the lab), with a failed check's hint, in the Text's language, on the
// lines below it ("hint: ..."); then a total line.
func (t *Text) Checks(checks []transcript.Check) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idw, ptw := len("check"), len("points")
	passed, points, maxPoints := 0, 0, 0
	for _, c := range checks {
		idw = max(idw, runes(c.ID))
		ptw = max(ptw, runes(score(c)))
		if c.Passed {
			passed++
		}
		points += c.Points()
		maxPoints += c.MaxPoints
	}
	var b strings.Builder
	b.WriteString("\n")
	lead := "  " + pad("check", idw) + "  " + pad("points", ptw) + "  result  "
	b.WriteString(t.paint(bold, lead+"message") + "\n")
	msgWidth := max(20, t.width-runes(lead))
	for _, c := range checks {
		res, code := "PASS", boldGrn
		if !c.Passed {
			res, code = "FAIL", boldRed
		}
		lines := wrap(checkMessage(c), msgWidth)
		row := fmt.Sprintf("  %s  %s  %s  %s", pad(c.ID, idw), pad(score(c), ptw), t.paint(code, pad(res, len("result"))), lines[0])
		b.WriteString(strings.TrimRight(row, " ") + "\n")
		if hint := c.Hint(t.lang); !c.Passed && hint != "" {
			lines = append(lines, wrap("hint: "+hint, msgWidth)...)
		}
		for _, l := range lines[1:] {
			b.WriteString(strings.Repeat(" ", runes(lead)) + l + "\n")
		}
	}
	fmt.Fprintf(&b, "total: %d/%d checks passed, %d/%d points\n", passed, len(checks), points, maxPoints)
	t.write(b.String())
}

// checkMessage is what the checks table says about c.
func checkMessage(c transcript.Check) string {
	switch {
	case !c.Reached && !c.Passed:
		msg := strings.TrimPrefix(c.Message, "not reached: ")
		if msg == "" {
			return "not reached"
		}
		return "not reached: " + msg
	case !c.Passed && c.Message != "" && c.Pos != "":
		return c.Pos + ": " + c.Message // the lab's line that made the check
	case !c.Passed && c.Message != "":
		return c.Message
	}
	return c.Description
}

func score(c transcript.Check) string { return fmt.Sprintf("%d/%d", c.Points(), c.MaxPoints) }

// Footer prints the run's verdict line, such as "passed: 3/3 checks, 3/3 points", and
// when the lab stopped on an error, that error on the lines after it.
func (t *Text) Footer(verdict string, err string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	code := boldRed
	if strings.HasPrefix(verdict, "passed") {
		code = boldGrn
	}
	var b strings.Builder
	b.WriteString("\n" + t.paint(code, verdict) + "\n")
	if err = strings.TrimRight(err, "\n"); err != "" {
		for i, line := range strings.Split(err, "\n") {
			if i == 0 {
				line = "error: " + line
			} else {
				line = "       " + line
			}
			b.WriteString(t.paint(red, line) + "\n")
		}
	}
	t.write(b.String())
}

// write writes s, keeping the first error; t.mu must be held.
func (t *Text) write(s string) {
	if t.err != nil {
		return
	}
	_, t.err = io.WriteString(t.w, s)
}

// paint wraps s in an ANSI code when colour is on.
func (t *Text) paint(code, s string) string {
	if !t.color || s == "" {
		return s
	}
	return code + s + reset
}

// roleIndex returns role's colour index, giving the next one to a role not seen before;
// t.mu must be held.
func (t *Text) roleIndex(role string) int {
	i, ok := t.roles[role]
	if !ok {
		i = len(t.roles)
		t.roles[role] = i
	}
	return i
}

// host paints s (a role, maybe padded) in role's colour; t.mu must be held.
func (t *Text) host(role, s string) string {
	if !t.color || role == "" {
		return s
	}
	return t.paint(hostColors[t.roleIndex(role)%len(hostColors)], s)
}

// stamp formats a run time as seconds with six decimals, right-aligned in ten columns.
func stamp(d time.Duration) string {
	return fmt.Sprintf("%10.6f", d.Seconds())
}

// pad pads s with spaces to n characters.
func pad(s string, n int) string {
	if k := runes(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// wrap breaks text into lines of at most width characters, at the last space that fits;
// a word longer than width stands on a line of its own, and spacing within a line is kept.
// It always returns at least one line.
func wrap(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		for runes(para) > width {
			r := []rune(para)
			cut := strings.LastIndex(string(r[:width+1]), " ")
			if cut <= 0 {
				cut = strings.Index(para, " ")
			}
			if cut <= 0 {
				break
			}
			lines = append(lines, strings.TrimRight(para[:cut], " "))
			para = strings.TrimLeft(para[cut:], " ")
		}
		lines = append(lines, para)
	}
	return lines
}
