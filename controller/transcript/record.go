package transcript

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Exit codes of a run, as the command line returns them and result.json records them.
const (
	ExitPassed      = 0   // every check passed
	ExitFailed      = 1   // a check failed, or the lab stopped on a socket error or watchdog
	ExitBadLab      = 2   // the lab (or its parameters) is wrong
	ExitInfra       = 3   // an agent was unreachable, lost or refused
	ExitInterrupted = 130 // the run was interrupted
)

// Verdicts of a run, and of a stored run that has not ended (VerdictRunning) or never
// will (VerdictInterrupted: it was interrupted, or the process running it ended first).
const (
	VerdictPassed      = "passed"
	VerdictFailed      = "failed"
	VerdictError       = "error"
	VerdictRunning     = "running"
	VerdictInterrupted = "interrupted"
)

// Verdict names how a run that ended with exit code exit went.
func Verdict(exit int) string {
	switch exit {
	case ExitPassed:
		return VerdictPassed
	case ExitFailed:
		return VerdictFailed
	case ExitInterrupted:
		return VerdictInterrupted
	}
	return VerdictError
}

// Host is a lab host bound to an agent.
type Host struct {
	// Role is the host's name in the lab ("server", "client").
	Role string
	// Address is the host's address ("127.5.0.2").
	Address string
}

// Header describes a run once its hosts are bound.
type Header struct {
	// RunID names the run ("run-" and 16 hex digits).
	RunID string
	// Lab is the lab's name.
	Lab string
	// Summary says in one line what the lab shows.
	Summary string
	// Hosts are the lab's hosts, in the lab's order.
	Hosts []Host
	// Params are the parameters the run uses, defaults included: int64, float64, bool,
	// string or []byte values.
	Params map[string]any
	// Checks are the lab's declared checks, none reached yet.
	Checks []Check
	// Started is when the run began.
	Started time.Time
}

// Result is how a run ended.
type Result struct {
	// Header describes the run.
	Header Header
	// Checks are every declared check, reached or not.
	Checks []Check
	// Error is what stopped the run early, with the lab's file:line; "" when nothing did.
	Error string
	// ExitCode is the command line's exit code for the run.
	ExitCode int
	// Finished is when the run ended.
	Finished time.Time
}

// Verdict is "passed", "failed" or "error".
func (r *Result) Verdict() string { return Verdict(r.ExitCode) }

// Score returns the points the checks earned and the points possible.
func (r *Result) Score() (score, max int) {
	for _, c := range r.Checks {
		score += c.Points()
		max += c.MaxPoints
	}
	return score, max
}

// Record is a whole run: how it ended, and its transcript in merged order.
type Record struct {
	Result
	// Entries are the transcript, merged.
	Entries []Entry
	// Streamed is set when the entries went to the store as the run went (see
	// runner.Options.Ordered) and Entries is empty.
	Streamed bool
}

// Proto returns the result as the controller stores and streams it.
func (r *Result) Proto() *socklabv1.RunResult {
	h := r.Header
	out := &socklabv1.RunResult{
		RunId: h.RunID, Lab: h.Lab, Summary: h.Summary, Params: map[string]*structpb.Value{},
		StartedUnixNs: unixNano(h.Started), FinishedUnixNs: unixNano(r.Finished),
		ExitCode: int32(r.ExitCode), Error: r.Error,
	}
	for _, host := range h.Hosts {
		out.Hosts = append(out.Hosts, &socklabv1.HostBinding{Role: host.Role, Address: host.Address})
	}
	for k, v := range h.Params {
		if pv, err := structpb.NewValue(jsonValue(v)); err == nil {
			out.Params[k] = pv
		}
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, &socklabv1.CheckResult{Id: c.ID, Description: c.Description, MaxPoints: int32(c.MaxPoints),
			Passed: c.Passed, Reached: c.Reached, Message: c.Message, Pos: c.Pos, Hints: c.Hints.Map()})
	}
	return out
}

// ResultOf returns the result a RunResult message holds.
func ResultOf(p *socklabv1.RunResult) *Result {
	r := &Result{
		Header: Header{RunID: p.GetRunId(), Lab: p.GetLab(), Summary: p.GetSummary(), Params: map[string]any{},
			Started: fromUnixNano(p.GetStartedUnixNs())},
		Error: p.GetError(), ExitCode: int(p.GetExitCode()), Finished: fromUnixNano(p.GetFinishedUnixNs()),
	}
	for _, h := range p.GetHosts() {
		r.Header.Hosts = append(r.Header.Hosts, Host{Role: h.GetRole(), Address: h.GetAddress()})
	}
	for k, v := range p.GetParams() {
		r.Header.Params[k] = v.AsInterface()
	}
	for _, c := range p.GetChecks() {
		check := Check{ID: c.GetId(), Description: c.GetDescription(), MaxPoints: int(c.GetMaxPoints()),
			Passed: c.GetPassed(), Reached: c.GetReached(), Message: c.GetMessage(), Pos: c.GetPos(), Hints: MakeHints(c.GetHints())}
		r.Checks = append(r.Checks, check)
		decl := check
		decl.Passed, decl.Reached, decl.Message, decl.Pos, decl.Hints = false, false, "", "", Hints{}
		r.Header.Checks = append(r.Header.Checks, decl)
	}
	return r
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

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
	// Verdict is "passed", "failed", "error" or "interrupted".
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

// StartFile is a run's start as a tool reads it (the "start" record of a JSON-lines
// transcript): result.json's fields known when the run's hosts are bound, and each
// declared check.
type StartFile struct {
	// RunID names the run.
	RunID string `json:"run_id"`
	// Lab is the lab's name.
	Lab string `json:"lab"`
	// Summary says in one line what the lab shows.
	Summary string `json:"summary"`
	// Params are the parameters the lab runs with, defaults included.
	Params map[string]any `json:"params"`
	// Hosts maps each lab host to its address.
	Hosts map[string]string `json:"hosts"`
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Checks are the lab's declared checks, in order.
	Checks []CheckInfoFile `json:"checks"`
}

// CheckInfoFile is one declared check in a run's start.
type CheckInfoFile struct {
	// ID is the check's slug.
	ID string `json:"id"`
	// Description says what the check shows.
	Description string `json:"description"`
	// MaxPoints is what it is worth.
	MaxPoints int `json:"max_points"`
}

// File returns the run's start as a JSON-lines transcript's start record holds it.
func (h Header) File() StartFile {
	f := StartFile{RunID: h.RunID, Lab: h.Lab, Summary: h.Summary, Params: map[string]any{}, Hosts: map[string]string{},
		Started: h.Started.UTC(), Checks: []CheckInfoFile{}}
	for k, v := range h.Params {
		f.Params[k] = jsonValue(v)
	}
	for _, host := range h.Hosts {
		f.Hosts[host.Role] = host.Address
	}
	for _, c := range h.Checks {
		f.Checks = append(f.Checks, CheckInfoFile{ID: c.ID, Description: c.Description, MaxPoints: c.MaxPoints})
	}
	return f
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
	// Hints are what a failed check tells the student, by language code ("en", "zh");
	// left out when there are none.
	Hints map[string]string `json:"hints,omitempty"`
}

// File returns the run as result.json holds it.
func (r *Result) File() ResultFile {
	f := ResultFile{
		Version: 1, RunID: r.Header.RunID, Lab: r.Header.Lab, Params: map[string]any{}, Hosts: map[string]string{},
		Started: r.Header.Started.UTC(), Finished: r.Finished.UTC(), Verdict: r.Verdict(), ExitCode: r.ExitCode,
		Checks: []CheckFile{}, Error: r.Error,
	}
	for k, v := range r.Header.Params {
		f.Params[k] = jsonValue(v)
	}
	for _, h := range r.Header.Hosts {
		f.Hosts[h.Role] = h.Address
	}
	f.Score, f.MaxScore = r.Score()
	for _, c := range r.Checks {
		f.Checks = append(f.Checks, CheckFile{ID: c.ID, Passed: c.Passed, Points: c.Points(), MaxPoints: c.MaxPoints, Message: c.Message,
			Hints: c.Hints.Map()})
	}
	return f
}

// ResultOfFile returns the result a result.json holds. The file keeps less than a
// RunResult: check descriptions and positions are lost, a check counts as reached unless
// its message says it was not, and hosts come in address order.
func ResultOfFile(f ResultFile) *Result {
	r := &Result{
		Header: Header{RunID: f.RunID, Lab: f.Lab, Params: f.Params, Started: f.Started},
		Error:  f.Error, ExitCode: f.ExitCode, Finished: f.Finished,
	}
	for role, addr := range f.Hosts {
		r.Header.Hosts = append(r.Header.Hosts, Host{Role: role, Address: addr})
	}
	sort.Slice(r.Header.Hosts, func(i, j int) bool { return hostLess(r.Header.Hosts[i], r.Header.Hosts[j]) })
	for _, c := range f.Checks {
		r.Checks = append(r.Checks, Check{ID: c.ID, MaxPoints: c.MaxPoints, Passed: c.Passed, Message: c.Message,
			Reached: c.Passed || !strings.HasPrefix(c.Message, "not reached"), Hints: MakeHints(c.Hints)})
		r.Header.Checks = append(r.Header.Checks, Check{ID: c.ID, MaxPoints: c.MaxPoints})
	}
	return r
}

// hostLess orders hosts by address (the lab's order on the local topology), then role.
func hostLess(a, b Host) bool {
	aa, errA := netip.ParseAddr(a.Address)
	ba, errB := netip.ParseAddr(b.Address)
	if errA == nil && errB == nil && aa != ba {
		return aa.Less(ba)
	}
	if (errA == nil) != (errB == nil) {
		return errA != nil // an address that does not parse sorts first, as 0.0.0.0
	}
	return a.Role < b.Role
}

// Started returns the header a RunStarted message announces.
func Started(p *socklabv1.RunStarted) Header {
	h := Header{RunID: p.GetRunId(), Lab: p.GetLab(), Summary: p.GetSummary(), Started: fromUnixNano(p.GetStartedUnixNs())}
	for _, b := range p.GetHosts() {
		h.Hosts = append(h.Hosts, Host{Role: b.GetRole(), Address: b.GetAddress()})
	}
	for _, c := range p.GetChecks() {
		h.Checks = append(h.Checks, Check{ID: c.GetId(), Description: c.GetDescription(), MaxPoints: int(c.GetMaxPoints())})
	}
	return h
}

// StartedProto returns the RunStarted message that announces h.
func (h Header) StartedProto() *socklabv1.RunStarted {
	p := &socklabv1.RunStarted{RunId: h.RunID, Lab: h.Lab, Summary: h.Summary, StartedUnixNs: unixNano(h.Started)}
	for _, b := range h.Hosts {
		p.Hosts = append(p.Hosts, &socklabv1.HostBinding{Role: b.Role, Address: b.Address})
	}
	for _, c := range h.Checks {
		p.Checks = append(p.Checks, &socklabv1.CheckInfo{Id: c.ID, Description: c.Description, MaxPoints: int32(c.MaxPoints)})
	}
	return p
}

// jsonValue is a parameter's value as JSON shows it: bytes become a string.
func jsonValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case nil, int64, float64, bool, string:
		return v
	case int:
		return int64(v)
	}
	return fmt.Sprint(v)
}

// EntryEvent returns the event an entry records, with the run's clock, host role and lab
// position set; narration becomes an EVENT_KIND_SAY event, a failed check an
// EVENT_KIND_CHECK_FAILED one. The entry's own event is not
// modified. An entry that records nothing storable gives nil.
func EntryEvent(e Entry) *socklabv1.Event {
	var ev *socklabv1.Event
	switch {
	case e.Event != nil:
		ev = proto.Clone(e.Event).(*socklabv1.Event)
	case e.Kind == Say || e.Kind == Note:
		ev = &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SAY, Note: e.Text}
	case e.Kind == Failed:
		ev = &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_CHECK_FAILED, Check: e.Check, Note: e.Text, Snapshot: e.Snapshot}
	default:
		return nil
	}
	ev.AtNs, ev.Role, ev.Pos = e.At.Nanoseconds(), e.Host, e.Pos
	return ev
}

// EventEntry is the inverse of EntryEvent: the entry a stored or streamed event records;
// hosts gives the hosts' addresses.
func EventEntry(ev *socklabv1.Event, hosts []Host) Entry {
	e := Entry{At: time.Duration(ev.GetAtNs()), Host: ev.GetRole(), Pos: ev.GetPos()}
	for _, h := range hosts {
		if h.Role == e.Host {
			e.Address = h.Address
			break
		}
	}
	switch ev.GetKind() {
	case socklabv1.EventKind_EVENT_KIND_SAY:
		e.Kind, e.Text = Say, ev.GetNote()
		return e
	case socklabv1.EventKind_EVENT_KIND_CHECK_FAILED:
		e.Kind, e.Text, e.Check, e.Snapshot = Failed, ev.GetNote(), ev.GetCheck(), ev.GetSnapshot()
		return e
	}
	e.Kind, e.Event, e.Duration = Operation, ev, time.Duration(ev.GetDurationNs())
	return e
}
