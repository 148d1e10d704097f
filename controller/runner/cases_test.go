package runner_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// runFile runs testdata/file on local agents that may start what a command line's run
// may (python3 among them).
func runFile(t *testing.T, ctx context.Context, file string, sink runner.Sink) *transcript.Record {
	t.Helper()
	return runFileOn(t, ctx, file, topology.Local{Programs: policy.LocalPrograms}, sink)
}

func runFileOn(t *testing.T, ctx context.Context, file string, topo topology.Topology, sink runner.Sink) *transcript.Record {
	t.Helper()
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/"+file)
	if err != nil {
		t.Fatal(err)
	}
	return runner.Run(ctx, l, topo, runner.Options{}, sink)
}

// seen is a topology that remembers the hosts its pools bound.
type seen struct {
	topology.Topology
	hosts []topology.Host
}

func (s *seen) Start(ctx context.Context, roles []string) (topology.Pool, error) {
	p, err := s.Topology.Start(ctx, roles)
	if err == nil {
		s.hosts = append(s.hosts, p.Hosts()...)
	}
	return p, err
}

// TestRunOutcomes: how each kind of ending shows in the result and its exit code.
func TestRunOutcomes(t *testing.T) {
	for _, tc := range []struct {
		file     string
		exit     int
		err      string            // the run's error text, "" for none
		messages map[string]string // check id -> message substring ("" = passed)
	}{
		{"failing-check.star", transcript.ExitFailed, "", map[string]string{"greeting": "got b'hello', want b'hi'", "after": ""}},
		{"socket-error.star", transcript.ExitFailed, "testdata/socket-error.star:5:14: ECONNREFUSED: [Errno 111] Connection refused (connect on a/s1)",
			map[string]string{"unreached": "not reached: testdata/socket-error.star:5:14: ECONNREFUSED"}},
		{"watchdog.star", transcript.ExitFailed, "testdata/watchdog.star:6:11: watchdog: recv on a/s1 waited 200ms", nil},
		{"errors-as-values.star", transcript.ExitPassed, "", map[string]string{"connect-ex": "", "raises": "", "timeout": "", "blocking": ""}},
		{"futures.star", transcript.ExitPassed, "", map[string]string{"echo": ""}},
		{"type-error.star", transcript.ExitBadLab, "testdata/type-error.star:5:13: sendto: TypeError: a bytes-like object is required, not 'str'", nil},
		{"spawn.star", transcript.ExitPassed, "", map[string]string{"listening": "", "reply": "", "stdout": "", "sigterm": ""}},
		{"build.star", transcript.ExitPassed, "", map[string]string{"builds": "", "runs": "", "broken-fails": ""}},
		{"limits.star", transcript.ExitPassed, "", map[string]string{"cpu": "", "output": ""}},
		{"limits-looser.star", transcript.ExitBadLab, `testdata/limits-looser.star:6:19: spawn on server: the agent refused: spawn: limits["memory"] is 1099511627776, over this agent's limit of 536870912 bytes: a lab may only tighten it`, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res := runFile(t, t.Context(), tc.file, runner.Discard{})
			if res.ExitCode != tc.exit {
				t.Errorf("exit code = %d, want %d (error: %s)", res.ExitCode, tc.exit, res.Error)
			}
			if got := res.Error; !strings.HasPrefix(got, tc.err) || (tc.err == "") != (got == "") {
				t.Errorf("error = %q, want it to start with %q", got, tc.err)
			}
			for _, c := range res.Checks {
				want, ok := tc.messages[c.ID]
				if !ok {
					continue
				}
				if (want == "") != c.Passed || !strings.Contains(c.Message, want) {
					t.Errorf("check %s: passed %v message %q, want passed %v with %q", c.ID, c.Passed, c.Message, want == "", want)
				}
			}
		})
	}
}

// TestInterruptLeavesNothing: cancelling a run (Ctrl-C) mid-operation ends it with 130,
// stops every local agent (their ports refuse connections) and frees every fd.
func TestInterruptLeavesNothing(t *testing.T) {
	before := fdCount(t)
	ctx, cancel := context.WithCancel(t.Context())
	sink := &recorder{onEntry: func(e transcript.Entry) {
		if e.Event.GetOp() == "accept" {
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		}
	}}
	topo := &seen{Topology: topology.Local{}}
	res := runFileOn(t, ctx, "blocks.star", topo, sink)
	if res.ExitCode != transcript.ExitInterrupted {
		t.Fatalf("exit code = %d (%s), want 130", res.ExitCode, res.Error)
	}
	if len(topo.hosts) == 0 {
		t.Fatal("the run bound no hosts")
	}
	for _, h := range topo.hosts {
		if c, err := net.DialTimeout("tcp", h.Target, time.Second); err == nil {
			c.Close()
			t.Errorf("agent of %s still listens on %s after the run", h.Role, h.Target)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fdCount(t) > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := fdCount(t); after > before {
		t.Errorf("open fds = %d after the run, %d before", after, before)
	}
}

type recorder struct {
	entries []transcript.Entry
	onEntry func(transcript.Entry)
}

func (r *recorder) Header(transcript.Header) {}
func (r *recorder) Entry(e transcript.Entry) {
	r.entries = append(r.entries, e)
	if r.onEntry != nil {
		r.onEntry(e)
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count fds: %v", err)
	}
	return len(ents)
}
