package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
)

// namespacesOf returns the network namespaces that runs of the process pid made (their
// names carry its pid, in base 36).
func namespacesOf(pid int) []string {
	mark := "socklab-" + strconv.FormatInt(int64(pid), 36) + "-"
	var out []string
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mark) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestNetnsCleanup: a netns run killed with SIGKILL leaves its namespaces; two runs in
// parallel, while a third process cleans again and again, pass untouched, and the dead
// run's namespaces are gone after; the runs leave none of their own.
func TestNetnsCleanup(t *testing.T) {
	execsBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("--topology netns needs root (CI runs as root)")
	}
	killed := exec.Command(binary, "run", "tcp-loop", "--topology", "netns", "--pace", "1s", "--db", "none")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(namespacesOf(killed.Process.Pid)) < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(namespacesOf(killed.Process.Pid)); n < 3 {
		killed.Process.Kill()
		killed.Wait()
		t.Fatalf("the run made %d namespaces, want its hosts' and its switch's", n)
	}
	killed.Process.Kill()
	killed.Wait()
	left := namespacesOf(killed.Process.Pid)
	if len(left) == 0 {
		t.Fatal("a run killed with SIGKILL left nothing: the test shows nothing")
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	cleaner := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				cleaner <- n
				return
			default:
			}
			if out, err := exec.Command(binary, "clean").CombinedOutput(); err != nil {
				t.Errorf("socklab clean: %v\n%s", err, out)
			}
			n++
		}
	}()
	pids := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(binary, "run", "tcp-simple", "--topology", "netns", "--pace", "20ms", "--db", "none", "--color", "never")
			out, err := cmd.CombinedOutput()
			pids[i] = cmd.Process.Pid
			if err != nil || !strings.Contains(string(out), "passed") {
				t.Errorf("a run beside the cleaner: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := <-cleaner; n < 2 {
		t.Logf("the cleaner ran %d times during the runs", n)
	}
	if out, err := exec.Command(binary, "clean").CombinedOutput(); err != nil {
		t.Errorf("socklab clean: %v\n%s", err, out)
	}
	for _, pid := range append(pids, killed.Process.Pid) {
		if left := namespacesOf(pid); len(left) > 0 {
			t.Errorf("namespaces of run %d left: %v", pid, left)
		}
	}
}

// TestControllerNetns: a controller started with --topology netns runs a remote lab that
// needs hosts apart, and its output is the local netns run's; on the local topology the
// same lab is refused, naming --topology netns.
func TestControllerNetns(t *testing.T) {
	execsBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("--topology netns needs root (CI runs as root)")
	}
	addr, _ := startServer(t, "controller", "--listen", testNet()+"9:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "ctl.db"), "--topology", "netns")
	remote, errOut, code := socklab(t, "run", "same-port-two-hosts", "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 {
		t.Fatalf("remote run: exit %d\n%s%s", code, remote, errOut)
	}
	local, _, _ := socklab(t, "run", "same-port-two-hosts", "--topology", "netns", "--color", "never", "--db", "none")
	if normalize(remote) != normalize(local) {
		t.Errorf("the remote run's output differs from the local one's (-local +remote):\n%s", lineDiff(normalize(local), normalize(remote)))
	}
	plain, _ := startServer(t, "controller", "--listen", testNet()+"10:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "plain.db"))
	out, errOut, code := socklab(t, "run", "same-port-two-hosts", "--controller", plain, "--token", "CT", "--color", "never")
	if code != 2 || !strings.Contains(out+errOut, "run it with --topology netns") {
		t.Errorf("on a local controller: exit %d, want 2 naming --topology netns\n%s%s", code, out, errOut)
	}
}

// TestLabsOnDocker runs the labs CI runs on every topology that gives hosts a network
// stack of their own on --topology docker, through the command line, and counts the
// containers and networks of this test's runs before and after (none left).
func TestLabsOnDocker(t *testing.T) {
	execsBinary(t)
	if out, code := dockerPing(); code != 0 {
		t.Skipf("docker: no engine answers (%s); CI runs with the engine up", out)
	}
	if out, errOut, code := socklab(t, "image", "build"); code != 0 || !strings.HasPrefix(out, "socklab-agent:") {
		t.Fatalf("socklab image build: exit %d\n%s%s", code, out, errOut)
	}
	for _, lab := range []string{"tcp-simple", "udp-echo", "chat-relay", "same-port-two-hosts", "tutorial-programs", "partition", "slow-link"} {
		t.Run(lab, func(t *testing.T) {
			cmd := exec.Command(binary, "run", lab, "--topology", "docker", "--db", "none", "--color", "never")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "passed") {
				t.Fatalf("socklab run %s --topology docker: %v\n%s", lab, err, out)
			}
			owner := strconv.FormatInt(int64(cmd.Process.Pid), 36) + "-"
			if left := dockerOwned(t, owner); len(left) > 0 {
				t.Errorf("the run left %v", left)
			}
		})
	}
}

// TestGradeOnDocker grades test submissions with --topology docker, a container per host
// of each submission, two submissions at once, and compares every check's verdict with
// the lab's golden verdicts (graded on the local topology); nothing of the runs is left.
func TestGradeOnDocker(t *testing.T) {
	execsBinary(t)
	if out, code := dockerPing(); code != 0 {
		t.Skipf("docker: no engine answers (%s); CI runs with the engine up", out)
	}
	subs := filepath.Join("..", "..", "labs", "testdata", "submissions", "tcp-upper-server")
	golden, err := os.ReadFile(filepath.Join(subs, "verdicts.golden"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(golden)), "\n")
	header := strings.Fields(lines[0])[1:]
	want := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		want[f[0]] = f[1:]
	}
	names := []string{"threaded", "sequential", "no-reuseaddr", "syntax-error"}
	grades := filepath.Join(t.TempDir(), "grades")
	args := []string{"grade", "tcp-upper-server", "--submissions", subs, "--topology", "docker", "--jobs", "2", "--out", grades}
	for _, n := range names {
		args = append(args, "--only", n)
	}
	cmd := exec.Command(binary, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("socklab %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	b, err := os.ReadFile(filepath.Join(grades, "grades.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Submissions []struct {
			Name   string
			Status string
			Checks []struct {
				Name   string
				Passed bool
			}
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Submissions) != len(names) {
		t.Fatalf("%d submissions graded, want %d:\n%s", len(rep.Submissions), len(names), out)
	}
	for _, s := range rep.Submissions {
		var got []string
		for i, c := range s.Checks {
			v := "FAIL"
			if c.Passed {
				v = "PASS"
			}
			if i < len(header) && c.Name != header[i] {
				v = "MISSING"
			}
			got = append(got, v)
		}
		if s.Status != "graded" || strings.Join(got, " ") != strings.Join(want[s.Name], " ") {
			t.Errorf("%s on docker: %s %v, want graded %v (%v)", s.Name, s.Status, got, want[s.Name], header)
		}
	}
	owner := strconv.FormatInt(int64(cmd.Process.Pid), 36) + "-"
	if left := dockerOwned(t, owner); len(left) > 0 {
		t.Errorf("the grading left %v", left)
	}
}

// dockerPing asks the engine whether it answers, through the Docker CLI's environment.
func dockerPing() (string, int) {
	out, err := exec.Command(binary, "clean").CombinedOutput()
	if err != nil || strings.Contains(string(out), "no docker engine") {
		return strings.TrimSpace(string(out)), 1
	}
	return "", 0
}

// dockerOwned lists the containers and networks whose socklab.owner label starts with
// owner (PID-, in base 36): what runs of that process made.
func dockerOwned(t *testing.T, owner string) []string {
	t.Helper()
	var left []string
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "label=socklab.owner", "--format", `{{.Label "socklab.owner"}} {{.Names}}`},
		{"network", "ls", "--filter", "label=socklab.owner", "--format", `{{.Label "socklab.owner"}} {{.Name}}`},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.HasPrefix(line, owner) {
				left = append(left, line)
			}
		}
	}
	return left
}

// TestDockerCleanup: a docker run killed with SIGKILL leaves its containers and network;
// two docker runs in parallel, while a third process cleans again and again, pass
// untouched; after, nothing of the three runs is left.
func TestDockerCleanup(t *testing.T) {
	execsBinary(t)
	if out, code := dockerPing(); code != 0 {
		t.Skipf("docker: no engine answers (%s); CI runs with the engine up", out)
	}
	killed := exec.Command(binary, "run", "tcp-loop", "--topology", "docker", "--pace", "1s", "--db", "none")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	owner := strconv.FormatInt(int64(killed.Process.Pid), 36) + "-"
	for deadline := time.Now().Add(60 * time.Second); len(dockerOwned(t, owner)) < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(dockerOwned(t, owner)); n < 3 {
		killed.Process.Kill()
		killed.Wait()
		t.Fatalf("the run made %d containers and networks, want its hosts' and its network", n)
	}
	killed.Process.Kill()
	killed.Wait()
	if len(dockerOwned(t, owner)) == 0 {
		t.Fatal("a run killed with SIGKILL left nothing: the test shows nothing")
	}
	stop := make(chan struct{})
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if out, err := exec.Command(binary, "clean").CombinedOutput(); err != nil {
				t.Errorf("socklab clean: %v\n%s", err, out)
			}
		}
	}()
	var wg sync.WaitGroup
	owners := []string{owner, "", ""}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(binary, "run", "tcp-simple", "--topology", "docker", "--db", "none", "--color", "never")
			out, err := cmd.CombinedOutput()
			owners[i+1] = strconv.FormatInt(int64(cmd.Process.Pid), 36) + "-"
			if err != nil || !strings.Contains(string(out), "passed") {
				t.Errorf("a run beside the cleaner: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-cleaned
	if out, err := exec.Command(binary, "clean").CombinedOutput(); err != nil {
		t.Errorf("socklab clean: %v\n%s", err, out)
	}
	for _, o := range owners {
		if left := dockerOwned(t, o); len(left) > 0 {
			t.Errorf("left by run %s: %v", o, left)
		}
	}
}

// faultTables returns the namespaces, of those named, that hold a fault table.
func faultTables(t *testing.T, names []string) []string {
	t.Helper()
	var with []string
	for _, name := range names {
		f, err := os.Open(filepath.Join("/run/netns", name))
		if err != nil {
			continue // gone meanwhile
		}
		c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
		if err != nil {
			f.Close()
			t.Fatalf("nftables in %s: %v", name, err)
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		f.Close()
		if err != nil {
			continue
		}
		for _, tb := range tables {
			if tb.Name == "socklab_faults" {
				with = append(with, name)
			}
		}
	}
	return with
}

// TestFaultsEndWithAKilledRun: a netns run killed with SIGKILL while its link is cut
// leaves no fault behind (the table is its agents', and goes with them), and socklab
// clean removes its namespaces.
func TestFaultsEndWithAKilledRun(t *testing.T) {
	execsBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("--topology netns needs root (CI runs as root)")
	}
	killed := exec.Command(binary, "run", "partition", "--topology", "netns", "--db", "none")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	var faulted []string
	for deadline := time.Now().Add(10 * time.Second); len(faulted) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		faulted = faultTables(t, namespacesOf(killed.Process.Pid))
	}
	killed.Process.Kill()
	killed.Wait()
	if len(faulted) < 2 {
		t.Fatalf("the run's hosts never held their faults (found in %v): the test shows nothing", faulted)
	}
	left := namespacesOf(killed.Process.Pid)
	if len(left) == 0 {
		t.Fatal("a run killed with SIGKILL left no namespace: the test shows nothing")
	}
	if still := faultTables(t, left); len(still) > 0 {
		t.Errorf("faults outlived the killed run in %v", still)
	}
	if out, err := exec.Command(binary, "clean").CombinedOutput(); err != nil {
		t.Errorf("socklab clean: %v\n%s", err, out)
	}
	if left := namespacesOf(killed.Process.Pid); len(left) > 0 {
		t.Errorf("namespaces of the killed run left: %v", left)
	}
}
