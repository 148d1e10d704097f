package labs_test

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

var update = flag.Bool("update", false, "rewrite testdata/submissions/*/verdicts.golden")

func TestMain(m *testing.M) {
	process.Init() // this binary is also the init of the jobs its local agents start
	os.Exit(m.Run())
}

// TestGradingVerdicts grades each test submission under testdata/submissions/LAB/NAME/
// with the built-in lab LAB, its files given as socklab run --files gives them, and
// compares every check's verdict with testdata/submissions/LAB/verdicts.golden (go test
// -update rewrites it). A submission's params file holds NAME=VALUE lines for the run;
// port=FREE is a port of 127.0.0.1 that nothing uses, for a program that binds there.
// Whatever a submission does, the run must end with its checks graded: passed or
// failed, never a lab error or a stop.
func TestGradingVerdicts(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		t.Skip("programs run as contained jobs, which need Linux namespaces")
	}
	dirs, err := filepath.Glob("testdata/submissions/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no submissions under testdata/submissions (%v)", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			subs, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			rows := map[string][]transcript.Check{}
			t.Cleanup(func() {
				if !t.Failed() || *update {
					compareVerdicts(t, dir, name, rows)
				}
			})
			for _, sub := range subs {
				if !sub.IsDir() {
					continue
				}
				t.Run(sub.Name(), func(t *testing.T) {
					t.Parallel()
					checks := grade(t, name, filepath.Join(dir, sub.Name()))
					mu.Lock()
					rows[sub.Name()] = checks
					mu.Unlock()
				})
			}
		})
	}
}

// grade runs lab on the submission in dir and returns its checks.
func grade(t *testing.T, name, dir string) []transcript.Check {
	t.Helper()
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	l.FilesDir = dir
	var params []string
	if b, err := os.ReadFile(filepath.Join(dir, "params")); err == nil {
		for _, line := range strings.Fields(string(b)) {
			if line == "port=FREE" {
				line = fmt.Sprintf("port=%d", freePort(t))
			}
			params = append(params, line)
		}
	}
	res := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{Params: params}, runner.Discard{})
	if res.Error != "" || (res.ExitCode != transcript.ExitPassed && res.ExitCode != transcript.ExitFailed) {
		t.Errorf("%s on %s: exit %d, %q: want every check graded", name, dir, res.ExitCode, res.Error)
	}
	for _, c := range res.Checks {
		if !c.Passed && (c.Message == "" || c.Hint("en") == "" || c.Hint("zh") == "") {
			t.Errorf("%s on %s: check %s failed without a message and hints in en and zh: %q %v", name, dir, c.ID, c.Message, c.Hints)
		}
		t.Logf("%s %v: %s (hint: %s)", c.ID, c.Passed, c.Message, c.Hint("en"))
	}
	return res.Checks
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// compareVerdicts writes the verdict table (a row per submission, a column per check)
// and compares it with the lab's golden file.
func compareVerdicts(t *testing.T, dir, name string, rows map[string][]transcript.Check) {
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(rows))
	width := len("submission")
	for n := range rows {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", width, "submission")
	for _, c := range l.Checks {
		fmt.Fprintf(&b, "  %s", c.ID)
	}
	b.WriteString("\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%-*s", width, n)
		for i, c := range l.Checks {
			v := "MISSING"
			if i < len(rows[n]) && rows[n][i].ID == c.ID {
				v = "FAIL"
				if rows[n][i].Passed {
					v = "PASS"
				}
			}
			fmt.Fprintf(&b, "  %-*s", len(c.ID), v)
		}
		b.WriteString("\n")
	}
	got := strings.ReplaceAll(b.String(), " \n", "\n")
	for strings.Contains(got, " \n") {
		got = strings.ReplaceAll(got, " \n", "\n")
	}
	golden := filepath.Join(dir, "verdicts.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("verdicts of %s differ from %s:\ngot:\n%swant:\n%s", name, golden, got, want)
	}
}
