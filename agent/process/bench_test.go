package process_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/process"
)

// BenchmarkSpawnPython runs /usr/bin/python3 -c pass as a contained job and, interleaved,
// directly from Go (the baseline), and reports the ratio of the medians (target <= 1.5).
func BenchmarkSpawnPython(b *testing.B) {
	const py = "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		b.Skipf("no %s: %v", py, err)
	}
	dir := jobDir(b)
	job := func() time.Duration {
		start := time.Now()
		j, err := process.Start(process.Spec{Path: py, Argv: []string{"python3", "-c", "pass"}, Dir: dir, Env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir}})
		if err != nil {
			b.Fatal(err)
		}
		exit, err := j.Wait(context.Background())
		d := time.Since(start)
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
	var js, ds []time.Duration
	for b.Loop() {
		js = append(js, job())
		ds = append(ds, direct())
	}
	slices.Sort(js)
	slices.Sort(ds)
	jm, dm := js[len(js)/2], ds[len(ds)/2]
	b.ReportMetric(float64(jm)/float64(dm), "p50-ratio")
	b.ReportMetric(float64(jm.Microseconds()), "job-p50-us")
	b.ReportMetric(float64(dm.Microseconds()), "direct-p50-us")
	b.Logf("python3 -c pass, %d runs each: job p50 %s, direct p50 %s, ratio %.2f (target <= 1.5)", len(js), jm, dm, float64(jm)/float64(dm))
}
