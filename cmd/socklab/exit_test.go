package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// socklabEnv runs the built binary with env added to the test's environment and returns
// its stdout, stderr and exit code; a command that should have ended (a controller that
// should have refused to start) is killed after 30s.
func socklabEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
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

// TestGRPCErrorsInUserTerms: a controller or agent that cannot be reached, refuses the
// token or a message too large is said in the command line's terms (what happened, the
// flag to change), with the exit code of the README's table; gRPC's own words only with
// --debug.
func TestGRPCErrorsInUserTerms(t *testing.T) {
	execsBinary(t)
	n := testNet()
	dir := t.TempDir()
	ctlTok := tokenFile(t, "CT", 0o600)
	badTok := tokenFile(t, "wrong", 0o600)
	ctl, _ := startServer(t, "controller", "--listen", n+"60:0", "--token", "CT", "--db", filepath.Join(dir, "ctl.db"))
	agent, _ := startAgent(t, "--listen", n+"61:0", "--token", "AT")
	down := n + "62:1" // nothing listens there
	big := filepath.Join(dir, "big.star")
	os.WriteFile(big, []byte(`"""A lab too large to send."""`+"\nX = \""+strings.Repeat("a", 5<<20)+"\"\n"), 0o644)
	cases := []exitCase{
		{name: "controller unreachable", args: []string{"runs", "--controller", down}, code: exitInfra,
			want: "socklab: cannot reach the controller at " + down + ": is it running? (connection refused)"},
		{name: "controller unreachable, run", args: []string{"run", "tcp-simple", "--controller", down}, code: exitInfra,
			want: "cannot reach the controller at " + down + ": is it running? (connection refused)"},
		{name: "controller unreachable, --debug", args: []string{"runs", "--controller", down, "--debug"}, code: exitInfra,
			want: "socklab: debug: rpc error: code = Unavailable"},
		{name: "controller, wrong token", args: []string{"runs", "--controller", ctl, "--token-file", badTok}, code: exitUsage,
			want: "the controller at " + ctl + " refused the token: check --token-file, --token or $SOCKLAB_TOKEN"},
		{name: "controller, no token", env: []string{"SOCKLAB_TOKEN="}, args: []string{"transcript", "x", "--controller", ctl}, code: exitUsage,
			want: "the controller at " + ctl + " wants a token, and none was given"},
		{name: "controller, message too large", args: []string{"run", big, "--controller", ctl, "--token-file", ctlTok}, code: exitUsage,
			want: "the message is larger than the 4 MiB limit (5.0 MiB): the controller at " + ctl + " takes no larger message (its --max-message)"},
		{name: "agent unreachable", args: []string{"run", "tcp-simple", "--db", "none", "--agent", "server=" + down, "--agent", "client=" + down}, code: exitInfra,
			want: "host server: cannot reach the agent at " + down + ": is it running? (connection refused)"},
		{name: "agent, no token", env: []string{"SOCKLAB_TOKEN="}, args: []string{"run", "tcp-simple", "--db", "none", "--agent", "server=" + agent, "--agent", "client=" + agent}, code: exitUsage,
			want: "the agent at " + agent + " wants a token, and none was given: give --token-file FILE or $SOCKLAB_TOKEN"},
		{name: "agent, wrong token", args: []string{"run", "tcp-simple", "--db", "none", "--token-file", badTok, "--agent", "server=" + agent, "--agent", "client=" + agent}, code: exitUsage,
			want: "the agent at " + agent + " refused the token: check --token-file"},
	}
	runExitCases(t, cases)
	for _, tc := range cases {
		if slices.Contains(tc.args, "--debug") {
			continue
		}
		_, errOut, _ := socklabEnv(t, tc.env, tc.args...)
		if strings.Contains(errOut, "rpc error") || strings.Contains(errOut, "desc =") || strings.Contains(errOut, "metadata") {
			t.Errorf("%s: gRPC's words reach the user without --debug:\n%s", tc.name, errOut)
		}
	}
}

// TestPortHeldOutsideTheRun: a bind whose port a process outside the run holds (here this
// test, with a real listener on the agent's loopback address) is an environment problem:
// the error names the holder and the parameter to change, the errno stays EADDRINUSE,
// and the run ends with verdict error and exit code 3, not as a failed lab.
func TestPortHeldOutsideTheRun(t *testing.T) {
	execsBinary(t)
	n := testNet()
	agent, _ := startAgent(t, "--listen", n+"63:0", "--token", "AT")
	lis, err := net.Listen("tcp", n+"63:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	port := lis.Addr().(*net.TCPAddr).Port
	out, errOut, code := socklabEnv(t, []string{"SOCKLAB_TOKEN=AT"}, "run", "tcp-simple", "--db", "none", "--color", "never",
		"--param", "port="+strconv.Itoa(port), "--agent", "server="+agent, "--agent", "client="+agent)
	want := fmt.Sprintf("EADDRINUSE: [Errno 98] Address already in use (bind on server/s1): port %d is held by %s (pid %d), outside this run: choose another with --param port=N",
		port, filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))], os.Getpid())
	if code != exitInfra || !strings.Contains(out, want) || !strings.Contains(out, "\nerror\n") {
		t.Errorf("a port held outside the run: exit %d, want %d, verdict error and %q\n%s%s", code, exitInfra, want, out, errOut)
	}
}
