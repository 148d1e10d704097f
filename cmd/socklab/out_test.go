package main

import (
	"bufio"
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
	f, err := os.Open(filepath.Join(dir, "transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	roles := map[string]bool{}
	for sc.Scan() {
		var ev socklabv1.Event
		if err := protojson.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("transcript.jsonl line %q: %v", sc.Text(), err)
		}
		roles[ev.GetRole()] = true
	}
	if !roles["a"] || !roles["b"] {
		t.Errorf("transcript.jsonl roles = %v, want a and b", roles)
	}
}

// TestFormatJSONL: --format jsonl prints only protojson events, narration included.
func TestFormatJSONL(t *testing.T) {
	execsBinary(t)
	out, errOut, code := socklab(t, "run", "tcp-simple", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	kinds := map[socklabv1.EventKind]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev socklabv1.Event
		if err := protojson.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q is not a protojson Event: %v", line, err)
		}
		kinds[ev.GetKind()]++
	}
	if kinds[socklabv1.EventKind_EVENT_KIND_OPERATION] < 10 || kinds[socklabv1.EventKind_EVENT_KIND_SAY] != 1 {
		t.Errorf("event kinds = %v, want the operations and one narration", kinds)
	}
	if _, _, code := socklab(t, "run", "tcp-simple", "--format", "xml"); code != 2 {
		t.Errorf("--format xml: exit %d, want 2", code)
	}
}
