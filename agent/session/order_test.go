package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/errdefs"
)

func TestOrderGap(t *testing.T) {
	old := gapWait
	gapWait = 50 * time.Millisecond
	t.Cleanup(func() { gapWait = old })
	o := newOrder()
	done := make(chan struct{})
	_, err := o.begin(t.Context(), 1, 2, sendLane, "send", done, nil)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("begin(seq 2) with seq 1 missing = %v, want a FailedPrecondition error", err)
	}
	release, err := o.begin(t.Context(), 1, 1, sendLane, "send", done, nil)
	if err != nil {
		t.Fatalf("begin(seq 1) = %v", err)
	}
	release()
}

func TestOrderLanes(t *testing.T) {
	o := newOrder()
	done := make(chan struct{})
	recvRelease, err := o.begin(t.Context(), 1, 1, recvLane, "recv", done, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A send (another lane) runs while the recv holds its lane.
	sendRelease, err := o.begin(t.Context(), 1, 2, sendLane, "send", done, nil)
	if err != nil {
		t.Fatalf("send behind a running recv: %v", err)
	}
	sendRelease()
	// A second recv waits for the first to finish.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := o.begin(ctx, 1, 3, recvLane, "recv", done, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second recv while the first runs = %v, want it to wait", err)
	}
	recvRelease()
	// The abandoned ticket is skipped: the next recv runs at once.
	r, err := o.begin(t.Context(), 1, 4, recvLane, "recv", done, nil)
	if err != nil {
		t.Fatalf("recv after an abandoned one: %v", err)
	}
	r()
	// The session's end releases waiters.
	hold, _ := o.begin(t.Context(), 1, 5, recvLane, "recv", done, nil)
	close(done)
	if _, err := o.begin(t.Context(), 1, 6, recvLane, "recv", done, nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("waiting recv at session end = %v, want a NotFound error", err)
	}
	hold()
}
