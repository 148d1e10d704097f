package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeExampleMarker precedes the README's example lab, the block a new user copies.
const readmeExampleMarker = "<!-- example-lab:"

// readmeExample returns the fenced block that follows the marker in the README.
func readmeExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), readmeExampleMarker)
	if !ok {
		t.Fatalf("README.md has no %q before its example lab", readmeExampleMarker)
	}
	_, after, ok = strings.Cut(after, "```python\n")
	if !ok {
		t.Fatal("README.md: no ```python block after the example-lab marker")
	}
	lab, _, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("README.md: the example lab's block does not end")
	}
	return lab
}

// TestREADMEExampleRuns: the README's example lab, saved outside the repository as a new
// user would, checks clean and runs to a pass as printed, here and on a controller.
func TestREADMEExampleRuns(t *testing.T) {
	execsBinary(t)
	lab := readmeExample(t)
	if strings.Contains(lab, "\n    ...\n") {
		t.Fatal("README.md: the example lab elides part of itself (...)")
	}
	file := filepath.Join(t.TempDir(), "echo.star")
	if err := os.WriteFile(file, []byte(lab), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := socklab(t, "labs", "check", file); code != 0 {
		t.Fatalf("socklab labs check %s: exit %d\n%s%s", file, code, out, errOut)
	}
	out, errOut, code := socklab(t, "run", file, "--color", "never")
	if code != 0 || !strings.Contains(out, "passed") {
		t.Errorf("socklab run %s: exit %d, want 0 and passed\nstdout:\n%s\nstderr:\n%s", file, code, out, errOut)
	}
	addr, _ := startServer(t, "controller", "--listen", testNet()+"33:0", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	out, errOut, code = socklab(t, "run", file, "--color", "never", "--controller", addr)
	if code != 0 || !strings.Contains(out, "passed") {
		t.Errorf("socklab run %s --controller: exit %d, want 0 and passed\nstdout:\n%s\nstderr:\n%s", file, code, out, errOut)
	}
}
