package lab

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// watchdogs cut a run's calls short when they outlast their watchdog, with one timer
// for all of them. A lab makes thousands of calls that each end long before their
// watchdog; a timer set and stopped for each (context.WithTimeout) costs a ping-pong lab
// several percent of its speed. The timer is set for the earliest deadline of the calls in
// flight, and moved only when a call with an earlier one starts: a call that starts
// after another with the same watchdog leaves it alone.
type watchdogs struct {
	mu    sync.Mutex
	calls map[*watched]struct{} // in flight
	timer *time.Timer
	next  time.Time // when timer fires; zero when it is not set
}

// watched is a call's context: it ends with its parent's, or when its deadline passes,
// and then Err is context.DeadlineExceeded, as for a context.WithDeadline.
type watched struct {
	context.Context // cancelled when the deadline passes
	cancel          context.CancelFunc
	deadline        time.Time
	expired         atomic.Bool
}

// Deadline returns the call's deadline.
func (w *watched) Deadline() (time.Time, bool) { return w.deadline, true }

// Err is context.DeadlineExceeded once the deadline has passed, else the parent's.
func (w *watched) Err() error {
	err := w.Context.Err()
	if err != nil && w.expired.Load() {
		return context.DeadlineExceeded
	}
	return err
}

// start returns the context of a call made now under parent, to end after d, and its
// end, which the caller must call when the call returns.
func (ws *watchdogs) start(parent context.Context, d time.Duration) (*watched, func()) {
	ctx, cancel := context.WithCancel(parent)
	w := &watched{Context: ctx, cancel: cancel, deadline: time.Now().Add(d)}
	ws.mu.Lock()
	if ws.calls == nil {
		ws.calls = map[*watched]struct{}{}
	}
	ws.calls[w] = struct{}{}
	if ws.next.IsZero() || w.deadline.Before(ws.next) {
		ws.arm(w.deadline)
	}
	ws.mu.Unlock()
	return w, func() {
		ws.mu.Lock()
		delete(ws.calls, w)
		ws.mu.Unlock()
		cancel()
	}
}

// arm sets the timer to fire at at; ws.mu is held.
func (ws *watchdogs) arm(at time.Time) {
	ws.next = at
	if ws.timer == nil {
		ws.timer = time.AfterFunc(time.Until(at), ws.fire)
		return
	}
	ws.timer.Reset(time.Until(at))
}

// fire ends the calls whose deadline has passed and sets the timer for the earliest of
// the others.
func (ws *watchdogs) fire() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	now := time.Now()
	var next time.Time
	for w := range ws.calls {
		if !now.Before(w.deadline) {
			w.expired.Store(true)
			w.cancel()
			delete(ws.calls, w)
			continue
		}
		if next.IsZero() || w.deadline.Before(next) {
			next = w.deadline
		}
	}
	ws.next = time.Time{}
	if !next.IsZero() {
		ws.arm(next)
	}
}

// stop stops the timer: the run has ended, and no call is in flight.
func (ws *watchdogs) stop() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.timer != nil {
		ws.timer.Stop()
	}
	ws.next = time.Time{}
}
