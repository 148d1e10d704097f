package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// stamp gives an event the session's identity and next seq.
func (s *Session) stamp(ev *socklabv1.Event) {
	ev.Host = s.m.name
	ev.SessionId = s.id
	ev.Seq = s.seq.Add(1)
}

// Events streams the session's background events to send, in batches of at most max,
// until the session ends and every event is delivered, or ctx ends. One stream at a time.
func (s *Session) Events(ctx context.Context, max int, send func([]*socklabv1.Event) error) error {
	if !s.events.subscribe() {
		return errdefs.Errorf(errdefs.ErrFailedPrecondition, "session %s already has an event stream: one at a time", s.id)
	}
	defer s.events.unsubscribe()
	for {
		batch, more, err := s.events.take(ctx, max)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := send(batch); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// SocketError turns a socket call's error into what a lab observes: the errno's name,
// number and C library message, Python's "timed out", or an address that did not
// resolve (gaierror).
func SocketError(err error) *socklabv1.SocketError {
	if err == nil {
		return nil
	}
	if errors.Is(err, sock.ErrTimeout) {
		return &socklabv1.SocketError{Name: "timeout", Message: "timed out"}
	}
	var ae *addressError
	if errors.As(err, &ae) {
		return ae.socketError()
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		name := unix.ErrnoName(errno)
		if name == "" {
			name = fmt.Sprintf("errno%d", int(errno))
		}
		se := &socklabv1.SocketError{Name: name, Errno: int32(errno), Message: strerror(errno)}
		var held *heldError
		if errors.As(err, &held) {
			se.Holder = held.holder
		}
		return se
	}
	return &socklabv1.SocketError{Name: "error", Message: err.Error()}
}

// strerror returns the C library's message for errno: Go's table, capitalised as glibc's.
func strerror(errno unix.Errno) string {
	msg := errno.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// capped returns a copy of at most limit bytes of b: the payload an event keeps.
func capped(b []byte, limit int) []byte {
	if len(b) > limit {
		b = b[:limit]
	}
	return append([]byte(nil), b...)
}
