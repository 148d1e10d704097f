package report

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// manyEntries is run()'s entries repeated to n, each later copy later in the run.
func manyEntries(n int) []transcript.Entry {
	base, _ := run()
	out := make([]transcript.Entry, 0, n)
	for i := 0; len(out) < n; i++ {
		for _, e := range base {
			if len(out) == n {
				break
			}
			e.At += time.Duration(i) * 2 * time.Second
			out = append(out, e)
		}
	}
	return out
}

// BenchmarkJSONLVsText writes the same run of 10,000 events as the text transcript and
// as JSON lines, round by round (alternating which goes first, so that machine noise
// falls on both alike), and reports each one's median rate in events per second and the
// ratio of the medians, jsonl / text. The target is a ratio of at least 0.8. It is
// reported, never asserted.
func BenchmarkJSONLVsText(b *testing.B) {
	entries := manyEntries(10_000)
	var buf bytes.Buffer
	text := func() time.Duration {
		buf.Reset()
		start := time.Now()
		w := NewText(&buf, TextOptions{})
		w.Header(transcript.Header{Lab: "tcp-simple", Hosts: hosts})
		for _, e := range entries {
			w.Entry(e)
		}
		return time.Since(start)
	}
	jsonl := func() time.Duration {
		buf.Reset()
		start := time.Now()
		w := NewJSONL(&buf)
		for _, e := range entries {
			w.Entry(e)
		}
		d := time.Since(start)
		if w.Err() != nil {
			b.Fatal(w.Err())
		}
		return d
	}
	text() // warm up both
	jsonl()
	var ts, js []time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			ts, js = append(ts, text()), append(js, jsonl())
		} else {
			js, ts = append(js, jsonl()), append(ts, text())
		}
		i++
	}
	b.StopTimer()
	slices.Sort(ts)
	slices.Sort(js)
	rate := func(d time.Duration) float64 { return float64(len(entries)) / d.Seconds() }
	t, j := rate(ts[len(ts)/2]), rate(js[len(js)/2])
	b.ReportMetric(t, "text-events/s")
	b.ReportMetric(j, "jsonl-events/s")
	b.ReportMetric(j/t, "ratio")
	b.Logf("%d rounds of %d events: text %.0f events/s, jsonl %.0f events/s, ratio %.2f (target >= 0.8)", len(ts), len(entries), t, j, j/t)
}
