package export

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/transcript"
)

// ShiVizRegex is the log's parsing regular expression, ShiViz's default: each event is a
// line describing it, then a line with its host and its vector clock as JSON.
const ShiVizRegex = `(?<event>.*)\n(?<host>\S*) (?<clock>{.*})`

// shivizHeld bounds the events a ShiViz writer holds back waiting for a connect to an
// accept shown before it; past it the oldest wait is given up (that connect is not
// joined to its accept).
const shivizHeld = 256

// ShiViz writes a run as a ShiViz log (https://bestchai.bitbucket.io/shiviz/): its first
// line is ShiVizRegex and its second the (empty) delimiter of executions, as a ShiViz
// log file starts; then each event as two lines, what happened and
// `host {"host": n, ...}`. Each step ticks its host's clock; a step that got a message
// (a ladder.Arrow) merges the clock of the step that sent it. The lab's narration and
// failed checks are events of a host named "lab" (another name if a lab host has that
// one), which merges the clocks of every host's latest step: the lab saw them.
//
// An accept is often shown before the connect that it took (it started first): its
// host's events are held back until the connect comes, so that the accept's clock can
// merge the connect's.
type ShiViz struct {
	mu      sync.Mutex // guards everything below
	out     output
	hosts   hosts
	lab     int // the lab's host number, -1 until it is needed
	started bool
	b       ladder.Builder
	clocks  recent[[]uint64] // the clock of each step released, nil for one held or unknown
	current [][]uint64       // each host's clock at its latest event written
	last    []int            // each host's latest step, -1 for none
	held    []*svEvent       // steps held back, in display order
	byIndex map[int]*svEvent // held steps by index
}

// svEvent is a step waiting for the clocks it merges.
type svEvent struct {
	index int
	host  int
	desc  string
	deps  []int // the steps whose clocks it merges
	wait  bool  // an accept whose connect has not come
}

// NewShiViz returns a ShiViz writer to w.
func NewShiViz(w io.Writer) *ShiViz {
	return &ShiViz{out: newOutput(w), lab: -1, byIndex: map[int]*svEvent{}}
}

var _ Writer = (*ShiViz)(nil)

// Header starts the log.
func (s *ShiViz) Header(h transcript.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(h)
}

func (s *ShiViz) start(h transcript.Header) {
	if s.started {
		return
	}
	s.started = true
	s.hosts.header(h)
	s.out.write(ShiVizRegex + "\n\n")
}

// host returns role's number, growing the clocks for a new one.
func (s *ShiViz) host(role string) int {
	i := s.hosts.index(role)
	for len(s.last) < len(s.hosts.roles) {
		s.current = append(s.current, nil)
		s.last = append(s.last, -1)
	}
	return i
}

// labHost returns the lab's host number: "lab", or "lab_" and so on when a lab host has
// that name.
func (s *ShiViz) labHost() int {
	if s.lab < 0 {
		name := "lab"
		for slices.Contains(s.hosts.roles, name) {
			name += "_"
		}
		s.lab = s.host(name)
	}
	return s.lab
}

// Entry adds the entry's event; it is written once the clocks it merges are known.
func (s *ShiViz) Entry(e transcript.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(transcript.Header{})
	st, arrows := s.b.Add(e)
	s.clocks.put(nil)
	ev := &svEvent{index: st.Index}
	stamp := fmt.Sprintf("[t=%.6f step %d] ", e.At.Seconds(), st.Index)
	switch {
	case e.Kind == transcript.Say || e.Kind == transcript.Note || isFailed(e):
		ev.host = s.labHost()
		text := e.Text
		if isFailed(e) {
			text = failedText(e)
		}
		ev.desc = stamp + text
		for h, i := range s.last {
			if i >= 0 && h != ev.host {
				ev.deps = append(ev.deps, i)
			}
		}
	case e.Event != nil:
		ev.host = s.host(e.Host)
		ev.desc = stamp + describe(e.Event)
		if st.Conn > 0 {
			ev.desc += fmt.Sprintf(" [conn %d]", st.Conn)
		}
		ev.wait = e.Event.GetOp() == "accept" && e.Event.GetError() == nil
	default:
		return
	}
	for _, a := range arrows {
		switch {
		case a.Recv == st.Index:
			ev.deps = append(ev.deps, a.Send)
			ev.wait = false
		case a.Kind == ladder.Connect: // the connect to an accept shown before it
			if acc := s.byIndex[a.Recv]; acc != nil && acc.wait {
				acc.deps, acc.wait = append(acc.deps, a.Send), false
			}
		}
	}
	s.last[ev.host] = st.Index
	s.held = append(s.held, ev)
	s.byIndex[ev.index] = ev
	if len(s.held) > shivizHeld {
		for _, h := range s.held {
			if h.wait {
				h.wait = false
				break
			}
		}
	}
	s.release(false)
}

// release writes every held event whose host's earlier events are written and whose
// merged clocks are known. At the end (final) nothing waits any more, and a cycle of
// waits (concurrent calls whose messages crossed) is broken by leaving out the arrows
// of the earliest held event.
func (s *ShiViz) release(final bool) {
	for len(s.held) > 0 {
		progress := false
		blocked := make([]bool, len(s.hosts.roles))
		kept := s.held[:0]
		for _, ev := range s.held {
			if final {
				ev.wait = false
			}
			if blocked[ev.host] || ev.wait || s.waitsOn(ev) {
				blocked[ev.host] = true
				kept = append(kept, ev)
				continue
			}
			s.write(ev)
			progress = true
		}
		clear(s.held[len(kept):])
		s.held = kept
		if progress {
			continue
		}
		if !final && slices.ContainsFunc(s.held, func(ev *svEvent) bool { return ev.wait }) {
			return // a connect still to come
		}
		if len(s.held) == 0 {
			return
		}
		// A cycle: drop the earliest event's arrows from steps held after it.
		first := s.held[0]
		first.deps = slices.DeleteFunc(first.deps, func(i int) bool { return s.byIndex[i] != nil })
	}
}

// waitsOn reports whether ev merges the clock of a step still held.
func (s *ShiViz) waitsOn(ev *svEvent) bool {
	return slices.ContainsFunc(ev.deps, func(i int) bool { return s.byIndex[i] != nil })
}

// write ticks ev's host, merges the clocks of its deps and writes it.
func (s *ShiViz) write(ev *svEvent) {
	delete(s.byIndex, ev.index)
	clock := make([]uint64, len(s.hosts.roles))
	copy(clock, s.current[ev.host])
	for _, d := range ev.deps {
		if c, ok := s.clocks.get(d); ok {
			for h, v := range c {
				clock[h] = max(clock[h], v)
			}
		}
	}
	clock[ev.host]++
	s.current[ev.host] = clock
	if ev.index >= s.clocks.next-window && ev.index < s.clocks.next {
		s.clocks.items[ev.index%window] = clock
	}
	s.out.write(shivizLine(ev.desc) + "\n" + s.hosts.roles[ev.host] + " " + s.clockJSON(clock) + "\n")
}

// clockJSON writes a clock as ShiViz reads it: {"host": n, ...}, hosts in the lab's
// order, those at 0 left out.
func (s *ShiViz) clockJSON(c []uint64) string {
	var b strings.Builder
	b.WriteByte('{')
	for h, v := range c {
		if v == 0 {
			continue
		}
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		name, _ := json.Marshal(s.hosts.roles[h])
		b.Write(name)
		b.WriteString(": ")
		b.WriteString(strconv.FormatUint(v, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// oneLine makes a description one line.
var oneLine = strings.NewReplacer("\r", "", "\n", " / ")

func shivizLine(s string) string { return oneLine.Replace(s) }

// End writes what is still held and, as a last event of the lab, the run's verdict.
func (s *ShiViz) End(res *transcript.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(res.Header)
	s.b.End()
	s.release(true)
	score, max := res.Score()
	verdict := fmt.Sprintf("[end] %s: %d/%d points", res.Verdict(), score, max)
	if res.Error != "" {
		verdict += "; " + res.Error
	}
	ev := &svEvent{index: s.clocks.next, host: s.labHost(), desc: verdict}
	for h, i := range s.last {
		if i >= 0 && h != ev.host {
			ev.deps = append(ev.deps, i)
		}
	}
	s.clocks.put(nil)
	s.write(ev)
	_ = s.out.flush()
}

// Err returns the first error writing, if any.
func (s *ShiViz) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.err
}
