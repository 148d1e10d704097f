package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tokenFile writes a token file with mode perm and returns its path.
func tokenFile(t *testing.T, token string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

const tokenWarning = "is visible to every user of this machine"

// TestTokenFiles: every command that takes a token takes it from --token-file (and the
// controller its agents' from --agent-token-file) without putting it in the command
// line, or from the environment; a token given as a flag still works, with a warning
// on stderr; a token file other users may read is refused, as are an empty one and a
// file given with the flag.
func TestTokenFiles(t *testing.T) {
	execsBinary(t)
	n := testNet()
	agentTok := tokenFile(t, "agent-secret\n", 0o600)
	ctlTok := tokenFile(t, "controller-secret\n", 0o600)
	a, acmd := startAgent(t, "--listen", n+"30:0", "--token-file", agentTok)
	b, _ := startAgent(t, "--listen", n+"31:0", "--token-file", agentTok)
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(acmd.Process.Pid) + "/cmdline")
	if err != nil || strings.Contains(string(cmdline), "agent-secret") {
		t.Errorf("the agent's command line %q holds its token (%v)", cmdline, err)
	}
	inv := filepath.Join(t.TempDir(), "room.yaml")
	os.WriteFile(inv, []byte("agents:\n  - name: a\n    address: "+a+"\n  - name: b\n    address: "+b+"\n"), 0o644)

	// The agents' token: from a file, the environment, or a flag (warned about).
	out, errOut, code := socklab(t, "agents", "--inventory", inv, "--token-file", agentTok)
	if code != 0 || strings.Count(out, " up ") != 2 || strings.Contains(errOut, "warning") {
		t.Errorf("agents --token-file: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", "tcp-simple", "--color", "never", "--db", "none", "--token-file", agentTok, "--agent", "server="+a, "--agent", "client="+b)
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("run --agent --token-file: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("SOCKLAB_TOKEN", "agent-secret")
	if out, errOut, code := socklab(t, "agents", "--inventory", inv); code != 0 || errOut != "" {
		t.Errorf("agents with $SOCKLAB_TOKEN: exit %d\n%s%s", code, out, errOut)
	}
	os.Unsetenv("SOCKLAB_TOKEN")
	out, errOut, code = socklab(t, "agents", "--inventory", inv, "--token", "agent-secret")
	if code != 0 || !strings.Contains(errOut, "socklab: warning: --token "+tokenWarning+" (ps, /proc/PID/cmdline): use --token-file FILE or $SOCKLAB_TOKEN") {
		t.Errorf("agents --token: exit %d, want 0 and a warning\n%s%s", code, out, errOut)
	}

	// The controller's own token and its agents' token, each from a file.
	addr, ctl := startServer(t, "controller", "--listen", n+"32:0", "--token-file", ctlTok, "--agent-token-file", agentTok, "--inventory", inv,
		"--db", filepath.Join(t.TempDir(), "ctl.db"))
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(ctl.Process.Pid) + "/cmdline"); strings.Contains(string(cmdline), "secret") {
		t.Errorf("the controller's command line %q holds a token", cmdline)
	}
	if out, errOut, code := socklab(t, "agents", "--controller", addr, "--token-file", ctlTok); code != 0 || strings.Count(out, " up ") != 2 {
		t.Errorf("agents --controller --token-file: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", "tcp-simple", "--controller", addr, "--token-file", ctlTok, "--color", "never")
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("run --controller --token-file: exit %d\n%s%s", code, out, errOut)
	}
	list, errOut, code := socklab(t, "runs", "--controller", addr, "--token-file", ctlTok)
	m := regexp.MustCompile(`(?m)^(run-[0-9a-f]{16})\s+tcp-simple\s`).FindStringSubmatch(list)
	if code != 0 || m == nil {
		t.Fatalf("runs --controller --token-file: exit %d\n%s%s", code, list, errOut)
	}
	if out, errOut, code := socklab(t, "transcript", m[1], "--controller", addr, "--token-file", ctlTok, "--color", "never"); code != 0 || !strings.Contains(out, "3/3 checks passed") {
		t.Errorf("transcript --controller --token-file: exit %d\n%s%s", code, out, errOut)
	}
	// cancel answers "no run" only to a caller the controller let in.
	if _, errOut, code := socklab(t, "cancel", "run-0000000000000000", "--controller", addr, "--token-file", ctlTok); code != 2 || !strings.Contains(errOut, "no run") {
		t.Errorf("cancel --token-file: exit %d, want 2 (no such run)\n%s", code, errOut)
	}
	if _, errOut, code := socklab(t, "cancel", "run-0000000000000000", "--controller", addr, "--token", "controller-secret"); code != 2 || !strings.Contains(errOut, tokenWarning) {
		t.Errorf("cancel --token: exit %d, want 2 and a warning\n%s", code, errOut)
	}
	if _, errOut, code := socklab(t, "runs", "--controller", addr, "--token-file", agentTok); code != 2 {
		t.Errorf("runs --controller with the agents' token: exit %d, want 2 (a refused token)\n%s", code, errOut)
	}

	// The controller's agents' token from the environment.
	t.Setenv("SOCKLAB_AGENT_TOKEN", "agent-secret")
	addr, _ = startServer(t, "controller", "--listen", n+"33:0", "--token-file", ctlTok, "--inventory", inv, "--db", filepath.Join(t.TempDir(), "ctl.db"))
	if out, errOut, code := socklab(t, "agents", "--controller", addr, "--token-file", ctlTok); code != 0 || strings.Count(out, " up ") != 2 {
		t.Errorf("agents of a controller given $SOCKLAB_AGENT_TOKEN: exit %d\n%s%s", code, out, errOut)
	}

	// Token files refused before anything runs.
	loose := tokenFile(t, "agent-secret\n", 0o644)
	groupWritable := tokenFile(t, "agent-secret\n", 0o620)
	empty := tokenFile(t, "\n", 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--listen", n + "34:0", "--token-file", loose}, "mode 0644 lets other users read or change the token: chmod 600 " + loose},
		{[]string{"agent", "--listen", n + "34:0", "--token-file", groupWritable}, "mode 0620"},
		{[]string{"controller", "--listen", n + "34:0", "--token-file", ctlTok, "--agent-token-file", loose}, "--agent-token-file " + loose + ": mode 0644"},
		{[]string{"agent", "--listen", n + "34:0", "--token-file", empty}, "the file is empty"},
		{[]string{"agent", "--listen", n + "34:0", "--token-file", filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{[]string{"agent", "--listen", n + "34:0", "--token-file", agentTok, "--token", "x"}, "--token and --token-file: give one of them"},
		{[]string{"runs", "--controller", addr, "--token-file", loose}, "mode 0644"},
		{[]string{"transcript", "run-0", "--controller", addr, "--token-file", loose}, "mode 0644"},
		{[]string{"cancel", "run-0", "--controller", addr, "--token-file", loose}, "mode 0644"},
		{[]string{"agents", "--controller", addr, "--token-file", loose}, "mode 0644"},
		{[]string{"run", "tcp-simple", "--controller", addr, "--token-file", loose}, "mode 0644"},
		{[]string{"demo", "--db", "none", "--token-file", loose}, "mode 0644"},
	} {
		out, errOut, code := socklab(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("socklab %s: exit %d, want 2 with %q\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errOut)
		}
	}
}

// TestInventoryTokensWarned: an inventory that holds tokens and that other users may
// read is used, with a warning; one without tokens is not warned about.
func TestInventoryTokensWarned(t *testing.T) {
	execsBinary(t)
	n := testNet()
	a, _ := startAgent(t, "--listen", n+"35:0", "--token-file", tokenFile(t, "T", 0o600))
	inv := filepath.Join(t.TempDir(), "room.yaml")
	os.WriteFile(inv, []byte("agents:\n  - name: a\n    address: "+a+"\n    token: T\n"), 0o644)
	os.Chmod(inv, 0o644)
	out, errOut, code := socklab(t, "agents", "--inventory", inv)
	if code != 0 || !strings.Contains(errOut, "socklab: warning: "+inv+" holds agents' tokens and other users may read it (mode 0644): chmod 600 "+inv) {
		t.Errorf("agents --inventory (0644, with tokens): exit %d\n%s%s", code, out, errOut)
	}
	os.Chmod(inv, 0o600)
	if out, errOut, code := socklab(t, "agents", "--inventory", inv); code != 0 || errOut != "" {
		t.Errorf("agents --inventory (0600): exit %d\n%s%s", code, out, errOut)
	}
}
