// Package transcript holds a run's record as the controller sees it: every host's events
// and the lab's narration, on one clock, in an order that never shows a recv before the
// send whose bytes it got.
package transcript

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Kind says what an entry records.
type Kind int

const (
	// Operation is a socket operation (or background event) on one host.
	Operation Kind = iota + 1
	// Say is the lab's narration (t.say).
	Say
	// Note is the runner's own remark, such as a watchdog firing.
	Note
)

// Entry is one line of a transcript.
type Entry struct {
	// Kind says what the entry records.
	Kind Kind
	// At is when it started, on the controller's clock, since the run began.
	At time.Duration
	// Duration is how long an operation took (0 for narration).
	Duration time.Duration
	// Host is the lab host's role ("server", "client"); empty for narration.
	Host string
	// Address is the host's address.
	Address string
	// Event is the agent's event (Operation entries only).
	Event *socklabv1.Event
	// Text is the narration or note.
	Text string
	// Pos is the lab's file:line that caused the entry, when known.
	Pos string
}

// Clock maps one agent's monotonic clock onto the controller's run clock.
type Clock struct {
	// Offset is added to an agent's monotonic nanoseconds to get the run clock.
	Offset time.Duration
}

// NewClock estimates an agent's clock offset from one exchange: the agent read its clock
// at agentNs while the controller's request was in flight between sent and received
// (both measured since the run began). The midpoint is the estimate; its error is at most
// half the round trip.
func NewClock(sent, received time.Duration, agentNs int64) Clock {
	mid := sent + (received-sent)/2
	return Clock{Offset: mid - time.Duration(agentNs)}
}

// At maps an agent's monotonic time onto the run clock.
func (c Clock) At(agentNs int64) time.Duration { return time.Duration(agentNs) + c.Offset }

// Merge orders entries for display: by start time, each host's operations in their seq
// order, and a recv never before the sends whose bytes it got (for stream sockets, joined
// by byte offsets between the two ends of a connection). It reorders entries in place and
// returns them. It takes O(n log n) time for n entries of a few hosts.
func Merge(entries []Entry) []Entry {
	var m Merger
	for _, e := range entries {
		m.Add(e)
	}
	return m.appendEntries(entries[:0])
}

// Merger orders a run's entries as Merge does, taking them as they arrive: each host's
// entries are kept in seq order and its stream sends indexed as they come, so that what
// is left when the run ends is one pass over them. The zero Merger is ready to use; it is
// not safe for concurrent use.
type Merger struct {
	queues []*queue // by host, in the order hosts first appeared
	byHost map[string]*queue
	sends  sendIndex
	n      int
	dirty  bool // an entry came out of its host's order: sort and index again
}

// Len returns how many entries were added.
func (m *Merger) Len() int { return m.n }

// Add takes one entry.
func (m *Merger) Add(e Entry) {
	if m.byHost == nil {
		m.byHost, m.sends = map[string]*queue{}, sendIndex{}
	}
	q := m.byHost[e.Host]
	if q == nil {
		q = &queue{}
		m.byHost[e.Host] = q
		m.queues = append(m.queues, q)
	}
	if k := len(q.entries); k > 0 && before(e, q.entries[k-1]) {
		m.dirty = true
	}
	q.entries = append(q.entries, e)
	m.n++
	if !m.dirty {
		m.sends.add(q, len(q.entries)-1)
	}
}

// Entries returns every entry added, in display order.
func (m *Merger) Entries() []Entry { return m.appendEntries(make([]Entry, 0, m.n)) }

// before is each host's order: seq for operations, time for anything else.
func before(a, b Entry) bool {
	if a.Event != nil && b.Event != nil {
		return a.Event.GetSeq() < b.Event.GetSeq()
	}
	return a.At < b.At
}

func (m *Merger) appendEntries(out []Entry) []Entry {
	if m.dirty {
		m.sends = sendIndex{}
		for _, q := range m.queues {
			sort.SliceStable(q.entries, func(i, j int) bool { return before(q.entries[i], q.entries[j]) })
			for i := range q.entries {
				m.sends.add(q, i)
			}
		}
		m.dirty = false
	}
	for _, q := range m.queues {
		q.head = 0
	}
	for _, hs := range m.sends {
		for _, h := range hs {
			h.lo = 0
		}
	}
	// A k-way merge that always takes the earliest head: per-host order holds even where
	// clocks disagree. A recv about to be shown before a send that fed it (clock offsets
	// are estimates, so events of two hosts microseconds apart may invert) waits: the
	// sender's host shows its entries up to that send first (they precede it in seq
	// order), then the recv.
	for {
		var q *queue
		for _, c := range m.queues {
			if c.head < len(c.entries) && (q == nil || c.entries[c.head].At < q.entries[q.head].At) {
				q = c
			}
		}
		if q == nil {
			return out
		}
		r := q.entries[q.head]
		q.head++
		if isStreamRecv(r) {
			if sq, upto, ok := m.sends.feeder(r); ok {
				out = append(out, sq.entries[sq.head:upto+1]...)
				sq.head = upto + 1
			}
		}
		out = append(out, r)
	}
}

// queue is one host's entries in seq order; head is the first not yet shown.
type queue struct {
	entries []Entry
	head    int
}

// connKey names one end of a stream connection as its sends see it: (local, peer).
type connKey struct{ local, peer addrKey }

type addrKey struct {
	host string
	port uint32
	path string
}

func keyOf(a *socklabv1.Address) addrKey {
	return addrKey{a.GetHost(), a.GetPort(), a.GetPath()}
}

// sendRef is a stream send (or close, shutdown) in its host's queue.
type sendRef struct {
	idx        int    // its place in its queue
	start, end uint64 // the stream bytes it carried (end == start for close, shutdown)
	eof        bool   // a close or shutdown
}

// hostSends are one host's sends on one connection end, in seq order (so in stream
// order); those before lo have been shown.
type hostSends struct {
	q    *queue
	refs []sendRef
	lo   int
}

// sendIndex holds every stream send of a run by connection end, by host.
type sendIndex map[connKey][]*hostSends

// add indexes q's entry i if it is a stream send.
func (idx sendIndex) add(q *queue, i int) {
	e := q.entries[i]
	if !isStreamSend(e) {
		return
	}
	ev := e.Event
	k := connKey{keyOf(ev.GetLocal()), keyOf(ev.GetPeer())}
	ref := sendRef{idx: i, start: ev.GetStreamOffset()}
	if op := ev.GetOp(); op == "close" || op == "shutdown" {
		ref.end, ref.eof = ref.start, true
	} else {
		ref.end = ref.start + uint64(ev.GetResult().GetValue())
	}
	hs := idx[k]
	var h *hostSends
	for _, c := range hs {
		if c.q == q {
			h = c
		}
	}
	if h == nil {
		h = &hostSends{q: q}
		idx[k] = append(hs, h)
	}
	h.refs = append(h.refs, ref)
}

// feeder finds the send not yet shown that fed recv r (see feeds), the last of them when
// r got the bytes of several, and returns its host's queue and its place there.
func (idx sendIndex) feeder(r Entry) (*queue, int, bool) {
	re := r.Event
	rStart := re.GetStreamOffset()
	rEnd := rStart + re.GetPayloadLength()
	var (
		bestQ *queue
		best  int
	)
	consider := func(q *queue, i int) { // the first in display order: by seq on one host, else by time
		if bestQ == nil || (q == bestQ && i < best) || (q != bestQ && q.entries[i].At < bestQ.entries[best].At) {
			bestQ, best = q, i
		}
	}
	for _, hs := range idx[connKey{keyOf(re.GetPeer()), keyOf(re.GetLocal())}] {
		for hs.lo < len(hs.refs) && hs.refs[hs.lo].idx < hs.q.head {
			hs.lo++ // shown since
		}
		pending := hs.refs[hs.lo:]
		if rEnd == rStart {
			for _, ref := range pending { // the end of the stream: a close or shutdown
				if ref.eof {
					consider(hs.q, ref.idx)
					break
				}
			}
		}
		// Bytes of several sends: the last of them, so that every one is shown first.
		last := -1
		for n := sort.Search(len(pending), func(n int) bool { return pending[n].end > rStart }); n < len(pending) && pending[n].start < rEnd; n++ {
			if !pending[n].eof && rStart < pending[n].end {
				last = pending[n].idx
			}
		}
		if last >= 0 {
			consider(hs.q, last)
		}
	}
	if bestQ == nil {
		return nil, 0, false
	}
	return bestQ, best, true
}

// isStreamRecv reports whether e is a successful recv on a connected stream: one with
// bytes, or the b"" of the end of the stream.
func isStreamRecv(e Entry) bool {
	op := e.Event.GetOp()
	return e.Kind == Operation && (op == "recv" || op == "recvfrom" || op == "drain") && e.Event.GetError() == nil &&
		e.Event.GetLocal() != nil && e.Event.GetPeer() != nil && e.Event.GetResult().GetDatagramLength() == 0
}

// isStreamSend reports whether e put bytes, or the end of the stream, on a connection.
func isStreamSend(e Entry) bool {
	op := e.Event.GetOp()
	if e.Kind != Operation || e.Event.GetLocal() == nil || e.Event.GetPeer() == nil {
		return false
	}
	switch op {
	case "send", "sendall", "sendto", "send_bulk":
		return e.Event.GetPayloadLength() > 0
	case "close", "shutdown":
		return true
	}
	return false
}

// feeds reports whether s caused what recv r got: a send whose bytes r read (the same
// connection seen from its two ends, overlapping byte ranges), or the close or shutdown
// whose end of stream r's b"" reports.
func feeds(s, r Entry) bool {
	se, re := s.Event, r.Event
	if !sameAddr(se.GetLocal(), re.GetPeer()) || !sameAddr(se.GetPeer(), re.GetLocal()) {
		return false
	}
	if op := se.GetOp(); op == "close" || op == "shutdown" {
		return re.GetPayloadLength() == 0
	}
	sStart, sEnd := se.GetStreamOffset(), se.GetStreamOffset()+uint64(se.GetResult().GetValue())
	rStart, rEnd := re.GetStreamOffset(), re.GetStreamOffset()+re.GetPayloadLength()
	return sStart < rEnd && rStart < sEnd
}

func sameAddr(a, b *socklabv1.Address) bool {
	return a.GetHost() == b.GetHost() && a.GetPort() == b.GetPort() && a.GetPath() == b.GetPath()
}

// Check is the outcome of one of a lab's declared checks.
type Check struct {
	// ID is the check's slug, as the lab declares it.
	ID string
	// Description says what the check verifies.
	Description string
	// MaxPoints is what the check is worth.
	MaxPoints int
	// Passed is set when the check held.
	Passed bool
	// Reached is set when the lab evaluated the check at all.
	Reached bool
	// Message explains a failure: got versus want, or the error that stopped the lab
	// before the check was reached.
	Message string
	// Pos is the lab's file:line where the check was evaluated.
	Pos string
	// Hints are what a failed check tells the student, by language code ("en", "zh");
	// none for a passed check and for a check the lab gave no hint.
	Hints Hints
}

// DefaultLang is the language of a hint given as a plain string, and the one shown when a
// check has no hint in the language asked for.
const DefaultLang = "en"

// Hint returns the check's hint in lang, else in DefaultLang, else "".
func (c Check) Hint(lang string) string {
	if h, ok := c.Hints.Get(lang); ok {
		return h
	}
	h, _ := c.Hints.Get(DefaultLang)
	return h
}

// Hints are a check's hints for the student, by language code. The zero value holds
// none. Two Hints are equal (==) when they hold the same hints, so that a Check stays
// comparable.
type Hints struct {
	enc string // the hints as JSON, keys sorted; "" for none
}

// MakeHints returns hints holding m's non-empty hints.
func MakeHints(m map[string]string) Hints {
	keep := map[string]string{}
	for k, v := range m {
		if v != "" {
			keep[k] = v
		}
	}
	if len(keep) == 0 {
		return Hints{}
	}
	b, _ := json.Marshal(keep) // a map of strings always marshals, keys sorted
	return Hints{enc: string(b)}
}

// Map returns the hints as a map of language codes to hints; nil when there are none.
func (h Hints) Map() map[string]string {
	if h.enc == "" {
		return nil
	}
	var m map[string]string
	_ = json.Unmarshal([]byte(h.enc), &m) // MakeHints wrote it
	return m
}

// Get returns the hint in lang, and whether there is one.
func (h Hints) Get(lang string) (string, bool) {
	v, ok := h.Map()[lang]
	return v, ok
}

// IsZero reports whether there are no hints.
func (h Hints) IsZero() bool { return h.enc == "" }

// String shows the hints as a map does.
func (h Hints) String() string { return fmt.Sprint(h.Map()) }

// Points returns the points the check earned.
func (c Check) Points() int {
	if c.Passed {
		return c.MaxPoints
	}
	return 0
}
