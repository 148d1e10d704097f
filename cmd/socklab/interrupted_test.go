package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestControllerKilledRunInterrupted: a remote run is in the controller's history from its
// start, as running; when the controller is killed (SIGKILL) mid-run, a controller
// started again on the same database lists the run as interrupted, and its transcript
// reads back with the run's start and what happened to it.
func TestControllerKilledRunInterrupted(t *testing.T) {
	execsBinary(t)
	n := testNet()
	db := filepath.Join(t.TempDir(), "ctl.db")
	addr, ctl := startServer(t, "controller", "--listen", n+"20:0", "--token", "CT", "--db", db)
	run := exec.Command(binary, "run", "../../controller/runner/testdata/blocks.star", "--controller", addr, "--token", "CT", "--color", "never")
	stderr, _ := run.StderrPipe()
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	id := ""
	for sc := bufio.NewScanner(stderr); id == "" && sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) > 0 && strings.HasPrefix(f[0], "run-") {
			id = f[0]
		}
	}
	if id == "" {
		t.Fatal("the remote run did not announce its id")
	}
	go func() {
		for sc := bufio.NewScanner(stderr); sc.Scan(); {
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "accept()") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	row := regexp.MustCompile(`(?m)^` + id + `\s+blocks\s+\S+ \S+\s+(\S+)\s+(\S+)(?:\s+\S+)?\s*$`) // then the user who started it, if known
	list, errOut, code := socklab(t, "runs", "--controller", addr, "--token", "CT")
	if m := row.FindStringSubmatch(list); code != 0 || m == nil || m[1] != "running" || m[2] != "0/0" {
		t.Errorf("runs --controller mid-run (exit %d) does not list %s as running:\n%s%s", code, id, list, errOut)
	}
	if err := ctl.Process.Kill(); err != nil { // SIGKILL: nothing of the controller runs after this
		t.Fatal(err)
	}
	ctl.Wait()
	if code := waitExit(run); code != 3 {
		t.Errorf("the remote run's exit when its controller died = %d, want 3", code)
	}

	addr, _ = startServer(t, "controller", "--listen", n+"21:0", "--token", "CT", "--db", db)
	list, errOut, code = socklab(t, "runs", "--controller", addr, "--token", "CT")
	if m := row.FindStringSubmatch(list); code != 0 || m == nil || m[1] != "interrupted" {
		t.Fatalf("runs --controller after a restart (exit %d) does not list %s as interrupted:\n%s%s", code, id, list, errOut)
	}
	again, errOut, code := socklab(t, "transcript", id, "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 || !strings.Contains(errOut, id+", ") || !strings.Contains(again, "interrupted: the process running it (pid ") {
		t.Errorf("transcript --controller of the interrupted run (exit %d):\n%s%s", code, again, errOut)
	}
	// The local history reads the same database the same way.
	if list, errOut, code := socklab(t, "runs", "--db", db); code != 0 || !strings.Contains(list, "interrupted") {
		t.Errorf("runs --db (exit %d):\n%s%s", code, list, errOut)
	}
}

// TestLocalRunKilledInterrupted: a local run killed (SIGKILL) mid-run is listed as
// interrupted by the next command that opens its history, with the transcript it stored
// as it went.
func TestLocalRunKilledInterrupted(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	run := exec.Command(binary, "run", "../../controller/runner/testdata/blocks.star", "--db", db, "--color", "never")
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "accept()") {
	}
	if list, _, _ := socklab(t, "runs", "--db", db); !regexp.MustCompile(`(?m)^run-\S+\s+blocks\s.*\srunning\s`).MatchString(list) {
		t.Errorf("runs mid-run does not list the run as running:\n%s", list)
	}
	// What is older than the run's window (half a second) is written within a second.
	time.Sleep(2 * time.Second)
	run.Process.Kill()
	run.Wait()
	list, errOut, code := socklab(t, "runs", "--db", db)
	m := regexp.MustCompile(`(?m)^(run-\S+)\s+blocks\s.*\sinterrupted\s`).FindStringSubmatch(list)
	if code != 0 || m == nil {
		t.Fatalf("runs after the run was killed (exit %d) does not list it as interrupted:\n%s%s", code, list, errOut)
	}
	// What the run did before it was killed was stored as it went.
	out, errOut, code := socklab(t, "transcript", m[1], "--db", db, "--color", "never")
	// (The calls just before the one in flight may be held by the window: clocks may differ.)
	for _, op := range []string{"socket(AF_INET, SOCK_STREAM)", "listen(1)", "its transcript is stored up to then"} {
		if !strings.Contains(out+errOut, op) {
			t.Errorf("the killed run's transcript (exit %d) lacks %s:\n%s%s", code, op, out, errOut)
		}
	}
}
