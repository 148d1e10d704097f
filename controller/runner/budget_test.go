package runner_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// TestBudgets: a lab over its steps, futures or time budget stops with exit 2 (verdict
// error) and an error naming the budget, where it happened; a run in this process has
// them as a controller's runs do.
func TestBudgets(t *testing.T) {
	for _, tc := range []struct {
		file    string
		budgets runner.Budgets
		maxTime time.Duration
		err     string            // the run's error, a prefix
		checks  map[string]string // check id -> message substring ("" = passed)
	}{
		// Each thread alone runs under the budget: the two together do not.
		{"budget-steps.star", runner.Budgets{Steps: 5_000_000}, 0,
			"testdata/budget-steps.star:7:9: steps budget: the lab ran more than 5000000 Starlark steps, its threads together (--max-run-steps)",
			map[string]string{"unreached": "not reached: testdata/budget-steps.star:7:9: steps budget"}},
		{"budget-futures.star", runner.Budgets{Futures: 3}, 0,
			"testdata/budget-futures.star:8:13: futures budget: the lab started more than 3 futures (--max-run-futures)", nil},
		{"budget-timeout.star", runner.DefaultBudgets, 0,
			"testdata/budget-timeout.star:12:14: time budget: the lab ran longer than 300ms (the lab's timeout)",
			map[string]string{"connected": "", "unreached": "not reached: testdata/budget-timeout.star:12:14: time budget"}},
		{"budget-timeout.star", runner.DefaultBudgets, 200 * time.Millisecond,
			"testdata/budget-timeout.star:12:14: time budget: the lab ran longer than 200ms (--max-run-time; the lab's own timeout is 300ms)", nil},
		// Where a loop that never waits was stopped is where its thread happened to be.
		{"budget-spin.star", runner.DefaultBudgets, 0, "testdata/budget-spin.star:", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			l, err := lab.LoadWithin(lab.DirSources{Builtin: labs.FS()}, "testdata/"+tc.file, tc.budgets)
			if err != nil {
				t.Fatal(err)
			}
			res := runner.Run(t.Context(), l, topology.Local{}, runner.Options{MaxTime: tc.maxTime}, runner.Discard{})
			if res.ExitCode != transcript.ExitBadLab || res.Verdict() != transcript.VerdictError {
				t.Errorf("exit code %d, verdict %s, want 2, error (error: %s)", res.ExitCode, res.Verdict(), res.Error)
			}
			if !strings.HasPrefix(res.Error, tc.err) {
				t.Errorf("error =\n  %s\nwant it to start with\n  %s", res.Error, tc.err)
			}
			for _, c := range res.Checks {
				want, ok := tc.checks[c.ID]
				if !ok {
					continue
				}
				if (want == "") != c.Passed || !strings.Contains(c.Message, want) {
					t.Errorf("check %s: passed %v message %q, want passed %v with %q", c.ID, c.Passed, c.Message, want == "", want)
				}
			}
		})
	}
}

// TestStepsBudgetAtLoad: a top level over the steps budget fails the load with a budget
// error at its position; the same lab loads under the default budgets.
func TestStepsBudgetAtLoad(t *testing.T) {
	_, err := lab.LoadWithin(lab.DirSources{Builtin: labs.FS()}, "testdata/budget-steps-top.star", runner.Budgets{Steps: 1_000_000})
	var be *runner.BudgetError
	if !errors.As(err, &be) || be.Budget != "steps" {
		t.Fatalf("LoadWithin() = %v, want a steps budget error", err)
	}
	if want := "testdata/budget-steps-top.star:5:7: steps budget: the lab ran more than 1000000 Starlark steps"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("LoadWithin() =\n  %v\nwant it to start with\n  %s", err, want)
	}
	if _, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/budget-steps-top.star"); err != nil {
		t.Errorf("Load() = %v, want the lab loaded under the default budgets", err)
	}
}

// TestHeldRunEndsAtItsBudget: a run held after a step (--step with no Enter, a page's
// pause) still ends at its time budget, as a run over it does.
func TestHeldRunEndsAtItsBudget(t *testing.T) {
	l, err := labs.Load("tcp-simple")
	if err != nil {
		t.Fatal(err)
	}
	hold := func(done <-chan struct{}) { <-done }
	res := runner.Run(t.Context(), l, topology.Local{}, runner.Options{Step: hold, MaxTime: 300 * time.Millisecond}, runner.Discard{})
	if res.ExitCode != transcript.ExitBadLab || !strings.Contains(res.Error, "time budget") {
		t.Errorf("a held run: exit code %d, error %q; want 2 and the time budget", res.ExitCode, res.Error)
	}
}
