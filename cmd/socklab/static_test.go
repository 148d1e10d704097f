package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testNet returns a loopback prefix of its own for this test process ("127.77.N."), so
// that agents bound to it meet no other test's ports.
func testNet() string { return fmt.Sprintf("127.77.%d.", os.Getpid()%250+1) }

// TestStaticAgents: a lab runs on agents started as separate processes, each with its own
// host address, bound with --agent ROLE=HOST:PORT.
func TestStaticAgents(t *testing.T) {
	execsBinary(t)
	n := testNet()
	srv, _ := startAgent(t, "--listen", n+"2:0", "--token", "T", "--name", "pc1")
	cli, _ := startAgent(t, "--listen", n+"3:0", "--token", "T", "--name", "pc2")
	out, errOut, code := socklab(t, "run", "tcp-simple", "--color", "never", "--token", "T",
		"--agent", "server="+srv, "--agent", "client="+cli)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"server  " + n + "2", "client  " + n + "3", "accept()  -> (s2, ('" + n + "3'"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A host with no agent, and an agent that does not answer, fail before any step.
	if out, errOut, code := socklab(t, "run", "tcp-simple", "--token", "T", "--agent", "server="+srv); code != 3 || !strings.Contains(out+errOut, "no agent for host client") {
		t.Errorf("one host unbound: exit %d, want 3 naming client\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", "tcp-simple", "--token", "T", "--agent", "server="+srv, "--agent", "client="+n+"9:1")
	if code != 3 || !strings.Contains(out+errOut, "client") || strings.Contains(out, "socket(") {
		t.Errorf("unreachable agent: exit %d, want 3 naming client before any step\n%s%s", code, out, errOut)
	}
}

// TestAgentKilledMidRun: killing one agent's process mid-run ends the run within seconds
// with exit 3, naming the host.
func TestAgentKilledMidRun(t *testing.T) {
	execsBinary(t)
	n := testNet()
	a, _ := startAgent(t, "--listen", n+"4:0", "--token", "T")
	b, bcmd := startAgent(t, "--listen", n+"5:0", "--token", "T")
	cmd, lines, stderr, done := runToAccept(t, "../../controller/runner/testdata/blocks.star", a, b)
	killed := time.Now()
	bcmd.Process.Kill() // b holds the client; a is blocked in recv, waiting for it
	bcmd.Wait()
	exit := make(chan error, 1)
	go func() { <-done; exit <- cmd.Wait() }()
	// a's recv sees the connection reset when b's kernel closes it, or the runner sees b gone.
	select {
	case err := <-exit:
		code := cmd.ProcessState.ExitCode()
		all := strings.Join(*lines, "\n") + stderr.String()
		if code != 3 || !strings.Contains(all, "agent of host b") {
			t.Errorf("exit %d after killing b's agent (%v), want 3 naming host b\n%s", code, err, all)
		}
		if d := time.Since(killed); d > 8*time.Second {
			t.Errorf("the run ended %v after the kill, want within a few seconds", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end within 20s of killing an agent")
	}
}

// TestInventory: `socklab agents` shows who answers (exit 3 when one does not), and a lab
// binds its hosts to inventory agents by name.
func TestInventory(t *testing.T) {
	execsBinary(t)
	n := testNet()
	srv, _ := startAgent(t, "--listen", n+"6:0", "--token", "T", "--name", "server")
	pc2, _ := startAgent(t, "--listen", n+"7:0", "--token", "T2", "--name", "pc2")
	inv := filepath.Join(t.TempDir(), "room.yaml")
	text := fmt.Sprintf("agents:\n  - name: server\n    address: %s\n  - name: pc2\n    address: %s\n    token: T2\n    labels: [room-a]\n", srv, pc2)
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := socklab(t, "agents", "--inventory", inv, "--token", "T")
	if code != 0 || strings.Count(out, " up ") != 2 || !strings.Contains(out, n+"7") {
		t.Errorf("socklab agents: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", "tcp-simple", "--color", "never", "--inventory", inv, "--token", "T")
	if code != 0 || !strings.Contains(out, "server  "+n+"6") || !strings.Contains(out, "client  "+n+"7") {
		t.Errorf("run --inventory: exit %d\n%s%s", code, out, errOut)
	}
	down := filepath.Join(t.TempDir(), "down.yaml")
	os.WriteFile(down, []byte(text+"  - name: gone\n    address: "+n+"9:1\n"), 0o644)
	out, errOut, code = socklab(t, "agents", "--inventory", down, "--token", "T")
	if code != 3 || !strings.Contains(out, "gone") || !strings.Contains(out, "down:") {
		t.Errorf("agents with one down: exit %d, want 3\n%s%s", code, out, errOut)
	}
}

// TestAgentHungMidRun: an agent that stops answering (SIGSTOP) ends the run within the
// lab's watchdog and a moment, and the run says which host it was and the call it did
// not answer.
func TestAgentHungMidRun(t *testing.T) {
	execsBinary(t)
	n := testNet()
	a, _ := startAgent(t, "--listen", n+"6:0", "--token", "T")
	b, bcmd := startAgent(t, "--listen", n+"7:0", "--token", "T")
	t.Cleanup(func() { bcmd.Process.Signal(syscall.SIGCONT) })
	cmd, lines, stderr, done := runToAccept(t, "testdata/hung.star", a, b)
	stopped := time.Now() // hung.star sleeps a second, then calls b: a watchdog of 2 s
	if err := bcmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	exit := make(chan error, 1)
	go func() { <-done; exit <- cmd.Wait() }()
	select {
	case err := <-exit:
		code := cmd.ProcessState.ExitCode()
		all := strings.Join(*lines, "\n") + stderr.String()
		if code != 3 || !strings.Contains(all, "agent of host b: stopped answering") || !strings.Contains(all, "watchdog: recv on b/s2 waited 2s") {
			t.Errorf("exit %d after stopping b's agent (%v), want 3 naming host b and the call it did not answer\n%s", code, err, all)
		}
		// A second's sleep, the 2 s watchdog, and a moment for the closes.
		if d := time.Since(stopped); d > 6*time.Second {
			t.Errorf("the run ended %v after b stopped, want within its watchdog and a moment", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30s of stopping an agent")
	}
}

// runToAccept runs lab with hosts a and b bound to the agents at addrs, and returns once
// its transcript shows accept(): the command, its transcript lines so far (filled in as
// they come, until done closes) and its stderr.
func runToAccept(t *testing.T, lab, a, b string) (cmd *exec.Cmd, lines *[]string, stderr *strings.Builder, done chan struct{}) {
	t.Helper()
	cmd = exec.Command(binary, "run", lab, "--color", "never", "--token", "T", "--agent", "a="+a, "--agent", "b="+b)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines = &[]string{}
	accepted := make(chan struct{})
	done = make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			*lines = append(*lines, sc.Text())
			if strings.Contains(sc.Text(), "accept()") {
				close(accepted)
			}
		}
	}()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the lab never reached accept()")
	}
	return cmd, lines, stderr, done
}
