package report

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/pyrepr"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// LadderWidth is the line width Ladder aims for when LadderOptions.Width is 0.
const LadderWidth = 80

// LadderOptions configures a Ladder.
type LadderOptions struct {
	// Color turns on ANSI colour.
	Color bool
	// ASCII draws with ASCII characters only (|, -, >, x), for a terminal that shows no
	// box-drawing characters (TERM=dumb).
	ASCII bool
	// Width is the line width to aim for; 0 means LadderWidth.
	Width int
	// Lang is the language of the checks' hints, as for TextOptions.
	Lang string
}

// Ladder renders a run as a ladder (sequence) diagram in text, as the run goes: a column
// per host with its lifeline, a row per step on its host's line, and for each message a
// row with an arrow from the sender's column to the receiver's at the step that got it,
// labelled with what it carried: bytes (a preview and their count), a connection set up
// (connect to accept), its end (a close and the b"" it caused: FIN) or its reset (RST),
// a datagram, and at the end the datagrams no recv got, drawn as lost. Narration, notes
// and failed checks span the columns. It takes the entries in display order (see
// transcript.Merger) and holds only what a ladder.Builder holds: its memory does not grow
// with the run's length. Its methods may be called from several goroutines.
type Ladder struct {
	opts  LadderOptions
	table *Text // the checks table and verdict, as the text transcript shows them

	mu     sync.Mutex // guards the fields below and writes to w
	w      io.Writer
	err    error
	b      ladder.Builder
	hosts  []string          // roles, in the header's order
	addrs  map[string]string // address -> role, from the header
	col    map[string]int    // role -> its column
	x      []int             // each column's lifeline position
	left   int               // the time column's width, and the space after it
	colW   int               // each column's width
	glyphs glyphs
	// locals are the addresses the run's own sockets had ("host:port", "*:port" for a
	// wildcard, ":port" for any host), and outside the sends, by step, to an address none
	// had when it was sent, such as a program's under test, whose recvs no event shows:
	// a datagram no recv got is lost only when it went to the run's own socket.
	locals  map[string]bool
	outside map[int]bool
}

// glyphs are the characters a ladder is drawn with.
type glyphs struct {
	life, cross, tee, teeL, right, left, lost, stream, dgram, connect, top, bottom, loop, arrowTail, say, to string
}

var (
	unicodeGlyphs = glyphs{life: "│", cross: "┼", tee: "├", teeL: "┤", right: "▶", left: "◀", lost: "✗",
		stream: "─", dgram: "╌", connect: "═", top: "┬", bottom: "┴", loop: "↺", arrowTail: "…", say: "»", to: "→"}
	asciiGlyphs = glyphs{life: "|", cross: "+", tee: "+", teeL: "+", right: ">", left: "<", lost: "x",
		stream: "-", dgram: "~", connect: "=", top: "|", bottom: "|", loop: "@", arrowTail: "~", say: ">>", to: "->"}
)

// NewLadder returns a Ladder that writes to w.
func NewLadder(w io.Writer, opts LadderOptions) *Ladder {
	if opts.Width <= 0 {
		opts.Width = LadderWidth
	}
	l := &Ladder{opts: opts, w: w, col: map[string]int{}, addrs: map[string]string{}, glyphs: unicodeGlyphs}
	if opts.ASCII {
		l.glyphs = asciiGlyphs
	}
	l.table = NewText(w, TextOptions{Color: opts.Color, Width: opts.Width, Lang: opts.Lang})
	return l
}

var _ Writer = (*Ladder)(nil)

// Err returns the first error writing to the output, if any.
func (l *Ladder) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return l.table.Err()
}

// minColumn is the narrowest a host's column gets: a lab with more hosts than fit the
// width at this width draws wider than the width.
const minColumn = 12

// Header prints the lab's name and summary, and the columns: each host's role and address
// over its lifeline.
func (l *Ladder) Header(h transcript.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hosts, l.col = nil, map[string]int{} // the header's order, whatever came before
	for _, host := range h.Hosts {
		l.hostColumn(host.Role)
		l.addrs[host.Address] = host.Role
	}
	l.layout()
	var b strings.Builder
	b.WriteString(l.paint(bold, h.Lab))
	if h.Summary != "" {
		b.WriteString(": " + h.Summary)
	}
	b.WriteString("\n\n")
	b.WriteString(l.paint(dim, "  time: seconds since the run began (a recv or accept: when it returned)") + "\n")
	b.WriteString(l.paint(dim, "  c1: a connection, numbered alike at both ends; nB: n bytes") + "\n\n")
	names, addrs := l.empty(), l.empty()
	names.put(0, fmt.Sprintf("%*s", l.left-2, "time (s)"), dim)
	for i, role := range l.hosts {
		names.put(l.x[i], l.cut(role, l.colW-1), l.roleColor(role))
		addr := ""
		for _, host := range h.Hosts {
			if host.Role == role {
				addr = host.Address
			}
		}
		addrs.put(l.x[i], l.cut(addr, l.colW-1), dim)
	}
	b.WriteString(names.render(l.opts.Color) + "\n")
	b.WriteString(addrs.render(l.opts.Color) + "\n")
	top := l.blank()
	for _, x := range l.x {
		top.put(x, l.glyphs.top, dim)
	}
	b.WriteString(top.render(l.opts.Color) + "\n")
	l.write(b.String())
}

// hostColumn returns role's column, adding one for a role not in the header; l.mu is held.
func (l *Ladder) hostColumn(role string) int {
	if i, ok := l.col[role]; ok {
		return i
	}
	l.col[role] = len(l.hosts)
	l.hosts = append(l.hosts, role)
	l.table.mu.Lock()
	l.table.roleIndex(role)
	l.table.mu.Unlock()
	if l.x != nil {
		l.layout()
	}
	return l.col[role]
}

// layout places the columns: the time column, then the hosts' evenly over the width.
func (l *Ladder) layout() {
	l.left = len(ladderStamp(0)) + 2
	n := max(1, len(l.hosts))
	l.colW = max(minColumn, (l.opts.Width-l.left)/n)
	l.x = make([]int, len(l.hosts))
	for i := range l.hosts {
		l.x[i] = l.left + i*l.colW
	}
}

// rowWidth is the width of a row: the time column and every host's.
func (l *Ladder) rowWidth() int { return l.left + max(1, len(l.hosts))*l.colW }

// Entry draws one entry: a step on its host's line, an arrow for each message it
// completes, or a line across the columns.
func (l *Ladder) Entry(e transcript.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.x == nil {
		l.layout()
	}
	st, arrows := l.b.Add(e)
	at := shown(st, arrows)
	ev := e.Event
	out := l.addresses(st)
	switch {
	case e.Kind == transcript.Failed:
		l.write(l.failed(ladderStamp(at), e))
	case e.Kind == transcript.Say && e.Host == "":
		l.write(l.across("", l.glyphs.say, bold, e.Text))
	case e.Kind == transcript.Note || e.Kind == transcript.Say:
		who := ""
		if e.Host != "" {
			who = e.Host + ": "
		}
		l.write(l.across(ladderStamp(at), "!", yellow, who+e.Text))
	case ev == nil:
	case ev.GetKind() == socklabv1.EventKind_EVENT_KIND_SESSION_END:
	case ev.GetKind() == socklabv1.EventKind_EVENT_KIND_DROPPED:
		l.write(l.across(ladderStamp(at), "!", yellow, fmt.Sprintf("%s: %d events lost", e.Host, ev.GetDropped())))
	default:
		var b strings.Builder
		drawn := false
		for _, a := range arrows {
			if a.Recv != st.Index { // a connect that came after its accept: drawn here all the same
				if a.Kind != ladder.Connect {
					continue
				}
			}
			b.WriteString(l.arrow(ladderStamp(at), a, ev))
			drawn = true
		}
		if !drawn || !receives(ev) && !isConnect(ev) {
			// the step itself, unless its arrow shows it
			b.WriteString(l.step(ladderStamp(at), e, st.Conn, out))
		}
		l.write(b.String())
	}
}

// maxAddrs bounds the addresses and sends a Ladder remembers to tell a send to a
// program's socket; past it, it forgets them all.
const maxAddrs = 1 << 16

// addresses remembers the address of the step's socket, and reports whether the step
// sends to an address no socket of the run has had (a program's); l.mu is held.
func (l *Ladder) addresses(st ladder.Step) bool {
	ev := st.Entry.Event
	if ev == nil || ev.GetError() != nil {
		return false
	}
	if l.locals == nil || len(l.locals) >= maxAddrs || len(l.outside) >= maxAddrs {
		l.locals, l.outside = map[string]bool{}, map[int]bool{}
	}
	if a := ev.GetLocal(); a != nil {
		port := strconv.FormatUint(uint64(a.GetPort()), 10)
		host := a.GetHost()
		if host == "0.0.0.0" || host == "::" {
			host = "*"
		}
		l.locals[host+":"+port+a.GetPath()] = true
		l.locals[":"+port+a.GetPath()] = true
	}
	p := ev.GetPeer()
	if !isSend(ev) || p == nil {
		return false
	}
	port := strconv.FormatUint(uint64(p.GetPort()), 10)
	ours := l.locals[p.GetHost()+":"+port+p.GetPath()] || l.locals["*:"+port+p.GetPath()] ||
		strings.HasSuffix(p.GetHost(), ".255") && l.locals[":"+port] // a broadcast
	if !ours {
		l.outside[st.Index] = true
	}
	return !ours
}

// isSend reports whether ev put bytes on the wire.
func isSend(ev *socklabv1.Event) bool {
	switch ev.GetOp() {
	case "send", "sendall", "sendto", "send_bulk", "sendfile":
		return true
	}
	return false
}

// isConnect reports whether ev is a connect, whose arrow to its accept shows it.
func isConnect(ev *socklabv1.Event) bool {
	op := ev.GetOp()
	return op == "connect" || op == "connect_ex"
}

// End draws the datagrams no recv got, closes the lifelines, and prints the checks table
// and the verdict as the text transcript does.
func (l *Ladder) End(res *transcript.Result) {
	l.mu.Lock()
	if l.x != nil {
		var b strings.Builder
		var lost []ladder.Arrow
		for _, a := range l.b.End() {
			if !l.outside[a.Send] {
				lost = append(lost, a)
			}
		}
		if len(lost) > 0 {
			b.WriteString(l.across("", l.glyphs.lost, red, fmt.Sprintf("lost: %d datagram(s) no recv got, at the time each was sent:", len(lost))))
		}
		for _, a := range lost {
			b.WriteString(l.arrow(ladderStamp(a.SendAt), a, nil))
		}
		bottom := l.blank()
		for _, x := range l.x {
			bottom.put(x, l.glyphs.bottom, dim)
		}
		b.WriteString(bottom.render(l.opts.Color) + "\n")
		l.write(b.String())
	}
	l.mu.Unlock()
	l.table.End(res)
}

// row is one line of the diagram, a cell per column, each with its colour.
type row []cell

type cell struct {
	r    rune
	code string
}

// glyph is a one-character glyph's rune.
func glyph(s string) rune {
	for _, r := range s {
		return r
	}
	return ' '
}

// empty returns a row of spaces, as wide as the width or the columns; l.mu is held.
func (l *Ladder) empty() row {
	r := make(row, max(l.opts.Width, l.rowWidth()))
	for i := range r {
		r[i].r = ' '
	}
	return r
}

// blank returns a row with every host's lifeline; l.mu is held.
func (l *Ladder) blank() row {
	r := l.empty()
	for _, x := range l.x {
		r[x] = cell{glyph(l.glyphs.life), dim}
	}
	return r
}

// put writes s from position x on, in colour code, as far as the row goes.
func (r row) put(x int, s, code string) {
	for _, c := range s {
		if x >= len(r) {
			return
		}
		if x >= 0 {
			r[x] = cell{c, code}
		}
		x++
	}
}

// render returns the row as a line, painted when color is set, trailing spaces dropped.
func (r row) render(color bool) string {
	end := len(r)
	for end > 0 && r[end-1].r == ' ' {
		end--
	}
	var b strings.Builder
	code := ""
	for _, c := range r[:end] {
		if color && c.code != code {
			if code != "" {
				b.WriteString(reset)
			}
			if c.code != "" {
				b.WriteString(c.code)
			}
			code = c.code
		}
		b.WriteRune(c.r)
	}
	if color && code != "" {
		b.WriteString(reset)
	}
	return b.String()
}

// timed returns a blank row with a time in its time column.
func (l *Ladder) timed(ts string) row {
	r := l.blank()
	r.put(0, ts, dim)
	return r
}

// cutRepr matches the end of a cut bytes preview, "'... (16 bytes)": the ladder ends it
// with a mark of the cut alone.
var cutRepr = regexp.MustCompile(`(['"])\.\.\. \(\d+ bytes?\)`)

// overflow is the most a step's text takes of the row when its column is narrower.
const overflow = 36

// step draws a step on its host's line, "s2 c1 recv 5B → b'hello'" right of its
// lifeline.
func (l *Ladder) step(ts string, e transcript.Entry, conn int, outside bool) string {
	i := l.hostColumn(e.Host)
	r := l.timed(ts)
	// Its own column, or when it says more, up to overflow characters over the
	// lifelines to its right: a row of cut words is no clearer than one row that hides
	// a lifeline.
	room := max(l.colW-2, min(overflow, len(r)-l.x[i]-2))
	text, code := l.stepText(e, conn, outside, room)
	r[l.x[i]] = cell{glyph(l.glyphs.tee), l.roleColor(e.Host)}
	r.put(l.x[i]+1, " "+text, code)
	return r.render(l.opts.Color) + "\n"
}

// stepText says what a step did in at most width characters, and its colour.
func (l *Ladder) stepText(e transcript.Entry, conn int, outside bool, width int) (string, string) {
	ev := e.Event
	name := handleName(ev)
	if conn != 0 && name != "" && !isProcess(ev) && ev.GetOp() != "accept" && !isConnect(ev) { // a connect's arrow names it
		name += " " + connName(conn)
	}
	if name != "" {
		name += " "
	}
	code := ""
	var what string
	switch {
	case ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND && ev.GetOp() == opExit:
		what = "exited: " + ev.GetNote()
	case isProcess(ev) && ev.GetOperation().GetOp() == nil: // output
		label := ev.GetNote()
		if label == "" {
			label = ev.GetOp()
		}
		what = label + " " + l.preview(ev.GetPayload(), ev.GetPayloadLength(), width-len(name)-len(label)-1)
	default:
		what = l.shortCall(e)
		switch {
		case raised(ev):
			what += " " + l.glyphs.lost + " " + errName(ev.GetError())
			code = red
		case ev.GetOp() == "accept" && conn != 0:
			what += " → " + handle(ev.GetResult().GetHandle()) + " " + connName(conn)
		case ev.GetOp() == "spawn":
			what += " → " + processHandle(ev.GetResult().GetHandle())
		case outside: // to a program's socket: where it went, since no arrow will say
			what += " → " + l.shortAddr(e, ev.GetPeer())
		case isSend(ev) && ev.GetResult().GetValue() == int64(ev.GetPayloadLength()):
			// the count says it all
		default:
			if out := outcome(ev, 12); out != "None" && out != "" {
				what += " → " + cutRepr.ReplaceAllString(out, "$1"+l.glyphs.arrowTail)
			}
		}
		if note := ev.GetNote(); ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND && note != "" {
			if strings.HasPrefix(note, "closed by the agent") {
				note = "by the agent" // as the run ended
			}
			what += " (" + note + ")"
			code = dim
		}
	}
	if l.opts.ASCII {
		what = strings.ReplaceAll(what, "→", l.glyphs.to)
	}
	return l.cut(name+what, width), code
}

// errName is an error as short as it reads: its errno's name, or its name.
func errName(e *socklabv1.SocketError) string {
	if e.GetName() != "" {
		return e.GetName()
	}
	return e.GetMessage()
}

// shortCall is a call as the ladder shows it: its name, and its arguments only where they
// are short (an address by its host's role, a size), since the arrows show the bytes.
func (l *Ladder) shortCall(e transcript.Entry) string {
	ev := e.Event
	name, _, ok := operationOf(ev)
	if !ok {
		name = ev.GetOp()
	}
	o := ev.GetOperation()
	switch name {
	case "bind":
		return "bind " + l.shortAddr(e, o.GetBind().GetAddress())
	case "connect", "connect_ex":
		peer := ev.GetPeer()
		if peer == nil {
			peer = o.GetConnect().GetAddress()
		}
		return name + " " + l.shortAddr(e, peer)
	case "send", "sendall", "sendto", "send_bulk", "sendfile":
		return fmt.Sprintf("%s %dB", name, ev.GetPayloadLength())
	case "recv", "recvfrom", "recv_into", "drain":
		if ev.GetError() == nil {
			return fmt.Sprintf("%s %dB", name, ev.GetPayloadLength())
		}
		return name
	case "spawn":
		argv := o.GetSpawn().GetArgv()
		if len(argv) > 2 {
			argv = argv[:2]
		}
		return name + " " + strings.Join(argv, " ")
	case "socket", "accept", "close":
		return name
	}
	c := call(ev, 8)
	if len(c) > 24 {
		return name + "(" + l.glyphs.arrowTail + ")"
	}
	return c
}

// shortAddr writes an address as e's host sees it: ":port" on its own host, "server:port"
// on another host of the run, else "host:port", or a path; l.mu is held.
func (l *Ladder) shortAddr(e transcript.Entry, a *socklabv1.Address) string {
	port := ":" + strconv.Itoa(int(a.GetPort()))
	switch host := a.GetHost(); {
	case a == nil:
		return ""
	case a.GetPath() != "":
		return pyrepr.Str(a.GetPath())
	case host == e.Address || host == "0.0.0.0" || host == "::" || host == "":
		return port
	case l.addrs[host] != "":
		return l.addrs[host] + port
	default:
		return host + port
	}
}

// arrow draws one message as a row: from its sender's lifeline to its receiver's, the
// label on the line and the head at the receiver; a lost datagram ends in a cross
// towards the middle of the diagram. got is the receiving step's event (nil for a lost
// datagram): a reset's label names the error it raised.
func (l *Ladder) arrow(ts string, a ladder.Arrow, got *socklabv1.Event) string {
	from := l.hostColumn(a.From)
	r := l.timed(ts)
	line, code := l.glyphs.stream, ""
	switch a.Kind {
	case ladder.Datagram:
		line = l.glyphs.dgram
	case ladder.Lost:
		line, code = l.glyphs.dgram, red
	case ladder.Connect:
		line, code = l.glyphs.connect, green
	case ladder.FIN:
		code = yellow
	case ladder.RST:
		code = red
	}
	xa := l.x[from]
	var xb int
	switch {
	case a.Kind == ladder.Lost:
		// a short line that ends in a cross, and what it carried after it, over the
		// lifelines to its right if need be
		r[xa] = cell{glyph(l.glyphs.tee), code}
		r.put(xa+1, strings.Repeat(line, 3)+l.glyphs.lost, code)
		r.put(xa+6, l.label(a, got, len(r)-xa-6), labelCode(a.Kind))
		return r.render(l.opts.Color) + "\n"
	case a.To == a.From:
		r[xa] = cell{glyph(l.glyphs.tee), code}
		r.put(xa+1, " "+l.glyphs.loop+" "+l.label(a, got, l.colW-4), code)
		return r.render(l.opts.Color) + "\n"
	default:
		xb = l.x[l.hostColumn(a.To)]
	}
	lo, hi := min(xa, xb), max(xa, xb)
	for x := lo + 1; x < hi; x++ {
		g := line
		if r[x].r == glyph(l.glyphs.life) {
			g = l.glyphs.cross
		}
		r[x] = cell{glyph(g), code}
	}
	head := l.glyphs.right
	if xb < xa {
		head = l.glyphs.left
	}
	if a.Kind == ladder.Lost {
		head = l.glyphs.lost
	}
	if xb > xa {
		r[xa] = cell{glyph(l.glyphs.tee), code}
		r[xb-1] = cell{glyph(head), code}
	} else {
		r[xa] = cell{glyph(l.glyphs.teeL), code}
		r[xb+1] = cell{glyph(head), code}
	}
	if a.Kind != ladder.Lost {
		r[xb] = cell{glyph(l.glyphs.life), l.roleColor(a.To)}
	}
	// The label, centred on the line with a space either side.
	room := hi - lo - 5
	if room >= 3 {
		text := " " + l.label(a, got, room) + " "
		n := runes(text)
		start := lo + 2 + (hi-lo-3-n)/2
		r.put(start, text, labelCode(a.Kind))
	}
	return r.render(l.opts.Color) + "\n"
}

// labelCode is an arrow label's colour: bold for what a student reads first.
func labelCode(k ladder.Kind) string {
	switch k {
	case ladder.RST, ladder.Lost:
		return boldRed
	case ladder.FIN:
		return yellow
	}
	return bold
}

// label says what an arrow carried in at most width characters: "b'hi'… 12B",
// "c1 connect", "c1 FIN: b”", "c1 RST: ECONNRESET", "b'ping' 4B lost".
func (l *Ladder) label(a ladder.Arrow, got *socklabv1.Event, width int) string {
	conn := ""
	if a.Conn != 0 {
		conn = connName(a.Conn) + " "
	}
	switch a.Kind {
	case ladder.Data:
		conn = "" // the send's step names it
	case ladder.Connect:
		return l.cut(conn+"connect", width)
	case ladder.FIN:
		return l.cut(conn+"FIN: b''", width)
	case ladder.RST:
		if e := got.GetError(); e != nil {
			return l.cut(conn+"RST: "+errName(e), width)
		}
		return l.cut(conn+"RST", width)
	}
	count := " " + strconv.FormatUint(a.Bytes, 10) + "B"
	tail := ""
	if a.Kind == ladder.Lost {
		tail = " lost"
	}
	room := width - runes(conn) - runes(count) - runes(tail)
	return l.cut(conn+l.preview(a.Payload, a.Bytes, room)+count+tail, width)
}

// preview shows bytes as Python's repr does, in at most width characters: cut with "…"
// when they do not fit (the count says how many there were).
func (l *Ladder) preview(b []byte, total uint64, width int) string {
	if width < 4 {
		return ""
	}
	full := pyrepr.Bytes(b, uint64(len(b)), 0)
	if uint64(len(b)) >= total && runes(full) <= width {
		return full
	}
	for m := width - 3; m > 0; m-- {
		p := pyrepr.Bytes(b, uint64(len(b)), m)
		if i := strings.LastIndexAny(p, "'\""); i > 0 {
			p = p[:i+1]
		}
		p += l.glyphs.arrowTail
		if runes(p) <= width {
			return p
		}
	}
	return ""
}

// across draws a line spanning the columns: narration, a note or a failed check, after
// the time column (ts, or blank), wrapped to the width.
func (l *Ladder) across(ts, marker, code, text string) string {
	var b strings.Builder
	width := max(20, max(l.opts.Width, l.rowWidth())-l.left-runes(marker)-1)
	for i, line := range wrap(strings.TrimRight(text, "\n"), width) {
		lead := pad(ts, l.left)
		m := marker
		if i > 0 {
			lead, m = strings.Repeat(" ", l.left), strings.Repeat(" ", runes(marker))
		}
		b.WriteString(l.paint(dim, lead) + l.paint(code, m+" "+line) + "\n")
	}
	return b.String()
}

// failed draws a check that failed, across the columns at the point it failed, and the
// hosts' sockets at that moment, addresses named by their hosts.
func (l *Ladder) failed(ts string, e transcript.Entry) string {
	msg := "check " + e.Check + " failed"
	if e.Text != "" {
		msg += ": " + e.Text
	}
	if e.Pos != "" {
		msg += " (" + e.Pos + ")"
	}
	var b strings.Builder
	b.WriteString(l.across(ts, l.glyphs.lost, boldRed, msg))
	rows := SnapshotLines(e.Snapshot, func(a *socklabv1.Address) string {
		if role := l.addrs[a.GetHost()]; role != "" {
			return role + ":" + strconv.Itoa(int(a.GetPort()))
		}
		return hostPort(a)
	})
	if len(rows) > 0 {
		b.WriteString(l.across("", " ", dim, "sockets then (ss):"))
		for _, r := range rows {
			b.WriteString(l.across("", "   ", "", r))
		}
	}
	return b.String()
}

// roleColor is role's colour code, as the text transcript gives it ("" without colour).
func (l *Ladder) roleColor(role string) string {
	if !l.opts.Color {
		return ""
	}
	l.table.mu.Lock()
	defer l.table.mu.Unlock()
	return hostColors[l.table.roleIndex(role)%len(hostColors)]
}

// paint wraps s in an ANSI code when colour is on.
func (l *Ladder) paint(code, s string) string {
	if !l.opts.Color || s == "" || code == "" {
		return s
	}
	return code + s + reset
}

// write writes s, keeping the first error; l.mu is held.
func (l *Ladder) write(s string) {
	if l.err != nil || s == "" {
		return
	}
	_, l.err = io.WriteString(l.w, s)
}

// ladderStamp formats a run time as the ladder's time column does: seconds with four
// decimals (a tenth of a millisecond), right-aligned in eight columns, to leave the hosts
// room.
func ladderStamp(d time.Duration) string {
	return fmt.Sprintf("%8.4f", d.Seconds())
}

// cut shortens s to at most n characters, ending it with "…" when it was longer.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// cut is cut with the ladder's own mark of a cut ("~" in ASCII).
func (l *Ladder) cut(s string, n int) string {
	c := cut(s, n)
	if c != s && l.opts.ASCII {
		c = strings.TrimSuffix(c, "…") + l.glyphs.arrowTail
	}
	return c
}
