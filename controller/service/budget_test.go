package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// startBudgeted starts a controller whose runs have budgets b.
func startBudgeted(t *testing.T, b runner.Budgets) string {
	t.Helper()
	return startControllerWith(t, func(s *service.Service) *service.Service { return s.WithBudgets(b) })
}

// TestMemoryBombStored: a lab that doubles a string, in main or at its top level, sent
// to a controller beside a lab that runs as it should: the bomb's run ends with verdict
// error naming the memory budget, and is in the history so; the other run passes; the
// controller carries on and runs the next lab.
func TestMemoryBombStored(t *testing.T) {
	b := runner.DefaultBudgets
	b.Memory = 256 << 20
	c := dial(t, startBudgeted(t, b), token)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	want := "memory budget: the lab used more than 256 MiB (--max-run-memory)"

	reqs := map[string]*socklabv1.RunLabRequest{
		"bomb":     readLab(t, "testdata/bomb.star"),
		"bomb-top": readLab(t, "testdata/bomb-top.star"),
		"normal":   {Lab: "tcp-simple"},
	}
	var (
		mu      sync.Mutex // protects results
		results = map[string]*transcript.Result{}
		wg      sync.WaitGroup
	)
	for name, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.RunLab(ctx, req, func(string) {}, newRecorder())
			if err != nil {
				t.Errorf("RunLab(%s) = %v", name, err)
				return
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if res := results["normal"]; res.Verdict() != transcript.VerdictPassed {
		t.Errorf("the run beside the bombs: verdict %s (%s), want passed", res.Verdict(), res.Error)
	}
	for _, name := range []string{"bomb", "bomb-top"} {
		res := results[name]
		if res.Verdict() != transcript.VerdictError || res.ExitCode != transcript.ExitBadLab || res.Error != want {
			t.Errorf("%s: verdict %s, exit %d, error %q; want error, 2, %q", name, res.Verdict(), res.ExitCode, res.Error, want)
		}
		if res.Header.Lab != name {
			t.Errorf("%s: the run's lab is %q", name, res.Header.Lab)
		}
	}
	if ch := checkOf(t, results["bomb"], "before"); !ch.Passed {
		t.Errorf("the check the bomb passed before it went off: %+v", ch)
	}

	// The history has both bombs' runs, as they ended.
	runs, err := c.ListRuns(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, r := range runs {
		stored[r.GetRunId()] = r.GetVerdict()
	}
	for _, name := range []string{"bomb", "bomb-top"} {
		id := results[name].Header.RunID
		if stored[id] != transcript.VerdictError {
			t.Errorf("%s's run %s is in the history as %q, want error (history: %v)", name, id, stored[id], stored)
			continue
		}
		res, err := c.Transcript(ctx, id, newRecorder())
		if err != nil {
			t.Fatalf("Transcript(%s) = %v", id, err)
		}
		if res.Error != want {
			t.Errorf("%s's stored run: error %q, want %q", name, res.Error, want)
		}
	}

	// The controller goes on.
	res, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Lab: "tcp-simple"}, func(string) {}, newRecorder())
	if err != nil || res.Verdict() != transcript.VerdictPassed {
		t.Errorf("a run after the bombs: %v, %v", res, err)
	}
}

// TestTimeBudget: a lab's own timeout ends its run; a controller's --max-run-time caps a
// longer one; either ends with verdict error naming the bound, and is stored.
func TestTimeBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxTime time.Duration
		src     func(string) string
		want    string
	}{
		{"lab's timeout", 10 * time.Minute, func(s string) string { return strings.Replace(s, "timeout = 30", "timeout = 0.5", 1) },
			"slow.star:12:14: time budget: the lab ran longer than 500ms (the lab's timeout)"},
		{"capped", 500 * time.Millisecond, func(s string) string { return s },
			"slow.star:12:14: time budget: the lab ran longer than 500ms (--max-run-time; the lab's own timeout is 30s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := runner.DefaultBudgets
			b.Time = tc.maxTime
			c := dial(t, startBudgeted(t, b), token)
			ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
			defer cancel()
			req := readLab(t, "testdata/slow.star")
			req.Source = []byte(tc.src(string(req.Source)))
			began := time.Now()
			res, err := c.RunLab(ctx, req, func(string) {}, newRecorder())
			if err != nil {
				t.Fatalf("RunLab() = %v", err)
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("the run took %s", d)
			}
			if res.Verdict() != transcript.VerdictError || res.Error != tc.want {
				t.Errorf("verdict %s, error %q; want error, %q", res.Verdict(), res.Error, tc.want)
			}
			if ch := checkOf(t, res, "connected"); !ch.Passed {
				t.Errorf("the check reached before the time ran out: %+v", ch)
			}
			stored, err := c.Transcript(ctx, res.Header.RunID, newRecorder())
			if err != nil || stored.Error != tc.want {
				t.Errorf("the stored run: %v (%v), want error %q", stored, err, tc.want)
			}
		})
	}
}
