package runner

import (
	"fmt"
	"time"
)

// Budgets bound what one run of a lab may take, so that a lab sent to a controller
// cannot take the controller down with it. A zero field is no bound.
type Budgets struct {
	// Time bounds the wall time of the lab's run, from its first step to its end (the
	// runner enforces it: Options.MaxTime); a lab's own timeout (lab(timeout = ...)) may
	// be shorter.
	Time time.Duration
	// Memory bounds the memory of the process that runs the lab's Starlark, in bytes:
	// only a lab run in a process of its own (controller/sandbox) has such a bound.
	Memory int64
	// Steps bounds the Starlark steps of a lab: its top level, the files it loads and
	// all its threads, together.
	Steps uint64
	// Futures bounds the futures (t.go) one run of a lab starts.
	Futures int
}

// DefaultBudgets are a controller's budgets unless its operator sets others
// (socklab controller --max-run-time, --max-run-memory, --max-run-steps,
// --max-run-futures); their Steps and Futures bound every run, local ones too. A lab's
// thread also stops at 50,000,000 steps of its own, as it always did.
var DefaultBudgets = Budgets{Time: 10 * time.Minute, Memory: 512 << 20, Steps: 1_000_000_000, Futures: 1000}

// BudgetError is a lab stopped for going over one of its run's budgets. A run that
// ends with it has exit code ExitBadLab (verdict error).
type BudgetError struct {
	// Budget names the budget: "memory", "steps", "futures" or "time".
	Budget string
	// Msg says what the lab did, and what sets the bound.
	Msg string
	// Pos is where in the lab's source it happened, "file:line:col", for a lab that went
	// over while it loaded; a run's Outcome carries its own Pos.
	Pos string
}

// Error returns "memory budget: the lab used more than 256 MiB (--max-run-memory)", after
// the position if there is one.
func (e *BudgetError) Error() string {
	s := e.Budget + " budget: " + e.Msg
	if e.Pos != "" {
		return e.Pos + ": " + s
	}
	return s
}

// OverMemory is a lab whose process went over limit bytes.
func OverMemory(limit int64) *BudgetError {
	return &BudgetError{Budget: "memory", Msg: fmt.Sprintf("the lab used more than %s (--max-run-memory)", Bytes(limit))}
}

// OverSteps is a lab that ran more than limit Starlark steps.
func OverSteps(limit uint64) *BudgetError {
	return &BudgetError{Budget: "steps", Msg: fmt.Sprintf("the lab ran more than %d Starlark steps, its threads together (--max-run-steps)", limit)}
}

// OverFutures is a lab that started more than limit futures.
func OverFutures(limit int) *BudgetError {
	return &BudgetError{Budget: "futures", Msg: fmt.Sprintf("the lab started more than %d futures (--max-run-futures)", limit)}
}

// OverTime is a lab that ran longer than limit, set by what ("--max-run-time", or the
// lab's own timeout).
func OverTime(limit time.Duration, what string) *BudgetError {
	return &BudgetError{Budget: "time", Msg: fmt.Sprintf("the lab ran longer than %s (%s)", limit, what)}
}

// Bytes shows n bytes in the largest binary unit that divides it: "512 MiB", "1 GiB",
// "1500 B".
func Bytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// runLimit is the wall-time bound of a lab's run: the lab's own timeout, capped by
// max (0: none), and the budget error that ends a run over it. A zero limit is none.
func runLimit(timeout, max time.Duration) (time.Duration, *BudgetError) {
	switch {
	case max > 0 && (timeout <= 0 || timeout > max):
		what := "--max-run-time"
		if timeout > max {
			what += fmt.Sprintf("; the lab's own timeout is %s", timeout)
		}
		return max, OverTime(max, what)
	case timeout > 0:
		return timeout, OverTime(timeout, "the lab's timeout")
	}
	return 0, nil
}
