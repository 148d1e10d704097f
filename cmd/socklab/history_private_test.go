package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryPrivate: a run's history is made private: a new database in a new directory
// is 0600 in 0700, and a database other users could read is made 0600 when a command
// opens it, which says so on stderr.
func TestHistoryPrivate(t *testing.T) {
	execsBinary(t)
	dir := filepath.Join(t.TempDir(), "hist")
	db := filepath.Join(dir, "runs.db")
	if out, errOut, code := socklab(t, "run", "tcp-simple", "--color", "never", "--db", db); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	perm := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := perm(dir); m != 0o700 {
		t.Errorf("the history's new directory has mode %04o, want 0700", m)
	}
	if m := perm(db); m != 0o600 {
		t.Errorf("the history has mode %04o, want 0600", m)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := socklab(t, "runs", "--db", db)
	if code != 0 || !strings.Contains(out, "tcp-simple") {
		t.Fatalf("runs: exit %d\n%s%s", code, out, errOut)
	}
	if m := perm(db); m != 0o600 {
		t.Errorf("the history left at mode %04o after socklab runs opened it, want 0600", m)
	}
	if want := "socklab: made " + db + " private (mode 0600, was 0644)"; !strings.Contains(errOut, want) {
		t.Errorf("stderr = %q, want it to say %q", errOut, want)
	}
}
