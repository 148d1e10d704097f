package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/transcript"
)

// ChromeTrace writes a run as Chrome/Perfetto Trace Event Format JSON (the JSON object
// form: {"traceEvents": [...]}), which ui.perfetto.dev and chrome://tracing open:
//
//   - each host is a process (pid 1, 2, ... in the lab's order, named "ROLE ADDRESS" by a
//     process_name metadata event) and the lab one more, for narration and failed checks;
//   - each operation is a complete event ("ph": "X", ts and dur in microseconds on the
//     run's clock) with its Python call, result, errno and lab line in args, on a thread
//     of its host: the host's operations that overlap in time (a blocking accept and a
//     send on another socket) go on threads of their own (lanes, named "ROLE", "ROLE #2",
//     ...), since a thread's slices must nest;
//   - each message (ladder.Arrow) is a flow from the operation that sent it to the one
//     that got it ("ph": "s" then "f" with "bp": "e", one id, category "message");
//   - narration is an instant event ("ph": "i") on the lab's thread, a failed check a
//     global one (a line across every host), a lost datagram one on its sender's thread.
//
// The trace is written as the run is read: the array is opened by the first event and
// closed by End.
type ChromeTrace struct {
	mu      sync.Mutex // guards everything below
	out     output
	hosts   hosts
	lab     int // the lab's pid - 1, -1 until needed
	started bool
	n       int // events written
	b       ladder.Builder
	lanes   [][]time.Duration // by host, each lane's end
	steps   recent[ctSlice]
	flows   int
	buf     bytes.Buffer // an event's JSON, reused
}

// ctSlice is where a step's complete event is.
type ctSlice struct {
	pid, tid int
	ts, end  time.Duration
	ok       bool
}

// ctEvent is one trace event, its fields as the Trace Event Format names them.
type ctEvent struct {
	Name  string       `json:"name"`
	Cat   string       `json:"cat,omitempty"`
	Ph    string       `json:"ph"`
	Ts    json.Number  `json:"ts"`
	Dur   *json.Number `json:"dur,omitempty"`
	Pid   int          `json:"pid"`
	Tid   int          `json:"tid"`
	ID    int          `json:"id,omitempty"`
	BP    string       `json:"bp,omitempty"`
	Scope string       `json:"s,omitempty"`
	Args  *ctArgs      `json:"args,omitempty"`
}

// ctArgs are an event's args, those of every kind of event this writer writes: a struct
// rather than a map, as it is written once per event.
type ctArgs struct {
	Name      string   `json:"name,omitempty"`       // process_name, thread_name
	SortIndex int      `json:"sort_index,omitempty"` // process_sort_index
	Call      string   `json:"call,omitempty"`       // an operation: its Python call and result
	Step      *int     `json:"step,omitempty"`       // its place in the run's display order
	Errno     string   `json:"errno,omitempty"`
	Pos       string   `json:"pos,omitempty"`   // the lab's line
	Conn      int      `json:"conn,omitempty"`  // its connection's number
	Label     string   `json:"label,omitempty"` // a message: what it carries
	Text      string   `json:"text,omitempty"`  // narration
	Check     string   `json:"check,omitempty"` // a failed check: its id, message and the sockets then
	Message   string   `json:"message,omitempty"`
	Sockets   []string `json:"sockets,omitempty"`
	Error     string   `json:"error,omitempty"` // the run's end
	ExitCode  *int     `json:"exit_code,omitempty"`
}

// NewChromeTrace returns a Chrome trace writer to w.
func NewChromeTrace(w io.Writer) *ChromeTrace { return &ChromeTrace{out: newOutput(w), lab: -1} }

var _ Writer = (*ChromeTrace)(nil)

// Header opens the trace and names each host's process.
func (c *ChromeTrace) Header(h transcript.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start(h)
}

func (c *ChromeTrace) start(h transcript.Header) {
	if c.started {
		return
	}
	c.started = true
	c.hosts.header(h)
	other, _ := json.Marshal(map[string]string{"run_id": h.RunID, "lab": h.Lab, "summary": h.Summary})
	c.out.write(`{"displayTimeUnit":"ms","otherData":` + string(other) + `,"traceEvents":[`)
	for i := range c.hosts.roles {
		c.process(i)
	}
}

// process names host i's process and its first lane.
func (c *ChromeTrace) process(i int) {
	name := c.hosts.roles[i]
	if a := c.hosts.addrs[i]; a != "" {
		name += " " + a
	}
	pid := i + 1
	c.event(ctEvent{Name: "process_name", Ph: "M", Ts: "0", Pid: pid, Tid: 1, Args: &ctArgs{Name: name}})
	c.event(ctEvent{Name: "process_sort_index", Ph: "M", Ts: "0", Pid: pid, Tid: 1, Args: &ctArgs{SortIndex: pid}})
	c.event(ctEvent{Name: "thread_name", Ph: "M", Ts: "0", Pid: pid, Tid: 1, Args: &ctArgs{Name: c.hosts.roles[i]}})
	for len(c.lanes) <= i {
		c.lanes = append(c.lanes, nil)
	}
	c.lanes[i] = []time.Duration{-1 << 62}
}

// host returns role's number, naming its process when new.
func (c *ChromeTrace) host(role string) int {
	n := len(c.hosts.roles)
	i := c.hosts.index(role)
	if i == n {
		c.process(i)
	}
	return i
}

// labPid returns the pid of the lab's process, naming it when new.
func (c *ChromeTrace) labPid() int {
	if c.lab < 0 {
		name := "lab"
		for slices.Contains(c.hosts.roles, name) {
			name += "_"
		}
		c.lab = c.host(name)
	}
	return c.lab + 1
}

// lane returns the tid of the first of host i's lanes free at ts, and takes it until end;
// a new lane when none is.
func (c *ChromeTrace) lane(i int, ts, end time.Duration) int {
	lanes := c.lanes[i]
	for l, free := range lanes {
		if free <= ts {
			lanes[l] = end
			return l + 1
		}
	}
	c.lanes[i] = append(lanes, end)
	tid := len(c.lanes[i])
	c.event(ctEvent{Name: "thread_name", Ph: "M", Ts: "0", Pid: i + 1, Tid: tid,
		Args: &ctArgs{Name: c.hosts.roles[i] + " #" + strconv.Itoa(tid)}})
	return tid
}

// micros is d in microseconds, as the format's ts and dur are.
func micros(d time.Duration) json.Number {
	return json.Number(strconv.FormatFloat(float64(d.Nanoseconds())/1e3, 'f', 3, 64))
}

func (c *ChromeTrace) event(e ctEvent) {
	c.buf.Reset()
	enc := json.NewEncoder(&c.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		c.out.err = fmt.Errorf("chrome trace: %w", err)
		return
	}
	b := bytes.TrimSuffix(c.buf.Bytes(), []byte("\n"))
	if c.n > 0 {
		c.out.write(",\n")
	} else {
		c.out.write("\n")
	}
	c.n++
	c.out.bytes(b)
}

// Entry writes the entry's event and the flows of the messages it completes.
func (c *ChromeTrace) Entry(e transcript.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start(transcript.Header{})
	st, arrows := c.b.Add(e)
	var sl ctSlice
	switch {
	case e.Kind == transcript.Say || e.Kind == transcript.Note:
		c.event(ctEvent{Name: truncate(e.Text, 80), Cat: "say", Ph: "i", Scope: "t", Ts: micros(e.At), Pid: c.labPid(), Tid: 1,
			Args: &ctArgs{Text: e.Text, Pos: e.Pos}})
	case isFailed(e):
		c.event(ctEvent{Name: "check failed: " + e.Check, Cat: "check", Ph: "i", Scope: "g", Ts: micros(e.At), Pid: c.labPid(), Tid: 1,
			Args: &ctArgs{Check: e.Check, Message: e.Text, Pos: e.Pos, Sockets: snapshotRows(e.Snapshot)}})
	case e.Event != nil:
		i := c.host(e.Host)
		ev := e.Event
		end := e.At + e.Duration
		sl = ctSlice{pid: i + 1, tid: c.lane(i, e.At, end), ts: e.At, end: end, ok: true}
		dur := micros(e.Duration)
		name := ev.GetOp()
		if name == "" {
			name = ev.GetKind().String()
		}
		step := st.Index
		args := &ctArgs{Call: describe(ev), Step: &step, Errno: ev.GetError().GetName(), Pos: e.Pos, Conn: st.Conn}
		c.event(ctEvent{Name: name, Cat: "op", Ph: "X", Ts: micros(e.At), Dur: &dur, Pid: sl.pid, Tid: sl.tid, Args: args})
	}
	c.steps.put(sl)
	for _, a := range arrows {
		c.flow(a)
	}
}

// flow joins an arrow's two complete events: "s" where the send starts, "f" inside the
// recv (where the send had started, if that is later than the recv's start).
func (c *ChromeTrace) flow(a ladder.Arrow) {
	from, ok := c.steps.get(a.Send)
	if !ok || !from.ok {
		return
	}
	if a.Kind == ladder.Lost {
		c.event(ctEvent{Name: "lost datagram", Cat: "message", Ph: "i", Scope: "t", Ts: micros(from.ts), Pid: from.pid, Tid: from.tid,
			Args: &ctArgs{Label: label(a)}})
		return
	}
	to, ok := c.steps.get(a.Recv)
	if !ok || !to.ok {
		return
	}
	c.flows++
	id := c.flows
	at := to.ts
	if from.ts > at && from.ts <= to.end {
		at = from.ts
	}
	name := a.Kind.String()
	c.event(ctEvent{Name: name, Cat: "message", Ph: "s", Ts: micros(from.ts), Pid: from.pid, Tid: from.tid, ID: id,
		Args: &ctArgs{Label: label(a)}})
	c.event(ctEvent{Name: name, Cat: "message", Ph: "f", BP: "e", Ts: micros(at), Pid: to.pid, Tid: to.tid, ID: id})
}

// End writes the lost datagrams' events, the run's verdict as a last instant event, and
// closes the trace.
func (c *ChromeTrace) End(res *transcript.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start(res.Header)
	for _, a := range c.b.End() {
		c.flow(a)
	}
	score, max := res.Score()
	at := time.Duration(0)
	if !res.Finished.IsZero() && !res.Header.Started.IsZero() {
		at = res.Finished.Sub(res.Header.Started)
	}
	c.event(ctEvent{Name: fmt.Sprintf("%s: %d/%d points", res.Verdict(), score, max), Cat: "result", Ph: "i", Scope: "g",
		Ts: micros(at), Pid: c.labPid(), Tid: 1, Args: &ctArgs{Error: res.Error, ExitCode: &res.ExitCode}})
	c.out.write("\n]}\n")
	_ = c.out.flush()
}

// Err returns the first error writing, if any.
func (c *ChromeTrace) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.err
}

// truncate cuts s to at most n runes, marking the cut with "...".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}
