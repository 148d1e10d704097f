package process_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/process"
)

func TestMain(m *testing.M) {
	process.Init() // this binary is also the jobs' init
	if os.Getenv(agenttest.RefuseNamespacesEnv) != "" {
		if err := agenttest.RefuseNamespaces(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	// One job first, so that what the runtime opens once (its poller) is in the baseline.
	if j, err := process.Start(process.Spec{Path: "/bin/true"}); err == nil {
		j.Close("warm-up")
	}
	before := fds()
	code := m.Run()
	// Every job's pipes and control socket went with it.
	if after := fds(); after > before && code == 0 {
		fmt.Fprintf(os.Stderr, "open fds: %d after the tests, %d before\n", after, before)
		code = 1
	}
	// Every job's cgroups went with it.
	var left []string
	for _, depth := range []string{"*", "*/*", "*/*/*", "*/*/*/*"} {
		found, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/%s/socklab-job-%d-*", depth, os.Getpid()))
		left = append(left, found...)
	}
	if len(left) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "cgroups left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// start starts a job running sh -c script, closed when the test ends.
func start(t *testing.T, script string, lim process.Limits, opts ...func(*process.Spec)) *process.Job {
	t.Helper()
	spec := process.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"},
		Dir: jobDir(t), Limits: lim}
	for _, o := range opts {
		o(&spec)
	}
	j, err := process.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close("test over") })
	return j
}

// jobDir returns a fresh directory that a job's own user can reach, removed when the
// test ends.
func jobDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "socklab-job-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wait waits for j to end, at most 10 s.
func wait(t *testing.T, j *process.Job) process.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	exit, err := j.Wait(ctx)
	if err != nil {
		t.Fatalf("the job did not end: %v", err)
	}
	return exit
}

func TestRunsAndCaptures(t *testing.T) {
	j := start(t, "echo out; echo err >&2; exit 3", process.Limits{})
	exit := wait(t, j)
	if exit.Code != 3 || exit.Signal != "" || exit.String() != "exit 3" {
		t.Errorf("exit = %+v (%s), want exit 3", exit, exit)
	}
	if out, n := j.Output(process.Stdout); string(out) != "out\n" || n != 4 {
		t.Errorf("stdout = %q (%d bytes), want %q", out, n, "out\n")
	}
	if out, _ := j.Output(process.Stderr); string(out) != "err\n" {
		t.Errorf("stderr = %q, want %q", out, "err\n")
	}
	want := "pid and mount namespaces"
	if os.Getenv(agenttest.RefuseNamespacesEnv) != "" {
		want = "no namespaces (the kernel refuses them: operation not permitted), a subreaper init"
	}
	if c := j.Containment(); !strings.Contains(c, want) || (os.Geteuid() == 0) != strings.Contains(c, "uid ") {
		t.Errorf("containment = %q", c)
	}
}

// TestCleanEnvironment: the program sees exactly the environment given, nothing of the
// agent's (which here holds a secret).
func TestCleanEnvironment(t *testing.T) {
	t.Setenv("SOCKLAB_TOKEN", "agent-secret")
	j := start(t, "", process.Limits{}, func(s *process.Spec) {
		s.Path, s.Argv, s.Env = "/usr/bin/env", []string{"env"}, []string{"A=1", "PATH=/usr/bin:/bin"}
	})
	wait(t, j)
	if out, _ := j.Output(process.Stdout); string(out) != "A=1\nPATH=/usr/bin:/bin\n" {
		t.Errorf("the program's environment = %q, want only A and PATH", out)
	}
}

// TestCredentials: as root, a job's program runs as its own uid with its own gid and no
// supplementary group (none of root's), whichever thread of the init forked it; its
// scheduling policy is the usual one, though its init may have waited at idle priority.
func TestCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: jobs keep the agent's uid in a user namespace of their own")
	}
	for i := range 5 { // a launcher's spare and fresh inits alike
		l := process.NewLauncher(nil)
		t.Cleanup(l.Close)
		for range 2 {
			j, err := l.Start(process.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "id -u; id -g; id -G; cut -d' ' -f41 /proc/self/stat"},
				Dir: jobDir(t), Env: []string{"PATH=/usr/bin:/bin"}})
			if err != nil {
				t.Fatal(err)
			}
			wait(t, j)
			out, _ := j.Output(process.Stdout)
			j.Close("done")
			f := strings.Fields(string(out))
			if len(f) != 4 || f[0] == "0" || f[1] == "0" || f[2] != f[1] || f[3] != "0" {
				t.Fatalf("run %d: uid, gid, groups, policy = %q; want the job's own uid and gid, no other group, policy 0 (SCHED_OTHER)", i, out)
			}
		}
	}
}

func TestStdin(t *testing.T) {
	j := start(t, "exec cat", process.Limits{}, func(s *process.Spec) { s.Stdin = true })
	if _, err := j.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	j.CloseStdin()
	if exit := wait(t, j); exit.Code != 0 {
		t.Errorf("cat: %s", exit)
	}
	if out, _ := j.Output(process.Stdout); string(out) != "hello\n" {
		t.Errorf("cat echoed %q", out)
	}
}

// TestSignals: a signal reaches the program (whose handler runs); one it ignores leaves
// it running until Kill, which ends it with SIGKILL and says why.
func TestSignals(t *testing.T) {
	j := start(t, `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.01; done`, process.Limits{})
	waitOutput(t, j, "ready")
	if err := j.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if exit := wait(t, j); exit.Code != 7 {
		t.Errorf("after SIGTERM: %s, want exit 7 from the trap", exit)
	}

	stubborn := start(t, `trap '' TERM; echo ready; while :; do sleep 0.01; done`, process.Limits{})
	waitOutput(t, stubborn, "ready")
	stubborn.Signal(unix.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	if !stubborn.Alive() {
		t.Fatal("a program that ignores SIGTERM ended on it")
	}
	stubborn.Kill()
	if exit := wait(t, stubborn); exit.Signal != "SIGKILL" || exit.Reason != "killed" {
		t.Errorf("after Kill: %+v, want SIGKILL (killed)", exit)
	}
}

func waitOutput(t *testing.T, j *process.Job, want string) {
	t.Helper()
	ended := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ended; time.Sleep(5 * time.Millisecond) {
		ended = !j.Alive()
		if out, _ := j.Output(process.Stdout); bytes.Contains(out, []byte(want)) {
			return
		}
	}
	out, _ := j.Output(process.Stdout)
	errOut, _ := j.Output(process.Stderr)
	how := "still running after 10 s"
	if ended {
		how = "ended: " + wait(t, j).String()
	}
	t.Fatalf("the program never printed %q (%s; stdout: %q; stderr: %q; its processes: %v)", want, how, out, errOut, commands(j.Pids()))
}

// commands returns the command lines of pids, for a failure's message.
func commands(pids []int) []string {
	var cmds []string
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmds = append(cmds, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})))
	}
	return cmds
}

// TestNothingSurvives: daemons made with setsid and a double fork, and a fork loop,
// end with the job, whether its program exits or is killed.
func TestNothingSurvives(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		kill         bool // kill the job once its sleepers run; else its program exits by itself
	}{
		{"setsid and double fork, program exits",
			`(setsid sh -c 'touch up1; exec sleep 1000.271' &); (sh -c 'touch up2; exec sleep 1000.271' &) &
			 while [ ! -e up1 ] || [ ! -e up2 ]; do sleep 0.01; done; echo started; exit 0`, false},
		// A fork loop that keeps going when the limit refuses a fork (a shell would exit).
		{"fork loop, killed", `exec /usr/bin/python3 -c '
import os, time
print("started", flush=True)
while True:
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "1000.271"])
    except OSError:
        time.sleep(0.001)
'`, true},
		{"children running, killed", `sleep 1000.271 & sleep 1000.271 & echo started; wait`, true},
		// Its output closed, the job's readers see EOF; the job still runs until killed.
		{"output closed, still running, killed", `echo started; exec >&- 2>&-; exec sleep 1000.271`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := start(t, tc.script, process.Limits{Processes: 32, Wall: 5 * time.Second})
			waitOutput(t, j, "started")
			if tc.kill {
				for deadline := time.Now().Add(5 * time.Second); len(agenttest.ProcessesWith("1000.271")) == 0 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				if len(agenttest.ProcessesWith("1000.271")) == 0 {
					t.Fatal("the job's sleepers never started")
				}
				j.Kill()
			}
			exit := wait(t, j)
			if !tc.kill && exit.Code != 0 {
				t.Errorf("the program: %s, want exit 0", exit)
			}
			j.Close("test")
			if left := agenttest.ProcessesWith("1000.271"); len(left) > 0 {
				t.Errorf("processes of the job outlived it: %v", left)
			}
		})
	}
}

// TestLimits: runaway output, memory and time are cut off, each saying so.
func TestLimits(t *testing.T) {
	t.Run("endless output", func(t *testing.T) {
		j := start(t, "exec yes", process.Limits{Output: 64 << 10, Wall: time.Second})
		exit := wait(t, j)
		kept, total := j.Output(process.Stdout)
		if len(kept) != 64<<10 || total <= 64<<10 {
			t.Errorf("kept %d bytes of %d, want 65536 of more", len(kept), total)
		}
		if exit.Signal != "SIGKILL" || exit.Reason != "wall time limit (1s)" {
			t.Errorf("exit = %s, want SIGKILL (wall time limit (1s))", exit)
		}
		if want := fmt.Sprintf("SIGKILL (wall time limit (1s); stdout beyond 64 KiB dropped (%d bytes in all))", total); exit.String() != want {
			t.Errorf("exit = %q, want %q", exit, want)
		}
	})
	t.Run("never exits", func(t *testing.T) {
		j := start(t, "exec sleep 1000.271", process.Limits{Wall: 300 * time.Millisecond})
		if exit := wait(t, j); exit.String() != "SIGKILL (wall time limit (300ms))" {
			t.Errorf("exit = %q, want SIGKILL (wall time limit (300ms))", exit)
		}
		if left := agenttest.ProcessesWith("1000.271"); len(left) > 0 {
			t.Errorf("processes of the job outlived it: %v", left)
		}
	})
	t.Run("memory", func(t *testing.T) {
		j := start(t, `exec /usr/bin/python3 -c 'x = bytearray(1 << 30); print("allocated")'`, process.Limits{Memory: 64 << 20})
		exit := wait(t, j)
		out, _ := j.Output(process.Stdout)
		if exit.Code == 0 || bytes.Contains(out, []byte("allocated")) {
			t.Errorf("a 1 GiB allocation under a 64 MiB limit: %s, stdout %q", exit, out)
		}
		// As root the job's cgroup kills it and says so; without root the allocation
		// fails inside the program, which says so itself (Python: MemoryError).
		errOut, _ := j.Output(process.Stderr)
		if os.Geteuid() == 0 && exit.String() != "SIGKILL (memory limit (64 MiB))" {
			t.Errorf("as root: exit = %q, want SIGKILL (memory limit (64 MiB))", exit)
		}
		if os.Geteuid() != 0 && !bytes.Contains(errOut, []byte("MemoryError")) {
			t.Errorf("without root: stderr = %q, want a MemoryError", errOut)
		}
	})
	t.Run("processes", func(t *testing.T) {
		j := start(t, `exec /usr/bin/python3 -c '
import os, sys, time
kids = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        kids += 1
except OSError as e:
    print("refused after", kids, e.strerror, file=sys.stderr)
    sys.exit(3)
'`, process.Limits{Processes: 16, Wall: 10 * time.Second})
		exit := wait(t, j)
		errOut, _ := j.Output(process.Stderr)
		if exit.Code != 3 || !bytes.Contains(errOut, []byte("refused after")) {
			t.Fatalf("a fork loop under a limit of 16: %s, stderr %q", exit, errOut)
		}
		if os.Geteuid() == 0 && exit.String() != "exit 3 (process limit (16): a fork was refused)" {
			t.Errorf("as root: exit = %q, want exit 3 (process limit (16): a fork was refused)", exit)
		}
	})
	t.Run("open files", func(t *testing.T) {
		j := start(t, `exec /usr/bin/python3 -c '
fs = []
while True:
    fs.append(open("/dev/null"))
'`, process.Limits{OpenFiles: 32})
		exit := wait(t, j)
		errOut, _ := j.Output(process.Stderr)
		if exit.Code != 1 || !bytes.Contains(errOut, []byte("Too many open files")) {
			t.Errorf("opening files under a limit of 32: %s, stderr %q, want exit 1 and EMFILE's message", exit, errOut)
		}
	})
	t.Run("cpu", func(t *testing.T) {
		j := start(t, "while :; do :; done", process.Limits{CPU: time.Second})
		exit := wait(t, j)
		if exit.String() != "SIGXCPU (CPU time limit (1s))" {
			t.Errorf("a spinning program under a 1 s CPU limit: %q, want SIGXCPU (CPU time limit (1s))", exit)
		}
		// The limit counts the exact run time; the reported user and system times are
		// sampled and split by ticks, and on a loaded machine come out a little lower.
		if exit.CPU < 500*time.Millisecond || exit.CPU > 3*time.Second {
			t.Errorf("CPU = %s, want about 1 s", exit.CPU)
		}
	})
}

// TestConfined: a program sees only its own job in /proc, cannot read the agent's
// environment, and its kill(-1) ends only its own job.
func TestConfined(t *testing.T) {
	bare := os.Getenv(agenttest.RefuseNamespacesEnv) != ""
	if bare && os.Geteuid() != 0 {
		t.Skip("bare, without root: a job runs as the agent's user and sees it (the machine is the boundary)")
	}
	t.Setenv("SOCKLAB_TOKEN", "agent-secret")
	neighbour := start(t, "echo started; exec sleep 1000.314", process.Limits{})
	waitOutput(t, neighbour, "started")
	j := start(t, fmt.Sprintf(`ls /proc | grep -c '^[0-9]'; cat /proc/%d/environ; cat /proc/1/environ | tr '\0' '\n' | grep -c TOKEN; kill -9 -1; echo still`, os.Getpid()), process.Limits{})
	wait(t, j)
	out, _ := j.Output(process.Stdout)
	errOut, _ := j.Output(process.Stderr)
	if bytes.Contains(out, []byte("agent-secret")) || bytes.Contains(errOut, []byte("agent-secret")) {
		t.Errorf("the program read the agent's token: %q %q", out, errOut)
	}
	lines := strings.Fields(string(out))
	if !bare && (len(lines) == 0 || lines[0] != "3" && lines[0] != "4") {
		t.Errorf("the program sees %v processes in /proc, want its own few (init, sh, ls, grep)", lines)
	}
	if !neighbour.Alive() {
		t.Error("a neighbour job died of another job's kill -9 -1")
	}
	if err := unix.Kill(os.Getpid(), 0); err != nil {
		t.Errorf("the agent is gone? %v", err)
	}
}

// TestUnprivileged runs this file's tests again as an unprivileged user (nobody), where
// jobs get a user namespace and rlimits instead of their own uid and cgroups.
func TestUnprivileged(t *testing.T) {
	if os.Getenv(agenttest.UnprivilegedEnv) != "" {
		t.Skip("already the unprivileged run")
	}
	if os.Geteuid() != 0 {
		t.Skip("this run is unprivileged already: the tests above ran in that mode")
	}
	if testing.Short() {
		t.Skip("-short: the unprivileged re-run is skipped")
	}
	out := agenttest.AsNobody(t, "^(TestRunsAndCaptures|TestCleanEnvironment|TestStdin|TestSignals|TestNothingSurvives|TestLimits|TestConfined|TestLauncher)$")
	if !bytes.Contains(out, []byte("--- PASS: TestConfined")) || !bytes.Contains(out, []byte("--- PASS: TestNothingSurvives")) {
		t.Errorf("the unprivileged run did not run the containment tests:\n%s", out)
	}
}

// bareTests are the tests that hold for bare jobs too (TestConfined checks what holds of
// it there).
const bareTests = "^(TestRunsAndCaptures|TestCleanEnvironment|TestStdin|TestSignals|TestNothingSurvives|TestLimits|TestConfined|TestLauncher|TestBareContainment)$"

// TestBare runs this file's tests again where the kernel refuses namespaces (a seccomp
// filter like Docker's default profile), as root and as nobody: jobs start bare, as
// subreapers, and are still limited and leave nothing behind.
func TestBare(t *testing.T) {
	if os.Getenv(agenttest.RefuseNamespacesEnv) != "" {
		t.Skip("already the run without namespaces")
	}
	if testing.Short() {
		t.Skip("-short: the runs without namespaces are skipped")
	}
	runs := map[string]bool{"as this user": false}
	if os.Geteuid() == 0 && os.Getenv(agenttest.UnprivilegedEnv) == "" {
		runs["as nobody"] = true
	}
	for name, nobody := range runs {
		t.Run(name, func(t *testing.T) {
			out := agenttest.Rerun(t, bareTests, nobody, agenttest.RefuseNamespacesEnv+"=1")
			for _, want := range []string{"--- PASS: TestNothingSurvives", "--- PASS: TestBareContainment", "--- PASS: TestLimits"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("the run without namespaces did not pass %s:\n%s", strings.TrimPrefix(want, "--- PASS: "), out)
				}
			}
		})
	}
}

// TestBareContainment: where namespaces are refused, a job says so and why.
func TestBareContainment(t *testing.T) {
	j := start(t, "echo hi", process.Limits{})
	wait(t, j)
	refused := os.Getenv(agenttest.RefuseNamespacesEnv) != ""
	if got := strings.HasPrefix(j.Containment(), "no namespaces (") && strings.Contains(j.Containment(), "subreaper"); got != refused {
		t.Errorf("namespaces refused: %v; containment %q", refused, j.Containment())
	}
	if refused && !strings.Contains(process.NamespacesRefused(), "operation not permitted") {
		t.Errorf("NamespacesRefused() = %q, want the kernel's EPERM", process.NamespacesRefused())
	}
}

// TestLauncher: a launcher's jobs run as the package's do; once a job ends it has one
// spare init waiting, which the next job uses; a spare killed from outside is replaced;
// Close leaves no process and no fd behind.
func TestLauncher(t *testing.T) {
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	before, kids := fds(), len(agenttest.Children())
	l := process.NewLauncher(nil)
	run := func() (initPid int) {
		t.Helper()
		j, err := l.Start(process.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "echo $$"}, Dir: jobDir(t), Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		if exit := wait(t, j); exit.Code != 0 {
			t.Fatalf("the job: %s", exit)
		}
		if out, _ := j.Output(process.Stdout); len(out) == 0 {
			t.Error("the program printed nothing")
		}
		j.Close("done")
		return j.Pid()
	}
	spare := func() int {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n := len(agenttest.Children()) - kids; n > 0 {
				return n
			}
		}
		t.Fatal("no spare init appeared after a job ended")
		return 0
	}
	run()
	if n := spare(); n != 1 {
		t.Errorf("%d spare inits, want 1", n)
	}
	pid := agenttest.Children()[0]
	// The next job runs on it, once the launcher holds it (a moment after it starts).
	took := false
	for range 100 {
		if took = run() == pid; took {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !took {
		t.Errorf("no job ran on the spare init %d", pid)
	}
	spare()
	for _, p := range agenttest.Children() {
		unix.Kill(p, unix.SIGKILL) // the spare dies while it waits
	}
	run() // on an init of its own
	spare()
	l.Close()
	if n := len(agenttest.Children()) - kids; n != 0 {
		t.Errorf("%d children after Close, want 0", n)
	}
	if after := fds(); after != before {
		t.Errorf("open fds: %d after Close, %d before", after, before)
	}
}

// TestSignalAfterExit: as Python's send_signal, a signal to a program that has ended,
// whether or not its end has been seen yet, does nothing and is no error.
func TestSignalAfterExit(t *testing.T) {
	for range 5 {
		j := start(t, "trap '' USR1; exec sleep 0.05", process.Limits{})
		for deadline := time.Now().Add(10 * time.Second); j.Alive() && time.Now().Before(deadline); {
			if err := j.Signal(unix.SIGUSR1); err != nil { // until, and as, it ends
				t.Fatalf("a signal as the program ends: %v", err)
			}
		}
		wait(t, j)
		if err := j.Signal(unix.SIGTERM); err != nil {
			t.Fatalf("a signal after the program ended: %v", err)
		}
	}
}
