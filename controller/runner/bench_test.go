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
// for 2k and 10k exchanges on local agents, and reports exchanges per second for the
// lab's phase (its first operation's start to its last's end) and for the whole run
// (runner.Run, agents started and ended, the transcript merged), each as a ratio to a
// bound measured in the same run: four sequential bare unary gRPC calls (Hello) to an
// agent per exchange. tail-ms is the time the run took after its last operation: flat in
// the run's length when the merge is.
func BenchmarkPingPong(b *testing.B) {
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/pingpong.star")
	if err != nil {
		b.Fatal(err)
	}
	a := agenttest.Start(b)
	api := a.Client.API()
	hello := &socklabv1.HelloRequest{}
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("exchanges=%d", n), func(b *testing.B) {
			var labPhase, whole, bound, tail time.Duration
			for b.Loop() {
				start := time.Now()
				rec := runner.Run(b.Context(), l, topology.Local{}, runner.Options{Params: []string{fmt.Sprintf("n=%d", n)}}, runner.Discard{})
				end := time.Now()
				if rec.ExitCode != transcript.ExitPassed {
					b.Fatalf("the run ended with %d: %s", rec.ExitCode, rec.Error)
				}
				first, last := lastOps(rec)
				labPhase += last - first
				whole += end.Sub(start)
				tail += end.Sub(rec.Header.Started.Add(last))

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
			b.ReportMetric(float64(tail.Milliseconds())/float64(b.N), "tail-ms")
		})
	}
}

// lastOps returns when the run's first operation started and its last one ended, on the
// run's clock.
func lastOps(rec *transcript.Record) (first, last time.Duration) {
	first = -1
	for _, e := range rec.Entries {
		if e.Kind != transcript.Operation {
			continue
		}
		if first < 0 || e.At < first {
			first = e.At
		}
		last = max(last, e.At+e.Duration)
	}
	return first, last
}
