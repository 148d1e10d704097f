// Package plugins holds the example lab plugins (one folder each, built with go build)
// and the Go SDK they use (lab). Its tests build the examples and run them as a user
// would: the Go tcp-simple records the transcript of the Starlark tcp-simple, and the
// http-server lab passes the good submission and fails the bad one with hints.
package plugins_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/grade"
	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	process.Init() // the init of the jobs plugins and spawned programs run in
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var local = topology.Local{Programs: policy.LocalPrograms}

var (
	buildMu sync.Mutex // protects binDir and built
	binDir  string
	built   = map[string]string{}
)

// build builds the example plugins (both at once, the first time) and returns the path
// of the one in folder name.
func build(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go tool to build the example plugins with")
		}
	}
	var err error
	if binDir, err = os.MkdirTemp("", "socklab-example-plugins-"); err != nil {
		t.Fatal(err)
	}
	examples := []string{"tcp-simple", "http-server"}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, e := range examples {
		args = append(args, "./"+e)
	}
	if b, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build the example plugins: %v\n%s", err, b)
	}
	for _, e := range examples {
		built[e] = filepath.Join(binDir, e)
	}
	return built[name]
}

// run runs the lab plugin at path on local agents with files and params.
func run(t *testing.T, path, files string, params ...string) *transcript.Record {
	t.Helper()
	l, err := plugin.Load(t.Context(), path, plugin.Options{FilesDir: files})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return runner.Run(t.Context(), l, local, runner.Options{Params: params}, nil)
}

// normalised is a run's transcript with what differs between runs taken out: times,
// addresses (as host roles), ephemeral ports and source positions.
func normalised(rec *transcript.Record) []string {
	var out []string
	roles := map[string]string{}
	for _, h := range rec.Header.Hosts {
		roles[h.Address] = h.Role
	}
	ephemeral := regexp.MustCompile(`, \d{5}\)`)
	for _, e := range rec.Entries {
		var line string
		switch e.Kind {
		case transcript.Say:
			line = "say " + e.Text
		case transcript.Failed:
			line = "failed " + e.Check + ": " + e.Text
		case transcript.Operation:
			line = fmt.Sprintf("%s s%d %s -> %s", e.Host, e.Event.GetHandle(), report.Call(e.Event), report.Outcome(e.Event))
		}
		for addr, role := range roles {
			line = strings.ReplaceAll(line, addr, role)
		}
		out = append(out, ephemeral.ReplaceAllString(line, ", PORT)"))
	}
	for _, c := range rec.Checks {
		out = append(out, fmt.Sprintf("check %s passed=%v reached=%v %d/%d %s", c.ID, c.Passed, c.Reached, c.Points(), c.MaxPoints, c.Message))
	}
	return out
}

// TestTCPSimpleSameTranscript runs the tcp-simple lesson as the Go plugin and as the
// Starlark lab: after normalising, the two transcripts are the same.
func TestTCPSimpleSameTranscript(t *testing.T) {
	star, err := labs.Load("tcp-simple")
	if err != nil {
		t.Fatal(err)
	}
	want := runner.Run(t.Context(), star, local, runner.Options{}, nil)
	got := run(t, build(t, "tcp-simple"), "")
	if got.ExitCode != transcript.ExitPassed || want.ExitCode != transcript.ExitPassed {
		t.Fatalf("exit codes: plugin %d (%s), Starlark %d (%s)", got.ExitCode, got.Error, want.ExitCode, want.Error)
	}
	g, w := normalised(got), normalised(want)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("the transcripts differ:\nplugin:\n  %s\nStarlark:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
	t.Logf("both, normalised:\n  %s", strings.Join(g, "\n  "))
	if len(g) < 17 {
		t.Errorf("only %d entries: %q", len(g), g)
	}
	if got.Header.Lab != want.Header.Lab || fmt.Sprint(got.Header.Params) != fmt.Sprint(want.Header.Params) {
		t.Errorf("headers: plugin %s %v, Starlark %s %v", got.Header.Lab, got.Header.Params, want.Header.Lab, want.Header.Params)
	}
}

// TestHTTPServer grades the example submissions: the good one passes every check, the
// bad one fails with a hint for each failed check.
func TestHTTPServer(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 to run the submissions with")
	}
	lab := build(t, "http-server")
	good := run(t, lab, filepath.Join("http-server", "testdata", "good"))
	if good.ExitCode != transcript.ExitPassed {
		t.Errorf("good: exit %d (%s), checks %+v", good.ExitCode, good.Error, good.Checks)
	}
	bad := run(t, lab, filepath.Join("http-server", "testdata", "bad"))
	if bad.ExitCode != transcript.ExitFailed || bad.Error != "" {
		t.Fatalf("bad: exit %d (%s), want 1", bad.ExitCode, bad.Error)
	}
	failed := map[string]bool{}
	for _, c := range bad.Checks {
		if !c.Passed {
			failed[c.ID] = true
			if c.Hint("en") == "" {
				t.Errorf("bad: check %s failed with no hint: %s", c.ID, c.Message)
			}
		}
	}
	for _, id := range []string{"serves-files", "content-length", "not-found", "bad-request"} {
		if !failed[id] {
			t.Errorf("bad: check %s passed: %+v", id, bad.Checks)
		}
	}
	// The paths are made up per run: two runs ask for different files.
	said := func(rec *transcript.Record) string {
		for _, e := range rec.Entries {
			if e.Kind == transcript.Say && strings.HasPrefix(e.Text, "this run's files") {
				return e.Text
			}
		}
		return ""
	}
	if a, b := said(good), said(bad); a == "" || a == b {
		t.Errorf("two runs asked for %q and %q: want different files each run", a, b)
	}
}

// TestGradePlugin grades submissions with a lab plugin: a process of its own for each.
func TestGradePlugin(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 to run the submissions with")
	}
	path := build(t, "http-server")
	l, err := plugin.Load(context.Background(), path, plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close() // described; each submission starts it afresh
	// Each submission on a port of its own: HTTP/1.0's server closes first, so each run
	// leaves a TIME_WAIT on its port, which a local grading would wait out.
	scores := map[string]string{}
	for _, name := range []string{"good", "bad"} {
		sub := grade.Submission{Name: name, Dir: filepath.Join("http-server", "testdata", name)}
		rep := grade.GradeWith(t.Context(), l, []grade.Submission{sub}, grade.Options{Topology: local, Params: []string{fmt.Sprintf("port=%d", freePort(t))}, PortWait: 5 * time.Second})
		s := rep.Submissions[0]
		scores[s.Name] = fmt.Sprintf("%s %d/%d", s.Status, s.Score, s.MaxScore)
		if s.Error != "" {
			t.Logf("%s: %s", s.Name, s.Error)
		}
	}
	if scores["good"] != "graded 9/9" || scores["bad"] != "graded 2/9" {
		t.Errorf("scores = %v, want good 9/9 and bad 2/9", scores)
	}
}

// freePort is a TCP port nothing on this machine uses now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
