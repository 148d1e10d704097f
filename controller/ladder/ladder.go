// Package ladder turns a run's transcript into the parts of a ladder (sequence) diagram:
// each host a lifeline, each transcript entry a step on its host's line, and each message
// between hosts an arrow from the step that sent it to the step that got it: a connect
// to the accept that took it, stream bytes to the recv that read their last byte, a
// close to the b"" or the ECONNRESET it caused, a datagram to each recvfrom that got it
// (one no recv got is lost).
//
// A Builder takes the entries in display order, as transcript.Merger emits them (a recv
// never before the sends that fed it), and answers each with its step and the arrows it
// completes, so a diagram can be drawn as the run goes and a long run is drawn in memory
// bounded by what is still in flight, never by the run's length.
package ladder

import (
	"cmp"
	"slices"
	"strings"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Kind says what an arrow carries.
type Kind int

const (
	// Connect joins a connect (or connect_ex, create_connection) to the accept that took
	// its connection.
	Connect Kind = iota + 1
	// Data joins a stream send to the recv that read the last of its bytes.
	Data
	// FIN joins a close or shutdown to the recv whose b"" it caused.
	FIN
	// RST joins a close to the call that failed with ECONNRESET or EPIPE because of it.
	RST
	// Datagram joins a datagram's send to a recv that got it.
	Datagram
	// Lost is a datagram that no recv got by the end of the run: To and Recv are unset.
	Lost
)

var kindNames = [...]string{Connect: "connect", Data: "data", FIN: "fin", RST: "rst", Datagram: "datagram", Lost: "lost"}

// String names the kind in lower case ("data", "fin").
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Step is one transcript entry as the ladder shows it.
type Step struct {
	// Index is the entry's place in the run's display order, from 0.
	Index int
	// Entry is the transcript entry.
	Entry transcript.Entry
	// Conn numbers the connection the step's socket belongs to, from 1, the same at both
	// of its ends; 0 for a step on no connection.
	Conn int
}

// Arrow is one message between two steps.
type Arrow struct {
	// Kind says what it carries.
	Kind Kind
	// From and To are the hosts (lab roles) at its two ends; To is "" for a lost datagram.
	From, To string
	// Send and Recv are the Index of the steps at its two ends; Recv is -1 for a lost
	// datagram. Recv may be less than Send: a connect is often shown after the accept.
	Send, Recv int
	// Bytes is the send's byte count (Data, Datagram, Lost).
	Bytes uint64
	// Payload is the start of the bytes sent, as captured (at most the run's payload cap).
	Payload []byte
	// Conn is the connection's number, as in Step.Conn; 0 for datagrams.
	Conn int
}

// maxPending bounds the sends a Builder holds for a recv still to come: beyond it the
// oldest are dropped (their arrows are not drawn), so that a run of unread sends cannot
// grow a renderer's memory without end.
const maxPending = 1 << 16

// Builder matches a run's sends to their recvs. The zero Builder is ready to use; it is
// not safe for concurrent use.
type Builder struct {
	next    int
	sockets map[sockKey]*socket
	conns   map[pairKey]int
	streams map[connKey]*direction // pending stream sends by (sender's local, peer)
	dgrams  map[addrKey][]pendingDgram
	connect map[connKey]pending // connects not yet joined to an accept, by (client, server)
	accept  map[connKey]pending // accepts not yet joined to a connect, by (client, server)
	held    int
}

type sockKey struct {
	host   string
	handle uint32
}

type socket struct {
	dgram       bool
	local, peer addrKey
	connected   bool
}

type addrKey struct {
	host string
	port uint32
	path string
}

type connKey struct{ local, peer addrKey }

// pairKey is a connection whichever end sees it.
type pairKey struct{ a, b addrKey }

type pending struct {
	index   int
	host    string
	bytes   uint64
	payload []byte
}

type streamSend struct {
	pending
	end uint64 // the stream offset just past its bytes
	eof bool   // a close or shutdown
}

type direction struct{ sends []streamSend }

type pendingDgram struct {
	pending
	to        addrKey
	broadcast bool
	got       bool // a broadcast some recv got already: not lost
}

// Add takes the next entry in display order and returns its step and the arrows it
// completes (none for most entries).
func (b *Builder) Add(e transcript.Entry) (Step, []Arrow) {
	if b.sockets == nil {
		b.sockets, b.conns = map[sockKey]*socket{}, map[pairKey]int{}
		b.streams, b.dgrams = map[connKey]*direction{}, map[addrKey][]pendingDgram{}
		b.connect, b.accept = map[connKey]pending{}, map[connKey]pending{}
	}
	st := Step{Index: b.next, Entry: e}
	b.next++
	ev := e.Event
	if e.Kind != transcript.Operation || ev == nil {
		return st, nil
	}
	s := b.track(e)
	if s != nil && s.connected {
		st.Conn = b.conn(s.local, s.peer)
	}
	if ev.GetOp() == "accept" { // the listener's step belongs to the connection it took
		if c := b.sockets[sockKey{e.Host, ev.GetResult().GetHandle()}]; c != nil && ev.GetError() == nil {
			st.Conn = b.conn(c.local, c.peer)
		}
	}
	return st, b.match(st, s)
}

// track updates what is known of the entry's socket and returns it (nil when the entry
// is about no socket).
func (b *Builder) track(e transcript.Entry) *socket {
	ev := e.Event
	op := ev.GetOp()
	switch op {
	case "socket":
		if ev.GetError() == nil {
			b.sockets[sockKey{e.Host, ev.GetResult().GetHandle()}] = &socket{dgram: ev.GetOperation().GetSocket().GetType() == socklabv1.SocketType_SOCKET_TYPE_DGRAM}
		}
	case "socketpair":
		dgram := ev.GetOperation().GetSocketpair().GetType() == socklabv1.SocketType_SOCKET_TYPE_DGRAM
		for _, h := range ev.GetResult().GetHandles() {
			b.sockets[sockKey{e.Host, h}] = &socket{dgram: dgram}
		}
	case "accept":
		if h := ev.GetResult().GetHandle(); h != 0 && ev.GetError() == nil {
			local := b.addr(e, ev.GetLocal())
			peer := b.addr(e, ev.GetResult().GetAddress())
			b.sockets[sockKey{e.Host, h}] = &socket{local: local, peer: peer, connected: true}
		}
	case "connect_many":
		for _, h := range ev.GetResult().GetHandles() {
			b.sockets[sockKey{e.Host, h}] = &socket{}
		}
	}
	if ev.GetHandle() == 0 {
		return nil
	}
	k := sockKey{e.Host, ev.GetHandle()}
	s := b.sockets[k]
	if s == nil { // a socket made before the events we saw (or by an op we do not know)
		s = &socket{}
		b.sockets[k] = s
	}
	if op == "accept" {
		return s // the listener: its new socket is tracked above
	}
	if l := ev.GetLocal(); l != nil {
		s.local = b.addr(e, l)
	}
	if p := ev.GetPeer(); p != nil && !s.dgram {
		s.peer = b.addr(e, p)
		s.connected = true
	}
	return s
}

// addr keys an address as seen on e's host: a wildcard host is the host's own address.
func (b *Builder) addr(e transcript.Entry, a *socklabv1.Address) addrKey {
	k := addrKey{a.GetHost(), a.GetPort(), a.GetPath()}
	if k.host == "0.0.0.0" || k.host == "::" {
		k.host = e.Address
	}
	return k
}

// conn numbers the connection between local and peer, whichever end asks.
func (b *Builder) conn(local, peer addrKey) int {
	k := pairKey{local, peer}
	if less(peer, local) {
		k = pairKey{peer, local}
	}
	n, ok := b.conns[k]
	if !ok {
		n = len(b.conns) + 1
		b.conns[k] = n
	}
	return n
}

func less(a, b addrKey) bool {
	if a.host != b.host {
		return a.host < b.host
	}
	if a.port != b.port {
		return a.port < b.port
	}
	return a.path < b.path
}

func (b *Builder) match(st Step, s *socket) []Arrow {
	e := st.Entry
	ev := e.Event
	op := ev.GetOp()
	failed := ev.GetError()
	me := pending{index: st.Index, host: e.Host}
	switch {
	case op == "connect" || op == "connect_ex":
		if failed != nil || s == nil || !s.connected || op == "connect_ex" && ev.GetResult().GetValue() != 0 {
			return nil
		}
		k := connKey{s.local, s.peer}
		if a, ok := b.accept[k]; ok {
			delete(b.accept, k)
			b.held--
			return []Arrow{{Kind: Connect, From: e.Host, To: a.host, Send: st.Index, Recv: a.index, Conn: st.Conn}}
		}
		b.hold()
		b.connect[k] = me
	case op == "accept":
		if failed != nil {
			return nil
		}
		child := b.sockets[sockKey{e.Host, ev.GetResult().GetHandle()}]
		if child == nil {
			return nil
		}
		k := connKey{child.peer, child.local}
		n := b.conn(child.local, child.peer)
		if c, ok := b.connect[k]; ok {
			delete(b.connect, k)
			b.held--
			return []Arrow{{Kind: Connect, From: c.host, To: e.Host, Send: c.index, Recv: st.Index, Conn: n}}
		}
		b.hold()
		b.accept[k] = me
	case s == nil:
	case s.dgram:
		return b.datagram(st, s)
	case !s.connected:
	case failed != nil:
		if n := failed.GetName(); n == "ECONNRESET" || n == "EPIPE" {
			return b.eof(st, s, RST)
		}
	case isSend(op):
		if ev.GetPayloadLength() == 0 {
			return nil
		}
		me.bytes, me.payload = ev.GetPayloadLength(), ev.GetPayload()
		if v := ev.GetResult().GetValue(); v > 0 && uint64(v) < me.bytes {
			me.bytes = uint64(v) // send() took only part of it
		}
		b.push(connKey{s.local, s.peer}, streamSend{pending: me, end: ev.GetStreamOffset() + me.bytes})
	case op == "close" || op == "shutdown":
		if op == "shutdown" && ev.GetOperation().GetShutdown().GetHow() == socklabv1.ShutdownHow_SHUTDOWN_HOW_RD { // SHUT_RD sends nothing
			return nil
		}
		b.push(connKey{s.local, s.peer}, streamSend{pending: me, eof: true})
	case isRecv(op):
		if ev.GetPayloadLength() == 0 {
			return b.eof(st, s, FIN)
		}
		return b.read(st, s)
	}
	return nil
}

func isSend(op string) bool {
	switch op {
	case "send", "sendall", "sendto", "send_bulk", "sendfile":
		return true
	}
	return false
}

func isRecv(op string) bool {
	switch op {
	case "recv", "recvfrom", "recv_into", "drain":
		return true
	}
	return false
}

func (b *Builder) hold() {
	b.held++
	if b.held > maxPending {
		// Forget the oldest held things: a run that never reads what it sends.
		b.connect, b.accept = map[connKey]pending{}, map[connKey]pending{}
		b.streams, b.dgrams = map[connKey]*direction{}, map[addrKey][]pendingDgram{}
		b.held = 1
	}
}

func (b *Builder) push(k connKey, s streamSend) {
	b.hold()
	d := b.streams[k]
	if d == nil {
		d = &direction{}
		b.streams[k] = d
	}
	d.sends = append(d.sends, s)
}

// read joins a stream recv to every pending send whose last byte it read.
func (b *Builder) read(st Step, s *socket) []Arrow {
	ev := st.Entry.Event
	d := b.streams[connKey{s.peer, s.local}]
	if d == nil {
		return nil
	}
	end := ev.GetStreamOffset() + ev.GetPayloadLength()
	var out []Arrow
	n := 0
	for _, snd := range d.sends {
		if snd.eof || snd.end > end {
			break
		}
		out = append(out, Arrow{Kind: Data, From: snd.host, To: st.Entry.Host, Send: snd.index, Recv: st.Index, Bytes: snd.bytes, Payload: snd.payload, Conn: st.Conn})
		n++
	}
	b.drop(d, connKey{s.peer, s.local}, n)
	return out
}

// eof joins a b"" (FIN) or a reset (RST) to the peer's close or shutdown, skipping the
// peer's sends this end never read (a reset discards them).
func (b *Builder) eof(st Step, s *socket, kind Kind) []Arrow {
	k := connKey{s.peer, s.local}
	d := b.streams[k]
	if d == nil {
		return nil
	}
	for i, snd := range d.sends {
		if snd.eof {
			b.drop(d, k, i+1)
			return []Arrow{{Kind: kind, From: snd.host, To: st.Entry.Host, Send: snd.index, Recv: st.Index, Conn: st.Conn}}
		}
		if kind == FIN {
			return nil // unread bytes come before the end of the stream
		}
	}
	return nil
}

func (b *Builder) drop(d *direction, k connKey, n int) {
	if n == 0 {
		return
	}
	clear(d.sends[:n])
	d.sends = d.sends[n:]
	b.held -= n
	if len(d.sends) == 0 {
		delete(b.streams, k)
	}
}

// datagram holds a datagram's send until a recv gets it, and joins a recv to its send:
// the first pending one from the recv's source whose bytes match (the payload as
// captured and the length).
func (b *Builder) datagram(st Step, s *socket) []Arrow {
	e := st.Entry
	ev := e.Event
	op := ev.GetOp()
	if ev.GetError() != nil {
		return nil
	}
	switch {
	case isSend(op):
		to := s.peer
		if p := ev.GetPeer(); p != nil {
			to = b.addr(e, p)
		}
		if to == (addrKey{}) {
			return nil
		}
		from := s.local
		if ev.GetLocal() != nil {
			from = b.addr(e, ev.GetLocal())
		}
		b.hold()
		b.dgrams[from] = append(b.dgrams[from], pendingDgram{
			pending:   pending{index: st.Index, host: e.Host, bytes: ev.GetPayloadLength(), payload: ev.GetPayload()},
			to:        to,
			broadcast: strings.HasSuffix(to.host, ".255"),
		})
	case isRecv(op):
		src := s.peer
		if p := ev.GetPeer(); p != nil {
			src = b.addr(e, p)
		}
		q := b.dgrams[src]
		length := ev.GetResult().GetDatagramLength()
		for i := range q {
			d := &q[i]
			if d.bytes != length || !samePrefix(d.payload, ev.GetPayload()) || !d.broadcast && d.to.port != s.local.port {
				continue
			}
			a := Arrow{Kind: Datagram, From: d.host, To: e.Host, Send: d.index, Recv: st.Index, Bytes: d.bytes, Payload: d.payload}
			if d.broadcast {
				d.got = true
			} else {
				b.dgrams[src] = append(q[:i:i], q[i+1:]...)
				b.held--
			}
			return []Arrow{a}
		}
	}
	return nil
}

// samePrefix reports whether two captures of one datagram agree as far as both go.
func samePrefix(a, b []byte) bool {
	n := min(len(a), len(b))
	return string(a[:n]) == string(b[:n])
}

// End returns the arrows of the datagrams that no recv got (Lost), in the order they
// were sent. The Builder holds nothing afterwards.
func (b *Builder) End() []Arrow {
	var out []Arrow
	for _, q := range b.dgrams {
		for _, d := range q {
			if !d.got {
				out = append(out, Arrow{Kind: Lost, From: d.host, Send: d.index, Recv: -1, Bytes: d.bytes, Payload: d.payload})
			}
		}
	}
	sortBySend(out)
	*b = Builder{next: b.next}
	return out
}

func sortBySend(a []Arrow) {
	slices.SortFunc(a, func(x, y Arrow) int { return cmp.Compare(x.Send, y.Send) })
}

// Build returns a finished run's steps and arrows, every arrow once, in the order the
// Builder completed them (lost datagrams last).
func Build(entries []transcript.Entry) ([]Step, []Arrow) {
	var b Builder
	steps := make([]Step, 0, len(entries))
	var arrows []Arrow
	for _, e := range entries {
		st, as := b.Add(e)
		steps = append(steps, st)
		arrows = append(arrows, as...)
	}
	return steps, append(arrows, b.End()...)
}
