package session

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
)

// lane is a direction of a socket whose operations finish in the order they started.
// The zero lane is none, so an operation's spec that names no lane has none.
type lane int

const (
	noLane   lane = iota // control operations: they only start in order
	recvLane             // recv, recvfrom, accept, drain, serve
	sendLane             // send, sendall, sendto, connect, connect_ex, send_bulk
	lanes                // the number of lanes, noLane's slot unused
)

// gapWait bounds how long an operation waits for an earlier sequence number to arrive.
var gapWait = 10 * time.Second

// order sequences the operations on one handle: operations with a seq start in seq order,
// and those of one lane also finish in order, each lane independently, so a send never
// waits behind a blocked recv.
type order struct {
	mu      sync.Mutex             // protects everything below
	next    uint64                 // the seq that may start next
	skipped map[uint64]bool        // seqs whose request gave up before starting
	tickets [lanes]uint64          // next ticket handed out, per lane
	serving [lanes]uint64          // ticket now allowed to run, per lane
	givenUp [lanes]map[uint64]bool // tickets whose holder gave up, per lane
	changed chan struct{}          // closed on every change, if an operation waits on it (see wake)
	waiting int                    // operations inside begin, not yet allowed to run
	running map[string]int         // operations begun and not yet released, by name
}

func newOrder() *order {
	return &order{next: 1}
}

// holder counts a request that must wait for its turn (what says for which) against the
// bounds on waiting requests, and returns the release of that count, or the request error
// that refuses it. nil: the request is bound by nothing (a background server's).
type holder func(what string) (release func(), err error)

// notify wakes every waiter; o.mu must be held.
func (o *order) notify() {
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

// wake returns the channel the next change closes, made for the first operation that
// waits for one (most operations find their turn has come and never wait); o.mu must be
// held.
func (o *order) wake() <-chan struct{} {
	if o.changed == nil {
		o.changed = make(chan struct{})
	}
	return o.changed
}

// begin waits until the operation name numbered seq (0: unordered) on lane may run. The
// returned release must be called when it ends. done is the session's end. hold counts
// the request while it waits; a request it refuses fails at once and takes no seq.
func (o *order) begin(ctx context.Context, handle uint32, seq uint64, l lane, name string, done <-chan struct{}, hold holder) (release func(), err error) {
	o.mu.Lock()
	o.waiting++
	o.mu.Unlock()
	advance, err := o.wait(ctx, handle, seq, l, name, done, hold)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waiting--
	if err != nil {
		return nil, err
	}
	if o.running == nil {
		o.running = map[string]int{}
	}
	o.running[name]++
	return func() {
		advance()
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.running[name]--; o.running[name] == 0 {
			delete(o.running, name)
		}
	}, nil
}

// activity reports the operations waiting in begin and those running.
func (o *order) activity() Activity {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := Activity{Waiting: o.waiting}
	for name, n := range o.running {
		for range n {
			a.Running = append(a.Running, name)
		}
	}
	sort.Strings(a.Running)
	return a
}

// wait is begin's waiting: its release advances the lane.
func (o *order) wait(ctx context.Context, handle uint32, seq uint64, l lane, name string, done <-chan struct{}, hold holder) (release func(), err error) {
	var unhold func() // the release of hold's count, once the request has had to wait
	defer func() {
		if unhold != nil {
			unhold()
		}
	}()
	// mustWait counts the request as waiting, the first time it has to; o.mu is held.
	mustWait := func(what string) error {
		if unhold != nil || hold == nil {
			return nil
		}
		r, err := hold(what)
		if err != nil {
			return err
		}
		unhold = r
		return nil
	}
	o.mu.Lock()
	if seq != 0 {
		if seq < o.next || o.skipped[seq] {
			next := o.next
			o.mu.Unlock()
			return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "seq %d on handle %d was already used (next is %d)", seq, handle, next)
		}
		var gap *time.Timer
		for seq > o.next {
			if err := mustWait(fmt.Sprintf("%s seq %d on handle %d would wait for seq %d", name, seq, handle, o.next)); err != nil {
				o.mu.Unlock()
				return nil, err
			}
			if gap == nil {
				gap = time.NewTimer(gapWait)
				defer gap.Stop()
			}
			ch, want := o.wake(), o.next
			o.mu.Unlock()
			select {
			case <-ch:
			case <-gap.C:
				return nil, errdefs.Errorf(errdefs.ErrFailedPrecondition, "seq %d on handle %d waited %s for seq %d, which never arrived", seq, handle, gapWait, want)
			case <-ctx.Done():
				o.mu.Lock()
				if o.skipped == nil {
					o.skipped = map[uint64]bool{}
				}
				o.skipped[seq] = true
				o.mu.Unlock()
				return nil, ctx.Err()
			case <-done:
				return nil, errdefs.Errorf(errdefs.ErrNotFound, "session ended while seq %d on handle %d waited", seq, handle)
			}
			o.mu.Lock()
		}
		// Its turn has come; if its lane is busy it waits there, counted before it takes
		// the seq, so that a request refused takes none.
		if l != noLane && o.serving[l] != o.tickets[l] {
			if err := mustWait(laneWait(name, handle)); err != nil {
				o.mu.Unlock()
				return nil, err
			}
		}
		o.next++
		for o.skipped[o.next] {
			delete(o.skipped, o.next)
			o.next++
		}
		o.notify()
	}
	if l == noLane {
		o.mu.Unlock()
		return func() {}, nil
	}
	ticket := o.tickets[l]
	o.tickets[l]++
	for o.serving[l] != ticket {
		if err := mustWait(laneWait(name, handle)); err != nil {
			o.retire(l, ticket)
			o.mu.Unlock()
			return nil, err
		}
		ch := o.wake()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			o.giveUp(l, ticket)
			return nil, ctx.Err()
		case <-done:
			o.giveUp(l, ticket)
			return nil, errdefs.Errorf(errdefs.ErrNotFound, "session ended while an operation on handle %d waited", handle)
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		o.advance(l)
		o.mu.Unlock()
	}, nil
}

// laneWait says what an operation waits for in its lane, for a refusal's message.
func laneWait(name string, handle uint32) string {
	return fmt.Sprintf("%s on handle %d would wait for the one before it in its direction to finish", name, handle)
}

// giveUp retires a ticket whose holder stopped waiting.
func (o *order) giveUp(l lane, ticket uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retire(l, ticket)
}

// retire retires a ticket whose holder will not run; o.mu must be held.
func (o *order) retire(l lane, ticket uint64) {
	if o.serving[l] == ticket {
		o.advance(l)
		return
	}
	if o.givenUp[l] == nil {
		o.givenUp[l] = map[uint64]bool{}
	}
	o.givenUp[l][ticket] = true
}

// advance moves lane l to its next live ticket; o.mu must be held.
func (o *order) advance(l lane) {
	o.serving[l]++
	for o.givenUp[l][o.serving[l]] {
		delete(o.givenUp[l], o.serving[l])
		o.serving[l]++
	}
	o.notify()
}
