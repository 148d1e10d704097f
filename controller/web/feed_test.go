package web_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/web"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// heapAfter feeds n entries of a long chatty run (a 64-byte send and the recv that got
// it, over and over, between two hosts) into a Feed and returns the live heap after, in
// bytes.
func heapAfter(n int) uint64 {
	f := &web.Feed{}
	f.Header(transcript.Header{RunID: "run-1", Lab: "long", Hosts: []transcript.Host{{Role: "a", Address: "127.0.0.2"}, {Role: "b", Address: "127.0.0.3"}}})
	a := &socklabv1.Address{Host: "127.0.0.2", Port: 40000}
	b := &socklabv1.Address{Host: "127.0.0.3", Port: 9000}
	payload := make([]byte, 64)
	var offset uint64
	for i := 0; i < n; i += 2 {
		send := &socklabv1.Event{Op: "send", Handle: 1, Local: a, Peer: b, Payload: payload, PayloadLength: 64, StreamOffset: offset,
			Result: &socklabv1.Result{Value: 64}}
		recv := &socklabv1.Event{Op: "recv", Handle: 1, Local: b, Peer: a, Payload: payload, PayloadLength: 64, StreamOffset: offset,
			Result: &socklabv1.Result{Value: 64}}
		offset += 64
		at := time.Duration(i) * time.Microsecond
		f.Entry(transcript.Entry{Kind: transcript.Operation, At: at, Host: "a", Address: "127.0.0.2", Event: send})
		f.Entry(transcript.Entry{Kind: transcript.Operation, At: at, Host: "b", Address: "127.0.0.3", Event: recv})
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	runtime.KeepAlive(f)
	return m.HeapAlloc
}

// BenchmarkFeedMemory: what a Feed holds stays flat with a run's length: the heap after
// 1,000,000 entries against after 10,000 (and before any).
//
//	go test -run '^$' -bench FeedMemory -benchtime 1x ./controller/web/
func BenchmarkFeedMemory(b *testing.B) {
	for range b.N {
		base := heapAfter(0)
		small := heapAfter(10_000)
		large := heapAfter(1_000_000)
		b.ReportMetric(float64(small-min(small, base))/(1<<20), "MiB@10k")
		b.ReportMetric(float64(large-min(large, base))/(1<<20), "MiB@1M")
		b.ReportMetric(float64(large)/float64(small), "ratio")
		fmt.Printf("feed heap: %.1f MiB before, %.1f MiB after 10k entries, %.1f MiB after 1M (%.2fx)\n",
			float64(base)/(1<<20), float64(small)/(1<<20), float64(large)/(1<<20), float64(large)/float64(small))
	}
}
