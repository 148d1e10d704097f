package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// socklabEnv runs the built binary with env added to the test's environment and returns
// its stdout, stderr and exit code.
func socklabEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("socklab %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// exitCase is one command line, the exit code the README's table gives it and a piece of
// what it says (on stdout or stderr).
type exitCase struct {
	name string
	env  []string
	args []string
	code int
	want string
}

func runExitCases(t *testing.T, cases []exitCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := socklabEnv(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("socklab %s: exit %d, want %d and %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, tc.want, out, errOut)
			}
		})
	}
}

// TestExitCodes is the README's table of exit codes, through the built binary: usage
// errors (arguments, unknown commands, unknown hosts and agents) are 2, never 1 (a check
// failed) or 3 (an agent unreachable or lost).
func TestExitCodes(t *testing.T) {
	execsBinary(t)
	dir := t.TempDir()
	inv := filepath.Join(dir, "room.yaml")
	os.WriteFile(inv, []byte("agents:\n  - name: pc1\n    address: 127.0.0.1:1\n  - name: pc2\n    address: 127.0.0.1:2\n"), 0o644)
	runExitCases(t, []exitCase{
		{name: "version", args: []string{"version"}, code: exitOK, want: "socklab 0."},
		{name: "run without a lab", args: []string{"run"}, code: exitUsage, want: "accepts 1 arg(s), received 0"},
		{name: "run with two labs", args: []string{"run", "tcp-simple", "udp-echo"}, code: exitUsage, want: "accepts 1 arg(s), received 2"},
		{name: "labs check without a file", args: []string{"labs", "check"}, code: exitUsage, want: "requires at least 1 arg(s)"},
		{name: "unknown command", args: []string{"lab"}, code: exitUsage, want: `unknown command "lab" for "socklab"`},
		{name: "unknown subcommand", args: []string{"labs", "lst"}, code: exitUsage, want: `unknown command "lst" for "socklab labs"`},
		{name: "unknown flag", args: []string{"runs", "--bogus"}, code: exitUsage, want: "unknown flag: --bogus"},
		{name: "unknown lab", args: []string{"run", "no-such-lab"}, code: exitUsage, want: `no built-in lab "no-such-lab"`},
		{name: "unknown --agent role", args: []string{"run", "tcp-simple", "--agent", "srv=127.0.0.1:1"}, code: exitUsage,
			want: "--agent srv=127.0.0.1:1: tcp-simple has no host srv (its hosts: server, client)"},
		{name: "--agent name not in the inventory", args: []string{"run", "tcp-simple", "--inventory", inv, "--agent", "server=pc9"}, code: exitUsage,
			want: "the inventory has no agent pc9 (its agents: pc1, pc2)"},
		{name: "--agent name without an inventory", args: []string{"run", "tcp-simple", "--agent", "server=pc9", "--agent", "client=127.0.0.1:1"}, code: exitUsage,
			want: "--agent server=pc9: not HOST:PORT, and there is no inventory"},
		{name: "runs with SOCKLAB_DB=none", env: []string{"SOCKLAB_DB=none"}, args: []string{"runs"}, code: exitOK, want: "no run history is kept"},
		{name: "runs --db none", args: []string{"runs", "--db", "none"}, code: exitOK, want: "no run history is kept"},
		{name: "transcript with SOCKLAB_DB=none", env: []string{"SOCKLAB_DB=none"}, args: []string{"transcript", "x"}, code: exitUsage, want: "no run history is kept"},
		{name: "controller with SOCKLAB_DB=none", env: []string{"SOCKLAB_DB=none"}, args: []string{"controller", "--listen", "127.0.0.1:0", "--token", "T"}, code: exitUsage, want: "a controller keeps its runs' history"},
	})
}

// TestNoHistory: SOCKLAB_DB=none and --db none keep no history, and make no file named
// none.
func TestNoHistory(t *testing.T) {
	execsBinary(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"env", []string{"SOCKLAB_DB=none"}, []string{"run", "tcp-simple", "--color", "never"}},
		{"flag", nil, []string{"run", "tcp-simple", "--color", "never", "--db", "none"}},
		{"runs", []string{"SOCKLAB_DB=none"}, []string{"runs"}},
		{"runs --db", nil, []string{"runs", "--db", "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(binary, tc.args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), tc.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("socklab %v: %v\n%s", tc.args, err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
				t.Errorf("socklab %v made a file named none", tc.args)
			}
		})
	}
}
