package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/store"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// BenchmarkRunRSS: `socklab run` of the ping-pong lab (four operations per exchange) for
// about 10,000 and about 1,000,000 events, each in a process of its own printing the
// text transcript and storing the run; it reports each one's peak RSS (the process's
// own, see peakRSS), their ratio (target: at most 2, memory flat in the run's length),
// the events stored, and the long run's time. It is reported, never asserted.
func BenchmarkRunRSS(b *testing.B) {
	run := func(exchanges int) (mb float64, events int, took time.Duration) {
		db := filepath.Join(b.TempDir(), "history.db")
		mb, took = peakRSS(b, "run", "../../controller/runner/testdata/pingpong.star",
			"--param", fmt.Sprintf("n=%d", exchanges), "--db", db, "--color", "never")
		st, err := store.Open(db)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		runs, err := st.Runs(context.Background(), 1)
		if err != nil || len(runs) != 1 || runs[0].Verdict != "passed" {
			b.Fatalf("the stored run: %v, %v; want one that passed", runs, err)
		}
		if err := st.Events(context.Background(), runs[0].ID, func(*socklabv1.Event) error { events++; return nil }); err != nil {
			b.Fatal(err)
		}
		return mb, events, took
	}
	for range b.N {
		small, smallEvents, _ := run(2_500)
		large, largeEvents, took := run(250_000)
		b.ReportMetric(small, "MB-rss-10k")
		b.ReportMetric(large, "MB-rss-1M")
		b.ReportMetric(large/small, "ratio")
		b.ReportMetric(float64(smallEvents), "events-10k")
		b.ReportMetric(float64(largeEvents), "events-1M")
		b.ReportMetric(took.Seconds(), "s-1M")
	}
}
