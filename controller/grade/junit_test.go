package grade_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/grade"
)

// TestJUnitSheet: junit.xml of a grading, written by the shared JUnit writer, is read by
// Python's xml.etree (a reader we did not write): a suite per submission, a case per
// check named lab.submission, a failed check's failure with its message and hint, and a
// submission that could not be graded as errors.
func TestJUnitSheet(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3: junit.xml is not read by xml.etree")
	}
	r := &grade.Report{Lab: "tcp-upper-server", Submissions: []grade.Result{
		{Name: "alice", Status: grade.StatusGraded, Checks: []grade.Check{
			{Name: "starts", Passed: true}, {Name: "upper", Message: "got b'hi' <not> & \"upper\"", Hint: "call .upper()"}}},
		{Name: "bob", Status: grade.StatusError, Checks: []grade.Check{{Name: "starts", Message: "the agent was lost"}, {Name: "upper", Message: "not reached"}}},
	}}
	b, err := r.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.stdin).getroot()
for s in root.findall("testsuite"):
    row = [s.get("name"), s.get("tests"), s.get("failures"), s.get("errors")]
    for c in s.findall("testcase"):
        f = c.find("failure")
        e = c.find("error")
        if f is not None: row.append(c.get("classname") + "/" + c.get("name") + ":failure:" + f.get("message") + ":" + (f.text or ""))
        if e is not None: row.append(c.get("classname") + "/" + c.get("name") + ":error:" + e.get("message"))
    print(" | ".join(row))`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(b))
	got, err := cmd.CombinedOutput()
	want := "alice | 2 | 1 | 0 | tcp-upper-server.alice/upper:failure:got b'hi' <not> & \"upper\":call .upper()\n" +
		"bob | 2 | 0 | 2 | tcp-upper-server.bob/starts:error:the agent was lost | tcp-upper-server.bob/upper:error:not reached\n"
	if err != nil || string(got) != want {
		t.Errorf("xml.etree read junit.xml as\n%s(%v)\nwant\n%s\n%s", got, err, want, b)
	}
}
