package web

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// Bounds on what a Feed keeps of a run for the pages that come late: the first Head
// steps and the latest Tail, each with its arrows, as report.html draws a long run. A
// page that comes later than that gets the first Head steps, a gap record saying how
// many steps and arrows it misses, then the latest Tail and the live tail; a page open
// all along gets every step. So a long run costs the server a bounded amount of memory
// (a few MiB), however long it goes.
const (
	Head = htmlreport.DefaultHead
	Tail = 10_000
)

// Feed is one run as pages draw it: the entries it takes (in display order) become the
// records of report.html's ladder renderer (htmlreport.Record), kept within Head and
// Tail steps for the pages that come later and handed to every page that watches. It is
// a report.Writer, so a stored run replays into it as a live one goes. It is safe for
// concurrent use; Entry never blocks on a page.
type Feed struct {
	// Head and Tail bound the steps kept (0: the package's Head and Tail).
	Head, Tail int

	mu      sync.Mutex // guards the fields below
	enc     htmlreport.Encoder
	header  []byte
	head    []group // the first Head steps
	tail    []group // the latest Tail steps beyond them, oldest at tail[first]
	first   int
	skipped htmlreport.Gap // the steps between head and tail let go
	last    []held         // the lost datagrams' arrows, then the end, once the run ended
	wake    chan struct{}  // closed and replaced at each change
	ended   bool
}

// group is one step with the arrows that came with it, encoded.
type group struct {
	index  int
	step   []byte
	arrows []held
}

// held is one encoded record; lo is the lower index of an arrow's steps.
type held struct {
	lo   int
	line []byte
}

var _ report.Writer = (*Feed)(nil)

// Header starts the run's drawing with its hosts.
func (f *Feed) Header(h transcript.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.header = encode(f.enc.Header(h))
	f.changed()
}

// Entry takes the run's next entry in display order (runner.Options.Ordered).
func (f *Feed) Entry(e transcript.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	recs := f.enc.Entry(e)
	g := group{index: recs[0].Step.Index, step: encode(recs[0])}
	for _, r := range recs[1:] {
		g.arrows = append(g.arrows, held{lo: min(r.Arrow.Send, r.Arrow.Recv), line: encode(r)})
	}
	f.push(g)
	f.changed()
}

// End finishes the drawing: the datagrams no recv got, then how the run ended.
func (f *Feed) End(res *transcript.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.ended = true
	if f.header == nil { // a run that ended before its hosts were bound
		f.header = encode(f.enc.Header(res.Header))
	}
	for _, r := range f.enc.End(res) {
		h := held{line: encode(r), lo: -1}
		if r.Arrow != nil {
			h.lo = r.Arrow.Send
		}
		f.last = append(f.last, h)
	}
	f.changed()
}

// Ended reports whether the run has ended.
func (f *Feed) Ended() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

func (f *Feed) bounds() (head, tail int) {
	head, tail = f.Head, f.Tail
	if head <= 0 {
		head = Head
	}
	if tail <= 0 {
		tail = Tail
	}
	return head, tail
}

// push keeps one step's group, letting the oldest of the tail go past the bound. f.mu
// is held.
func (f *Feed) push(g group) {
	head, tail := f.bounds()
	switch {
	case len(f.head) < head:
		f.head = append(f.head, g)
	case len(f.tail) < tail:
		f.tail = append(f.tail, g)
	default:
		old := &f.tail[f.first]
		if f.skipped.Steps == 0 {
			f.skipped.From = old.index
		}
		f.skipped.To = old.index
		f.skipped.Steps++
		f.skipped.Arrows += len(old.arrows)
		*old = g
		f.first = (f.first + 1) % len(f.tail)
	}
}

// changed wakes the pages that wait. f.mu is held.
func (f *Feed) changed() {
	if f.wake != nil {
		close(f.wake)
	}
	f.wake = make(chan struct{})
}

// batch is what a page gets next.
type batch struct {
	lines [][]byte // records, each with its event id ("" for none)
	ids   []string
	next  int  // the cursor after them: the steps the page has had
	more  bool // more are ready at once
	done  bool // the run's end is among them
	wake  <-chan struct{}
}

// batchMax bounds the steps one batch copies under the lock.
const batchMax = 512

// page is one page's place in a feed: the steps it has had, and the steps it missed
// (gap.Steps > 0), whose arrows it is not sent.
type page struct {
	cursor int // -1 before the header
	gap    htmlreport.Gap
}

func (p *page) drawn(i int) bool { return p.gap.Steps == 0 || i < p.gap.From || i > p.gap.To }

// next returns the records after the page's place, and moves it on.
func (f *Feed) next(p *page) batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	b := batch{wake: f.wake}
	add := func(line []byte, id string) {
		b.lines, b.ids = append(b.lines, line), append(b.ids, id)
	}
	if f.header == nil {
		b.next = p.cursor
		return b
	}
	if p.cursor < 0 {
		add(f.header, "0")
		p.cursor = 0
	}
	n := 0
	emit := func(g *group) {
		add(g.step, fmt.Sprint(g.index+1))
		for _, a := range g.arrows {
			if p.drawn(a.lo) {
				add(a.line, "")
			}
		}
		p.cursor = g.index + 1
		n++
	}
	for p.cursor < len(f.head) && n < batchMax {
		emit(&f.head[p.cursor])
	}
	if len(f.tail) > 0 && n < batchMax {
		oldest := f.tail[f.first].index
		if p.cursor < oldest { // the page missed steps the feed let go
			p.gap = htmlreport.Gap{From: p.cursor, To: oldest - 1, Steps: oldest - p.cursor}
			if p.cursor == len(f.head) {
				p.gap.Arrows = f.skipped.Arrows
			}
			for i := range f.tail { // and the arrows of the steps kept that reach into the gap
				for _, a := range f.tail[i].arrows {
					if !p.drawn(a.lo) {
						p.gap.Arrows++
					}
				}
			}
			add(encode(htmlreport.Record{Gap: &p.gap}), "")
			p.cursor = oldest
		}
		for i := p.cursor - oldest; i < len(f.tail) && n < batchMax; i++ {
			emit(&f.tail[(f.first+i)%len(f.tail)])
		}
	}
	b.more = n == batchMax
	if f.ended && !b.more && p.cursor == f.steps() {
		for _, h := range f.last {
			if h.lo < 0 || p.drawn(h.lo) {
				add(h.line, "")
			}
		}
		b.done = true
	}
	b.next = p.cursor
	return b
}

// steps is how many steps the feed has taken. f.mu is held.
func (f *Feed) steps() int {
	if len(f.tail) > 0 {
		return f.tail[(f.first+len(f.tail)-1)%len(f.tail)].index + 1
	}
	return len(f.head)
}

// encode returns r as one line of JSON.
func encode(r htmlreport.Record) []byte {
	b, err := json.Marshal(r)
	if err != nil { // plain strings, numbers and bytes: cannot happen
		panic(fmt.Sprintf("web: encode a record: %v", err))
	}
	return b
}
