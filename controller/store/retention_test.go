package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestPrune: Prune deletes the runs beyond the newest N and those older than the age it
// is given, with their events, never a run not ended; Keep makes each Save prune so,
// never the run it saves.
func TestPrune(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	day := 24 * time.Hour
	secret := []byte("the-student-sent-this-secret")
	save := func(id string, age time.Duration) {
		t.Helper()
		ev := &socklabv1.Event{Seq: 1, Op: "send", Payload: secret, PayloadLength: uint64(len(secret))}
		if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: id, Lab: "x", Started: now.Add(-age)}}, []*socklabv1.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	save("run-10d", 10*day)
	save("run-5d", 5*day)
	save("run-3d", 3*day)
	save("run-1d", day)
	save("run-now", 0)
	if err := st.Begin(t.Context(), transcript.Header{RunID: "run-running", Lab: "x", Started: now.Add(-20 * day)}); err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		runs, err := st.Runs(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		keep store.Retention
		n    int
		want []string
	}{
		{"nothing", store.Retention{}, 0, []string{"run-now", "run-1d", "run-3d", "run-5d", "run-10d", "run-running"}},
		{"3 runs", store.Retention{Runs: 3}, 2, []string{"run-now", "run-1d", "run-3d", "run-running"}},
		{"2 days", store.Retention{Age: 2 * day}, 1, []string{"run-now", "run-1d", "run-running"}},
		{"1 run or 2 days", store.Retention{Runs: 1, Age: 2 * day}, 1, []string{"run-now", "run-running"}},
	} {
		n, err := st.Prune(t.Context(), tc.keep)
		if got := ids(); err != nil || n != tc.n || !slices.Equal(got, tc.want) {
			t.Errorf("Prune(%s) = %d, %v, leaving %v; want %d, leaving %v", tc.name, n, err, got, tc.n, tc.want)
		}
	}
	events := 0
	for _, id := range []string{"run-10d", "run-5d", "run-3d", "run-1d"} {
		st.Events(t.Context(), id, func(*socklabv1.Event) error { events++; return nil })
	}
	if events != 0 {
		t.Errorf("%d events of pruned runs are still stored", events)
	}
	st.Keep(store.Retention{Runs: 2})
	save("run-next", -time.Second)
	save("run-last", -2*time.Second)
	if got, want := ids(), []string{"run-last", "run-next", "run-running"}; !slices.Equal(got, want) {
		t.Errorf("after two Saves keeping 2 runs: %v, want %v", got, want)
	}
	st.Keep(store.Retention{Runs: 1})
	// The run saved is kept even when it started before the runs kept (a long run).
	if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: "run-long", Lab: "x", Started: now.Add(-time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(), []string{"run-last", "run-long", "run-running"}; !slices.Equal(got, want) {
		t.Errorf("after a Save keeping 1 run: %v, want %v", got, want)
	}
}

// TestPruneOverwrites: what Prune deletes is gone from the database file and its
// journal, not merely unlinked.
func TestPruneOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret := []byte("the-student-sent-this-secret")
	for i, p := range [][]byte{secret, []byte("hello")} {
		ev := &socklabv1.Event{Seq: 1, Op: "send", Payload: p, PayloadLength: uint64(len(p))}
		res := &transcript.Result{Header: transcript.Header{RunID: fmt.Sprint("run-", i), Lab: "x", Started: time.Now().Add(time.Duration(i) * time.Second)}}
		if err := st.Save(t.Context(), res, []*socklabv1.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Prune(t.Context(), store.Retention{Runs: 1}); n != 1 || err != nil {
		t.Fatalf("Prune = %d, %v, want 1 run deleted", n, err)
	}
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret) {
			t.Errorf("the pruned run's payload is still in %s", filepath.Base(p))
		}
	}
}
