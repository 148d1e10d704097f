package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// JSONL writes a run as JSON lines: first its start, {"start": START} (START is
// transcript.StartFile: run id, lab, params, hosts, checks), then one protojson
// socklab.v1.Event per entry, with the run's clock (at_ns), the lab host (role) and the
// lab position (pos) filled in (narration is an EVENT_KIND_SAY event), and last its end,
// {"end": RESULT} (RESULT is result.json: checks, verdict, score, exit code, error). No
// event has a field named start or end, so a reader tells the three apart by their one
// key.
type JSONL struct {
	mu  sync.Mutex // serialises writes, guards buf, enc and err
	w   io.Writer
	buf []byte // the line being written, reused
	enc jsonEncoder
	err error
}

// NewJSONL returns a JSON-lines writer to w.
func NewJSONL(w io.Writer) *JSONL { return &JSONL{w: w} }

var _ Writer = (*JSONL)(nil)

// Header writes the run's start record.
func (j *JSONL) Header(h transcript.Header) {
	j.record(struct {
		Start transcript.StartFile `json:"start"`
	}{h.File()})
}

// End writes the run's end record.
func (j *JSONL) End(res *transcript.Result) {
	j.record(struct {
		End transcript.ResultFile `json:"end"`
	}{res.File()})
}

// record writes v as one line.
func (j *JSONL) record(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = fmt.Errorf("jsonl: %w", err)
		return
	}
	_, j.err = j.w.Write(append(b, '\n'))
}

// Entry writes one entry as one line.
func (j *JSONL) Entry(e transcript.Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	b, err := appendEntry(&j.enc, j.buf[:0], e)
	if b == nil || err != nil {
		j.err = err
		return
	}
	j.buf = append(b, '\n')
	_, j.err = j.w.Write(j.buf)
}

// entryFields are the fields of Event that transcript.EntryEvent sets from its entry,
// in declaration order (as jsonEncoder takes them).
var entryFields = func() [3]protoreflect.FieldDescriptor {
	fds := (&socklabv1.Event{}).ProtoReflect().Descriptor().Fields()
	f := [3]protoreflect.FieldDescriptor{fds.ByName("at_ns"), fds.ByName("role"), fds.ByName("pos")}
	slices.SortFunc(f[:], func(a, b protoreflect.FieldDescriptor) int { return a.Index() - b.Index() })
	return f
}()

// appendEntry appends e's event (transcript.EntryEvent) in protojson to out: through
// enc where it can, or protojson itself. It returns nil for an entry with no event.
func appendEntry(enc *jsonEncoder, out []byte, e transcript.Entry) ([]byte, error) {
	if b, err := appendEntryJSON(enc, out, e); err != errFallback {
		return b, err
	}
	ev := transcript.EntryEvent(e)
	if ev == nil {
		return nil, nil
	}
	return protojson.MarshalOptions{}.MarshalAppend(out, ev)
}

// appendEntryJSON is appendEntry through enc, without copying the event; it returns
// errFallback where only protojson will do.
func appendEntryJSON(enc *jsonEncoder, out []byte, e transcript.Entry) ([]byte, error) {
	if e.Event == nil {
		ev := transcript.EntryEvent(e) // a new, small event: nothing to copy
		if ev == nil {
			return nil, nil
		}
		return enc.appendMessage(out, ev.ProtoReflect(), nil)
	}
	var fields [3]fieldValue
	for i, fd := range entryFields {
		fields[i].fd = fd
		switch fd.Name() {
		case "at_ns":
			if ns := e.At.Nanoseconds(); ns != 0 {
				fields[i].v = protoreflect.ValueOfInt64(ns)
			}
		case "role":
			if e.Host != "" {
				fields[i].v = protoreflect.ValueOfString(e.Host)
			}
		case "pos":
			if e.Pos != "" {
				fields[i].v = protoreflect.ValueOfString(e.Pos)
			}
		}
	}
	return enc.appendMessage(out, e.Event.ProtoReflect(), fields[:])
}

// Err returns the first error writing, if any.
func (j *JSONL) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}
