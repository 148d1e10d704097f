// Package transcript holds a run's record as the controller sees it: every host's events
// and the lab's narration, on one clock, in an order that never shows a recv before the
// send whose bytes it got.
package transcript

import (
	"encoding/json"
	"fmt"
	"slices"
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
	// Failed is a declared check that failed, where the lab evaluated it: Check names it,
	// Text is its failure message, Snapshot the hosts' socket tables at that moment.
	Failed
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
	// Check is the id of the check a Failed entry records.
	Check string
	// Snapshot is, for a Failed entry, each lab host's kernel socket table when the
	// check failed.
	Snapshot []*socklabv1.HostSockets
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
	for _, group := range hostOrders(entries) {
		for _, i := range group {
			m.Add(entries[i])
		}
	}
	out := entries[:0]
	m.Flush(Forever, func(e Entry) { out = append(out, e) })
	return out
}

// hostOrders returns the places of each host's entries, the hosts in the order they
// first appear, and each host's entries in its order (before): where they are already in
// it, as they are; where not, sorted. A Merger takes an entry that comes out of its
// host's order in time linear in what it holds, so entries given in any order (a run's
// shuffled) would cost Merge O(n²).
func hostOrders(entries []Entry) [][]int {
	var groups [][]int
	group := map[string]int{}
	for i, e := range entries {
		g, ok := group[e.Host]
		if !ok {
			g = len(groups)
			group[e.Host] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	order := func(a, b int) int {
		switch {
		case before(entries[a], entries[b]):
			return -1
		case before(entries[b], entries[a]):
			return 1
		}
		return 0
	}
	for _, g := range groups {
		if !slices.IsSortedFunc(g, order) {
			slices.SortStableFunc(g, order)
		}
	}
	return groups
}

// Forever is a watermark past every entry: Flush(Forever, ...) emits all that is held.
const Forever = time.Duration(1<<63 - 1)

// Merger orders a run's entries as Merge does while the run goes: it takes them as they
// arrive, keeps each host's in seq order and indexes its stream sends, and Flush emits,
// in display order, those that nothing still to come can precede. What it holds is the
// window between the run's present and its watermark. The zero Merger is ready to use;
// it is not safe for concurrent use.
type Merger struct {
	queues []*queue // by host, in the order hosts first appeared
	byHost map[string]*queue
	sends  sendIndex
	held   int
	dirty  bool // an entry came out of its host's order: index the held ones again
}

// Held returns how many entries were added and not yet emitted.
func (m *Merger) Held() int { return m.held }

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
	m.held++
	k := len(q.entries)
	if k == 0 || !before(e, q.entries[k-1]) {
		q.entries = append(q.entries, e)
		if !m.dirty {
			m.sends.add(q, q.base+k)
		}
		return
	}
	// Out of its host's order (rare: a background event that arrived late): in its place
	// among the held ones, after any it does not precede.
	i := sort.Search(k, func(i int) bool { return before(e, q.entries[i]) })
	q.entries = slices.Insert(q.entries, i, e)
	m.dirty = true
}

// before is each host's order: seq for operations, time for anything else.
func before(a, b Entry) bool {
	if a.Event != nil && b.Event != nil {
		return a.Event.GetSeq() < b.Event.GetSeq()
	}
	return a.At < b.At
}

// Flush emits, in display order, every held entry that starts before watermark (a
// stream recv: that ends before it, since the sends that fed it started before its
// end), stopping at the first that does not: the caller promises that nothing added
// later starts before watermark. Forever emits everything.
func (m *Merger) Flush(watermark time.Duration, emit func(Entry)) {
	m.flush(watermark, -1, emit)
}

// Trim emits the earliest held entries, in display order, until at most keep are held,
// whatever the watermark: it bounds the window when a call stays in flight for long. An
// entry that comes later may then show after entries it preceded (each host's order
// still holds).
func (m *Merger) Trim(keep int, emit func(Entry)) {
	if m.held > keep {
		m.flush(Forever, keep, emit)
	}
}

// flush emits as Flush does, and stops too once at most keep are held (keep < 0: no
// such stop).
func (m *Merger) flush(watermark time.Duration, keep int, emit func(Entry)) {
	if m.dirty {
		m.sends = sendIndex{}
		for _, q := range m.queues {
			for i := range q.entries {
				m.sends.add(q, q.base+i)
			}
		}
		m.dirty = false
	}
	// A k-way merge that always takes the earliest head: per-host order holds even where
	// clocks disagree. A recv about to be shown before a send that fed it (clock offsets
	// are estimates, so events of two hosts microseconds apart may invert) waits: the
	// sender's host shows its entries up to that send first (they precede it in seq
	// order), then the recv.
	for {
		var q *queue
		for _, c := range m.queues {
			if len(c.entries) > 0 && (q == nil || c.entries[0].At < q.entries[0].At) {
				q = c
			}
		}
		if q == nil || m.held <= keep {
			return
		}
		r := q.entries[0]
		recv := isStreamRecv(r)
		if watermark != Forever && (r.At >= watermark || recv && r.At+r.Duration >= watermark) {
			return
		}
		q.pop(1)
		m.held--
		if recv {
			if sq, upto, ok := m.sends.feeder(r); ok {
				n := upto - sq.base + 1
				for _, e := range sq.entries[:n] {
					emit(e)
				}
				sq.pop(n)
				m.held -= n
			}
		}
		emit(r)
	}
}

// queue is one host's held entries in seq order; base is the number emitted before them.
type queue struct {
	entries []Entry
	base    int
}

// pop drops the first n entries, as emitted.
func (q *queue) pop(n int) {
	clear(q.entries[:n]) // let the emitted events go
	q.entries = q.entries[n:]
	q.base += n
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
	idx        int    // its place in its host's order (emitted ones included)
	start, end uint64 // the stream bytes it carried (end == start for close, shutdown)
	eof        bool   // a close or shutdown
}

// hostSends are one host's sends on one connection end, in seq order (so in stream
// order); those before lo have been emitted.
type hostSends struct {
	q    *queue
	refs []sendRef
	lo   int
}

// sendIndex holds every stream send of a run by connection end, by host.
type sendIndex map[connKey][]*hostSends

// add indexes q's entry i (counting those emitted) if it is a stream send.
func (idx sendIndex) add(q *queue, i int) {
	e := q.entries[i-q.base]
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

// feeder finds the send not yet emitted that fed recv r (see feeds), the last of them
// when r got the bytes of several, and returns its host's queue and its place in the
// host's order.
func (idx sendIndex) feeder(r Entry) (*queue, int, bool) {
	re := r.Event
	rStart := re.GetStreamOffset()
	rEnd := rStart + re.GetPayloadLength()
	var (
		bestQ *queue
		best  int
	)
	consider := func(q *queue, i int) { // the first in display order: by seq on one host, else by time
		if bestQ == nil || (q == bestQ && i < best) || (q != bestQ && q.entries[i-q.base].At < bestQ.entries[best-bestQ.base].At) {
			bestQ, best = q, i
		}
	}
	for _, hs := range idx[connKey{keyOf(re.GetPeer()), keyOf(re.GetLocal())}] {
		for hs.lo < len(hs.refs) && hs.refs[hs.lo].idx < hs.q.base {
			hs.lo++ // emitted since
		}
		if hs.lo > 64 && hs.lo > len(hs.refs)/2 { // a long connection: let the emitted go
			hs.refs, hs.lo = append([]sendRef(nil), hs.refs[hs.lo:]...), 0
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
	return e.Kind == Operation && (op == "recv" || op == "recvfrom" || op == "recv_into" || op == "drain") && e.Event.GetError() == nil &&
		e.Event.GetLocal() != nil && e.Event.GetPeer() != nil && e.Event.GetResult().GetDatagramLength() == 0
}

// isStreamSend reports whether e put bytes, or the end of the stream, on a connection.
func isStreamSend(e Entry) bool {
	op := e.Event.GetOp()
	if e.Kind != Operation || e.Event.GetLocal() == nil || e.Event.GetPeer() == nil {
		return false
	}
	switch op {
	case "send", "sendall", "sendto", "send_bulk", "sendfile":
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
