package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// storePingPong stores in db a finished run of n entries, a ping-pong between hosts a
// and b on one connection with a line of narration every 100 entries, and returns its id.
func storePingPong(b *testing.B, db string, n int) string {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	id := fmt.Sprintf("run-%016x", n)
	h := transcript.Header{RunID: id, Lab: "ping-pong", Started: time.Now(),
		Hosts: []transcript.Host{{Role: "a", Address: "127.0.0.2"}, {Role: "b", Address: "127.0.0.3"}}}
	if err := st.Begin(ctx, h); err != nil {
		b.Fatal(err)
	}
	app := st.Appender(id)
	aAddr := &socklabv1.Address{Host: "127.0.0.2", Port: 40000}
	bAddr := &socklabv1.Address{Host: "127.0.0.3", Port: 8080}
	payload := []byte("ping 0123456789\n")
	seq := map[string]uint64{}
	at := time.Duration(0)
	add := func(host string, ev *socklabv1.Event) {
		seq[host]++
		at += 10 * time.Microsecond
		ev.Seq, ev.Kind = seq[host], socklabv1.EventKind_EVENT_KIND_OPERATION
		app.Add(transcript.Entry{Kind: transcript.Operation, At: at, Duration: 5 * time.Microsecond, Host: host, Event: ev})
	}
	add("b", &socklabv1.Event{Op: "accept", Handle: 1, Local: bAddr, Result: &socklabv1.Result{Handle: 2, Address: aAddr}})
	add("a", &socklabv1.Event{Op: "connect", Handle: 1, Local: aAddr, Peer: bAddr})
	var off uint64
	for i := 2; i < n; i += 4 {
		for _, s := range []struct {
			host, op string
			h        uint32
			l, p     *socklabv1.Address
		}{{"a", "sendall", 1, aAddr, bAddr}, {"b", "recv", 2, bAddr, aAddr}, {"b", "sendall", 2, bAddr, aAddr}, {"a", "recv", 1, aAddr, bAddr}} {
			add(s.host, &socklabv1.Event{Op: s.op, Handle: s.h, Local: s.l, Peer: s.p, StreamOffset: off, Payload: payload, PayloadLength: uint64(len(payload))})
		}
		off += uint64(len(payload))
		if i%100 < 4 {
			app.Add(transcript.Entry{Kind: transcript.Say, At: at, Text: "another round"})
		}
	}
	if err := app.Close(); err != nil {
		b.Fatal(err)
	}
	if err := st.SaveRun(ctx, &transcript.Record{Result: transcript.Result{Header: h, ExitCode: transcript.ExitPassed, Finished: time.Now()}, Streamed: true}); err != nil {
		b.Fatal(err)
	}
	return id
}

// peakRSS runs socklab with args, its output discarded, and returns its peak RSS in MB
// and how long it took. The peak is the child's own, read by GNU time (%M): the rusage
// os/exec gives back would report at least this test process's RSS, which a child
// started from it inherits.
func peakRSS(b *testing.B, args ...string) (mb float64, took time.Duration) {
	b.Helper()
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Skip("no /usr/bin/time (GNU time) to read a command's peak RSS: apt-get install time")
	}
	cmd := exec.Command(timeBin, append([]string{"-f", "maxrss %M"}, append([]string{binary}, args...)...)...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("socklab %v: %v\n%s", args, err, errOut.Bytes())
	}
	took = time.Since(start)
	m := regexp.MustCompile(`(?m)^maxrss (\d+)$`).FindStringSubmatch(errOut.String())
	if m == nil {
		b.Fatalf("socklab %v: no maxrss from time:\n%s", args, errOut.Bytes())
	}
	kb, _ := strconv.Atoi(m[1])
	return float64(kb) / 1024, took
}

// BenchmarkTranscriptExportRSS: `socklab transcript RUN --format F` of a stored run of
// 10,000 and of 1,000,000 entries, each format's peak RSS (the process's maxrss) and
// their ratio; text for comparison, and `socklab runs` (which opens the history and
// reads no events) as the floor. Run it with
//
//	go test ./cmd/socklab -run '^$' -bench TranscriptExportRSS -benchtime 1x
func BenchmarkTranscriptExportRSS(b *testing.B) {
	smallDB, largeDB := filepath.Join(b.TempDir(), "small.db"), filepath.Join(b.TempDir(), "large.db")
	small, large := storePingPong(b, smallDB, 10_000), storePingPong(b, largeDB, 1_000_000)
	floorSmall, _ := peakRSS(b, "runs", "--db", smallDB) // what opening the history costs
	floorLarge, _ := peakRSS(b, "runs", "--db", largeDB)
	for _, format := range []string{"text", "mermaid", "shiviz", "chrome-trace", "junit"} {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				s, _ := peakRSS(b, "transcript", small, "--db", smallDB, "--format", format, "--color", "never")
				l, took := peakRSS(b, "transcript", large, "--db", largeDB, "--format", format, "--color", "never")
				b.ReportMetric(floorSmall, "MB-rss-runs-10k")
				b.ReportMetric(floorLarge, "MB-rss-runs-1M")
				b.ReportMetric(s, "MB-rss-10k")
				b.ReportMetric(l, "MB-rss-1M")
				b.ReportMetric(l/s, "ratio")
				b.ReportMetric(took.Seconds(), "s-1M")
			}
		})
	}
}
