package lab

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWatchdogs: each call ends at its own deadline, with context.DeadlineExceeded, a
// shorter watchdog started after a longer one included; a call that returns in time, or
// whose parent ends first, is no DeadlineExceeded; and the timer is left unset once no
// call is in flight.
func TestWatchdogs(t *testing.T) {
	var ws watchdogs
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()

	long, endLong := ws.start(parent, time.Second)
	defer endLong()
	short, endShort := ws.start(parent, 50*time.Millisecond) // earlier than the timer was set for
	defer endShort()
	quick, endQuick := ws.start(parent, 30*time.Millisecond)
	endQuick() // returned in time

	if dl, ok := long.Deadline(); !ok || time.Until(dl) < 900*time.Millisecond {
		t.Errorf("Deadline() = %v, %v; want about 1s from now", dl, ok)
	}
	start := time.Now()
	select {
	case <-short.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the 50ms call was not cut short within 5s")
	}
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("the 50ms call ended after %v: it waited for the 1s one's deadline", took)
	}
	if err := short.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err() = %v, want DeadlineExceeded", err)
	}
	if !errors.Is(quick.Err(), context.Canceled) {
		t.Errorf("a call that returned in time: Err() = %v, want Canceled (by its end)", quick.Err())
	}
	if long.Err() != nil {
		t.Errorf("the 1s call ended with the 50ms one: %v", long.Err())
	}
	select {
	case <-long.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the 1s call was not cut short within 5s")
	}
	if !errors.Is(long.Err(), context.DeadlineExceeded) {
		t.Errorf("Err() = %v, want DeadlineExceeded", long.Err())
	}

	// A call whose run stops is cancelled, not expired.
	stopped, endStopped := ws.start(parent, time.Hour)
	defer endStopped()
	cancelParent()
	<-stopped.Done()
	if err := stopped.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("a call of a stopped run: Err() = %v, want Canceled", err)
	}
	endStopped()
	ws.stop()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.calls) != 0 || !ws.next.IsZero() {
		t.Errorf("after every call ended: %d calls held, timer set for %v", len(ws.calls), ws.next)
	}
}
