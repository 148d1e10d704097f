package grade_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/grade"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	process.Init()  // this binary is also the init of its agents' jobs
	topology.Init() // and the host of an unprivileged netns run
	os.Exit(m.Run())
}

// zipFile writes a zip of entries (name -> content; a name ending "@" is a symbolic link
// to its content) and returns its path.
func zipFile(t *testing.T, dir, name string, entries map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for n, body := range entries {
		h := &zip.FileHeader{Name: strings.TrimSuffix(n, "@"), Method: zip.Deflate}
		h.SetMode(0o644)
		if strings.HasSuffix(n, "@") {
			h.SetMode(os.ModeSymlink | 0o777)
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnzip: a zip's one top-level folder is flattened; a zip that would write outside
// its folder, holds a link, or unpacks to too much is refused, writing nothing outside.
func TestUnzip(t *testing.T) {
	dir := t.TempDir()
	good := zipFile(t, dir, "good.zip", map[string]string{"alice/server.py": "print(1)\n", "alice/lib/x.py": "x = 1\n"})
	out := filepath.Join(dir, "good")
	if err := grade.Unzip(good, out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "server.py")); err != nil || string(b) != "print(1)\n" {
		t.Errorf("server.py = %q, %v; want the top folder flattened", b, err)
	}
	for _, tc := range []struct {
		name    string
		entries map[string]string
		want    string
	}{
		{"slip", map[string]string{"../evil.py": "x"}, "not a plain relative path"},
		{"nested slip", map[string]string{"a/../../evil.py": "x"}, "not a plain relative path"},
		{"absolute", map[string]string{"/tmp/evil.py": "x"}, "not a plain relative path"},
		{"link", map[string]string{"server.py@": "/etc/passwd"}, "symbolic link"},
		{"bomb", map[string]string{"zeros": strings.Repeat("\x00", 65<<20)}, "more than 64 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := zipFile(t, dir, tc.name+".zip", tc.entries)
			err := grade.Unzip(z, filepath.Join(dir, "out-"+tc.name))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Unzip = %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "..", "evil.py")); err == nil {
				t.Error("a file was written outside the submission's folder")
			}
		})
	}
	many := map[string]string{}
	for i := range 1001 {
		many[fmt.Sprintf("d/f%04d", i)] = ""
	}
	if err := grade.Unzip(zipFile(t, dir, "many.zip", many), filepath.Join(dir, "out-many")); err == nil || !strings.Contains(err.Error(), "more than 1000") {
		t.Errorf("a zip of 1001 files: %v, want it refused", err)
	}
}

// gradeTopology is what the tests grade on: namespaces where they can be made.
func gradeTopology() (topology.Topology, int) {
	if topology.NetnsUnavailable() == "" {
		return topology.Netns{Programs: policy.LocalPrograms}, 2
	}
	return topology.Local{Programs: policy.LocalPrograms}, 1
}

// TestGrade grades a folder of tcp-upper-server submissions as a TA would: two correct
// servers, a sequential one, one with a syntax error, a zip that escapes its folder and
// one whose program never listens (over its time budget). It checks the verdicts, the
// statuses, the written files, and that nothing is left running.
func TestGrade(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: grading runs programs")
	}
	src := filepath.Join("..", "..", "labs", "testdata", "submissions", "tcp-upper-server")
	dir := t.TempDir()
	for _, name := range []string{"threaded", "selectors", "sequential", "syntax-error"} {
		b, err := os.ReadFile(filepath.Join(src, name, "server.py"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "server.py"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zipFile(t, dir, "mallory.zip", map[string]string{"../server.py": "print('escaped')\n"})
	zipFile(t, dir, "sleeper.zip", map[string]string{"sleeper/server.py": "import time\ntime.sleep(600)\n"})
	scratch := t.TempDir()
	subs, err := grade.Find(dir, scratch)
	if err != nil {
		t.Fatal(err)
	}
	l, err := labs.Load("tcp-upper-server")
	if err != nil {
		t.Fatal(err)
	}
	before := len(agenttest.Children())
	topo, jobs := gradeTopology()
	var progress []string
	rep := grade.Grade(t.Context(), l, subs, grade.Options{Topology: topo, Jobs: jobs, Timeout: 4 * time.Second, Lang: "zh",
		Progress: func(p grade.Progress) {
			if p.Result != nil {
				progress = append(progress, p.Result.Name)
			}
		}})
	want := map[string]struct {
		status string
		fails  string // the failed checks, comma-joined
	}{
		"mallory":      {grade.StatusError, "starts,echo-upper,multi-message,second-client,concurrent-clients,no-spin,restart"},
		"selectors":    {grade.StatusGraded, ""},
		"sequential":   {grade.StatusGraded, "concurrent-clients"},
		"sleeper":      {grade.StatusTimedOut, "*"},
		"syntax-error": {grade.StatusGraded, "starts,echo-upper,multi-message,second-client,concurrent-clients,no-spin,restart"},
		"threaded":     {grade.StatusGraded, ""},
	}
	if len(rep.Submissions) != len(want) || len(progress) != len(want) {
		t.Fatalf("graded %d submissions, heard of %d: want %d", len(rep.Submissions), len(progress), len(want))
	}
	for i, s := range rep.Submissions {
		w, ok := want[s.Name]
		if !ok || (i > 0 && rep.Submissions[i-1].Name >= s.Name) {
			t.Errorf("submission %d is %q: want them sorted by name", i, s.Name)
			continue
		}
		var fails []string
		for _, c := range s.Checks {
			if !c.Passed {
				fails = append(fails, c.Name)
				if c.Message == "" {
					t.Errorf("%s: check %s failed with no message", s.Name, c.Name)
				}
			}
		}
		if s.Status != w.status || (w.fails != "*" && strings.Join(fails, ",") != w.fails) {
			t.Errorf("%s: status %s, failed %v (error %q); want %s, failed [%s]", s.Name, s.Status, fails, s.Error, w.status, w.fails)
		}
		if len(s.Checks) != 7 || s.MaxScore != 7 || s.Score != 7-len(fails) {
			t.Errorf("%s: %d checks, score %d/%d; want all 7 listed and a point per pass", s.Name, len(s.Checks), s.Score, s.MaxScore)
		}
	}
	if rep.Summary["concurrent-clients"] != (grade.Tally{Passed: 2, Total: 6}) {
		t.Errorf("summary of concurrent-clients = %+v, want 2 of 6", rep.Summary["concurrent-clients"])
	}
	if s := rep.Submissions[1]; s.Name != "selectors" {
		t.Errorf("second submission %s", s.Name)
	}
	if !rep.Errors() {
		t.Error("a zip refused is an error the report must own")
	}
	// The syntax error is the student's: graded, with the interpreter's words, and a hint
	// in Chinese.
	for _, s := range rep.Submissions {
		if s.Name == "syntax-error" && (!strings.Contains(s.Checks[0].Message, "SyntaxError") || !strings.ContainsFunc(s.Checks[0].Hint, func(r rune) bool { return unicode.Is(unicode.Han, r) })) {
			t.Errorf("syntax-error's starts: %q, hint %q; want the SyntaxError and a hint in Chinese", s.Checks[0].Message, s.Checks[0].Hint)
		}
	}

	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Version     int
		Lab         string
		Submissions []struct {
			Name, Status, Error string
			Score               int
			MaxScore            int `json:"max_score"`
			Checks              []map[string]any
		}
		Summary map[string]map[string]int
	}
	b, _ := os.ReadFile(filepath.Join(out, "grades.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Version != 1 || back.Lab != "tcp-upper-server" || len(back.Submissions) != 6 {
		t.Fatalf("grades.json: %v\n%s", err, b)
	}
	for _, k := range []string{"name", "passed", "points", "max_points", "message", "hint"} {
		if _, ok := back.Submissions[0].Checks[0][k]; !ok {
			t.Errorf("grades.json's checks lack %q", k)
		}
	}
	rows, err := csv.NewReader(bytes.NewReader(must(t, filepath.Join(out, "grades.csv")))).ReadAll()
	if err != nil || len(rows) != 7 || strings.Join(rows[0][:4], ",") != "name,score,max_score,starts" || rows[5][0] != "syntax-error" || rows[5][1] != "0" {
		t.Errorf("grades.csv = %v, %v", rows, err)
	}
	var junit struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Errors   int    `xml:"errors,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(must(t, filepath.Join(out, "junit.xml")), &junit); err != nil || len(junit.Suites) != 6 || junit.Suites[0].Errors != 7 || junit.Suites[2].Failures != 1 {
		t.Errorf("junit.xml: %v %+v", err, junit)
	}
	sheet := string(must(t, filepath.Join(out, "grades.html")))
	for i, name := range []string{"threaded", "sequential", "syntax-error", "sleeper"} {
		if txt := string(must(t, filepath.Join(out, "transcripts", name+".txt"))); !strings.Contains(txt, "tcp-upper-server") {
			t.Errorf("transcripts/%s.txt: %q", name, txt)
		}
		// The grade sheet links each student's report.html, which is there.
		link := `href="transcripts/` + name + `.html"`
		if page := string(must(t, filepath.Join(out, "transcripts", name+".html"))); !strings.Contains(sheet, link) || !strings.Contains(page, `"subject":"`+name+`"`) {
			t.Errorf("grades.html links %s's report: %v (want %s); transcripts/%s.html is its report: %v", name, strings.Contains(sheet, link), link, name, strings.Contains(page, `"subject":"`+name+`"`))
		}
		if i == 0 && rows[0][len(rows[0])-1] != "report" {
			t.Errorf("grades.csv's last column is %q, want report", rows[0][len(rows[0])-1])
		}
	}
	if after := len(agenttest.Children()); after > before {
		t.Errorf("%d processes of the grading still run (%d before)", after, before)
	}
}

func must(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlatformResults: one student's grade as Gradescope's and PrairieLearn's
// autograders read it: a test per check, the failed one with its message and hint.
func TestPlatformResults(t *testing.T) {
	r := grade.Result{Name: "bob", Score: 1, MaxScore: 2, Status: grade.StatusGraded, Checks: []grade.Check{
		{Name: "starts", Passed: true, Points: 1, MaxPoints: 1},
		{Name: "echo-upper", Points: 0, MaxPoints: 1, Message: "got b'hello', want b'HELLO'", Hint: "send data.upper()"},
	}}
	var gs struct {
		Score float64
		Tests []struct {
			Name, Status, Output, Visibility string
			Score                            float64
			MaxScore                         float64 `json:"max_score"`
		}
	}
	b, err := r.Gradescope()
	if err != nil || json.Unmarshal(b, &gs) != nil {
		t.Fatalf("Gradescope: %v\n%s", err, b)
	}
	if gs.Score != 1 || len(gs.Tests) != 2 || gs.Tests[1].Status != "failed" || gs.Tests[1].MaxScore != 1 ||
		gs.Tests[1].Output != "got b'hello', want b'HELLO'\nhint: send data.upper()" || gs.Tests[0].Visibility != "visible" {
		t.Errorf("Gradescope results.json:\n%s", b)
	}
	var pl struct {
		Gradable bool
		Score    float64
		Tests    []struct {
			Name, Message string
			Points        int
			MaxPoints     int `json:"max_points"`
		}
	}
	if b, err = r.PrairieLearn(); err != nil || json.Unmarshal(b, &pl) != nil {
		t.Fatalf("PrairieLearn: %v\n%s", err, b)
	}
	if !pl.Gradable || pl.Score != 0.5 || len(pl.Tests) != 2 || pl.Tests[1].Message != "got b'hello', want b'HELLO'" || pl.Tests[1].MaxPoints != 1 {
		t.Errorf("PrairieLearn results.json:\n%s", b)
	}
	r.Status, r.Error = grade.StatusError, "an agent was lost"
	if b, _ = r.PrairieLearn(); json.Unmarshal(b, &pl) != nil || pl.Gradable {
		t.Errorf("an ungradable submission is gradable for PrairieLearn:\n%s", b)
	}
}

// TestFlips: a check that passed in some gradings and failed in others is listed, with
// how often it passed; one that held or failed every time is not.
func TestFlips(t *testing.T) {
	rep := func(verdicts ...bool) *grade.Report {
		r := grade.Result{Name: "alice"}
		for i, v := range verdicts {
			r.Checks = append(r.Checks, grade.Check{Name: fmt.Sprint("c", i), Passed: v})
		}
		return &grade.Report{Submissions: []grade.Result{r}}
	}
	got := grade.Flips([]*grade.Report{rep(true, false, true), rep(true, false, false), rep(true, false, true)})
	want := []grade.Flip{{Submission: "alice", Check: "c2", Passed: 2, Runs: 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Flips = %+v, want %+v", got, want)
	}
}

// verdicts returns each submission's checks as PASS/FAIL, by name.
func verdicts(rep *grade.Report) map[string]string {
	out := map[string]string{}
	for _, s := range rep.Submissions {
		var v []string
		for _, c := range s.Checks {
			v = append(v, fmt.Sprintf("%s=%v", c.Name, c.Passed))
		}
		out[s.Name] = s.Status + " " + strings.Join(v, " ")
	}
	return out
}

// testSubmissions returns the named testdata submissions of lab, in the order given.
func testSubmissions(t testing.TB, lab string, names ...string) []grade.Submission {
	var subs []grade.Submission
	for _, n := range names {
		subs = append(subs, grade.Submission{Name: n, Dir: filepath.Join("..", "..", "labs", "testdata", "submissions", lab, n)})
	}
	return subs
}

// TestOrderIndependence: a grade never depends on which submission ran before or beside
// it: the same submissions graded one at a time in one order and two at a time in the
// other get the same verdicts.
func TestOrderIndependence(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: grading runs programs")
	}
	l, err := labs.Load("tcp-upper-server")
	if err != nil {
		t.Fatal(err)
	}
	topo, jobs := gradeTopology()
	names := []string{"first-message-only", "no-reuseaddr", "sequential"}
	forward := grade.Grade(t.Context(), l, testSubmissions(t, "tcp-upper-server", names...), grade.Options{Topology: topo, Jobs: 1})
	slices.Reverse(names)
	backward := grade.Grade(t.Context(), l, testSubmissions(t, "tcp-upper-server", names...), grade.Options{Topology: topo, Jobs: jobs})
	f, b := verdicts(forward), verdicts(backward)
	for _, n := range names {
		if f[n] != b[n] || !strings.HasPrefix(f[n], "graded") {
			t.Errorf("%s: %q graded first, %q graded last", n, f[n], b[n])
		}
	}
}

// TestPortHeldIsAnError: on the local topology, where runs share this machine's kernel,
// a lab port something else holds makes the submission an error naming it, never a
// failed check of the student's.
func TestPortHeldIsAnError(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	port := lis.Addr().(*net.TCPAddr).Port
	l, err := labs.Load("tcp-upper-server")
	if err != nil {
		t.Fatal(err)
	}
	rep := grade.Grade(t.Context(), l, testSubmissions(t, "tcp-upper-server", "threaded"), grade.Options{
		Topology: topology.Local{Programs: policy.LocalPrograms}, Params: []string{fmt.Sprintf("port=%d", port)}, PortWait: 300 * time.Millisecond})
	s := rep.Submissions[0]
	want := fmt.Sprintf("port %d is still held on this machine after 300ms (LISTEN 127.0.0.1:%d)", port, port)
	if s.Status != grade.StatusError || !strings.HasPrefix(s.Error, want) || s.Checks[0].Message != s.Error {
		t.Errorf("status %s, error %q; want error starting %q, in every check", s.Status, s.Error, want)
	}
}

// TestDeparture: graded beside the lab's reference solution, a failing submission says
// where its run first parts from the reference's: a lowercasing server at the reply, a
// server with a syntax error at its start; a passing one says nothing.
func TestDeparture(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: grading runs programs")
	}
	l, err := labs.Load("tcp-upper-server")
	if err != nil {
		t.Fatal(err)
	}
	topo, jobs := gradeTopology()
	opts := grade.Options{Topology: topo, Jobs: jobs}
	ref := grade.Grade(t.Context(), l, []grade.Submission{{Name: "reference", Dir: filepath.Join("..", "..", "labs", "reference", "tcp-upper-server")}}, opts)
	if r := ref.Submissions[0]; r.Score != r.MaxScore {
		t.Fatalf("the reference scores %d/%d: %s", r.Score, r.MaxScore, r.Error)
	}
	rep := grade.Grade(t.Context(), l, testSubmissions(t, "tcp-upper-server", "lowercase", "syntax-error", "threaded"), opts)
	rep.CompareWith(ref.Record("reference"))
	want := map[string]string{
		"lowercase":    "recv(5) -> b'HELLO'; this run on server: recv(5) -> b'hello'",
		"syntax-error": "wait_listening(8080) -> error: the process ended (exit 1)",
		"threaded":     "",
	}
	for _, s := range rep.Submissions {
		if w := want[s.Name]; (w == "") != (s.Departure == "") || !strings.Contains(s.Departure, w) {
			t.Errorf("%s departs %q, want it to say %q", s.Name, s.Departure, w)
		}
	}
}
