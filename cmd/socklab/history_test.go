package main

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestHistory: a run is stored before it is reported; `socklab runs` lists it and
// `socklab transcript` prints the same operations again, as text or JSON lines.
func TestHistory(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	out, errOut, code := socklab(t, "run", "tcp-simple", "--color", "never", "--db", db, "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	list, _, code := socklab(t, "runs", "--db", db)
	m := regexp.MustCompile(`(?m)^(run-[0-9a-f]{16})\s+tcp-simple\s+\S+ \S+\s+passed\s+3/3$`).FindStringSubmatch(list)
	if code != 0 || m == nil {
		t.Fatalf("socklab runs (exit %d) lacks the run:\n%s", code, list)
	}
	again, errOut, code := socklab(t, "transcript", m[1][:12], "--db", db, "--color", "never")
	if code != 0 {
		t.Fatalf("transcript: exit %d\n%s", code, errOut)
	}
	ops := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, "  -> "); i > 0 && strings.HasPrefix(l, "  0.") {
				out = append(out, strings.Fields(l[:i])[len(strings.Fields(l[:i]))-1]+l[i:])
			}
		}
		return out
	}
	// The same operations; the stored transcript is in merged (causal) order, the live
	// one in the order events arrived, so compare them sorted.
	a, b := ops(out), ops(again)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) < 10 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("the stored transcript's operations differ from the run's:\nrun:\n%s\nstored:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if !strings.Contains(again, "total: 3/3 checks passed") {
		t.Errorf("stored transcript lacks the checks:\n%s", again)
	}
	jl, _, code := socklab(t, "transcript", m[1], "--db", db, "--format", "jsonl")
	if code != 0 || strings.Count(jl, "\n") < 10 || !strings.Contains(jl, `"EVENT_KIND_SAY"`) {
		t.Errorf("transcript --format jsonl (exit %d):\n%s", code, jl)
	}
	if _, errOut, code := socklab(t, "transcript", "run-0000", "--db", db); code != 2 || !strings.Contains(errOut, "no such run") {
		t.Errorf("unknown run: exit %d, %s", code, errOut)
	}
}
