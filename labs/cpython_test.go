package labs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/python"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// twinTimeout bounds one Python twin's run.
const twinTimeout = 30 * time.Second

// TestCPython holds socklab to CPython's socket semantics: each testdata/cpython/NAME.star
// is the twin of NAME.py, a Python program doing the same calls. The lab runs on a local
// agent; the program runs under the real python3 (found as agent/python finds it) on the
// same loopback address, after twin.py's prelude, which gives it HOST and attempt(). The
// lines each prints must be the same. A lab's client sockets leave from their host's
// address, a Python program's from 127.0.0.1, so twins do not print peer addresses.
func TestCPython(t *testing.T) {
	exe, err := python.Find()
	if err != nil {
		t.Skipf("python3 not found: install python3 (apt-get install python3) or set %s to compare labs with CPython: %v", python.EnvVar, err)
	}
	prelude, err := os.ReadFile("testdata/cpython/twin.py")
	if err != nil {
		t.Fatal(err)
	}
	labs, err := filepath.Glob("testdata/cpython/*.star")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range labs {
		name := strings.TrimSuffix(filepath.Base(file), ".star")
		if name == "twin" {
			continue // the helpers the twins load()
		}
		program, err := os.ReadFile(strings.TrimSuffix(file, ".star") + ".py")
		if err != nil {
			t.Fatal(err)
		}
		n++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, host := runTwinLab(t, file)
			want := runTwinProgram(t, exe, string(prelude)+"\n"+string(program), host)
			if !slices.Equal(got, want) {
				t.Errorf("the lab and CPython differ (host %s):\n%s", host, sideBySide(got, want))
			}
		})
	}
	if n == 0 {
		t.Fatal("no twins in testdata/cpython")
	}
}

// runTwinLab runs the lab in file on a local agent and returns the lines it printed and
// its host's address.
func runTwinLab(t *testing.T, file string) (lines []string, host string) {
	t.Helper()
	l, err := labs.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
	if rec.Error != "" || rec.ExitCode != transcript.ExitPassed {
		t.Fatalf("the lab stopped (exit %d): %s", rec.ExitCode, rec.Error)
	}
	for _, e := range rec.Entries {
		if e.Kind == transcript.Say {
			lines = append(lines, e.Text)
		}
	}
	return lines, rec.Header.Hosts[0].Address
}

// runTwinProgram runs src under python3 with host as its argument, isolated (-I) from the
// user's site and environment, and returns the lines it printed.
func runTwinProgram(t *testing.T, exe, src, host string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), twinTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-I", "-u", "-c", src, host)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the Python twin failed: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
}

// sideBySide shows two outputs line by line, marking the lines that differ.
func sideBySide(lab, py []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "   %-40s  %s\n", "lab", "CPython")
	for i := range max(len(lab), len(py)) {
		var l, p string
		if i < len(lab) {
			l = lab[i]
		}
		if i < len(py) {
			p = py[i]
		}
		mark := "  "
		if l != p || i >= len(lab) || i >= len(py) {
			mark = "! "
		}
		fmt.Fprintf(&b, "%s %-40s  %s\n", mark, l, p)
	}
	return b.String()
}
