package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
)

// TestCgroupKills: where a cgroup can be made, the kernel kills a lab over its memory
// budget at the limit (the watchdog, sampling, would only come after), and its cgroup
// is gone once the process is.
func TestCgroupKills(t *testing.T) {
	cg, err := newCgroup(64 << 20)
	if err != nil {
		t.Skipf("no memory cgroup can be made here: %v", err)
	}
	cg.remove()
	src, err := os.ReadFile("testdata/bomb.star")
	if err != nil {
		t.Fatal(err)
	}
	b := runner.DefaultBudgets
	b.Memory = 256 << 20
	l, err := Load(t.Context(), Spec{FileName: "bomb.star", Source: src}, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.p.mem
	if m.cg == nil {
		t.Fatalf("the lab's memory is bounded by %s, want a cgroup", m.how())
	}
	rec := runner.Run(t.Context(), l, topology.Local{}, runner.Options{}, runner.Discard{})
	if want := runner.OverMemory(b.Memory).Error(); rec.Error != want {
		t.Errorf("run error = %q, want %q", rec.Error, want)
	}
	if !m.oom || m.killed.Load() {
		t.Errorf("killed by the cgroup: %v, by the watchdog: %v; want the cgroup's kill", m.oom, m.killed.Load())
	}
	if _, err := os.Stat(m.cg.dir); !os.IsNotExist(err) {
		t.Errorf("the lab's cgroup %s is still there (%v)", m.cg.dir, err)
	}
}

// TestCleanCgroups: the labs' cgroups of a controller that has ended (killed with
// SIGKILL) are removed; a live controller's stay.
func TestCleanCgroups(t *testing.T) {
	live, err := newCgroup(64 << 20)
	if err != nil {
		t.Skipf("no memory cgroup can be made here: %v", err)
	}
	defer live.remove()
	self, err := topology.Self()
	if err != nil {
		t.Fatal(err)
	}
	gone := topology.Owner{PID: self.PID, Start: self.Start + 1} // this pid, another process
	dead := filepath.Join(filepath.Dir(live.dir), fmt.Sprintf("%s%s-1", cgroupPrefix, gone))
	if err := os.Mkdir(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dead)
	removed, err := CleanCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, dead) {
		t.Errorf("CleanCgroups() removed %q, want %s among them", removed, dead)
	}
	if _, err := os.Stat(live.dir); err != nil {
		t.Errorf("the live controller's cgroup: %v", err)
	}
}
