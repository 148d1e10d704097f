package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRemoteController: a lab run through a separately started `socklab controller` prints
// what the same run prints locally, with the same exit codes; the controller's history is
// readable remotely.
func TestRemoteController(t *testing.T) {
	execsBinary(t)
	addr, _ := startServer(t, "controller", "--listen", testNet()+"8:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	remote, errOut, code := socklab(t, "run", "tcp-simple", "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 {
		t.Fatalf("remote run: exit %d\n%s%s", code, remote, errOut)
	}
	local, _, _ := socklab(t, "run", "tcp-simple", "--color", "never", "--db", "none")
	if normalize(remote) != normalize(local) {
		t.Errorf("the remote run's output differs from the local one's (-local +remote):\n%s", lineDiff(normalize(local), normalize(remote)))
	}
	for _, tc := range []struct {
		lab  string
		code int
		want string
	}{
		{"../../controller/runner/testdata/failing-check.star", 1, "got b'hello', want b'hi'"},
		{"../../controller/lab/testdata/broken/unknown-host.star", 2, `unknown-host.star:4:11: t has no host or attribute "server"`},
		{"no-such-lab", 2, `no built-in lab "no-such-lab"`},
	} {
		out, errOut, code := socklab(t, "run", tc.lab, "--controller", addr, "--token", "CT", "--color", "never")
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("remote run %s: exit %d, want %d with %q\n%s%s", tc.lab, code, tc.code, tc.want, out, errOut)
		}
	}
	if _, _, code := socklab(t, "run", "tcp-simple", "--controller", addr, "--token", "wrong"); code != 2 {
		t.Errorf("wrong token: exit %d, want 2 (a usage error)", code)
	}
	list, _, code := socklab(t, "runs", "--controller", addr, "--token", "CT")
	m := regexp.MustCompile(`(?m)^(run-[0-9a-f]{16})\s+tcp-simple\s`).FindStringSubmatch(list)
	if code != 0 || m == nil || !strings.Contains(list, "failing-check") {
		t.Fatalf("runs --controller (exit %d):\n%s", code, list)
	}
	again, errOut, code := socklab(t, "transcript", m[1], "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 || !strings.Contains(again, "send(b'hello')  -> 5") || !strings.Contains(again, "3/3 checks passed") {
		t.Errorf("transcript --controller (exit %d):\n%s%s", code, again, errOut)
	}
}

// TestControllerKilledAgentsFree: when the controller process dies mid-run, its agents
// free the run's sockets once the sessions' lease lapses: their fd counts come back.
func TestControllerKilledAgentsFree(t *testing.T) {
	execsBinary(t)
	n := testNet()
	a, acmd := startAgent(t, "--listen", n+"10:0", "--token", "T")
	b, bcmd := startAgent(t, "--listen", n+"11:0", "--token", "T")
	inv := filepath.Join(t.TempDir(), "room.yaml")
	os.WriteFile(inv, []byte("agents:\n  - name: a\n    address: "+a+"\n  - name: b\n    address: "+b+"\n"), 0o644)
	fds := func(pid int) int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Skipf("cannot count an agent's fds: %v", err)
		}
		return len(ents)
	}
	baseA, baseB := fds(acmd.Process.Pid), fds(bcmd.Process.Pid)
	addr, ctl := startServer(t, "controller", "--listen", n+"12:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "ctl.db"),
		"--inventory", inv, "--agent-token", "T", "--lease", "1s")
	if out, errOut, code := socklab(t, "agents", "--controller", addr, "--token", "CT"); code != 0 || strings.Count(out, " up ") != 2 || !strings.Contains(out, n+"10") {
		t.Errorf("agents --controller: exit %d\n%s%s", code, out, errOut)
	}
	run := exec.Command(binary, "run", "../../controller/runner/testdata/blocks.star", "--controller", addr, "--token", "CT", "--color", "never")
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "accept()") {
	}
	if fds(acmd.Process.Pid) <= baseA {
		t.Fatal("the agent holds no more fds mid-run: the test would prove nothing")
	}
	ctl.Process.Kill() // the controller vanishes, its sessions' leases unrenewed
	ctl.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for (fds(acmd.Process.Pid) > baseA || fds(bcmd.Process.Pid) > baseB) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if fa, fb := fds(acmd.Process.Pid), fds(bcmd.Process.Pid); fa > baseA || fb > baseB {
		t.Errorf("agents' fds %d and %d after the lease, %d and %d before the run", fa, fb, baseA, baseB)
	}
	if code := waitExit(run); code != 3 {
		t.Errorf("the remote run's exit when its controller died = %d, want 3", code)
	}
}

func waitExit(cmd *exec.Cmd) int {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		return -1
	}
}

// TestCancelRemoteRun: `socklab cancel RUN` stops a run in progress on the controller: the
// remote command line exits 130, and the run is stored as interrupted.
func TestCancelRemoteRun(t *testing.T) {
	execsBinary(t)
	addr, _ := startServer(t, "controller", "--listen", testNet()+"13:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	run := exec.Command(binary, "run", "../../controller/runner/testdata/blocks.star", "--controller", addr, "--color", "never")
	run.Env = append(os.Environ(), "SOCKLAB_TOKEN=CT") // a --token flag would add its warning to stderr, read here
	stderr, _ := run.StderrPipe()
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	id := ""
	if sc := bufio.NewScanner(stderr); sc.Scan() {
		id = strings.Fields(sc.Text())[0]
	}
	if !strings.HasPrefix(id, "run-") {
		t.Fatalf("the remote run did not announce its id (got %q)", id)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "accept()") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if out, errOut, code := socklab(t, "cancel", id, "--controller", addr, "--token", "CT"); code != 0 {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
	}
	if code := waitExit(run); code != 130 {
		t.Errorf("the cancelled run's exit = %d, want 130", code)
	}
	list, _, _ := socklab(t, "runs", "--controller", addr, "--token", "CT")
	if !strings.Contains(list, id) || !strings.Contains(list, "interrupted") {
		t.Errorf("the cancelled run is not stored as interrupted:\n%s", list)
	}
	if _, errOut, code := socklab(t, "cancel", id, "--controller", addr, "--token", "CT"); code != 2 || !strings.Contains(errOut, "no run") {
		t.Errorf("cancelling a finished run: exit %d %s", code, errOut)
	}
}
