package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestAppender: a run's events stored as it goes, in batches, are readable while it
// runs, in the order given; SaveRun of its Streamed record keeps them all and adds none.
func TestAppender(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := transcript.Header{RunID: "run-streamed", Lab: "pingpong", Started: time.Now(),
		Hosts: []transcript.Host{{Role: "a", Address: "127.0.0.2"}}}
	if err := st.Begin(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	a := st.Appender(h.RunID)
	const n = 3*appendBatch + 17
	entry := func(i int) transcript.Entry {
		return transcript.Entry{Kind: transcript.Operation, Host: "a", At: time.Duration(i) * time.Microsecond,
			Event: &socklabv1.Event{Op: "send", Seq: uint64(i + 1), Payload: []byte(fmt.Sprint(i))}}
	}
	for i := range n {
		a.Add(entry(i))
	}
	count := func() int {
		k := 0
		if err := st.Events(t.Context(), h.RunID, func(*socklabv1.Event) error { k++; return nil }); err != nil {
			t.Fatal(err)
		}
		return k
	}
	// Full batches go at once; the rest within appendEvery.
	deadline := time.Now().Add(10 * appendEvery)
	for count() < n && time.Now().Before(deadline) {
		time.Sleep(appendEvery / 5)
	}
	if got := count(); got != n {
		t.Fatalf("%d events stored while the run goes, want %d", got, n)
	}
	a.Add(entry(n))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &transcript.Record{Result: transcript.Result{Header: h, ExitCode: transcript.ExitPassed, Finished: time.Now()}, Streamed: true}
	if err := st.SaveRun(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := st.Events(t.Context(), h.RunID, func(ev *socklabv1.Event) error {
		if want := fmt.Sprint(i); string(ev.GetPayload()) != want {
			return fmt.Errorf("event %d holds %q, want %q", i, ev.GetPayload(), want)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != n+1 {
		t.Errorf("%d events after the run was saved, want %d", i, n+1)
	}
	if res, err := st.Result(t.Context(), h.RunID); err != nil || res.Verdict() != transcript.VerdictPassed {
		t.Errorf("Result() = %+v, %v; want the run passed", res, err)
	}
}
