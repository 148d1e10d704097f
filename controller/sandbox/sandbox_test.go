package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/sandbox"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	sandbox.Init() // this binary is also the process of the labs it runs
	process.Init() // and the init of the jobs its local agents start
	os.Exit(m.Run())
}

// budget is the memory budget of these tests' labs.
const budget = 256 << 20

// spec is the Spec of testdata/file, sent as a controller receives a lab file.
func spec(t *testing.T, file string) sandbox.Spec {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.Spec{FileName: file, Source: src}
}

// confined is where these tests' labs run: local agents confined to the run's own
// addresses, as a controller's are.
var confined = topology.Local{Confine: true}

// runIn loads spec in a sandbox within b and runs it on local agents.
func runIn(t *testing.T, ctx context.Context, s sandbox.Spec, b runner.Budgets, opts sandbox.Options, params ...string) *transcript.Record {
	t.Helper()
	l, err := sandbox.Load(ctx, s, b, opts)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	defer l.Close()
	return runner.Run(ctx, l, confined, runner.Options{Params: params, MaxTime: b.Time}, runner.Discard{})
}

// noLeaks fails t if, when it ends, this process has more children or labs' cgroups
// than when it began.
func noLeaks(t *testing.T) {
	t.Helper()
	children, groups := childCount(t), cgroupCount()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for childCount(t) > children && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := childCount(t); n > children {
			t.Errorf("%d child processes after the test, %d before", n, children)
		}
		if n := cgroupCount(); n > groups {
			t.Errorf("%d labs' cgroups after the test, %d before", n, groups)
		}
	})
}

// childCount is how many processes have this one as their parent.
func childCount(t *testing.T) int { return len(children(t)) }

// cgroupCount is how many labs' memory cgroups exist on this machine.
func cgroupCount() int {
	n := 0
	for _, pattern := range []string{"/sys/fs/cgroup/memory/socklab-lab-*", "/sys/fs/cgroup/memory/*/socklab-lab-*", "/sys/fs/cgroup/socklab-lab-*", "/sys/fs/cgroup/*/socklab-lab-*"} {
		m, _ := filepath.Glob(pattern)
		n += len(m)
	}
	return n
}

// bounds are the two ways a sandbox bounds memory: where a cgroup can be made, and
// where only the watchdog can.
var bounds = []struct {
	name string
	opts sandbox.Options
}{{"cgroup where it can", sandbox.Options{}}, {"watchdog alone", sandbox.Options{NoCgroup: true}}}

// TestMemoryBomb: a lab that doubles a string, in main or at its top level, is killed
// for its memory, and its run ends with verdict error naming the budget, the checks it
// reached kept; the test process (the controller) carries on.
func TestMemoryBomb(t *testing.T) {
	want := "memory budget: the lab used more than 256 MiB (--max-run-memory)"
	b := runner.DefaultBudgets
	b.Memory = budget
	for _, bd := range bounds {
		t.Run(bd.name, func(t *testing.T) {
			noLeaks(t)
			l, err := sandbox.Load(t.Context(), spec(t, "bomb.star"), b, bd.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var began time.Time
			rec := runner.Run(t.Context(), l, confined, runner.Options{}, onSay(func() { began = time.Now() }))
			t.Logf("the run ended %s after the lab began doubling", time.Since(began).Round(time.Millisecond))
			if rec.Error != want || rec.ExitCode != transcript.ExitBadLab || rec.Verdict() != transcript.VerdictError {
				t.Errorf("run = exit %d, verdict %s, error %q; want 2, error, %q", rec.ExitCode, rec.Verdict(), rec.Error, want)
			}
			wantChecks := map[string]string{"before": "", "after": "not reached: " + want}
			for _, c := range rec.Checks {
				if w := wantChecks[c.ID]; (w == "") != c.Passed || c.Message != w {
					t.Errorf("check %s: passed %v, message %q; want %q", c.ID, c.Passed, c.Message, w)
				}
			}

			began = time.Now()
			_, err = sandbox.Load(t.Context(), spec(t, "bomb-top.star"), b, bd.opts)
			t.Logf("the load of a bomb at the top level ended after %s, the process's start included", time.Since(began).Round(time.Millisecond))
			var be *runner.BudgetError
			if !errors.As(err, &be) || err.Error() != want {
				t.Errorf("Load(bomb-top.star) = %v, want %q", err, want)
			}
		})
	}
}

// TestMemoryUnderBudget: a lab that holds 64 MiB under a budget of 256 MiB runs to its
// end, however the memory is bounded: the Go runtime's own reservations of address space
// do not count against the budget.
func TestMemoryUnderBudget(t *testing.T) {
	b := runner.DefaultBudgets
	b.Memory = budget
	for _, bd := range bounds {
		t.Run(bd.name, func(t *testing.T) {
			noLeaks(t)
			rec := runIn(t, t.Context(), spec(t, "big-string.star"), b, bd.opts)
			if rec.ExitCode != transcript.ExitPassed {
				t.Errorf("run = exit %d (%s), want 0", rec.ExitCode, rec.Error)
			}
		})
	}
}

// TestSameAsInProcess: a lab run in a sandbox ends as it does in this process, whatever
// ends it: exit code, error text and position, checks with their messages, hints and
// positions, and the transcript's operations and narration at their lab positions.
func TestSameAsInProcess(t *testing.T) {
	noLeaks(t)
	s := spec(t, "errors.star")
	for _, how := range []string{"pass", "socket", "watchdog", "type", "refused", "expect", "fail", "check", "future"} {
		t.Run(how, func(t *testing.T) {
			src, name := labs.Sent(s.FileName, s.Source, s.Files)
			l, err := lab.Load(src, name)
			if err != nil {
				t.Fatal(err)
			}
			params := []string{"how=" + how}
			want := runner.Run(t.Context(), l, confined, runner.Options{Params: params}, runner.Discard{})
			got := runIn(t, t.Context(), s, runner.DefaultBudgets, sandbox.Options{}, params...)
			normalise(got)
			normalise(want)
			if got.ExitCode != want.ExitCode || got.Error != want.Error {
				t.Errorf("sandbox: exit %d, error %q; in process: exit %d, error %q", got.ExitCode, got.Error, want.ExitCode, want.Error)
			}
			if !reflect.DeepEqual(got.Checks, want.Checks) {
				t.Errorf("sandbox checks:\n  %+v\nin process:\n  %+v", got.Checks, want.Checks)
			}
			if g, w := steps(got), steps(want); !reflect.DeepEqual(g, w) {
				t.Errorf("sandbox steps:\n  %q\nin process:\n  %q", g, w)
			}
			if !reflect.DeepEqual(got.Header.Params, want.Header.Params) {
				t.Errorf("sandbox params %v, in process %v", got.Header.Params, want.Header.Params)
			}
		})
	}
}

// normalise writes a run's own addresses (127.R.S.N, R and S random per run) as
// 127.R.S.N in its error and checks.
func normalise(rec *transcript.Record) {
	if len(rec.Header.Hosts) == 0 {
		return
	}
	a := rec.Header.Hosts[0].Address
	prefix := a[:strings.LastIndexByte(a, '.')+1]
	rec.Error = strings.ReplaceAll(rec.Error, prefix, "127.R.S.")
	for i := range rec.Checks {
		rec.Checks[i].Message = strings.ReplaceAll(rec.Checks[i].Message, prefix, "127.R.S.")
	}
}

// steps are a record's lab-made entries (operations and narration), each as its
// kind, host, operation, text and lab position.
func steps(rec *transcript.Record) []string {
	var out []string
	for _, e := range rec.Entries {
		if e.Pos == "" {
			continue // the agents' own: closes at the session's end
		}
		out = append(out, fmt.Sprintf("%v %s %s %s %s", e.Kind, e.Host, e.Event.GetOp(), e.Text, e.Pos))
	}
	return out
}

// TestStepsAndFutures: the steps and futures budgets hold in a sandbox as in process.
func TestStepsAndFutures(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		file string
		b    runner.Budgets
		want string
	}{
		{"budget-steps.star", runner.Budgets{Steps: 5_000_000},
			"budget-steps.star:7:9: steps budget: the lab ran more than 5000000 Starlark steps, its threads together (--max-run-steps)"},
		{"budget-futures.star", runner.Budgets{Futures: 3},
			"budget-futures.star:8:13: futures budget: the lab started more than 3 futures (--max-run-futures)"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("../runner/testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rec := runIn(t, t.Context(), sandbox.Spec{FileName: tc.file, Source: src}, tc.b, sandbox.Options{})
			if rec.ExitCode != transcript.ExitBadLab || !strings.HasPrefix(rec.Error, tc.want) {
				t.Errorf("run = exit %d, error %q; want 2, %q", rec.ExitCode, rec.Error, tc.want)
			}
		})
	}
	src, err := os.ReadFile("../runner/testdata/budget-steps-top.star")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sandbox.Load(t.Context(), sandbox.Spec{FileName: "top.star", Source: src}, runner.Budgets{Steps: 1_000_000}, sandbox.Options{})
	if want := "top.star:5:7: steps budget"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(top level over budget) = %v, want %s...", err, want)
	}
}

// TestStopped: a run whose context ends (Ctrl-C, CancelRun, its time) ends with the
// cause, even while its lab computes without waiting: its process is told, then killed.
func TestStopped(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name    string
		maxTime time.Duration // the run's time budget; 0: cancelled once the lab spins
		exit    int
		want    string // the error's end; its position is where the thread happened to be
	}{
		// A thread that never waits goes on (as in this process) until its own steps run
		// out or the grace before the kill does: either ends the run as interrupted.
		{"cancelled", 0, transcript.ExitInterrupted, ""},
		{"over time", 300 * time.Millisecond, transcript.ExitBadLab, ": time budget: the lab ran longer than 300ms (--max-run-time)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			l, err := sandbox.Load(ctx, spec(t, "spin.star"), runner.DefaultBudgets, sandbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var sink runner.Sink = runner.Discard{}
			if tc.maxTime == 0 {
				sink = onSay(func() { time.AfterFunc(100*time.Millisecond, cancel) })
			}
			began := time.Now()
			rec := runner.Run(ctx, l, confined, runner.Options{MaxTime: tc.maxTime}, sink)
			if rec.ExitCode != tc.exit || !strings.HasSuffix(rec.Error, tc.want) {
				t.Errorf("run = exit %d, error %q; want %d, ...%s", rec.ExitCode, rec.Error, tc.exit, tc.want)
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("the stopped run took %s to end", d)
			}
		})
	}
}

// onSay is a runner.Sink that calls fn at the lab's first narration.
type onSay func()

// Header does nothing.
func (onSay) Header(transcript.Header) {}

// Entry calls the function at narration.
func (f onSay) Entry(e transcript.Entry) {
	if e.Kind == transcript.Say {
		f()
	}
}

// TestIdleProcess: a lab's process, its lab loaded, holds little of its memory budget;
// the log says how much, and how much address space its runtime reserved.
func TestIdleProcess(t *testing.T) {
	noLeaks(t)
	before := children(t)
	l, err := sandbox.Load(t.Context(), spec(t, "big-string.star"), runner.DefaultBudgets, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var pid string
	for p := range children(t) {
		if !before[p] {
			pid = p
		}
	}
	if pid == "" {
		t.Fatal("no new child process")
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var rss, size int64
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmSize":
			size = n << 10
		}
	}
	t.Logf("an idle lab's process: VmRSS %d MiB, VmSize %d MiB", rss>>20, size>>20)

	if rss <= 0 || rss > runner.DefaultBudgets.Memory/4 {
		t.Errorf("an idle lab's process has an RSS of %d bytes, want under a quarter of the default budget", rss)
	}
}

// children are the pids of this process's children.
func children(t *testing.T) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("cannot list processes: %v", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			out[e.Name()] = true
		}
	}
	return out
}
