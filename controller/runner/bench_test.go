package runner_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// BenchmarkPingPong runs testdata/pingpong.star (a send, recv, send, recv per exchange)
// for 1k, 2k and 10k exchanges on local agents, and reports exchanges per second for the
// lab's phase (its first operation's start to its last's end) and for the whole run
// (runner.Run, agents started and ended, the transcript merged), each as a ratio to a
// bound measured in the same run: four sequential bare unary gRPC calls (Hello) per
// exchange, made as the lab's four operations are, to two agents in turn (b, a, a, b).
// run/bound1 is the whole run against four calls to one agent, a bound a two-host lab
// cannot reach: a call to the other agent costs more than another to the same one. Each
// bound is measured half just before the run and half just after, so that a machine that
// slows down or speeds up during the run weighs on both alike. tail-ms is the time the
// run took after its last operation: flat in the run's length when the merge is. held
// runs keep the whole record for the end (as with --out); ordered ones hand entries on
// as the run goes (as the command line does).
func BenchmarkPingPong(b *testing.B) {
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/pingpong.star")
	if err != nil {
		b.Fatal(err)
	}
	a, b2 := agenttest.Start(b).Client.API(), agenttest.Start(b).Client.API()
	twoHosts := []socklabv1.AgentServiceClient{b2, a, a, b2} // as the lab: c.send, conn.recv, conn.send, c.recv
	oneHost := []socklabv1.AgentServiceClient{a, a, a, a}
	for _, mode := range []string{"held", "ordered"} {
		for _, n := range []int{1000, 2000, 10000} {
			b.Run(fmt.Sprintf("%s/exchanges=%d", mode, n), func(b *testing.B) {
				var labPhase, whole, bound, bound1, tail time.Duration
				for b.Loop() {
					opts := runner.Options{Params: []string{fmt.Sprintf("n=%d", n)}}
					var ops span
					if mode == "ordered" { // as the command line runs: entries leave as the run goes
						opts.Ordered = ops.add
					}
					bound += exchanges(b, twoHosts, n/2)
					bound1 += exchanges(b, oneHost, n/2)
					start := time.Now()
					rec := runner.Run(b.Context(), l, topology.Local{}, opts, runner.Discard{})
					end := time.Now()
					if rec.ExitCode != transcript.ExitPassed {
						b.Fatalf("the run ended with %d: %s", rec.ExitCode, rec.Error)
					}
					for _, e := range rec.Entries {
						ops.add(e)
					}
					labPhase += ops.last - ops.first
					whole += end.Sub(start)
					tail += end.Sub(rec.Header.Started.Add(ops.last))
					bound1 += exchanges(b, oneHost, n-n/2)
					bound += exchanges(b, twoHosts, n-n/2)
				}
				perSec := func(d time.Duration) float64 { return float64(n) * float64(b.N) / d.Seconds() }
				b.ReportMetric(perSec(labPhase), "lab-x/s")
				b.ReportMetric(perSec(whole), "run-x/s")
				b.ReportMetric(perSec(bound), "bound-x/s")
				b.ReportMetric(float64(bound)/float64(labPhase), "lab/bound")
				b.ReportMetric(float64(bound)/float64(whole), "run/bound")
				b.ReportMetric(float64(bound1)/float64(whole), "run/bound1")
				b.ReportMetric(float64(tail.Microseconds())/1000/float64(b.N), "tail-ms")
			})
		}
	}
}

// exchanges makes n rounds of sequential Hello calls, one to each of apis in turn, and
// returns the time they took.
func exchanges(b *testing.B, apis []socklabv1.AgentServiceClient, n int) time.Duration {
	hello := &socklabv1.HelloRequest{}
	start := time.Now()
	for range n {
		for _, api := range apis {
			if _, err := api.Hello(b.Context(), hello); err != nil {
				b.Fatal(err)
			}
		}
	}
	return time.Since(start)
}

// span is when a run's first operation started and its last one ended, on the run's
// clock.
type span struct {
	first, last time.Duration
	seen        bool
}

func (s *span) add(e transcript.Entry) {
	if e.Kind != transcript.Operation {
		return
	}
	if !s.seen || e.At < s.first {
		s.first, s.seen = e.At, true
	}
	s.last = max(s.last, e.At+e.Duration)
}
