package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// benchP50 returns the median of ds (which it sorts).
func benchP50(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkPerformVsUnary compares one socket operation through Perform with a bare
// unary call to the same agent (Hello), for two operations: a 16-byte UDP sendto to
// another socket of the session (a real syscall that never blocks, whose cost includes
// the kernel's delivery to the receiver) and getsockname (the agent's own overhead plus
// the cheapest syscall). The two are interleaved call by call, alternating
// which goes first, so that machine noise falls on both alike; the medians and their ratio
// are reported. The target is a ratio of at most 1.3: the agent's own work per operation
// should cost little next to gRPC's. It is reported, never asserted.
func BenchmarkPerformVsUnary(b *testing.B) {
	for _, op := range []string{"sendto", "getsockname"} {
		b.Run(op, func(b *testing.B) { benchPerformVsUnary(b, op) })
	}
}

func benchPerformVsUnary(b *testing.B, opName string) {
	a := agenttest.Start(b)
	s := a.Session(b, time.Hour)
	const lo = "127.0.0.1"
	rx := s.Socket(client.Dgram)
	s.OK(rx, client.Bind(lo, 0))
	s.OK(rx, client.SetBlocking(false))
	port := int(s.OK(rx, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	tx := s.Socket(client.Dgram)
	s.OK(tx, client.Bind(lo, 0))

	api := a.Client.API()
	ctx := b.Context()
	hello := &socklabv1.HelloRequest{}
	op, want := client.SendTo(make([]byte, 16), 0, lo, port), int64(16)
	if opName == "getsockname" {
		op, want = client.GetSockName(), 0
	}
	// drain empties rx's queue (at most a few hundred datagrams fit), outside the timing.
	drain := func() {
		for range 1000 {
			if s.Errno(rx, client.RecvFrom(64, 0)) != "" {
				return // EAGAIN: empty
			}
		}
	}
	unary := func() time.Duration {
		start := time.Now()
		_, err := api.Hello(ctx, hello)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("Hello: %v", err)
		}
		return d
	}
	perform := func() time.Duration {
		start := time.Now()
		resp, err := s.Session.Do(ctx, tx, op)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("Perform(%s): %v", opName, err)
		}
		if e := resp.GetEvent().GetError(); e != nil || resp.GetEvent().GetResult().GetValue() != want {
			b.Fatalf("%s = %d, error %v; want %d", opName, resp.GetEvent().GetResult().GetValue(), e, want)
		}
		return d
	}
	for i := range 200 { // warm up both paths
		unary()
		perform()
		if i%64 == 63 {
			drain()
		}
	}
	drain()

	var us, ps []time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			us = append(us, unary())
			ps = append(ps, perform())
		} else {
			ps = append(ps, perform())
			us = append(us, unary())
		}
		i++
		if i%64 == 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	u, p := benchP50(us), benchP50(ps)
	ratio := float64(p) / float64(u)
	b.ReportMetric(float64(u.Nanoseconds()), "unary-p50-ns")
	b.ReportMetric(float64(p.Nanoseconds()), "perform-p50-ns")
	b.ReportMetric(ratio, "p50-ratio")
	b.Logf("%s: %d calls each: unary p50 %v, perform p50 %v, ratio %.2f (target <= 1.3)", opName, len(us), u, p, ratio)
}
