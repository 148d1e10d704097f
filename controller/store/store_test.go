package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
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
		events = append(events, transcript.EntryEvent(e))
	}
	if err := st.SaveRun(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	id := res.Header.RunID
	got, err := st.Result(t.Context(), id[:10])
	if err != nil {
		t.Fatal(err)
	}
	score, _ := got.Score()
	if got.Header.RunID != id || got.Verdict() != "passed" || score != 3 || len(got.Checks) != 3 ||
		len(got.Header.Hosts) != 2 || got.Header.Hosts[0].Role != "server" || got.Header.Hosts[0].Address == "" {
		t.Errorf("Result = %+v", got)
	}
	for i, c := range got.Checks {
		if want := res.Checks[i]; c != want {
			t.Errorf("check %d read back as %+v, stored %+v", i, c, want)
		}
	}
	if got.Header.Params["port"] == nil || got.Header.Summary != res.Header.Summary {
		t.Errorf("params %v, summary %q: want the run's (%v, %q)", got.Header.Params, got.Header.Summary, res.Header.Params, res.Header.Summary)
	}
	i := 0
	err = st.Events(t.Context(), id, func(ev *socklabv1.Event) error {
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
	if err != nil || len(runs) != 1 || runs[0].ID != id || runs[0].Lab != "tcp-simple" {
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
		if err := st.Save(b.Context(), &transcript.Result{Header: transcript.Header{RunID: fmt.Sprintf("run-%d", i), Lab: "bench"}}, events); err != nil {
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
	if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: "run-many", Lab: "x"}}, events); err != nil {
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

// TestEarlierStore: a store written before runs kept their record opens, gains the
// column, and reads its runs from result.json as before.
func TestEarlierStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	result := `{"version":1,"run_id":"run-00000000000000aa","lab":"tcp-simple","params":{"port":8080},` +
		`"hosts":{"client":"127.9.0.3","server":"127.9.0.2"},"started":"2026-11-24T16:58:37Z","finished":"2026-11-24T16:58:38Z",` +
		`"verdict":"failed","exit_code":1,"score":1,"max_score":2,"checks":[{"id":"a","passed":true,"points":1,"max_points":1,"message":""},` +
		`{"id":"b","passed":false,"points":0,"max_points":1,"message":"not reached: x.star:3:1: boom"}],"error":"x.star:3:1: boom"}`
	for _, q := range []string{
		`CREATE TABLE runs (id TEXT PRIMARY KEY, lab TEXT NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL,
			verdict TEXT NOT NULL, exit_code INTEGER NOT NULL, score INTEGER NOT NULL, max_score INTEGER NOT NULL,
			error TEXT NOT NULL, result TEXT NOT NULL)`,
		`INSERT INTO runs VALUES ('run-00000000000000aa', 'tcp-simple', 1, 2, 'failed', 1, 1, 2, 'x.star:3:1: boom', '` + result + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Result(t.Context(), "run-00000000000000aa")
	if err != nil {
		t.Fatal(err)
	}
	hosts := got.Header.Hosts
	if got.ExitCode != 1 || got.Error != "x.star:3:1: boom" || len(hosts) != 2 || hosts[0] != (transcript.Host{Role: "server", Address: "127.9.0.2"}) {
		t.Errorf("Result = %+v", got)
	}
	if len(got.Checks) != 2 || !got.Checks[0].Reached || got.Checks[1].Reached || got.Checks[1].Passed {
		t.Errorf("checks = %+v: want a reached and passed, b not reached", got.Checks)
	}
	// A new run stored beside it keeps its record.
	if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: "run-new", Lab: "x", Summary: "s"}}, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Result(t.Context(), "run-new"); err != nil || r.Header.Summary != "s" {
		t.Errorf("Result(run-new) = %+v, %v", r, err)
	}
	if owner, err := st.Owner(t.Context(), "run-00000000000000aa"); owner != "" || err != nil {
		t.Errorf("Owner(an earlier run) = %q, %v; want nobody", owner, err)
	}
}

// TestResultPrefix: a run is found by its id or a unique prefix of it, matched literally
// (% and _ are not patterns); an ambiguous prefix and an empty id are refused.
func TestResultPrefix(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"run-4c3b00", "run-4c3b11"} {
		if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: id, Lab: "x"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id, want string
		err      error
	}{
		{"run-4c3b00", "run-4c3b00", nil},
		{"run-4c3b1", "run-4c3b11", nil},
		{"run-4c3b", "", store.ErrAmbiguous},
		{"", "", store.ErrNotFound},
		{"%", "", store.ErrNotFound},
		{"run_", "", store.ErrNotFound},
		{"r_n-4c3b00", "", store.ErrNotFound},
	} {
		got, err := st.Result(t.Context(), tc.id)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("Result(%q) = %v, want %v", tc.id, err, tc.err)
		case tc.err == nil && (err != nil || got.Header.RunID != tc.want):
			t.Errorf("Result(%q) = %+v, %v, want run %s", tc.id, got, err, tc.want)
		}
	}
}

// TestOwners: a run saved as a user's is listed, found and attributed as theirs only; a
// prefix resolves among that user's runs alone; runs saved without an owner belong to
// nobody; an earlier store (no owner column) gains it.
func TestOwners(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, r := range []struct{ id, owner string }{
		{"run-aa01", "alice"}, {"run-aa02", "bob"}, {"run-aa03", "alice"}, {"run-bb01", ""},
	} {
		rec := &transcript.Record{Result: transcript.Result{Header: transcript.Header{RunID: r.id, Lab: "x", Started: time.Unix(int64(i), 0)}}}
		if err := st.SaveRunAs(t.Context(), rec, r.owner); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(runs []store.Summary, err error) string {
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID+":"+r.Owner)
		}
		return fmt.Sprint(out)
	}
	if got, want := ids(st.RunsOf(t.Context(), "alice", 10)), "[run-aa03:alice run-aa01:alice]"; got != want {
		t.Errorf("RunsOf(alice) = %s, want %s", got, want)
	}
	if got, want := ids(st.Runs(t.Context(), 10)), "[run-bb01: run-aa03:alice run-aa02:bob run-aa01:alice]"; got != want {
		t.Errorf("Runs() = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		id, owner, want string
		err             error
	}{
		{"run-aa01", "alice", "run-aa01", nil},
		{"run-aa02", "bob", "run-aa02", nil},
		{"run-aa02", "alice", "", store.ErrNotFound}, // bob's
		{"run-aa0", "bob", "run-aa02", nil},          // unambiguous among bob's own
		{"run-aa0", "alice", "", store.ErrAmbiguous},
		{"run-bb01", "", "", store.ErrNotFound}, // nobody's is nobody's to read
		{"", "alice", "", store.ErrNotFound},
	} {
		got, err := st.OwnedBy(t.Context(), tc.id, tc.owner)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("OwnedBy(%q, %q) = %q, %v; want %q, %v", tc.id, tc.owner, got, err, tc.want, tc.err)
		}
	}
	for id, want := range map[string]string{"run-aa02": "bob", "run-bb01": ""} {
		if got, err := st.Owner(t.Context(), id); got != want || err != nil {
			t.Errorf("Owner(%s) = %q, %v; want %q", id, got, err, want)
		}
	}
	if _, err := st.Owner(t.Context(), "run-aa"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Owner(a prefix) = %v, want not found: only a whole id names an owner", err)
	}
}
