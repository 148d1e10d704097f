package process_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/process"
)

// BenchmarkSpawnPython runs /usr/bin/python3 -c pass as a contained job, as an agent
// does (a Launcher, its init started ahead), and, interleaved, directly from Go (the
// baseline) and as a job with an init started for it (Start); it reports the ratios of
// the medians to the baseline's (target for the agent's: <= 1.5).
func BenchmarkSpawnPython(b *testing.B) {
	const py = "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		b.Skipf("no %s: %v", py, err)
	}
	dir := jobDir(b)
	l := process.NewLauncher(nil)
	defer l.Close()
	l.Start(process.Spec{Path: "/bin/true"}) // the first spare
	run := func(start func(process.Spec) (*process.Job, error)) time.Duration {
		t0 := time.Now()
		j, err := start(process.Spec{Path: py, Argv: []string{"python3", "-c", "pass"}, Dir: dir, Env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir}})
		if err != nil {
			b.Fatal(err)
		}
		exit, err := j.Wait(context.Background())
		d := time.Since(t0)
		j.Close("done")
		if err != nil || exit.Code != 0 {
			b.Fatalf("job: %v %s", err, exit)
		}
		return d
	}
	direct := func() time.Duration {
		start := time.Now()
		cmd := exec.Command(py, "-c", "pass")
		cmd.Env, cmd.Dir = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}, dir
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var ls, cs, ds []time.Duration
	// Each run starts on a settled machine: a pause lets the launcher make its next spare,
	// as it does between a lab's spawns, rather than while the baseline runs.
	settle := func() { time.Sleep(100 * time.Millisecond) }
	for b.Loop() {
		ls = append(ls, run(l.Start))
		settle()
		ds = append(ds, direct())
		settle()
		cs = append(cs, run(process.Start))
		settle()
	}
	median := func(xs []time.Duration) time.Duration { slices.Sort(xs); return xs[len(xs)/2] }
	lm, cm, dm := median(ls), median(cs), median(ds)
	b.ReportMetric(float64(lm)/float64(dm), "p50-ratio")
	b.ReportMetric(float64(cm)/float64(dm), "cold-p50-ratio")
	b.ReportMetric(float64(lm.Microseconds()), "job-p50-us")
	b.ReportMetric(float64(dm.Microseconds()), "direct-p50-us")
	b.Logf("python3 -c pass, %d runs each: job p50 %s (init started ahead), %s (init started for it), direct p50 %s; ratios %.2f (target <= 1.5) and %.2f",
		len(ls), lm, cm, dm, float64(lm)/float64(dm), float64(cm)/float64(dm))
}
