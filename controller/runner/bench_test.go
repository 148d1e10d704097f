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
// bound measured in the same run: four sequential bare unary gRPC calls (Hello) to an
// agent per exchange. tail-ms is the time the run took after its last operation: flat in
// the run's length when the merge is. held runs keep the whole record for the end (as
// with --out); ordered ones hand entries on as the run goes (as the command line does).
func BenchmarkPingPong(b *testing.B) {
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/pingpong.star")
	if err != nil {
		b.Fatal(err)
	}
	a := agenttest.Start(b)
	api := a.Client.API()
	hello := &socklabv1.HelloRequest{}
	for _, mode := range []string{"held", "ordered"} {
		for _, n := range []int{1000, 2000, 10000} {
			b.Run(fmt.Sprintf("%s/exchanges=%d", mode, n), func(b *testing.B) {
				var labPhase, whole, bound, tail time.Duration
				for b.Loop() {
					opts := runner.Options{Params: []string{fmt.Sprintf("n=%d", n)}}
					var ops span
					if mode == "ordered" { // as the command line runs: entries leave as the run goes
						opts.Ordered = ops.add
					}
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

					t0 := time.Now()
					for range 4 * n {
						if _, err := api.Hello(b.Context(), hello); err != nil {
							b.Fatal(err)
						}
					}
					bound += time.Since(t0)
				}
				perSec := func(d time.Duration) float64 { return float64(n) * float64(b.N) / d.Seconds() }
				b.ReportMetric(perSec(labPhase), "lab-x/s")
				b.ReportMetric(perSec(whole), "run-x/s")
				b.ReportMetric(perSec(bound), "bound-x/s")
				b.ReportMetric(float64(bound)/float64(labPhase), "lab/bound")
				b.ReportMetric(float64(bound)/float64(whole), "run/bound")
				b.ReportMetric(float64(tail.Microseconds())/1000/float64(b.N), "tail-ms")
			})
		}
	}
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
