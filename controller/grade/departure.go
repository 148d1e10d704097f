package grade

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// step is one operation of a run as a comparison sees it: the host, the call and what it
// returned, with what varies from run to run (addresses of the run, ephemeral ports,
// pids, seconds, CPU and memory figures) left out.
type step struct {
	host, call, outcome string
}

var (
	runAddr   = regexp.MustCompile(`\b(127|10)\.\d+\.\d+\.(\d+)\b`)
	ephemeral = regexp.MustCompile(`\b(3[2-9]\d{3}|[4-6]\d{4})\b`)
	pidOf     = regexp.MustCompile(`\(pid \d+\)`)
	figure    = regexp.MustCompile(`\b\d+\.\d+\b`) // seconds, which vary
	// varying are the calls whose answers differ from run to run whatever the program.
	varying = regexp.MustCompile(`^(cpu_seconds|rss|pid)\(`)
)

// steps returns the operations of a run in order: the lab's own calls, not what a
// program printed (which arrives as it will).
func steps(rec *transcript.Record) []step {
	var out []step
	for _, e := range rec.Entries {
		if e.Event == nil || e.Event.GetOperation() == nil {
			continue
		}
		s := step{host: e.Host, call: report.Call(e.Event), outcome: report.Outcome(e.Event)}
		if varying.MatchString(s.call) {
			continue
		}
		for _, f := range []*string{&s.call, &s.outcome} {
			*f = runAddr.ReplaceAllString(*f, "$1.R.S.$2")
			*f = ephemeral.ReplaceAllString(*f, "PORT")
			*f = pidOf.ReplaceAllString(*f, "(pid N)")
			*f = figure.ReplaceAllString(*f, "N")
		}
		// The kernel lists its sockets in its hash order: the rows compare sorted.
		if head, rows, ok := strings.Cut(s.outcome, " row(s): "); ok {
			list := strings.Split(rows, ", ")
			slices.Sort(list)
			s.outcome = head + " row(s): " + strings.Join(list, ", ")
		}
		out = append(out, s)
	}
	return out
}

// Departure returns where a run first departs from a reference run of the same lab: the
// first operation whose call or outcome differs, as "step 12: the reference on server:
// recv(1024) -> b'HELLO'; this run on server: recv(1024) -> b'hello'"; "" when none does.
func Departure(ref, run *transcript.Record) string {
	a, b := steps(ref), steps(run)
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("step %d: the reference on %s: %s -> %s; this run on %s: %s -> %s",
				i+1, a[i].host, a[i].call, a[i].outcome, b[i].host, b[i].call, b[i].outcome)
		}
	}
	switch {
	case len(b) < len(a):
		return fmt.Sprintf("step %d on %s: the reference went on with %s -> %s; this run had stopped", len(b)+1, a[len(b)].host, a[len(b)].call, a[len(b)].outcome)
	case len(b) > len(a):
		return fmt.Sprintf("step %d on %s: this run went on with %s -> %s; the reference had stopped", len(a)+1, b[len(a)].host, b[len(a)].call, b[len(a)].outcome)
	}
	return ""
}

// CompareWith sets, on each submission with a failed check, where its run first departs
// from the reference run ref (its Departure).
func (r *Report) CompareWith(ref *transcript.Record) {
	for i := range r.Submissions {
		s := &r.Submissions[i]
		rec := r.records[s.Name]
		if rec == nil || s.Score == s.MaxScore {
			continue
		}
		s.Departure = Departure(ref, rec)
	}
}

// Record returns the run of the submission name, if it ran.
func (r *Report) Record(name string) *transcript.Record { return r.records[name] }
