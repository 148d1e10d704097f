package store

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/controller/transcript"
)

// TestRunningRows: a run is listed as running from Begin; Save replaces its row with how
// it ended; a run whose process has ended is marked interrupted by the next Open, with
// its start kept; runs of live processes and of other machines are left running.
func TestRunningRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	me := parseOwner(st.process)
	if me.PID <= 0 || me.Start == 0 || !me.alive(me) {
		t.Fatalf("this process's owner %+v is not alive to itself", me)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	owners := map[string]owner{
		"run-live":      me,
		"run-saved":     me,
		"run-exited":    {Host: me.Host, Boot: me.Boot, PID: gone.Process.Pid, Start: me.Start},
		"run-reused":    {Host: me.Host, Boot: me.Boot, PID: me.PID, Start: me.Start - 1}, // this pid, an earlier process
		"run-rebooted":  {Host: me.Host, Boot: "another-boot", PID: me.PID, Start: me.Start},
		"run-elsewhere": {Host: me.Host + "-other", Boot: "another-boot", PID: 1, Start: 1},
	}
	checks := []transcript.Check{{ID: "a", MaxPoints: 2}, {ID: "b", MaxPoints: 1}}
	started := time.Now().Add(-time.Minute)
	for id, o := range owners {
		b, _ := json.Marshal(o)
		st.process = string(b)
		h := transcript.Header{RunID: id, Lab: "tcp-simple", Started: started, Checks: checks,
			Hosts: []transcript.Host{{Role: "server", Address: "127.0.0.2"}}}
		if err := st.Begin(t.Context(), h); err != nil {
			t.Fatal(err)
		}
	}
	verdicts := func(st *Store) map[string]Summary {
		runs, err := st.Runs(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Summary{}
		for _, r := range runs {
			out[r.ID] = r
		}
		return out
	}
	for id, r := range verdicts(st) {
		if r.Verdict != transcript.VerdictRunning || r.MaxScore != 3 || !r.Started.Equal(started) {
			t.Errorf("%s after Begin: %+v, want running, 0/3, started %v", id, r, started)
		}
	}
	res, err := st.Result(t.Context(), "run-live")
	if err != nil || res.ExitCode != transcript.ExitInterrupted || res.Error != notEnded || len(res.Header.Hosts) != 1 {
		t.Errorf("Result(run-live) = %+v, %v: want its start, exit 130 and %q", res, err, notEnded)
	}
	saved := &transcript.Result{Header: transcript.Header{RunID: "run-saved", Lab: "tcp-simple", Started: started}, Checks: checks}
	saved.Checks[0].Passed, saved.Checks[0].Reached = true, true
	if err := st.Save(t.Context(), saved, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = Open(path) // as a controller started again would
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]string{
		"run-live":      transcript.VerdictRunning,
		"run-saved":     transcript.VerdictPassed,
		"run-exited":    transcript.VerdictInterrupted,
		"run-reused":    transcript.VerdictInterrupted,
		"run-rebooted":  transcript.VerdictInterrupted,
		"run-elsewhere": transcript.VerdictRunning,
	}
	got := verdicts(st)
	for id, v := range want {
		if got[id].Verdict != v {
			t.Errorf("%s after reopening: %q, want %q", id, got[id].Verdict, v)
		}
	}
	if got["run-saved"].Score != 2 || got["run-saved"].MaxScore != 3 {
		t.Errorf("the saved run scores %d/%d, want 2/3", got["run-saved"].Score, got["run-saved"].MaxScore)
	}
	res, err = st.Result(t.Context(), "run-exited")
	if err != nil || res.ExitCode != transcript.ExitInterrupted || res.Verdict() != transcript.VerdictInterrupted ||
		!strings.HasPrefix(res.Error, "interrupted:") || res.Header.Lab != "tcp-simple" || len(res.Header.Hosts) != 1 {
		t.Errorf("Result(run-exited) = %+v, %v: want its start, exit 130, an error saying it was interrupted", res, err)
	}
}

// TestProcessStart: /proc's start time of this process is read, and a pid that no
// process has is not found.
func TestProcessStart(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := kernel.ProcessStart(gone.Process.Pid); err == nil {
		t.Errorf("kernel.ProcessStart(%d) of an exited process succeeded", gone.Process.Pid)
	}
	me := parseOwner(self())
	if again, err := kernel.ProcessStart(me.PID); err != nil || again != me.Start || again == 0 {
		t.Errorf("kernel.ProcessStart(self) = %d, %v, want %d", again, err, me.Start)
	}
}
