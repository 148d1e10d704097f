package main

import (
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
)

// TestTranscriptExports: `socklab transcript RUN --format F` exports a stored run with a
// failed check in each export format, as a user types it: a Mermaid sequenceDiagram with
// the message's arrow and the failed check's note, a ShiViz log that starts with its
// regex, Chrome trace JSON with an event per operation, JUnit XML with the failed check;
// a run on a controller exports from it alike; an unknown format is a usage error naming
// the formats.
func TestTranscriptExports(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	lab := filepath.Join("..", "..", "controller", "export", "testdata", "failing.star")
	out, errOut, code := socklab(t, "run", lab, "--color", "never", "--db", db)
	m := announcedRe.FindStringSubmatch(errOut)
	if code != 1 || m == nil {
		t.Fatalf("run %s: exit %d, want 1 (a check fails on purpose) and the run's id\n%s%s", lab, code, out, errOut)
	}
	export := func(format string) string {
		t.Helper()
		out, errOut, code := socklab(t, "transcript", m[1], "--db", db, "--format", format)
		if code != 0 {
			t.Fatalf("transcript --format %s: exit %d\n%s", format, code, errOut)
		}
		return out
	}

	mmd := export("mermaid")
	for _, want := range []string{"sequenceDiagram\n", "participant h1 as server\n", "h2->>h1: b'a#59;b ", "Note over h1,h2: ✗ check gets-upper failed<br/>"} {
		if !strings.Contains(mmd, want) {
			t.Errorf("--format mermaid lacks %q:\n%s", want, mmd)
		}
	}

	sv := export("shiviz")
	if !strings.HasPrefix(sv, "(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})\n\n") || !strings.Contains(sv, "\nserver {\"server\": 1}\n") {
		t.Errorf("--format shiviz:\n%s", sv)
	}

	var trace struct {
		TraceEvents []struct{ Ph, Cat, Name string }
	}
	if err := json.Unmarshal([]byte(export("chrome-trace")), &trace); err != nil {
		t.Fatalf("--format chrome-trace is not JSON: %v", err)
	}
	ops, flows := 0, 0
	for _, e := range trace.TraceEvents {
		switch e.Ph {
		case "X":
			ops++
		case "f":
			flows++
		}
	}
	if ops < 10 || flows < 3 {
		t.Errorf("--format chrome-trace: %d operations, %d flows; want the run's (10 or more, 3 or more)", ops, flows)
	}

	var junit struct {
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal([]byte(export("junit")), &junit); err != nil || junit.Failures != 1 || len(junit.Cases) != 2 || junit.Cases[1].Failure == nil {
		t.Errorf("--format junit: %v %+v", err, junit)
	}

	// The same run on a controller, exported from it.
	addr, _ := startServer(t, "controller", "--listen", testNet()+"32:0", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	out, errOut, code = socklab(t, "run", lab, "--color", "never", "--controller", addr)
	rm := announcedRe.FindStringSubmatch(errOut)
	if code != 1 || rm == nil {
		t.Fatalf("run %s --controller: exit %d, want 1 and the run's id\n%s%s", lab, code, out, errOut)
	}
	remote, errOut, code := socklab(t, "transcript", rm[1], "--controller", addr, "--format", "mermaid")
	if code != 0 || !strings.Contains(remote, "Note over h1,h2: ✗ check gets-upper failed<br/>") {
		t.Errorf("transcript --controller --format mermaid: exit %d\n%s%s", code, remote, errOut)
	}

	if _, errOut, code := socklab(t, "transcript", m[1], "--db", db, "--format", "svg"); code != exitUsage ||
		!strings.Contains(errOut, "mermaid, shiviz, chrome-trace, junit") {
		t.Errorf("--format svg: exit %d, want %d and the formats named\n%s", code, exitUsage, errOut)
	}
}
