package htmlreport

import (
	"strconv"
	"strings"
	"time"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Record is one message of the stream the ladder renderer (ladder.js) draws from, as
// JSON: exactly one field is set, so a reader tells records apart by their one key. A
// run is a header, then steps and arrows in display order (an arrow after both of its
// steps), perhaps a gap where steps were left out, and last its end:
//
//	{"header": {"lab": "chat-relay", "hosts": [{"role": "server", "address": "127.5.0.2"}], ...}}
//	{"step": {"index": 0, "host": "server", "kind": "op", "call": "socket(AF_INET, SOCK_STREAM)", ...}}
//	{"arrow": {"kind": "data", "from": "alice", "to": "server", "send": 7, "recv": 9, "bytes": 8, "payload": "aGkgYm9iIQo="}}
//	{"gap": {"from": 2000, "to": 998999, "steps": 997000, "arrows": 498500}}
//	{"end": {"verdict": "passed", "checks": [...], ...}}
//
// The renderer takes them one at a time (ladder.add(record)), so a live page draws a run
// as it goes with the same code that draws a finished one.
type Record struct {
	// Header opens the run: its lab and hosts, one lifeline each.
	Header *Header `json:"header,omitempty"`
	// Step is one transcript entry, at its place on its host's lifeline.
	Step *Step `json:"step,omitempty"`
	// Arrow is one message between two steps already sent.
	Arrow *Arrow `json:"arrow,omitempty"`
	// Gap says that steps were left out here (a long run beyond the page's cap).
	Gap *Gap `json:"gap,omitempty"`
	// End closes the run: its checks and verdict.
	End *End `json:"end,omitempty"`
}

// Header describes a run once its hosts are bound.
type Header struct {
	// RunID names the run.
	RunID string `json:"run_id"`
	// Lab is the lab's name.
	Lab string `json:"lab"`
	// Subject names what the run is of, beside its lab, such as the student whose
	// submission it graded; "" for none.
	Subject string `json:"subject,omitempty"`
	// Summary says in one line what the lab shows.
	Summary string `json:"summary,omitempty"`
	// Hosts are the lab's hosts, in the lab's order: the lifelines, left to right.
	Hosts []Host `json:"hosts"`
	// Params are the parameters the run used, as result.json gives them (bytes as text).
	Params map[string]any `json:"params,omitempty"`
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Checks are the lab's declared checks.
	Checks []Check `json:"checks"`
}

// Host is one lab host.
type Host struct {
	// Role is the host's name in the lab ("server").
	Role string `json:"role"`
	// Address is its address ("127.5.0.2").
	Address string `json:"address"`
}

// Step kinds, as Step.Kind says them.
const (
	// KindOp is a socket (or other) operation on a host.
	KindOp = "op"
	// KindProcess is a program's output or end.
	KindProcess = "process"
	// KindSay is the lab's narration (t.say).
	KindSay = "say"
	// KindNote is the runner's remark (a watchdog firing).
	KindNote = "note"
	// KindFailed is a declared check that failed, where the lab evaluated it.
	KindFailed = "failed"
	// KindDropped marks events lost on their way from an agent.
	KindDropped = "dropped"
	// KindHidden is an entry nothing is drawn for (a session's end); it keeps its index.
	KindHidden = "hidden"
)

// Step is one transcript entry.
type Step struct {
	// Index is the entry's place in the run's display order, from 0 (ladder.Step.Index).
	Index int `json:"index"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// AtNs is when it started, in nanoseconds on the run's clock.
	AtNs int64 `json:"at_ns"`
	// DurationNs is how long it took.
	DurationNs int64 `json:"duration_ns,omitempty"`
	// Host is the lab host it happened on; "" for narration.
	Host string `json:"host,omitempty"`
	// Op is the operation's name ("recv").
	Op string `json:"op,omitempty"`
	// Handle names the socket (s3) or process (p3) it acted on.
	Handle string `json:"handle,omitempty"`
	// Call is the operation as Python writes the call: "recv(1024)".
	Call string `json:"call,omitempty"`
	// Result is what it returned, or the error it raised, as Python prints them.
	Result string `json:"result,omitempty"`
	// Raised is set when the call raised its error rather than returning.
	Raised bool `json:"raised,omitempty"`
	// Errno is the socket error the call met, if any.
	Errno *Errno `json:"errno,omitempty"`
	// Note is the agent's remark on a background event.
	Note string `json:"note,omitempty"`
	// Conn numbers the connection the step belongs to, the same at both of its ends
	// (ladder.Step.Conn); 0 for none.
	Conn int `json:"conn,omitempty"`
	// Local and Peer are the socket's own address and its peer's (a datagram's
	// destination or source) as ss writes them, "127.0.0.1:8080"; "" when unknown.
	Local string `json:"local,omitempty"`
	Peer  string `json:"peer,omitempty"`
	// Text is the narration, the note, or a failed check's message.
	Text string `json:"text,omitempty"`
	// Pos is the lab's file:line that made the step.
	Pos string `json:"pos,omitempty"`
	// Check is the failed check's id (KindFailed).
	Check string `json:"check,omitempty"`
	// Snapshot is each host's kernel socket table when the check failed (KindFailed).
	Snapshot []HostSockets `json:"snapshot,omitempty"`
}

// Errno is a socket error as the agent reported it.
type Errno struct {
	// Name is the errno's name ("ECONNREFUSED", "timeout").
	Name string `json:"name"`
	// Number is the errno's number; 0 for errors with none (a timeout).
	Number int32 `json:"number,omitempty"`
	// Message is the system's message ("Connection refused").
	Message string `json:"message,omitempty"`
}

// HostSockets is one host's kernel socket table, as ss shows it.
type HostSockets struct {
	// Role is the host.
	Role string `json:"role"`
	// Sockets are the table's rows.
	Sockets []Socket `json:"sockets"`
	// Error says why the table could not be read; "" when it was.
	Error string `json:"error,omitempty"`
}

// Socket is one row of a kernel socket table.
type Socket struct {
	// Protocol is "tcp", "tcp6", "udp" or "udp6".
	Protocol string `json:"protocol"`
	// State is the TCP state ("ESTABLISHED", "TIME_WAIT", "LISTEN"), "UNCONN" for UDP.
	State string `json:"state"`
	// Local and Peer are host:port as ss prints them; Peer is "" when there is none.
	Local string `json:"local"`
	Peer  string `json:"peer,omitempty"`
	// RecvQ and SendQ are ss's Recv-Q and Send-Q: bytes queued, or for a listener the
	// connections waiting to be accepted (and 0).
	RecvQ uint64 `json:"recv_q"`
	SendQ uint64 `json:"send_q"`
	// Backlog is a listener's backlog, as the run's listen call on its address gave it
	// (Python's default, 128, for listen()); nil when no listen of the run made it (a
	// student's program). Its accept queue is full when RecvQ exceeds it.
	Backlog *int32 `json:"backlog,omitempty"`
}

// Arrow is one message between two steps (ladder.Arrow).
type Arrow struct {
	// Kind is "connect", "data", "fin", "rst", "datagram" or "lost".
	Kind string `json:"kind"`
	// From and To are the hosts at its two ends; To is "" for a lost datagram.
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// Send and Recv are the indexes of its two steps; Recv is -1 for a lost datagram.
	Send int `json:"send"`
	Recv int `json:"recv"`
	// Bytes is how many bytes the send sent.
	Bytes uint64 `json:"bytes,omitempty"`
	// Payload is the start of those bytes, as captured (base64 in JSON).
	Payload []byte `json:"payload,omitempty"`
	// Conn numbers its connection; 0 for datagrams.
	Conn int `json:"conn,omitempty"`
	// Outside is set on a lost datagram sent to an address none of the run's own
	// sockets had when it was sent, such as a program's under test: no recv in the
	// transcript got it, but that program may well have.
	Outside bool `json:"outside,omitempty"`
}

// Gap says that the steps from From to To (indexes, both included) are not drawn, nor
// the arrows that touch them.
type Gap struct {
	// From and To are the first and last index left out.
	From int `json:"from"`
	To   int `json:"to"`
	// Steps and Arrows count what is left out.
	Steps  int `json:"steps"`
	Arrows int `json:"arrows"`
}

// End is how the run ended.
type End struct {
	// Verdict is "passed", "failed", "error" or "interrupted".
	Verdict string `json:"verdict"`
	// ExitCode is the command line's exit code for the run.
	ExitCode int `json:"exit_code"`
	// Score and MaxScore are the points earned and possible.
	Score    int `json:"score"`
	MaxScore int `json:"max_score"`
	// Error is what stopped the run early, "" when nothing did.
	Error string `json:"error,omitempty"`
	// Finished is when the run ended.
	Finished time.Time `json:"finished"`
	// Checks are every declared check, reached or not.
	Checks []Check `json:"checks"`
	// Failures are the steps where declared checks failed, with the hosts' socket
	// tables then, whether or not the steps are drawn (at most maxFailures).
	Failures []Step `json:"failures,omitempty"`
	// Steps and Arrows count the run's steps and arrows, drawn or not.
	Steps  int `json:"steps"`
	Arrows int `json:"arrows"`
}

// Check is one of the lab's declared checks.
type Check struct {
	// ID is the check's slug.
	ID string `json:"id"`
	// Description says what it verifies.
	Description string `json:"description,omitempty"`
	// MaxPoints is what it is worth; Points what it earned.
	MaxPoints int `json:"max_points"`
	Points    int `json:"points"`
	// Passed and Reached say whether it held, and whether the lab evaluated it.
	Passed  bool `json:"passed"`
	Reached bool `json:"reached"`
	// Message explains a failure.
	Message string `json:"message,omitempty"`
	// Pos is the lab's file:line where it was evaluated.
	Pos string `json:"pos,omitempty"`
	// Hints are what a failed check tells the student, by language code.
	Hints map[string]string `json:"hints,omitempty"`
}

// maxFailures bounds the failed-check steps an Encoder keeps for End: a lab that fails
// a check in a loop does not grow a report without end.
const maxFailures = 64

// Encoder turns a run's transcript into Records as the run goes, matching sends to
// recvs with a ladder.Builder: Header once, Entry for each entry in display order, End
// once. What it holds is bounded (the Builder's sends in flight, maxFailures failures),
// whatever the run's length. The zero Encoder is ready to use; it is not safe for
// concurrent use.
type Encoder struct {
	b        ladder.Builder
	failures []Step
	steps    int
	arrows   int
	backlogs map[string]int32 // listen's backlog by the listener's address (host:port)
	locals   map[string]bool  // the addresses the run's own sockets had (host:port, *:port for a wildcard)
	outside  map[int]bool     // sendto steps to an address not in locals, until delivered
}

// maxAddrs bounds the addresses and the sends to other addresses an Encoder remembers;
// past it, it forgets them all (a lost datagram is then not told apart as Outside).
const maxAddrs = 1 << 16

// maxBacklogs bounds the listeners whose backlog an Encoder remembers.
const maxBacklogs = 4096

// defaultBacklog is the backlog of Python's listen() with no argument: min(SOMAXCONN, 128).
const defaultBacklog = 128

// Header returns the run's header record.
func (e *Encoder) Header(h transcript.Header) Record {
	out := &Header{RunID: h.RunID, Lab: h.Lab, Summary: h.Summary, Params: h.File().Params, Started: h.Started.UTC(),
		Hosts: []Host{}, Checks: []Check{}}
	for _, host := range h.Hosts {
		out.Hosts = append(out.Hosts, Host{Role: host.Role, Address: host.Address})
	}
	for _, c := range h.Checks {
		out.Checks = append(out.Checks, Check{ID: c.ID, Description: c.Description, MaxPoints: c.MaxPoints})
	}
	return Record{Header: out}
}

// Entry returns the records of the next entry in display order: its step, then the
// arrows it completes.
func (e *Encoder) Entry(en transcript.Entry) []Record {
	st, arrows := e.b.Add(en)
	step := StepOf(st)
	e.steps++
	if ev := en.Event; ev.GetOp() == "listen" && ev.GetError() == nil && ev.GetLocal() != nil {
		e.listened(ev)
	}
	e.addresses(en, step)
	if step.Kind == KindFailed {
		e.fillBacklogs(&step)
		if len(e.failures) < maxFailures {
			e.failures = append(e.failures, step)
		}
	}
	out := make([]Record, 0, 1+len(arrows))
	out = append(out, Record{Step: &step})
	for _, a := range arrows {
		out = append(out, Record{Arrow: arrowOf(a)})
		delete(e.outside, a.Send)
	}
	e.arrows += len(arrows)
	return out
}

// End returns the run's last records: the arrows of datagrams no recv got (lost), then
// its end. The Encoder is ready for another run afterwards.
func (e *Encoder) End(res *transcript.Result) []Record {
	var out []Record
	for _, a := range e.b.End() {
		r := arrowOf(a)
		r.Outside = e.outside[a.Send]
		out = append(out, Record{Arrow: r})
	}
	e.arrows += len(out)
	end := &End{Verdict: res.Verdict(), ExitCode: res.ExitCode, Error: res.Error, Finished: res.Finished.UTC(),
		Checks: []Check{}, Failures: e.failures, Steps: e.steps, Arrows: e.arrows}
	end.Score, end.MaxScore = res.Score()
	for _, c := range res.Checks {
		end.Checks = append(end.Checks, Check{ID: c.ID, Description: c.Description, MaxPoints: c.MaxPoints, Points: c.Points(),
			Passed: c.Passed, Reached: c.Reached, Message: c.Message, Pos: c.Pos, Hints: c.Hints.Map()})
	}
	*e = Encoder{}
	return append(out, Record{End: end})
}

// addresses remembers the address of the entry's socket, and a sendto to an address
// no socket of the run had.
func (e *Encoder) addresses(en transcript.Entry, st Step) {
	ev := en.Event
	if ev == nil || ev.GetError() != nil {
		return
	}
	if e.locals == nil || len(e.locals) >= maxAddrs || len(e.outside) >= maxAddrs {
		e.locals, e.outside = map[string]bool{}, map[int]bool{}
	}
	if l := ev.GetLocal(); l != nil {
		if h := l.GetHost(); h == "0.0.0.0" || h == "::" {
			e.locals["*:"+strconv.FormatUint(uint64(l.GetPort()), 10)] = true
		} else {
			e.locals[st.Local] = true
		}
	}
	if p := ev.GetPeer(); ev.GetOp() == "sendto" && p != nil && p.GetPath() == "" &&
		!e.locals[st.Peer] && !e.locals["*:"+strconv.FormatUint(uint64(p.GetPort()), 10)] {
		e.outside[st.Index] = true
	}
}

// listened remembers a listen call's backlog by its socket's address.
func (e *Encoder) listened(ev *socklabv1.Event) {
	if e.backlogs == nil {
		e.backlogs = map[string]int32{}
	}
	if len(e.backlogs) >= maxBacklogs {
		return
	}
	n := int32(defaultBacklog)
	if b := ev.GetOperation().GetListen().Backlog; b != nil {
		n = max(*b, 0)
	}
	e.backlogs[hostPort(ev.GetLocal())] = n
}

// fillBacklogs gives each listener of a failed check's snapshot the backlog its listen
// call asked for, which ss does not show.
func (e *Encoder) fillBacklogs(st *Step) {
	for _, hs := range st.Snapshot {
		for i := range hs.Sockets {
			s := &hs.Sockets[i]
			if b, ok := e.backlogs[s.Local]; ok && s.State == "LISTEN" {
				s.Backlog = &b
			}
		}
	}
}

// StepOf returns a ladder step as its record.
func StepOf(st ladder.Step) Step {
	en := st.Entry
	out := Step{Index: st.Index, AtNs: int64(en.At), DurationNs: int64(en.Duration), Host: en.Host, Conn: st.Conn,
		Text: en.Text, Pos: en.Pos}
	ev := en.Event
	switch {
	case failed(en, &out):
	case en.Kind == transcript.Say:
		out.Kind = KindSay
	case en.Kind == transcript.Note:
		out.Kind = KindNote
	case ev == nil:
		out.Kind = KindSay
		if en.Text == "" {
			out.Kind = KindHidden
		}
	case ev.GetKind() == socklabv1.EventKind_EVENT_KIND_SESSION_END:
		out.Kind = KindHidden
	case ev.GetKind() == socklabv1.EventKind_EVENT_KIND_DROPPED:
		out.Kind = KindDropped
		out.Text = strconv.FormatUint(ev.GetDropped(), 10) + " events lost"
		if n := ev.GetNote(); n != "" {
			out.Text += " (" + n + ")"
		}
	default:
		out.Kind = KindOp
		out.Op = ev.GetOp()
		out.Handle = report.Handle(ev)
		out.Note = ev.GetNote()
		if ev.GetOperation().GetOp() == nil && ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND && (out.Op == "output" || out.Op == "exit") {
			out.Kind = KindProcess // a program's output or end: no call of the lab's
			out.Call = out.Op
			if out.Op == "output" {
				out.Call = ev.GetNote()
				out.Result = report.Bytes(ev.GetPayload(), ev.GetPayloadLength(), report.PreviewMax)
			} else {
				out.Result = ev.GetNote()
			}
			out.Note = ""
			break
		}
		out.Call = report.Call(ev)
		out.Result = report.Outcome(ev)
		out.Local, out.Peer = hostPort(ev.GetLocal()), hostPort(ev.GetPeer())
		if e := ev.GetError(); e != nil {
			out.Errno = &Errno{Name: e.GetName(), Number: e.GetErrno(), Message: e.GetMessage()}
			out.Raised = report.Raised(ev)
		}
		if out.Pos == "" {
			out.Pos = ev.GetPos()
		}
	}
	return out
}

func arrowOf(a ladder.Arrow) *Arrow {
	return &Arrow{Kind: a.Kind.String(), From: a.From, To: a.To, Send: a.Send, Recv: a.Recv, Bytes: a.Bytes, Payload: a.Payload, Conn: a.Conn}
}

// hostPort writes an address as ss prints it: 127.0.0.1:8080, [::1]:8080, or a path.
func hostPort(a *socklabv1.Address) string {
	switch {
	case a == nil:
		return ""
	case a.GetPath() != "":
		return a.GetPath()
	case strings.Contains(a.GetHost(), ":"):
		return "[" + a.GetHost() + "]:" + strconv.FormatUint(uint64(a.GetPort()), 10)
	}
	return a.GetHost() + ":" + strconv.FormatUint(uint64(a.GetPort()), 10)
}

// socketsOf returns kernel socket rows as records.
func socketsOf(rows []*socklabv1.KernelSocket) []Socket {
	out := make([]Socket, 0, len(rows))
	for _, r := range rows {
		out = append(out, Socket{Protocol: r.GetProtocol(), State: r.GetState(), Local: hostPort(r.GetLocal()), Peer: hostPort(r.GetPeer()),
			RecvQ: r.GetRecvQueue(), SendQ: r.GetSendQueue()})
	}
	return out
}
