package session

import (
	"context"
	"sync"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// queue holds a session's background events until its event stream takes them. It is
// bounded: a producer that can wait is held back while it is full (backpressure); one
// that cannot drops its event, and the next event that fits is preceded by a
// EVENT_KIND_DROPPED marker saying how many were lost.
type queue struct {
	stamp func(*socklabv1.Event) // assigns the session's next seq

	mu         sync.Mutex // protects everything below
	items      []*socklabv1.Event
	limit      int
	dropped    uint64
	closed     bool
	subscribed bool
	changed    chan struct{} // closed and replaced when items are added or taken
	pushers    int           // pushes waiting for room
	takers     int           // takes waiting for an event
}

func newQueue(limit int, stamp func(*socklabv1.Event)) *queue {
	return &queue{limit: limit, stamp: stamp, changed: make(chan struct{})}
}

func (q *queue) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// push adds ev. With wait set it waits for room (until ctx ends); without, a full queue
// drops ev and counts it. Events pushed after close are dropped.
func (q *queue) push(ctx context.Context, ev *socklabv1.Event, wait bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && len(q.items)+q.reserve() >= q.limit {
		if !wait {
			q.dropped++
			return
		}
		ch := q.changed
		q.pushers++
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			q.mu.Lock()
			q.pushers--
			q.dropped++
			return
		}
		q.mu.Lock()
		q.pushers--
	}
	if q.closed {
		return
	}
	q.add(ev)
}

// add appends ev, preceded by a marker for any events dropped before it; q.mu must be held.
func (q *queue) add(ev *socklabv1.Event) {
	if q.dropped > 0 {
		marker := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_DROPPED, Dropped: q.dropped,
			Note: "events were dropped: the event stream fell behind"}
		q.stamp(marker)
		q.items = append(q.items, marker)
		q.dropped = 0
	}
	q.stamp(ev)
	q.items = append(q.items, ev)
	q.notify()
}

// reserve is the room a pending drop marker needs; q.mu must be held.
func (q *queue) reserve() int {
	if q.dropped > 0 {
		return 1
	}
	return 0
}

// close ends the queue after ev (the session's last event), which always fits.
func (q *queue) close(ev *socklabv1.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.add(ev)
}

// subscribe claims the queue for one stream; a second concurrent stream is refused.
func (q *queue) subscribe() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.subscribed {
		return false
	}
	q.subscribed = true
	return true
}

func (q *queue) unsubscribe() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.subscribed = false
}

// take waits for events and returns up to max of them; more is false once the queue is
// closed and drained.
func (q *queue) take(ctx context.Context, max int) (batch []*socklabv1.Event, more bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		if q.closed {
			return nil, false, nil
		}
		ch := q.changed
		q.takers++
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			q.mu.Lock()
			q.takers--
			return nil, false, ctx.Err()
		}
		q.mu.Lock()
		q.takers--
	}
	n := min(max, len(q.items))
	batch = append([]*socklabv1.Event(nil), q.items[:n]...)
	q.items = append(q.items[:0], q.items[n:]...)
	q.notify()
	return batch, len(q.items) > 0 || !q.closed, nil
}
