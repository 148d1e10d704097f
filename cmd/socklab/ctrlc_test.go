package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCtrlCAtAnyMoment: Ctrl-C (SIGINT) ends a local run within a second, whether it was
// starting or in the lab (runner's TestInterruptedAfterTheLab takes the moments after the
// lab's last step). It exits 130 and the history lists the run as interrupted.
func TestCtrlCAtAnyMoment(t *testing.T) {
	execsBinary(t)
	for _, tc := range []struct {
		name  string
		after string // the line of the live transcript after which Ctrl-C comes ("" at once)
		n     string
	}{
		{"starting", "", "n=20000"},
		{"mid-lab", "recv(4)", "n=20000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "h.db")
			run := exec.Command(binary, "run", "../../controller/runner/testdata/pingpong.star", "--param", tc.n, "--db", db, "--color", "never")
			stdout, err := run.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { run.Process.Kill(); run.Wait() })
			sc := bufio.NewScanner(stdout)
			if tc.after != "" {
				for sc.Scan() && !strings.Contains(sc.Text(), tc.after) {
				}
			} else if !opensASocket(run.Process.Pid, 10*time.Second) {
				t.Fatal("the run opened no socket in 10s")
			}
			go func() { // keep the pipe flowing
				for sc.Scan() {
				}
			}()
			sent := time.Now()
			if err := run.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatalf("the run ended before Ctrl-C: %v", err)
			}
			code := waitExit(run)
			took := time.Since(sent)
			if code != 130 {
				t.Fatalf("exit %d after Ctrl-C, want 130", code)
			}
			if took > time.Second {
				t.Errorf("the run took %v to end after Ctrl-C, want at most 1s", took.Round(time.Millisecond))
			}
			list, _, _ := socklab(t, "runs", "--db", db)
			if !regexp.MustCompile(`(?m)^run-\S+\s+pingpong\s.*\sinterrupted`).MatchString(list) {
				t.Errorf("the history does not list the run as interrupted:\n%s", list)
			}
		})
	}
}

// opensASocket waits until process pid has a socket open (its first agent is starting, so
// its Ctrl-C handler is set: a fixed sleep may come before that on a loaded machine), at
// most within.
func opensASocket(pid int, within time.Duration) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				return true
			}
		}
	}
	return false
}
