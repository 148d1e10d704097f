package report

import (
	"io"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// JSONL writes a transcript as JSON lines: one protojson socklab.v1.Event per entry, with
// the run's clock (at_ns), the lab host (role) and the lab position (pos) filled in;
// narration is an EVENT_KIND_SAY event.
type JSONL struct {
	mu  sync.Mutex // serialises writes
	w   io.Writer
	err error
}

// NewJSONL returns a JSON-lines writer to w.
func NewJSONL(w io.Writer) *JSONL { return &JSONL{w: w} }

// Entry writes one entry as one line.
func (j *JSONL) Entry(e transcript.Entry) {
	ev := EntryEvent(e)
	if ev == nil {
		return
	}
	b, err := protojson.Marshal(ev)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if err == nil {
		_, err = j.w.Write(append(b, '\n'))
	}
	j.err = err
}

// Err returns the first error writing, if any.
func (j *JSONL) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// EntryEvent returns the event an entry records, with the run's clock, host role and lab
// position set; narration becomes an EVENT_KIND_SAY event. The entry's own event is not
// modified.
func EntryEvent(e transcript.Entry) *socklabv1.Event {
	var ev *socklabv1.Event
	switch {
	case e.Event != nil:
		ev = proto.Clone(e.Event).(*socklabv1.Event)
	case e.Kind == transcript.Say || e.Kind == transcript.Note:
		ev = &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SAY, Note: e.Text}
	default:
		return nil
	}
	ev.AtNs, ev.Role, ev.Pos = e.At.Nanoseconds(), e.Host, e.Pos
	return ev
}

// EventEntry is the inverse of EntryEvent: the transcript entry a stored event records;
// addresses maps host roles to their addresses.
func EventEntry(ev *socklabv1.Event, addresses map[string]string) transcript.Entry {
	e := transcript.Entry{At: time.Duration(ev.GetAtNs()), Host: ev.GetRole(), Address: addresses[ev.GetRole()], Pos: ev.GetPos()}
	if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_SAY {
		e.Kind, e.Text = transcript.Say, ev.GetNote()
		return e
	}
	e.Kind, e.Event, e.Duration = transcript.Operation, ev, time.Duration(ev.GetDurationNs())
	return e
}
