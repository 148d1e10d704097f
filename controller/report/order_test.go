package report

import (
	"testing"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// collect is a Writer that keeps the entries it is given.
type collect struct{ ops []string }

func (c *collect) Header(transcript.Header) {}
func (c *collect) Entry(e transcript.Entry) { c.ops = append(c.ops, e.Host+":"+e.Event.GetOp()) }
func (c *collect) End(*transcript.Result)   {}

// TestInOrder: entries that arrive with a recv before the send that fed it (as a
// controller streams them) come out with the send first.
func TestInOrder(t *testing.T) {
	var entries []transcript.Entry
	pingPong(4, func(e transcript.Entry) { entries = append(entries, e) })
	entries[2], entries[3] = entries[3], entries[2] // the client's recv arrives first
	var got collect
	w := InOrder(&got, time.Millisecond)
	for _, e := range entries {
		w.Entry(e)
	}
	if len(got.ops) == len(entries) {
		t.Errorf("InOrder held nothing back: %q", got.ops)
	}
	w.End(&transcript.Result{})
	want := []string{"client:connect", "server:accept", "server:sendall", "client:recv"}
	if len(got.ops) != len(want) {
		t.Fatalf("entries = %q, want %q", got.ops, want)
	}
	for i := range want {
		if got.ops[i] != want[i] {
			t.Fatalf("entries = %q, want %q", got.ops, want)
		}
	}
}
