package main

import (
	"bufio"
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
			} else {
				time.Sleep(200 * time.Millisecond) // its signal handler is set
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
