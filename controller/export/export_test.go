package export_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	process.Init()
	topology.Init()
	os.Exit(m.Run())
}

var (
	runsMu sync.Mutex // guards runs
	runs   = map[string]*transcript.Record{}
)

// record runs a lab once per test binary (a built-in lab by name, or a file under
// testdata) on the local topology, its hosts allowed to start what socklab run allows,
// and returns its record.
func record(t *testing.T, name string) *transcript.Record {
	t.Helper()
	runsMu.Lock()
	defer runsMu.Unlock()
	if rec, ok := runs[name]; ok {
		return rec
	}
	var (
		l   *lab.Lab
		err error
	)
	if strings.HasSuffix(name, ".star") {
		l, err = labs.LoadFile("testdata/" + name)
	} else {
		l, err = labs.Load(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
	if rec.ExitCode != transcript.ExitPassed && rec.ExitCode != transcript.ExitFailed {
		t.Fatalf("%s ended with %d: %s", name, rec.ExitCode, rec.Error)
	}
	runs[name] = rec
	return rec
}

// exported writes rec in format through report.Replay, as socklab transcript does.
func exported(t *testing.T, format string, rec *transcript.Record) string {
	t.Helper()
	var out bytes.Buffer
	w, err := export.New(format, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Replay(w, &rec.Result, report.Entries(rec.Entries)); err != nil {
		t.Fatal(err)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return out.String()
}

// python returns a real python3 interpreter, or skips.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no python3 on this machine: the check by a reader we did not write is skipped")
	return ""
}

// TestUnknownFormat: a format New does not know is an error naming the ones it does.
func TestUnknownFormat(t *testing.T) {
	_, err := export.New("svg", &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "mermaid, shiviz, chrome-trace, junit") {
		t.Errorf("New(svg) = %v, want an error naming the formats", err)
	}
}

// TestRunWithoutHosts: a run refused before its hosts were bound (no header, no entries)
// still exports as a valid file in every format, ending with its verdict.
func TestRunWithoutHosts(t *testing.T) {
	res := &transcript.Result{Header: transcript.Header{Lab: "bad"}, ExitCode: transcript.ExitBadLab, Error: "bad.star:3:1: undefined: x"}
	rec := &transcript.Record{Result: *res}
	for _, format := range export.Formats {
		t.Run(format, func(t *testing.T) {
			out := exported(t, format, rec)
			switch format {
			case "mermaid":
				checkMermaid(t, out)
				if shown, ok := mermaidByNode(t, out); ok && (len(shown.Notes) != 1 || !strings.Contains(shown.Notes[0], "undefined: x")) {
					t.Errorf("Mermaid shows %+v, want the verdict and the error", shown)
				}
			case "shiviz":
				if events := parseShiViz(t, out); len(events) != 1 || !strings.Contains(events[0].desc, "error: 0/0 points") {
					t.Errorf("ShiViz events %+v, want the verdict", events)
				}
			case "chrome-trace":
				checkTrace(t, []byte(out))
			case "junit":
				etree(t, out, "0 0 0")
			}
		})
	}
}
