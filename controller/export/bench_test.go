package export_test

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// pingPong yields a run of n entries made as they are read, none kept: host a connects
// to b, then a loop of a sendall, b's recv of it, b's sendall back and a's recv, with a
// line of narration every 100 entries and a failed check every 10,000.
func pingPong(n int) func(yield func(transcript.Entry) error) error {
	return func(yield func(transcript.Entry) error) error {
		aAddr := &socklabv1.Address{Host: "127.0.0.2", Port: 40000}
		bAddr := &socklabv1.Address{Host: "127.0.0.3", Port: 8080}
		seq := map[string]uint64{}
		at := time.Duration(0)
		i := 0
		emit := func(host, addr string, ev *socklabv1.Event) error {
			seq[host]++
			ev.Seq, ev.Kind = seq[host], socklabv1.EventKind_EVENT_KIND_OPERATION
			at += 10 * time.Microsecond
			i++
			return yield(transcript.Entry{Kind: transcript.Operation, At: at, Duration: 5 * time.Microsecond, Host: host, Address: addr, Event: ev})
		}
		a := func(ev *socklabv1.Event) error { return emit("a", "127.0.0.2", ev) }
		b := func(ev *socklabv1.Event) error { return emit("b", "127.0.0.3", ev) }
		steps := []func() error{
			func() error { return b(&socklabv1.Event{Op: "socket", Result: &socklabv1.Result{Handle: 1}}) },
			func() error { return b(&socklabv1.Event{Op: "listen", Handle: 1, Local: bAddr}) },
			func() error { return a(&socklabv1.Event{Op: "socket", Result: &socklabv1.Result{Handle: 1}}) },
			func() error { return a(&socklabv1.Event{Op: "connect", Handle: 1, Local: aAddr, Peer: bAddr}) },
			func() error {
				return b(&socklabv1.Event{Op: "accept", Handle: 1, Local: bAddr, Result: &socklabv1.Result{Handle: 2, Address: aAddr}})
			},
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		var off uint64
		payload := []byte("ping 0123456789\n")
		for i < n {
			for _, ev := range []struct {
				send bool
				host func(*socklabv1.Event) error
				h    uint32
				l, p *socklabv1.Address
			}{{true, a, 1, aAddr, bAddr}, {false, b, 2, bAddr, aAddr}, {true, b, 2, bAddr, aAddr}, {false, a, 1, aAddr, bAddr}} {
				op := "recv"
				if ev.send {
					op = "sendall"
				}
				o := off
				if err := ev.host(&socklabv1.Event{Op: op, Handle: ev.h, Local: ev.l, Peer: ev.p, StreamOffset: o,
					Payload: payload, PayloadLength: uint64(len(payload))}); err != nil {
					return err
				}
			}
			off += uint64(len(payload))
			if i%100 < 4 {
				at += time.Microsecond
				if err := yield(transcript.Entry{Kind: transcript.Say, At: at, Text: "another round"}); err != nil {
					return err
				}
				i++
			}
			if i%10_000 < 5 {
				if err := yield(transcript.Entry{Kind: transcript.Failed, At: at, Check: "echo", Text: "got b'x', want b'y'", Pos: "lab.star:9:5",
					Snapshot: []*socklabv1.HostSockets{{Role: "a", Sockets: []*socklabv1.KernelSocket{{Protocol: "tcp", State: "ESTABLISHED", Local: aAddr, Peer: bAddr}}}}}); err != nil {
					return err
				}
				i++
			}
		}
		return nil
	}
}

// peakLive exports a pingPong run of n entries in format to io.Discard and returns the
// largest live heap seen (after a collection, every 10,000 entries) and how many
// entries were written.
func peakLive(format string, n int) (peak uint64, entries int) {
	w, _ := export.New(format, io.Discard)
	var ms runtime.MemStats
	sample := func() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	sample()
	base := peak
	peak = 0
	res := &transcript.Result{Header: transcript.Header{Lab: "ping-pong", Hosts: []transcript.Host{{Role: "a", Address: "127.0.0.2"}, {Role: "b", Address: "127.0.0.3"}}},
		Checks: []transcript.Check{{ID: "echo", Reached: true, Message: "got b'x', want b'y'"}}, ExitCode: transcript.ExitFailed}
	_ = report.Replay(w, res, func(yield func(transcript.Entry) error) error {
		return pingPong(n)(func(e transcript.Entry) error {
			entries++
			w.Entry(e)
			if entries%10_000 == 0 {
				sample()
			}
			return nil
		})
	})
	sample()
	if peak < base {
		return 0, entries
	}
	return peak - base, entries
}

// BenchmarkExportMemory: the live heap an export holds stays flat with the run's length:
// for each format, the peak live heap (above what was live before) exporting a
// 100,000-entry and a 1,000,000-entry run (both past the window of recent steps the
// writers keep, 65,536), and their ratio. Run it with
//
//	go test ./controller/export -run '^$' -bench ExportMemory -benchtime 1x
func BenchmarkExportMemory(b *testing.B) {
	for _, format := range export.Formats {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				small, _ := peakLive(format, 100_000)
				mid := time.Now()
				large, n := peakLive(format, 1_000_000)
				b.ReportMetric(float64(small)/1e6, "MB-live-100k")
				b.ReportMetric(float64(large)/1e6, "MB-live-1M")
				b.ReportMetric(float64(large)/float64(max(small, 1)), "ratio")
				b.ReportMetric(float64(time.Since(mid).Nanoseconds())/float64(n), "ns/entry-1M")
				b.Logf("%s: 100k entries %.2f MB live at most, 1M entries %.2f MB (%d entries, %v)", format, float64(small)/1e6, float64(large)/1e6, n, time.Since(mid).Round(time.Millisecond))
			}
		})
	}
}
