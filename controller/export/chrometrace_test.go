package export_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/ladder"
)

// traceEvent is an event of the Trace Event Format, read strictly: an unknown field is
// an error.
type traceEvent struct {
	Name  string          `json:"name"`
	Cat   string          `json:"cat"`
	Ph    string          `json:"ph"`
	Ts    *float64        `json:"ts"`
	Dur   *float64        `json:"dur"`
	Pid   *int            `json:"pid"`
	Tid   *int            `json:"tid"`
	ID    *int            `json:"id"`
	BP    string          `json:"bp"`
	Scope string          `json:"s"`
	Args  json.RawMessage `json:"args"`
}

type traceFile struct {
	TraceEvents     []traceEvent      `json:"traceEvents"`
	DisplayTimeUnit string            `json:"displayTimeUnit"`
	OtherData       map[string]string `json:"otherData"`
}

// checkTrace checks a trace against the Trace Event Format's documented rules (no
// trace-event reader is served as a Go module or Debian package here, so this is a
// strict structural check): the JSON object form; every event with a name, a known ph,
// a numeric ts, and a pid and tid; complete events ("X") with dur >= 0 that nest on each
// thread (Perfetto drops slices that overlap without nesting); process_name and
// thread_name metadata naming every pid and tid used; instant events with a scope of g,
// p or t; and flow events paired: one "s" and one "f" per id with the same name and
// category, "f" binding to its enclosing slice ("bp": "e"), each inside a complete event
// on its thread. It returns the events.
func checkTrace(t *testing.T, data []byte) traceFile {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f traceFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("the trace is no Trace Event Format object: %v\n%s", err, data)
	}
	if f.DisplayTimeUnit != "ms" && f.DisplayTimeUnit != "ns" {
		t.Errorf("displayTimeUnit %q, want ms or ns", f.DisplayTimeUnit)
	}
	type thread struct{ pid, tid int }
	type span struct{ start, end float64 }
	slices_ := map[thread][]span{}
	procNames, threadNames := map[int]bool{}, map[thread]bool{}
	used := map[thread]bool{}
	flows := map[int][]traceEvent{}
	for i, e := range f.TraceEvents {
		where := fmt.Sprintf("event %d (%s %q)", i, e.Ph, e.Name)
		if e.Name == "" || e.Ts == nil || e.Pid == nil || e.Tid == nil {
			t.Errorf("%s lacks a name, ts, pid or tid", where)
			continue
		}
		th := thread{*e.Pid, *e.Tid}
		switch e.Ph {
		case "M":
			var args struct{ Name string }
			_ = json.Unmarshal(e.Args, &args)
			switch e.Name {
			case "process_name":
				procNames[*e.Pid] = args.Name != ""
			case "thread_name":
				threadNames[th] = args.Name != ""
			case "process_sort_index", "thread_sort_index":
			default:
				t.Errorf("%s: unknown metadata", where)
			}
			continue
		case "X":
			if e.Dur == nil || *e.Dur < 0 {
				t.Errorf("%s: a complete event needs dur >= 0", where)
				continue
			}
			slices_[th] = append(slices_[th], span{*e.Ts, *e.Ts + *e.Dur})
		case "i":
			if e.Scope != "g" && e.Scope != "p" && e.Scope != "t" {
				t.Errorf("%s: instant scope %q, want g, p or t", where, e.Scope)
			}
		case "s", "f":
			if e.ID == nil || e.Cat == "" {
				t.Errorf("%s: a flow event needs an id and a cat", where)
			}
			if e.Ph == "f" && e.BP != "e" {
				t.Errorf(`%s: a flow end should bind to its enclosing slice ("bp": "e")`, where)
			}
			flows[*e.ID] = append(flows[*e.ID], e)
		default:
			t.Errorf("%s: phase %q is not one this writer should write", where, e.Ph)
		}
		used[th] = true
	}
	for th := range used {
		if !procNames[th.pid] || !threadNames[th] {
			t.Errorf("pid %d tid %d is used but not named by process_name and thread_name", th.pid, th.tid)
		}
	}
	for th, ss := range slices_ {
		slices.SortStableFunc(ss, func(a, b span) int {
			if a.start != b.start {
				return map[bool]int{true: -1, false: 1}[a.start < b.start]
			}
			return map[bool]int{true: -1, false: 1}[a.end > b.end]
		})
		var stack []span
		for _, s := range ss {
			for len(stack) > 0 && stack[len(stack)-1].end <= s.start {
				stack = stack[:len(stack)-1]
			}
			if len(stack) > 0 && s.end > stack[len(stack)-1].end {
				t.Errorf("pid %d tid %d: slice %v overlaps %v without nesting", th.pid, th.tid, s, stack[len(stack)-1])
			}
			stack = append(stack, s)
		}
	}
	inSlice := func(e traceEvent) bool {
		for _, s := range slices_[thread{*e.Pid, *e.Tid}] {
			if s.start <= *e.Ts && *e.Ts <= s.end {
				return true
			}
		}
		return false
	}
	for id, fs := range flows {
		if len(fs) != 2 || fs[0].Ph != "s" || fs[1].Ph != "f" || fs[0].Name != fs[1].Name || fs[0].Cat != fs[1].Cat {
			t.Errorf("flow %d: %+v, want an s then an f of one name and category", id, fs)
			continue
		}
		for _, e := range fs {
			if !inSlice(e) {
				t.Errorf("flow %d: its %s at %v is inside no slice of pid %d tid %d", id, e.Ph, *e.Ts, *e.Pid, *e.Tid)
			}
		}
	}
	return f
}

// TestChromeTrace: chat-relay, concurrent-server and a failing run as Chrome trace JSON
// pass the structural check; there is a flow per message the ladder draws (a lost
// datagram is an instant event instead), a process per host named after it, the lab's
// narration as instant events, and Python's json module reads the file too.
func TestChromeTrace(t *testing.T) {
	for _, name := range []string{"chat-relay", "concurrent-server", "failing.star"} {
		t.Run(name, func(t *testing.T) {
			rec := record(t, name)
			out := exported(t, "chrome-trace", rec)
			f := checkTrace(t, []byte(out))
			_, arrows := ladder.Build(rec.Entries)
			wantFlows, wantLost := 0, 0
			for _, a := range arrows {
				if a.Kind == ladder.Lost {
					wantLost++
				} else {
					wantFlows++
				}
			}
			count := map[string]int{}
			procs := map[string]bool{}
			for _, e := range f.TraceEvents {
				count[e.Ph+" "+e.Cat]++
				if e.Name == "process_name" {
					var a struct{ Name string }
					_ = json.Unmarshal(e.Args, &a)
					procs[strings.Fields(a.Name)[0]] = true
				}
			}
			if count["s message"] != wantFlows || count["f message"] != wantFlows || count["i message"] != wantLost {
				t.Errorf("%d flow starts, %d ends, %d lost; want %d, %d, %d", count["s message"], count["f message"], count["i message"], wantFlows, wantFlows, wantLost)
			}
			ops := 0
			for _, e := range rec.Entries {
				if e.Event != nil {
					ops++
				}
			}
			if count["X op"] != ops {
				t.Errorf("%d complete events, want one per operation: %d", count["X op"], ops)
			}
			for _, h := range rec.Header.Hosts {
				if !procs[h.Role] {
					t.Errorf("no process named for host %s: %v", h.Role, procs)
				}
			}
			if count["i say"] == 0 && name != "concurrent-server" {
				t.Errorf("no narration in the trace: %v", count)
			}
			if name == "failing.star" {
				var failed []traceEvent
				for _, e := range f.TraceEvents {
					if e.Cat == "check" {
						failed = append(failed, e)
					}
				}
				var args struct {
					Check   string
					Sockets []string
				}
				if len(failed) == 1 {
					_ = json.Unmarshal(failed[0].Args, &args)
				}
				if len(failed) != 1 || failed[0].Ph != "i" || failed[0].Scope != "g" || args.Check != "gets-upper" || len(args.Sockets) == 0 {
					t.Errorf("the failed check: %+v %+v, want one global instant event naming it, with the hosts' sockets", failed, args)
				}
			}
			if py, err := exec.LookPath("python3"); err == nil {
				cmd := exec.Command(py, "-c", "import json,sys; d=json.load(sys.stdin); print(len(d['traceEvents']))")
				cmd.Stdin = strings.NewReader(out)
				got, err := cmd.CombinedOutput()
				if err != nil || strings.TrimSpace(string(got)) != fmt.Sprint(len(f.TraceEvents)) {
					t.Errorf("python3's json read %q (%v), want %d events", got, err, len(f.TraceEvents))
				}
			}
		})
	}
}
