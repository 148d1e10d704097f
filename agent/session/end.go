package session

import (
	"context"
	"fmt"
	"os"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// end closes every handle the session holds, records why, and ends its event stream: the
// end of a session closed by its controller, of one whose lease lapsed, and of every one
// when the agent stops. It returns how many handles were still open.
func (s *Session) end(reason string) int {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return 0
	}
	s.ended = true
	s.endReason = reason
	close(s.done)
	type open struct {
		h uint32
		e *entry
	}
	var toClose []open
	for h, e := range s.handles {
		if s.claim(e) {
			toClose = append(toClose, open{h, e})
		}
	}
	s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.bg.stop(5 * time.Second)
	s.clearFaults(reason)
	for _, c := range toClose {
		if pr, ok := c.e.res.(*proc); ok {
			_ = shut(c.e, &socklabv1.Event{})
			pr.reportExit(s, c.h)
			continue
		}
		ev := &socklabv1.Event{
			Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Handle: c.h, Op: "close",
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}},
			StartNs:   Monotonic(time.Now()),
			Note:      closeNote(reason, c.e.served),
		}
		ev.Error = SocketError(shut(c.e, ev))
		s.events.push(context.Background(), ev, false)
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	s.group.Release() // every job of the session has ended: its group is free
	s.events.close(&socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SESSION_END, StartNs: Monotonic(time.Now()),
		Note: fmt.Sprintf("session ended: %s; %d handles closed", reason, len(toClose))})
	return len(toClose)
}

// closeNote says why the agent closed a handle, and which background server held it.
func closeNote(reason, served string) string {
	if served != "" {
		return "closed by the agent: " + reason + "; serve " + served
	}
	return "closed by the agent: " + reason
}
