package grade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
)

// The statuses of a graded submission (grades.json's "status").
const (
	// StatusGraded is a submission every check of which has a verdict.
	StatusGraded = "graded"
	// StatusTimedOut is a submission over its time budget: the checks reached so far.
	StatusTimedOut = "timed_out"
	// StatusError is a submission the environment could not grade (an agent lost, a
	// namespace not made, a zip refused): never the student's fault, never a silent zero.
	StatusError = "error"
)

// Options tune a grading.
type Options struct {
	// Params are the lab's --param NAME=VALUE overrides, the same for every submission.
	Params []string
	// Topology gives each run its hosts; every submission gets hosts of its own.
	Topology topology.Topology
	// Jobs is how many submissions are graded at once; 0 means 1.
	Jobs int
	// Timeout bounds one submission's run; 0 means 60 s.
	Timeout time.Duration
	// Lang is the language of the hints in the grades ("en", "zh"); "" is "en".
	Lang string
	// Progress, if set, hears of each submission as it starts (Result nil) and ends.
	Progress func(p Progress)
	// PortWait bounds the wait, on a topology whose runs share this machine's kernel
	// (local), for the lab's port to be free of every socket (TIME_WAIT included) before
	// each run; 0 means 70 s. A port still held then makes the submission an error, never
	// a failed check.
	PortWait time.Duration
}

// Progress is one submission starting or ending.
type Progress struct {
	// Done and Total count the finished submissions and all of them.
	Done, Total int
	// Name is the submission's.
	Name string
	// Result is the submission's grade once it ends; nil as it starts.
	Result *Result
	// Elapsed is how long it took, once it ended.
	Elapsed time.Duration
}

// Report is a grading: grades.json.
type Report struct {
	// Version is the file format's version, 1.
	Version int `json:"version"`
	// Lab is the grading lab's name.
	Lab string `json:"lab"`
	// Params are the lab's parameters as the runs used them.
	Params map[string]any `json:"params"`
	// Submissions are the grades, sorted by name.
	Submissions []Result `json:"submissions"`
	// Summary counts, per check, the submissions that passed it.
	Summary map[string]Tally `json:"summary"`

	records map[string]*transcript.Record // each submission's run, for its transcript
}

// Result is one submission's grade.
type Result struct {
	// Name is the submission's folder (or zip) name.
	Name string `json:"name"`
	// Score and MaxScore are the points earned and possible.
	Score    int `json:"score"`
	MaxScore int `json:"max_score"`
	// Checks are every check of the lab, in its order, reached or not.
	Checks []Check `json:"checks"`
	// Status is graded, timed_out or error.
	Status string `json:"status"`
	// Error says why the status is not graded, or what stopped the lab early; "" when
	// nothing did.
	Error string `json:"error"`
	// Departure says where the run first departs from the reference run, for a
	// submission with a failed check graded with a reference (--reference).
	Departure string `json:"departure,omitempty"`
	// Report is the submission's report.html (its run as a ladder diagram, with its
	// checks), relative to the grades folder Write writes; "" for a submission that
	// never ran.
	Report string `json:"report,omitempty"`
}

// Check is one check's verdict for one submission.
type Check struct {
	// Name is the check's id.
	Name string `json:"name"`
	// Passed is set when the check held.
	Passed bool `json:"passed"`
	// Points and MaxPoints are what the check earned and is worth.
	Points    int `json:"points"`
	MaxPoints int `json:"max_points"`
	// Message says what went wrong, in the lab's words; "" for a pass.
	Message string `json:"message"`
	// Hint is the lab's hint for a failed check, in the grading's language.
	Hint string `json:"hint"`
}

// Tally counts the submissions that passed a check.
type Tally struct {
	Passed int `json:"passed"`
	Total  int `json:"total"`
}

// Grade runs the grading lab l on every submission, opts.Jobs at a time, each on hosts
// of its own, and returns the grades. A run the environment spoiled (an agent lost) is
// tried once more before it is recorded as an error.
func Grade(ctx context.Context, l *lab.Lab, subs []Submission, opts Options) *Report {
	return GradeWith(ctx, Starlark(l), subs, opts)
}

// Source is a grading lab: its description, and the lab that runs once on a
// submission's files (a lab plugin starts a process of its own for each).
type Source interface {
	// Info describes the lab.
	Info() runner.Info
	// ParamValues resolves --param overrides, as runner.Lab's does.
	ParamValues(overrides []string) (map[string]any, error)
	// ForFiles returns the lab to run once on the submission whose files are in dir. If
	// it is an io.Closer, it is closed after its run.
	ForFiles(ctx context.Context, dir string) (runner.Lab, error)
}

// Starlark is a Starlark grading lab as a Source: each run reads its own submission's
// files.
func Starlark(l *lab.Lab) Source { return starlarkSource{l} }

type starlarkSource struct{ *lab.Lab }

func (s starlarkSource) ForFiles(_ context.Context, dir string) (runner.Lab, error) {
	own := *s.Lab
	own.FilesDir = dir
	return &own, nil
}

// GradeWith is Grade for any grading lab: a Starlark lab (Starlark) or a lab plugin.
func GradeWith(ctx context.Context, l Source, subs []Submission, opts Options) *Report {
	jobs := max(opts.Jobs, 1)
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	rep := &Report{Version: 1, Lab: l.Info().Name, Params: map[string]any{}, Summary: map[string]Tally{},
		records: map[string]*transcript.Record{}}
	if params, err := l.ParamValues(opts.Params); err == nil {
		for k, v := range params {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			rep.Params[k] = v
		}
	}
	results := make([]Result, len(subs))
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	queue := make(chan int)
	for range min(jobs, max(len(subs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if opts.Progress != nil {
					mu.Lock()
					opts.Progress(Progress{Done: done, Total: len(subs), Name: subs[i].Name})
					mu.Unlock()
				}
				start := time.Now()
				res, rec := gradeOne(ctx, l, subs[i], opts)
				mu.Lock()
				results[i] = res
				if rec != nil {
					rep.records[res.Name] = rec
					results[i].Report = reportPath(res.Name)
				}
				done++
				if opts.Progress != nil {
					opts.Progress(Progress{Done: done, Total: len(subs), Name: res.Name, Result: &results[i], Elapsed: time.Since(start)})
				}
				mu.Unlock()
			}
		}()
	}
	for i := range subs {
		select {
		case queue <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(queue)
	wg.Wait()
	for i := range results {
		if results[i].Name == "" { // never started: interrupted
			results[i] = failAll(l, subs[i].Name, StatusError, "grading interrupted before this submission ran")
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	rep.Submissions = results
	for _, r := range results {
		for _, c := range r.Checks {
			t := rep.Summary[c.Name]
			t.Total++
			if c.Passed {
				t.Passed++
			}
			rep.Summary[c.Name] = t
		}
	}
	return rep
}

// Errors reports whether any submission could not be graded (status error).
func (r *Report) Errors() bool {
	for _, s := range r.Submissions {
		if s.Status == StatusError {
			return true
		}
	}
	return false
}

// gradeOne grades one submission: its run, retried once when the environment failed it.
func gradeOne(ctx context.Context, l Source, sub Submission, opts Options) (Result, *transcript.Record) {
	if sub.Problem != "" {
		return failAll(l, sub.Name, StatusError, sub.Problem), nil
	}
	if topology.KindOf(opts.Topology) == "local" {
		if err := portFree(ctx, l, opts); err != nil {
			return failAll(l, sub.Name, StatusError, err.Error()), nil
		}
	}
	var rec *transcript.Record
	for attempt := 0; attempt < 2; attempt++ {
		own, err := l.ForFiles(ctx, sub.Dir) // each run reads its own submission's files
		if err != nil {
			return failAll(l, sub.Name, StatusError, err.Error()), nil
		}
		rctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		rec = runner.Run(rctx, own, opts.Topology, runner.Options{Params: opts.Params}, runner.Discard{})
		if c, ok := own.(io.Closer); ok {
			c.Close()
		}
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		switch {
		case timedOut:
			res := resultOf(sub.Name, rec, opts.Lang)
			res.Status = StatusTimedOut
			res.Error = fmt.Sprintf("over its time budget (%s): the checks reached so far", opts.Timeout)
			return res, rec
		case rec.ExitCode == transcript.ExitInfra && ctx.Err() == nil:
			continue // the environment's fault: once more
		case rec.ExitCode == transcript.ExitInfra, rec.ExitCode == transcript.ExitBadLab,
			rec.ExitCode == transcript.ExitInterrupted:
			res := resultOf(sub.Name, rec, opts.Lang)
			res.Status, res.Error = StatusError, rec.Error
			return res, rec
		}
		return resultOf(sub.Name, rec, opts.Lang), rec
	}
	res := resultOf(sub.Name, rec, opts.Lang)
	res.Status, res.Error = StatusError, "twice: "+rec.Error
	return res, rec
}

// portFree waits until no socket of this machine uses the lab's port (its "port"
// parameter), so that a run never meets what the one before left (a TIME_WAIT after a
// restart check): on a shared kernel a bind would fail for reasons not the student's.
func portFree(ctx context.Context, l Source, opts Options) error {
	params, err := l.ParamValues(opts.Params)
	if err != nil {
		return nil // the run says what is wrong with the parameters
	}
	port, ok := params["port"].(int64)
	if !ok || port <= 0 || port > 65535 {
		return nil
	}
	wait := opts.PortWait
	if wait <= 0 {
		wait = 70 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		rows, err := kernel.Sockets(kernel.Filter{Port: uint16(port)})
		if err != nil || len(rows) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d is still held on this machine after %s (%s %s): the run would share it; grade on --topology netns, or free the port", port, wait, rows[0].State, rows[0].Local)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// resultOf turns a run into a grade: its checks in the lab's order, with points and
// hints.
func resultOf(name string, rec *transcript.Record, lang string) Result {
	res := Result{Name: name, Status: StatusGraded, Error: rec.Error, Checks: []Check{}}
	for _, c := range rec.Checks {
		gc := Check{Name: c.ID, Passed: c.Passed, Points: c.Points(), MaxPoints: c.MaxPoints}
		if !c.Passed {
			gc.Message = c.Message
			if gc.Message == "" {
				gc.Message = c.Description
			}
			gc.Hint = c.Hint(lang)
		}
		res.Checks = append(res.Checks, gc)
		res.Score += gc.Points
		res.MaxScore += gc.MaxPoints
	}
	return res
}

// failAll is a submission that never ran: every check failed with why.
func failAll(l Source, name, status, why string) Result {
	res := Result{Name: name, Status: status, Error: why, Checks: []Check{}}
	for _, c := range l.Info().Checks {
		res.Checks = append(res.Checks, Check{Name: c.ID, MaxPoints: c.MaxPoints, Message: why})
		res.MaxScore += c.MaxPoints
	}
	return res
}

// Flip is a check whose verdict changed between gradings of one submission: a flaky
// check, or a racy program.
type Flip struct {
	// Submission and Check name it.
	Submission, Check string
	// Passed and Runs count the gradings it passed and all of them.
	Passed, Runs int
}

// Flips compares gradings of the same submissions and returns the checks whose verdict
// was not the same in all, sorted by submission and the lab's check order.
func Flips(reps []*Report) []Flip {
	if len(reps) == 0 {
		return nil
	}
	var out []Flip
	for i, s := range reps[0].Submissions {
		for j, c := range s.Checks {
			passed := 0
			for _, r := range reps {
				if i < len(r.Submissions) && j < len(r.Submissions[i].Checks) && r.Submissions[i].Checks[j].Passed {
					passed++
				}
			}
			if passed != 0 && passed != len(reps) {
				out = append(out, Flip{Submission: s.Name, Check: c.Name, Passed: passed, Runs: len(reps)})
			}
		}
	}
	return out
}

// LabTime is the time the labs took themselves, summed over the submissions: from each
// run's first transcript entry to the end of its last, the lab's work and its deliberate
// waits, without what grading adds around them (hosts made and removed, agents started,
// sessions opened, records kept).
func (r *Report) LabTime() time.Duration {
	var d time.Duration
	for _, rec := range r.records {
		if len(rec.Entries) == 0 {
			continue
		}
		first, last := rec.Entries[0].At, time.Duration(0)
		for _, e := range rec.Entries {
			first = min(first, e.At)
			last = max(last, e.At+e.Duration)
		}
		d += last - first
	}
	return d
}
