package web

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/pyrepr"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// Record is one thing the page draws, sent as one JSON object whose one key says which:
// {"run": ...} first, then {"step": ...} and {"arrow": ...} in the order the ladder
// completes them, {"gap": ...} where a late page missed what the server no longer
// holds, and {"end": ...} last.
type Record struct {
	// Run is the run's start: its lab and hosts (the lifelines).
	Run *RunRecord `json:"run,omitempty"`
	// Step is one transcript entry on its host's line (or across the page, for
	// narration).
	Step *StepRecord `json:"step,omitempty"`
	// Arrow is one message from the step that sent it to the step that got it.
	Arrow *ArrowRecord `json:"arrow,omitempty"`
	// Gap counts the records the server let go before the page came (see MaxRecords).
	Gap *GapRecord `json:"gap,omitempty"`
	// End is how the run ended.
	End *EndRecord `json:"end,omitempty"`
}

// RunRecord is a run's start.
type RunRecord struct {
	// ID names the run.
	ID string `json:"id"`
	// Lab and Summary say what runs.
	Lab     string `json:"lab"`
	Summary string `json:"summary,omitempty"`
	// Hosts are the lab's hosts, in its order: one lifeline each.
	Hosts []HostRecord `json:"hosts"`
	// Started is when the run began (RFC 3339).
	Started string `json:"started"`
}

// HostRecord is one lab host.
type HostRecord struct {
	// Role is the host's name in the lab.
	Role string `json:"role"`
	// Address is its address.
	Address string `json:"address"`
}

// StepRecord is one transcript entry.
type StepRecord struct {
	// Index is the entry's place in the run's display order, from 0; arrows name steps by
	// it.
	Index int `json:"index"`
	// Kind is "op" (an operation), "say" (narration), "failed" (a check that failed,
	// where it failed) or "note" (the runner's remark).
	Kind string `json:"kind"`
	// Host is the host it happened on ("" for narration).
	Host string `json:"host,omitempty"`
	// AtMs is when it started, in milliseconds of the run's clock.
	AtMs float64 `json:"at_ms"`
	// Call is the operation as Python writes the call ("recv(1024)"), or the narration.
	Call string `json:"call"`
	// Result is what it returned, or the error it raised.
	Result string `json:"result,omitempty"`
	// Failed is set when the operation raised an error, or the check failed.
	Failed bool `json:"failed,omitempty"`
	// Check names the check that failed (kind "failed").
	Check string `json:"check,omitempty"`
	// Pos is the lab's file:line that made it.
	Pos string `json:"pos,omitempty"`
	// Conn numbers the connection it belongs to, the same at both ends (0: none).
	Conn int `json:"conn,omitempty"`
}

// ArrowRecord is one message between two steps.
type ArrowRecord struct {
	// Kind is "connect", "data", "fin", "rst", "datagram" or "lost".
	Kind string `json:"kind"`
	// From and To are the hosts at its ends (To is "" for a lost datagram).
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// Send and Recv are the indexes of the steps at its ends (Recv is -1 when lost).
	Send int `json:"send"`
	Recv int `json:"recv"`
	// Bytes is the count of bytes sent (data and datagrams).
	Bytes uint64 `json:"bytes,omitempty"`
	// Preview is the start of the bytes, as Python writes bytes.
	Preview string `json:"preview,omitempty"`
	// Conn is the connection's number (0 for datagrams).
	Conn int `json:"conn,omitempty"`
}

// GapRecord says how much of the run a page does not get: the server keeps the latest
// MaxRecords records of a run, and a page that comes later starts after a gap.
type GapRecord struct {
	// Records is how many were let go.
	Records int `json:"records"`
	// Kept is the bound the server keeps.
	Kept int `json:"kept"`
}

// EndRecord is how a run ended.
type EndRecord struct {
	// Verdict is "passed", "failed", "error" or "interrupted".
	Verdict string `json:"verdict"`
	// ExitCode is the command line's exit code.
	ExitCode int `json:"exit_code"`
	// Error is what stopped the run early, if anything did.
	Error string `json:"error,omitempty"`
	// Score and MaxScore are the checks' points.
	Score    int `json:"score"`
	MaxScore int `json:"max_score"`
	// Checks are every declared check.
	Checks []CheckRecord `json:"checks"`
}

// CheckRecord is one check's outcome.
type CheckRecord struct {
	// ID names the check; Description says what it checks.
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// Passed and Reached say how it went.
	Passed  bool `json:"passed"`
	Reached bool `json:"reached"`
	// Message says why it failed.
	Message string `json:"message,omitempty"`
}

// previewMax bounds an arrow's preview, in characters of Python's repr.
const previewMax = 48

func runRecord(h transcript.Header) Record {
	r := &RunRecord{ID: h.RunID, Lab: h.Lab, Summary: h.Summary, Started: h.Started.UTC().Format(time.RFC3339Nano), Hosts: []HostRecord{}}
	for _, host := range h.Hosts {
		r.Hosts = append(r.Hosts, HostRecord{Role: host.Role, Address: host.Address})
	}
	return Record{Run: r}
}

func stepRecord(st ladder.Step) Record {
	e := st.Entry
	r := &StepRecord{Index: st.Index, Host: e.Host, AtMs: float64(e.At.Microseconds()) / 1000, Pos: e.Pos, Conn: st.Conn}
	switch e.Kind {
	case transcript.Operation:
		r.Kind = "op"
		if ev := e.Event; ev != nil {
			r.Call, r.Result, r.Failed = report.Call(ev), report.Outcome(ev), ev.GetError() != nil
		}
	case transcript.Say:
		r.Kind, r.Call = "say", e.Text
	case transcript.Failed:
		r.Kind, r.Check, r.Failed = "failed", e.Check, true
		r.Call = "check " + e.Check + " failed: " + e.Text
	default:
		r.Kind, r.Call = "note", e.Text
	}
	return Record{Step: r}
}

func arrowRecord(a ladder.Arrow) Record {
	r := &ArrowRecord{Kind: a.Kind.String(), From: a.From, To: a.To, Send: a.Send, Recv: a.Recv, Bytes: a.Bytes, Conn: a.Conn}
	if a.Bytes > 0 || len(a.Payload) > 0 {
		r.Preview = pyrepr.Bytes(a.Payload, a.Bytes, previewMax)
	}
	return Record{Arrow: r}
}

func endRecord(res *transcript.Result) Record {
	score, maxScore := res.Score()
	r := &EndRecord{Verdict: res.Verdict(), ExitCode: res.ExitCode, Error: res.Error, Score: score, MaxScore: maxScore, Checks: []CheckRecord{}}
	for _, c := range res.Checks {
		r.Checks = append(r.Checks, CheckRecord{ID: c.ID, Description: c.Description, Passed: c.Passed, Reached: c.Reached, Message: c.Message})
	}
	return Record{End: r}
}

// encode returns r as one line of JSON.
func encode(r Record) []byte {
	b, err := json.Marshal(r)
	if err != nil { // only plain strings and numbers: cannot happen
		panic(fmt.Sprintf("web: encode a record: %v", err))
	}
	return b
}
