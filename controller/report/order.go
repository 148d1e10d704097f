package report

import (
	"sync"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// InOrder returns a Writer that passes the entries it is given as they arrived (a
// controller's stream) on to w in display order (see transcript.Merger), as a ladder
// needs them: it holds each entry until entries lag later than it have come, or
// until it holds maxHeld, and the rest at End.
func InOrder(w Writer, lag time.Duration) Writer {
	return &inOrder{w: w, lag: lag}
}

// maxHeld bounds the entries InOrder holds back.
const maxHeld = 10_000

type inOrder struct {
	w      Writer
	lag    time.Duration
	mu     sync.Mutex // guards m and latest, and serialises calls to w's Entry
	m      transcript.Merger
	latest time.Duration
}

// Header passes the header on.
func (o *inOrder) Header(h transcript.Header) { o.w.Header(h) }

// Entry takes an entry as it arrived and passes on those now in order.
func (o *inOrder) Entry(e transcript.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m.Add(e)
	o.latest = max(o.latest, e.At)
	o.m.Flush(o.latest-o.lag, o.w.Entry)
	o.m.Trim(maxHeld, o.w.Entry)
}

// End passes on every entry held, then the end.
func (o *inOrder) End(res *transcript.Result) {
	o.mu.Lock()
	o.m.Flush(transcript.Forever, o.w.Entry)
	o.mu.Unlock()
	o.w.End(res)
}
