package export

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// MermaidLimit is how many characters of diagram a Mermaid writer writes before it leaves
// out the rest of the run (saying so in a last note): Mermaid, and GitHub with it,
// refuses a diagram over 50,000 characters.
const MermaidLimit = 45_000

// Mermaid writes a run as a Mermaid sequenceDiagram: a participant per host in the lab's
// order, an arrow per message (ladder.Arrow) labelled with the start of its payload and
// its byte count, and notes for the lab's narration, failed operations and failed
// checks. Kinds of arrow are drawn apart:
//
//	data      ->>   solid, arrowhead
//	datagram  -)    solid, open arrowhead
//	connect   -->>  dotted, arrowhead
//	FIN       --)   dotted, open arrowhead
//	RST       --x   dotted, cross
//	lost      -x    solid, cross (to the host it was sent to, drawn where the run ends)
//
// A program under test (spawn) has notes for its start, output and end; its socket has
// no events, so its messages with the lab's sockets are drawn from the lab's side, to or
// from its host ("b'hi' (2 bytes) to a program"). Text is escaped with Mermaid's entity
// codes (#35; for #), so any payload renders.
type Mermaid struct {
	mu      sync.Mutex // guards everything below
	out     output
	hosts   hosts
	started bool
	b       ladder.Builder
	steps   recent[int] // each step's datagram destination host, or -1
	written int         // characters written
	left    int         // statements left out past MermaidLimit

	// Once the run has started a program under test, the messages between a lab socket
	// and a program's (which has no events) are drawn too: local holds the addresses of
	// the lab's own sockets seen so far (at most maxLocal), and a message to or from any
	// other address is a program's.
	spawned bool
	local   map[addrKey]bool
}

// addrKey is a socket address as a map key.
type addrKey struct {
	host string
	port uint32
	path string
}

// maxLocal bounds the lab socket addresses a Mermaid writer remembers.
const maxLocal = 1 << 16

// NewMermaid returns a Mermaid writer to w.
func NewMermaid(w io.Writer) *Mermaid { return &Mermaid{out: newOutput(w)} }

var _ Writer = (*Mermaid)(nil)

// Header starts the diagram: its title and the hosts as participants.
func (m *Mermaid) Header(h transcript.Header) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start(h)
}

func (m *Mermaid) start(h transcript.Header) {
	if m.started {
		return
	}
	m.started = true
	m.hosts.header(h)
	m.line("sequenceDiagram")
	if h.Lab != "" {
		title := h.Lab
		if h.Summary != "" {
			title += ": " + h.Summary
		}
		m.line("    title " + mermaidText(title))
	}
	for i, role := range m.hosts.roles {
		m.participant(i, role)
	}
}

func (m *Mermaid) participant(i int, role string) {
	m.line(fmt.Sprintf("    participant %s as %s", mermaidID(i), mermaidText(role)))
}

// host returns the participant of role, declaring it when new.
func (m *Mermaid) host(role string) string {
	n := len(m.hosts.roles)
	i := m.hosts.index(role)
	if i == n {
		m.participant(i, role)
	}
	return mermaidID(i)
}

// mermaidID is a participant's id: short, and never one of Mermaid's keywords.
func mermaidID(i int) string { return "h" + strconv.Itoa(i+1) }

// line writes one statement, or counts it as left out past MermaidLimit: once one is
// left out, so is every later one, so that the diagram never skips a step.
func (m *Mermaid) line(s string) {
	if m.left > 0 || m.written+len(s)+1 > MermaidLimit {
		m.left++
		return
	}
	m.written += len(s) + 1
	m.out.write(s)
	m.out.write("\n")
}

// Entry draws the arrows the entry completes, or its note.
func (m *Mermaid) Entry(e transcript.Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start(transcript.Header{})
	_, arrows := m.b.Add(e)
	dest := -1
	if ev := e.Event; ev != nil && e.Kind == transcript.Operation {
		dest = m.hosts.destination(ev)
	}
	m.steps.put(dest)
	switch e.Kind {
	case transcript.Say, transcript.Note:
		m.noteOver("", e.Text)
		return
	}
	if isFailed(e) {
		m.noteOver("", "✗ "+failedText(e))
		return
	}
	for _, a := range arrows {
		m.arrow(a)
	}
	if ev := e.Event; ev != nil {
		m.program(e, len(arrows) > 0)
	}
	if ev := e.Event; ev != nil && ev.GetError() != nil && len(arrows) == 0 { // a call that failed on its own
		name := ev.GetError().GetName()
		if name == "" {
			name = ev.GetError().GetMessage()
		}
		m.noteOver(e.Host, ev.GetOp()+": "+name)
	}
}

// program draws what the entry says of a program under test: its start, output and end
// as notes over its host, and a message between a lab socket and a program's socket
// (which has no events, so no ladder arrow) as an arrow to or from the program's host.
func (m *Mermaid) program(e transcript.Entry, drawn bool) {
	ev := e.Event
	if l := ev.GetLocal(); l != nil && len(m.local) < maxLocal {
		if m.local == nil {
			m.local = map[addrKey]bool{}
		}
		k := addrKey{l.GetHost(), l.GetPort(), l.GetPath()}
		if k.host == "0.0.0.0" || k.host == "::" {
			k.host = e.Address
		}
		m.local[k] = true
	}
	if sp := ev.GetOperation().GetSpawn(); sp != nil && ev.GetError() == nil {
		m.spawned = true
		m.noteOver(e.Host, "starts "+strings.Join(sp.GetArgv(), " ")+" -> "+report.Outcome(ev))
		return
	}
	if text, ok := programEvent(ev); ok {
		m.noteOver(e.Host, text)
		return
	}
	p := ev.GetPeer()
	if !m.spawned || drawn || ev.GetError() != nil || p == nil || m.local[addrKey{p.GetHost(), p.GetPort(), p.GetPath()}] {
		return
	}
	peer := m.hosts.byAddress(p.GetHost())
	if peer < 0 {
		return
	}
	me, them := m.host(e.Host), mermaidID(peer)
	op, n := ev.GetOp(), ev.GetPayloadLength()
	bytes := report.Bytes(ev.GetPayload(), n, previewMax) + " " + byteCount(n)
	switch {
	case op == "connect" || op == "connect_ex" && ev.GetResult().GetValue() == 0:
		m.line(fmt.Sprintf("    %s-->>%s: %s", me, them, mermaidText("connect to a program")))
	case isSendOp(op) && n > 0:
		m.line(fmt.Sprintf("    %s->>%s: %s", me, them, mermaidText(bytes+" to a program")))
	case isRecvOp(op) && n > 0:
		m.line(fmt.Sprintf("    %s->>%s: %s", them, me, mermaidText(bytes+" from a program")))
	case isRecvOp(op) && ev.GetResult().GetDatagramLength() == 0:
		m.line(fmt.Sprintf("    %s--)%s: %s", them, me, mermaidText("FIN b'' from a program")))
	}
}

// isSendOp and isRecvOp tell the calls that send and receive bytes, as the ladder does.
func isSendOp(op string) bool {
	switch op {
	case "send", "sendall", "sendto", "send_bulk", "sendfile":
		return true
	}
	return false
}

func isRecvOp(op string) bool {
	switch op {
	case "recv", "recvfrom", "recv_into", "drain":
		return true
	}
	return false
}

var mermaidArrows = map[ladder.Kind]string{
	ladder.Data: "->>", ladder.Datagram: "-)", ladder.Connect: "-->>",
	ladder.FIN: "--)", ladder.RST: "--x", ladder.Lost: "-x",
}

func (m *Mermaid) arrow(a ladder.Arrow) {
	if m.left > 0 {
		m.left++
		return
	}
	from := m.host(a.From)
	to := from
	if a.To != "" {
		to = m.host(a.To)
	} else if d, ok := m.steps.get(a.Send); ok && d >= 0 {
		to = mermaidID(d)
	}
	m.line(fmt.Sprintf("    %s%s%s: %s", from, mermaidArrows[a.Kind], to, mermaidText(label(a))))
}

// noteOver writes a note over role's line, or across every host's for "".
func (m *Mermaid) noteOver(role, text string) {
	if m.left > 0 {
		m.left++
		return
	}
	over := m.span()
	if role != "" {
		over = m.host(role)
	}
	m.line("    Note over " + over + ": " + mermaidText(text))
}

// End draws the datagrams no recv got and a last note with the run's verdict.
func (m *Mermaid) End(res *transcript.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start(res.Header)
	for _, a := range m.b.End() {
		m.arrow(a)
	}
	score, max := res.Score()
	verdict := fmt.Sprintf("%s: %d/%d points", res.Verdict(), score, max)
	if res.Error != "" {
		verdict += "; " + res.Error
	}
	if left := m.left; left > 0 {
		m.written, m.left = 0, 0 // the last notes always fit
		m.line("    Note over " + m.span() + ": " + mermaidText(fmt.Sprintf("%d more statements left out: Mermaid draws at most 50,000 characters", left)))
	}
	m.written = 0
	m.line("    Note over " + m.span() + ": " + mermaidText(verdict))
	_ = m.out.flush()
}

// span names every host's line for a note across them all.
func (m *Mermaid) span() string {
	switch len(m.hosts.roles) {
	case 0:
		return m.host("lab")
	case 1:
		return mermaidID(0)
	}
	return mermaidID(0) + "," + mermaidID(len(m.hosts.roles)-1)
}

// Err returns the first error writing, if any.
func (m *Mermaid) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.err
}

// mermaidText escapes s for a Mermaid label: the characters Mermaid's parser reads
// (; # % and double quotes) and HTML's (< > &) become entity codes (#59; and so on, in
// base 10), a newline becomes <br/>, and other control characters are dropped.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("<br/>")
		case r < 0x20 || r == 0x7f:
		case strings.ContainsRune(`;#%"<>&`, r):
			fmt.Fprintf(&b, "#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
