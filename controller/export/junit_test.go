package export_test

import (
	"bytes"
	"encoding/xml"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/transcript"
)

type junitDoc struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestJUnitRun: a run with a failed check as JUnit XML: a test case per check, the failed
// one with its message (bytes that XML must escape), its hint and the hosts' sockets when
// it failed; read back by encoding/xml and by Python's xml.etree.
func TestJUnitRun(t *testing.T) {
	out := exported(t, "junit", record(t, "failing.star"))
	var doc junitDoc
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, out)
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("junit: %+v, want 2 tests, 1 failure in one suite\n%s", doc, out)
	}
	c := doc.Suites[0].Cases[1]
	if c.Name != "gets-upper" || c.Classname != "failing" || c.Failure == nil ||
		!strings.Contains(c.Failure.Message, `got b'a;b #35; "q" <x> & y\n'`) ||
		!strings.Contains(c.Failure.Text, "hint: nothing upper-cases it") || !strings.Contains(c.Failure.Text, "failing.star:") ||
		!strings.Contains(c.Failure.Text, "sockets when it failed:\n  server: tcp LISTEN ") || !strings.Contains(c.Failure.Text, "client: tcp ESTABLISHED ") {
		t.Errorf("the failed check's case: %+v %+v\n%s", c, c.Failure, out)
	}
	if doc.Suites[0].Cases[0].Failure != nil {
		t.Errorf("the passed check has a failure: %s", out)
	}
	etree(t, out, "2 1 0 gets-upper")
}

// etree reads doc with Python's xml.etree and compares its summary (tests, failures,
// errors, the failed cases' names) with want.
func etree(t *testing.T, doc, want string) {
	t.Helper()
	py := python(t)
	const script = `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.stdin).getroot()
assert root.tag == "testsuites", root.tag
cases = root.findall("./testsuite/testcase")
failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
for c in cases:
    f = c.find("failure")
    if f is None: f = c.find("error")
    assert f is None or f.get("message"), "a failure without a message"
print(root.get("tests"), root.get("failures"), root.get("errors"), " ".join(failed))`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(doc)
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("python's xml.etree read %q (%v), want %q\n%s", got, err, want, doc)
	}
}

// TestJUnitErrors: a run that stopped on an error has its unreached checks as <error>s,
// the hint in the language asked for falls back to English, and control characters a
// student's output may hold do not break the XML.
func TestJUnitErrors(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := &transcript.Result{
		Header:   transcript.Header{Lab: "lab", Started: start},
		Finished: start.Add(1500 * time.Millisecond),
		ExitCode: transcript.ExitInfra,
		Checks: []transcript.Check{
			{ID: "a", Passed: true, Reached: true},
			{ID: "b", Reached: true, Message: "got b'\x00\x01'", Hints: transcript.MakeHints(map[string]string{"en": "look"})},
			{ID: "c", Message: "not reached: agent lost"},
		},
	}
	var b bytes.Buffer
	if err := export.WriteJUnit(&b, "lab", []export.Suite{export.RunSuite(res, "zh")}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, out)
	}
	if doc.Errors != 2 || doc.Failures != 0 || !strings.Contains(out, `time="1.500"`) || !strings.Contains(out, "hint: look") ||
		!strings.Contains(out, `type="not-reached"`) {
		t.Errorf("junit of a run that ended in error:\n%s", out)
	}
	etree(t, out, "3 0 2 b c")
}
