package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestOutDir: --out writes result.json in its documented shape, transcript.jsonl with one
// protojson event per line, and transcript.txt with the checks.
func TestOutDir(t *testing.T) {
	execsBinary(t)
	dir := t.TempDir()
	_, errOut, code := socklab(t, "run", "../../controller/runner/testdata/failing-check.star", "--out", dir, "--color", "never")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res transcript.ResultFile
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("result.json: %v\n%s", err, data)
	}
	if res.Version != 1 || res.Lab != "failing-check" || res.Verdict != "failed" || res.ExitCode != 1 ||
		res.Score != 2 || res.MaxScore != 3 || len(res.Hosts) != 2 || !strings.HasPrefix(res.RunID, "run-") || res.Error != "" {
		t.Errorf("result.json = %+v", res)
	}
	if len(res.Checks) != 2 || res.Checks[0].ID != "greeting" || res.Checks[0].Passed || !strings.Contains(res.Checks[0].Message, "want b'hi'") {
		t.Errorf("result.json checks = %+v", res.Checks)
	}
	for _, key := range []string{`"run_id"`, `"params"`, `"started"`, `"finished"`, `"max_points"`, `"error"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("result.json lacks %s", key)
		}
	}
	txt, _ := os.ReadFile(filepath.Join(dir, "transcript.txt"))
	if !strings.Contains(string(txt), "greeting") || !strings.Contains(string(txt), "recvfrom(100)") {
		t.Errorf("transcript.txt lacks the checks or the operations:\n%s", txt)
	}
	// report.html is the browser's (controller/htmlreport's tests open it in Chromium).
	if page, err := os.ReadFile(filepath.Join(dir, "report.html")); err != nil || !strings.Contains(string(page), `{"header":{"run_id":"`+res.RunID+`","lab":"failing-check"`) {
		t.Errorf("report.html does not hold the run %s: %v", res.RunID, err)
	}
	data, err = os.ReadFile(filepath.Join(dir, "transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	start, events, end := jsonlStream(t, string(data))
	roles := map[string]bool{}
	for _, ev := range events {
		roles[ev.GetRole()] = true
	}
	if !roles["a"] || !roles["b"] {
		t.Errorf("transcript.jsonl roles = %v, want a and b", roles)
	}
	if start.RunID != res.RunID || end.RunID != res.RunID || end.Verdict != "failed" || end.ExitCode != 1 {
		t.Errorf("transcript.jsonl start %+v, end %+v; want run %s, failed, exit 1", start, end, res.RunID)
	}
}

// jsonlStream reads a run's JSON lines: its start record first, its end record last,
// protojson events between them.
func jsonlStream(t *testing.T, data string) (transcript.StartFile, []*socklabv1.Event, transcript.ResultFile) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d JSON lines, want a start and an end:\n%s", len(lines), data)
	}
	var first struct {
		Start *transcript.StartFile `json:"start"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Start == nil {
		t.Fatalf("first line %s: %v, want {\"start\": ...}", lines[0], err)
	}
	var last struct {
		End *transcript.ResultFile `json:"end"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.End == nil {
		t.Fatalf("last line %s: %v, want {\"end\": ...}", lines[len(lines)-1], err)
	}
	var events []*socklabv1.Event
	for _, line := range lines[1 : len(lines)-1] {
		ev := &socklabv1.Event{}
		if err := protojson.Unmarshal([]byte(line), ev); err != nil {
			t.Fatalf("line %q is not a protojson Event: %v", line, err)
		}
		events = append(events, ev)
	}
	return *first.Start, events, *last.End
}

// TestFormatJSONL: --format jsonl prints the run's start, its protojson events (narration
// included) and its end, and nothing else.
func TestFormatJSONL(t *testing.T) {
	execsBinary(t)
	out, errOut, code := socklab(t, "run", "tcp-simple", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	start, events, end := jsonlStream(t, out)
	if !strings.HasPrefix(start.RunID, "run-") || start.Lab != "tcp-simple" || start.Hosts["client"] == "" || start.Params["port"] == nil {
		t.Errorf("start = %+v, want the run's id, lab, hosts and params", start)
	}
	if end.RunID != start.RunID || end.Verdict != "passed" || end.ExitCode != 0 || end.Score != 3 {
		t.Errorf("end = %+v, want run %s passed with exit code 0", end, start.RunID)
	}
	kinds := map[socklabv1.EventKind]int{}
	for _, ev := range events {
		kinds[ev.GetKind()]++
	}
	if kinds[socklabv1.EventKind_EVENT_KIND_OPERATION] < 10 || kinds[socklabv1.EventKind_EVENT_KIND_SAY] != 1 {
		t.Errorf("event kinds = %v, want the operations and one narration", kinds)
	}
	if _, _, code := socklab(t, "run", "tcp-simple", "--format", "xml"); code != 2 {
		t.Errorf("--format xml: exit %d, want 2", code)
	}
}
