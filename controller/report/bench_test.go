package report

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// pingPong yields a run of n entries: a client and a server over one connection, each
// message a send and the recv that got it, as a stored run replays them.
func pingPong(n int, yield func(transcript.Entry)) {
	cli, srv := addr("127.5.0.3", 40000), addr("127.5.0.2", 8080)
	msg := []byte("ping 0123456789")
	at := time.Duration(0)
	entry := func(host, address string, h uint32, ev *socklabv1.Event) {
		at += 10 * time.Microsecond
		ev.Handle = h
		yield(transcript.Entry{Kind: transcript.Operation, At: at, Duration: 5 * time.Microsecond, Host: host, Address: address, Event: ev})
	}
	entry("client", "127.5.0.3", 1, op(client.Connect("127.5.0.2", 8080), func(ev *socklabv1.Event) { ev.Op, ev.Local, ev.Peer = "connect", cli, srv }))
	entry("server", "127.5.0.2", 1, op(client.Accept(), result(&socklabv1.Result{Handle: 2, Address: cli}), func(ev *socklabv1.Event) { ev.Op, ev.Local = "accept", srv }))
	var off [2]uint64
	for i := 2; i < n; i += 2 {
		from, to := "client", "server"
		fa, ta, fl, fp, fh, th := "127.5.0.3", "127.5.0.2", cli, srv, uint32(1), uint32(2)
		d := (i / 2) % 2
		if d == 1 {
			from, to, fa, ta, fl, fp, fh, th = to, from, ta, fa, fp, fl, th, fh
		}
		o := off[d]
		off[d] += uint64(len(msg))
		entry(from, fa, fh, op(client.SendAll(nil, 0), payload(string(msg), uint64(len(msg))), result(&socklabv1.Result{Value: int64(len(msg))}),
			func(ev *socklabv1.Event) { ev.Op, ev.Local, ev.Peer, ev.StreamOffset = "sendall", fl, fp, o }))
		entry(to, ta, th, op(client.Recv(1024, 0), payload(string(msg), uint64(len(msg))),
			func(ev *socklabv1.Event) { ev.Op, ev.Local, ev.Peer, ev.StreamOffset = "recv", fp, fl, o }))
	}
}

// heapGrowth renders a run of n entries with a new writer and returns how much the live
// heap grew, the writer still held, every entry rendered and let go.
func heapGrowth(newWriter func() Writer, n int) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := newWriter()
	w.Header(transcript.Header{Lab: "ping-pong", Hosts: hosts})
	pingPong(n, w.Entry)
	runtime.GC()
	runtime.ReadMemStats(&after)
	w.End(&transcript.Result{})
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkRenderMemory renders a 10,000-entry and a 1,000,000-entry run, as a stored
// run is replayed (each entry let go once drawn), as the text transcript and as the
// ladder, and reports how much the live heap grew: a renderer that holds only what is in
// flight keeps it flat with the run's length.
//
//	go test ./controller/report -run '^$' -bench RenderMemory -benchtime 1x
func BenchmarkRenderMemory(b *testing.B) {
	views := []struct {
		name string
		new  func() Writer
	}{
		{"text", func() Writer { return NewText(io.Discard, TextOptions{}) }},
		{"ladder", func() Writer { return NewLadder(io.Discard, LadderOptions{}) }},
	}
	for _, v := range views {
		for _, n := range []int{10_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%d", v.name, n), func(b *testing.B) {
				var grew int64
				for b.Loop() {
					grew = heapGrowth(v.new, n)
				}
				b.ReportMetric(float64(grew), "heap-B")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			})
		}
	}
}
