package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runIDs returns the run ids `socklab runs` listed, newest first.
func runIDs(list string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`(?m)^(run-[0-9a-f]{16})\s`).FindAllStringSubmatch(list, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestRetention: `socklab controller --keep-runs N` keeps the newest N runs of its
// history, pruning when it starts and as each run is stored; `socklab runs prune` prunes
// a local history, and refuses to run without a limit.
func TestRetention(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	for range 3 {
		if out, errOut, code := socklab(t, "run", "tcp-simple", "--color", "never", "--db", db); code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
		}
	}
	list, _, _ := socklab(t, "runs", "--db", db)
	all := runIDs(list)
	if len(all) != 3 {
		t.Fatalf("runs lists %d runs after 3, want 3:\n%s", len(all), list)
	}

	addr, _ := startServer(t, "controller", "--listen", testNet()+"22:0", "--token", "CT", "--db", db, "--keep-runs", "2")
	list, errOut, code := socklab(t, "runs", "--controller", addr, "--token", "CT")
	if got := runIDs(list); code != 0 || strings.Join(got, " ") != strings.Join(all[:2], " ") {
		t.Errorf("runs --controller after a start keeping 2 runs (exit %d): %v, want %v\n%s", code, got, all[:2], errOut)
	}
	if out, errOut, code := socklab(t, "run", "tcp-simple", "--controller", addr, "--token", "CT", "--color", "never"); code != 0 {
		t.Fatalf("remote run: exit %d\n%s%s", code, out, errOut)
	}
	list, _, _ = socklab(t, "runs", "--controller", addr, "--token", "CT")
	if got := runIDs(list); len(got) != 2 || got[1] != all[0] {
		t.Errorf("runs --controller after one more run: %v, want the new run and %s", got, all[0])
	}

	for _, args := range [][]string{{}, {"--keep-runs", "-1"}, {"--keep-days", "-2"}} {
		if out, errOut, code := socklab(t, append([]string{"runs", "prune", "--db", db}, args...)...); code != 2 {
			t.Errorf("runs prune %v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
	out, errOut, code := socklab(t, "runs", "prune", "--db", db, "--keep-runs", "1")
	if code != 0 || out != "deleted 1 run\n" {
		t.Errorf("runs prune --keep-runs 1: exit %d, %q, want \"deleted 1 run\"\n%s", code, out, errOut)
	}
	list, _, _ = socklab(t, "runs", "--db", db)
	if got := runIDs(list); len(got) != 1 {
		t.Errorf("runs after pruning to 1: %v", got)
	}
	if out, _, code := socklab(t, "runs", "prune", "--db", db, "--keep-days", "30"); code != 0 || out != "deleted 0 runs\n" {
		t.Errorf("runs prune --keep-days 30: exit %d, %q, want \"deleted 0 runs\"", code, out)
	}
}
