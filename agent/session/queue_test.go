package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// testQueue returns a queue of limit whose events are numbered from 1, as a session's.
func testQueue(limit int) *queue {
	var seq atomic.Uint64
	return newQueue(limit, func(ev *socklabv1.Event) { ev.Seq = seq.Add(1) })
}

func note(s string) *socklabv1.Event {
	return &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Note: s}
}

// notes lists a batch's notes, with "dropped N" standing for a drop marker.
func notes(batch []*socklabv1.Event) []string {
	var out []string
	for _, ev := range batch {
		if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_DROPPED {
			out = append(out, fmt.Sprintf("dropped %d", ev.GetDropped()))
			continue
		}
		out = append(out, ev.GetNote())
	}
	return out
}

// takeAll takes what the queue holds, waiting at most 5 s for something.
func takeAll(t *testing.T, q *queue) []*socklabv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	batch, _, err := q.take(ctx, 100)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return batch
}

func equalNotes(got []*socklabv1.Event, want ...string) bool {
	return slices.Equal(notes(got), want)
}

func TestQueueDropMarker(t *testing.T) {
	q := testQueue(3)
	ctx := t.Context()
	for _, n := range []string{"e1", "e2", "e3", "e4", "e5"} {
		q.push(ctx, note(n), false)
	}
	if q.dropped != 2 {
		t.Fatalf("after 5 pushes into a queue of 3, dropped = %d, want 2", q.dropped)
	}

	// One free slot is not enough: the marker owed must fit with the next event.
	batch, more, err := q.take(ctx, 1)
	if err != nil || !more || !equalNotes(batch, "e1") {
		t.Fatalf("take(1) = %v, more %v, err %v; want [e1], more", notes(batch), more, err)
	}
	q.push(ctx, note("e6"), false)
	if q.dropped != 3 {
		t.Fatalf("push with one free slot and a marker owed: dropped = %d, want 3", q.dropped)
	}

	if got := takeAll(t, q); !equalNotes(got, "e2", "e3") {
		t.Fatalf("take = %v, want [e2 e3]", notes(got))
	}
	q.push(ctx, note("e7"), false)
	q.push(ctx, note("e8"), false) // the marker went out with e7: none before e8
	got := takeAll(t, q)
	if !equalNotes(got, "dropped 3", "e7", "e8") {
		t.Fatalf("take after room was freed = %v, want [dropped 3 e7 e8]", notes(got))
	}
	marker := got[0]
	if marker.GetNote() == "" {
		t.Errorf("drop marker has no note, want one saying why")
	}
	if marker.GetSeq() != 4 || got[1].GetSeq() != 5 || got[2].GetSeq() != 6 {
		t.Errorf("seqs of [marker e7 e8] = %d %d %d, want 4 5 6 (the dropped events took none)",
			marker.GetSeq(), got[1].GetSeq(), got[2].GetSeq())
	}
	if q.dropped != 0 {
		t.Errorf("dropped = %d after the marker was queued, want 0", q.dropped)
	}
}

func TestQueueCloseCarriesMarker(t *testing.T) {
	q := testQueue(2)
	ctx := t.Context()
	for _, n := range []string{"e1", "e2", "e3"} {
		q.push(ctx, note(n), false)
	}
	// The session's last event always fits, with the marker owed before it.
	q.close(note("end"))
	q.push(ctx, note("late"), false) // after close: discarded
	batch, more, err := q.take(ctx, 100)
	if err != nil || more || !equalNotes(batch, "e1", "e2", "dropped 1", "end") {
		t.Fatalf("take after close = %v, more %v, err %v; want [e1 e2 dropped 1 end], no more", notes(batch), more, err)
	}
	if batch, more, err := q.take(ctx, 100); len(batch) != 0 || more || err != nil {
		t.Errorf("take of a drained closed queue = %v, more %v, err %v; want nothing, no more", notes(batch), more, err)
	}
}

// pushAsync pushes ev with wait in a goroutine and returns a channel closed when it returns.
func pushAsync(ctx context.Context, q *queue, ev *socklabv1.Event) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.push(ctx, ev, true)
	}()
	return done
}

// awaitWaiting waits until count (read under q's lock) reports one waiter: what proves a
// push or take is held back, not merely slow to start. It fails the test after 5 s.
func awaitWaiting(t *testing.T, q *queue, what string, count func() int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		q.mu.Lock()
		n := count()
		q.mu.Unlock()
		if n == 1 {
			return
		}
	}
	t.Fatalf("%s never waited on the queue within 5 s", what)
}

func TestQueueBackpressure(t *testing.T) {
	const settle = 50 * time.Millisecond // how long an empty queue's take is seen to wait
	const bound = 5 * time.Second

	t.Run("take frees the waiter", func(t *testing.T) {
		q := testQueue(2)
		q.push(t.Context(), note("a"), false)
		q.push(t.Context(), note("b"), false)
		pushed := pushAsync(t.Context(), q, note("c"))
		awaitWaiting(t, q, "a push", func() int { return q.pushers })
		batch, _, err := q.take(t.Context(), 1)
		if err != nil || !equalNotes(batch, "a") {
			t.Fatalf("take(1) = %v, %v; want [a]", notes(batch), err)
		}
		select {
		case <-pushed:
		case <-time.After(bound):
			t.Fatalf("push with wait still blocked %v after take freed room", bound)
		}
		if got := takeAll(t, q); !equalNotes(got, "b", "c") {
			t.Errorf("take = %v, want [b c]: nothing dropped under backpressure", notes(got))
		}
		if q.dropped != 0 {
			t.Errorf("dropped = %d, want 0", q.dropped)
		}
	})

	t.Run("cancelled waiter drops", func(t *testing.T) {
		q := testQueue(2) // room for the marker and one event once drained
		q.push(t.Context(), note("a"), false)
		q.push(t.Context(), note("a2"), false)
		ctx, cancel := context.WithCancel(t.Context())
		pushed := pushAsync(ctx, q, note("b"))
		awaitWaiting(t, q, "a push", func() int { return q.pushers })
		cancel()
		select {
		case <-pushed:
		case <-time.After(bound):
			t.Fatalf("push with wait still blocked %v after its context ended", bound)
		}
		takeAll(t, q)
		q.push(t.Context(), note("c"), false)
		if got := takeAll(t, q); !equalNotes(got, "dropped 1", "c") {
			t.Errorf("take = %v, want [dropped 1 c]: the abandoned push is counted", notes(got))
		}
	})

	t.Run("close frees the waiter", func(t *testing.T) {
		q := testQueue(1)
		q.push(t.Context(), note("a"), false)
		pushed := pushAsync(t.Context(), q, note("b"))
		awaitWaiting(t, q, "a push", func() int { return q.pushers })
		q.close(note("end"))
		select {
		case <-pushed:
		case <-time.After(bound):
			t.Fatalf("push with wait still blocked %v after the queue closed", bound)
		}
		if got := takeAll(t, q); !equalNotes(got, "a", "end") {
			t.Errorf("take = %v, want [a end]", notes(got))
		}
	})

	t.Run("take waits for an event", func(t *testing.T) {
		q := testQueue(4)
		ctx, cancel := context.WithTimeout(t.Context(), settle)
		defer cancel()
		if batch, _, err := q.take(ctx, 4); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("take of an empty queue = %v, %v; want it to wait until its context ends", notes(batch), err)
		}
		got := make(chan []*socklabv1.Event, 1)
		go func() {
			batch, _, _ := q.take(t.Context(), 4)
			got <- batch
		}()
		awaitWaiting(t, q, "a take", func() int { return q.takers })
		q.push(t.Context(), note("x"), false)
		select {
		case batch := <-got:
			if !equalNotes(batch, "x") {
				t.Errorf("waiting take = %v, want [x]", notes(batch))
			}
		case <-time.After(bound):
			t.Fatalf("waiting take still blocked %v after a push", bound)
		}
	})
}
