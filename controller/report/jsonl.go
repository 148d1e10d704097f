package report

import (
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/socklab/socklab/controller/transcript"
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

var _ Writer = (*JSONL)(nil)

// Header writes nothing: the events carry their hosts.
func (j *JSONL) Header(transcript.Header) {}

// End writes nothing: result.json holds the outcome.
func (j *JSONL) End(*transcript.Result) {}

// Entry writes one entry as one line.
func (j *JSONL) Entry(e transcript.Entry) {
	ev := transcript.EntryEvent(e)
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
