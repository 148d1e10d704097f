package web

import (
	"sync"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// MaxRecords bounds the records a Feed keeps: a page that comes late gets the latest
// MaxRecords steps and arrows after a gap record that says how many it missed, so a long
// run costs the server a bounded amount of memory (a few MiB) however long it goes.
const MaxRecords = 20_000

// Feed is one run as pages draw it: the entries it takes (in display order) become the
// ladder's steps and arrows, kept for the pages that come later and handed to every page
// that watches. It is a report.Writer, so a stored run replays into it as a live one
// goes. It is safe for concurrent use; Entry never blocks on a page.
type Feed struct {
	// Max bounds the records kept (0: MaxRecords).
	Max int

	mu     sync.Mutex // guards the fields below
	run    []byte     // the run record, once the hosts are bound
	b      ladder.Builder
	recs   [][]byte // the latest records, recs[0] being number first
	first  int
	end    []byte        // the end record, once the run has ended
	wake   chan struct{} // closed and replaced at each change
	closed bool          // End came
}

var _ report.Writer = (*Feed)(nil)

// Header starts the run's drawing with its hosts.
func (f *Feed) Header(h transcript.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = encode(runRecord(h))
	f.changed()
}

// Entry takes the run's next entry in display order (runner.Options.Ordered).
func (f *Feed) Entry(e transcript.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	st, arrows := f.b.Add(e)
	f.push(encode(stepRecord(st)))
	for _, a := range arrows {
		f.push(encode(arrowRecord(a)))
	}
	f.changed()
}

// End finishes the drawing: the datagrams no recv got, then how the run ended.
func (f *Feed) End(res *transcript.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, a := range f.b.End() {
		f.push(encode(arrowRecord(a)))
	}
	if f.run == nil { // a run that ended before its hosts were bound
		f.run = encode(runRecord(res.Header))
	}
	f.end = encode(endRecord(res))
	f.changed()
}

// Ended reports whether the run has ended.
func (f *Feed) Ended() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// push keeps one record, letting the oldest go past the bound. f.mu is held.
func (f *Feed) push(rec []byte) {
	max := f.Max
	if max <= 0 {
		max = MaxRecords
	}
	if len(f.recs) >= max {
		// Let a quarter go at once: the slice is copied once per max/4 records.
		n := max/4 + 1
		n = min(n, len(f.recs))
		f.recs = append([][]byte(nil), f.recs[n:]...)
		f.first += n
	}
	f.recs = append(f.recs, rec)
}

// changed wakes the pages that wait. f.mu is held.
func (f *Feed) changed() {
	if f.wake != nil {
		close(f.wake)
	}
	f.wake = make(chan struct{})
}

// batch is what a page gets next: the records after its cursor.
type batch struct {
	run  []byte   // the run record, when the page has not had it
	gap  int      // records let go before the page's cursor
	recs [][]byte // records, at most batchMax
	next int      // the cursor after recs
	end  []byte   // the end record, once every record went
	wake <-chan struct{}
}

// batchMax bounds the records one batch copies under the lock.
const batchMax = 512

// since returns the records after cursor (the number of records the page has had, or
// -1 before the run record).
func (f *Feed) since(cursor int) batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	b := batch{next: cursor, wake: f.wake}
	if f.run == nil {
		return b
	}
	if cursor < 0 {
		b.run, cursor = f.run, 0
	}
	if cursor < f.first {
		b.gap, cursor = f.first-cursor, f.first
	}
	i := cursor - f.first
	n := min(len(f.recs)-i, batchMax)
	b.recs = append([][]byte(nil), f.recs[i:i+n]...)
	b.next = cursor + n
	if f.closed && b.next == f.first+len(f.recs) {
		b.end = f.end
	}
	return b
}
