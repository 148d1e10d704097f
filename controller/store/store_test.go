package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestRoundTrip: a real run saved and read back has the same result and events, in order.
func TestRoundTrip(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := labs.Load("tcp-simple")
	if err != nil {
		t.Fatal(err)
	}
	res := runner.Run(t.Context(), l, topology.Local{}, runner.Options{}, runner.Discard{})
	var events []*socklabv1.Event
	for _, e := range res.Entries {
		events = append(events, report.EntryEvent(e))
	}
	if err := st.Save(t.Context(), res.File(), events); err != nil {
		t.Fatal(err)
	}
	got, err := st.Result(t.Context(), res.ID[:10])
	if err != nil {
		t.Fatal(err)
	}
	if got.RunID != res.ID || got.Verdict != "passed" || got.Score != 3 || len(got.Checks) != 3 || got.Hosts["server"] == "" {
		t.Errorf("Result = %+v", got)
	}
	i := 0
	err = st.Events(t.Context(), res.ID, func(ev *socklabv1.Event) error {
		if ev.GetOp() != events[i].GetOp() || ev.GetSeq() != events[i].GetSeq() || ev.GetRole() != events[i].GetRole() || ev.GetAtNs() != events[i].GetAtNs() {
			t.Errorf("event %d = %s/%d on %s, want %s/%d on %s", i, ev.GetOp(), ev.GetSeq(), ev.GetRole(), events[i].GetOp(), events[i].GetSeq(), events[i].GetRole())
		}
		i++
		return nil
	})
	if err != nil || i != len(events) {
		t.Errorf("Events: %d of %d read, %v", i, len(events), err)
	}
	runs, err := st.Runs(t.Context(), 10)
	if err != nil || len(runs) != 1 || runs[0].ID != res.ID || runs[0].Lab != "tcp-simple" {
		t.Errorf("Runs = %+v, %v", runs, err)
	}
	if _, err := st.Result(t.Context(), "run-nope"); err == nil {
		t.Error("Result(unknown) succeeded")
	}
}

// BenchmarkStoreEvents stores one run of 1,000,000 events (b.N runs) and reports events
// stored per second (target >= 100,000/s).
func BenchmarkStoreEvents(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 1_000_000
	events := make([]*socklabv1.Event, n)
	for i := range events {
		events[i] = &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Host: "server", SessionId: "ses_0123456789abcdef01234567",
			Seq: uint64(i + 1), Handle: 2, Op: "send", Payload: []byte("hello"), PayloadLength: 5, StartNs: int64(i) * 1000, DurationNs: 900,
			Local: &socklabv1.Address{Host: "127.1.2.2", Port: 8080}, Peer: &socklabv1.Address{Host: "127.1.2.3", Port: 40000},
			Result: &socklabv1.Result{Value: 5}, Role: "server", AtNs: int64(i) * 1000}
	}
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if err := st.Save(b.Context(), runner.ResultFile{RunID: fmt.Sprintf("run-%d", i), Lab: "bench", Verdict: "passed"}, events); err != nil {
			b.Fatal(err)
		}
		rate := float64(n) / time.Since(start).Seconds()
		b.ReportMetric(rate, "events/s")
		b.Logf("%d events stored in one run at %.0f events/s (target >= 100,000/s)", n, rate)
	}
}

// TestManyEvents: more events than one INSERT batch come back whole and in order.
func TestManyEvents(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 1000
	events := make([]*socklabv1.Event, n)
	for i := range events {
		events[i] = &socklabv1.Event{Seq: uint64(i + 1), Op: "recv"}
	}
	if err := st.Save(t.Context(), runner.ResultFile{RunID: "run-many", Lab: "x", Verdict: "passed"}, events); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	err = st.Events(t.Context(), "run-many", func(ev *socklabv1.Event) error {
		if ev.GetSeq() != next {
			return fmt.Errorf("event seq %d, want %d", ev.GetSeq(), next)
		}
		next++
		return nil
	})
	if err != nil || next != n+1 {
		t.Errorf("read %d of %d events in order: %v", next-1, n, err)
	}
}
