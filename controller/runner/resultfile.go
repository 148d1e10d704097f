package runner

import (
	"time"

	"go.starlark.net/starlark"
)

// ResultFile is result.json: a run's outcome for tools (CI, grade books), version 1.
type ResultFile struct {
	// Version is the file format's version, 1.
	Version int `json:"version"`
	// RunID names the run.
	RunID string `json:"run_id"`
	// Lab is the lab's name.
	Lab string `json:"lab"`
	// Params are the parameters the lab ran with.
	Params map[string]any `json:"params"`
	// Hosts maps each lab host to its address.
	Hosts map[string]string `json:"hosts"`
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Finished is when it ended.
	Finished time.Time `json:"finished"`
	// Verdict is "passed", "failed" or "error".
	Verdict string `json:"verdict"`
	// ExitCode is the CLI's exit code.
	ExitCode int `json:"exit_code"`
	// Score is the points earned.
	Score int `json:"score"`
	// MaxScore is the points possible.
	MaxScore int `json:"max_score"`
	// Checks are every declared check.
	Checks []CheckFile `json:"checks"`
	// Error is what stopped the run early, "" when nothing did.
	Error string `json:"error"`
}

// CheckFile is one check in result.json.
type CheckFile struct {
	// ID is the check's slug.
	ID string `json:"id"`
	// Passed is set when the check held.
	Passed bool `json:"passed"`
	// Points is what the check earned.
	Points int `json:"points"`
	// MaxPoints is what it is worth.
	MaxPoints int `json:"max_points"`
	// Message explains a failure ("" when it passed).
	Message string `json:"message"`
}

// File returns the run as result.json holds it.
func (r *Result) File() ResultFile {
	f := ResultFile{
		Version: 1, RunID: r.ID, Params: map[string]any{}, Hosts: map[string]string{},
		Started: r.Started.UTC(), Finished: r.Finished.UTC(), Verdict: r.Verdict(), ExitCode: r.ExitCode,
		Checks: []CheckFile{}, Error: r.ErrorText(),
	}
	if r.Lab != nil {
		f.Lab = r.Lab.Name
	}
	for k, v := range r.Params {
		f.Params[k] = plain(v)
	}
	for _, h := range r.Hosts {
		f.Hosts[h.Role] = h.IP.String()
	}
	for _, c := range r.Checks {
		f.Score += c.Points()
		f.MaxScore += c.MaxPoints
		f.Checks = append(f.Checks, CheckFile{ID: c.ID, Passed: c.Passed, Points: c.Points(), MaxPoints: c.MaxPoints, Message: c.Message})
	}
	return f
}

// plain turns a parameter's value into its JSON form: bytes become a string.
func plain(v starlark.Value) any {
	switch v := v.(type) {
	case starlark.Int:
		if n, ok := v.Int64(); ok {
			return n
		}
		return v.String()
	case starlark.Float:
		return float64(v)
	case starlark.Bool:
		return bool(v)
	case starlark.String:
		return string(v)
	case starlark.Bytes:
		return string(v)
	}
	return v.String()
}
