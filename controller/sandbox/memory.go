package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/socklab/socklab/agent/cgroups"
	"github.com/socklab/socklab/controller/topology"
)

// sampleEvery is how often the watchdog reads a lab process's RSS.
const sampleEvery = 50 * time.Millisecond

// memoryBound holds a lab's process under its memory budget, two ways: a memory cgroup
// of its own, where this process may make one (root, cgroup v1 or v2: the kernel kills
// the process as it reaches the limit), and everywhere a watchdog that reads the
// process's RSS (its anonymous memory) every 50 ms and kills it past the limit. The child itself keeps its Go
// heap under the limit where garbage allows (debug.SetMemoryLimit) and its address
// space far above it, as a last resort (bound).
type memoryBound struct {
	pid   int
	limit int64
	cg    *cgroup // nil: none could be made
	// cgErr is why there is no cgroup.
	cgErr error

	killed atomic.Bool   // the watchdog killed the process
	stop   chan struct{} // closed to stop the watchdog
	done   chan struct{} // closed when the watchdog has stopped
	// oom is set by finish: the cgroup's kernel killed the process for its memory.
	oom bool
}

// boundMemory puts the process pid under limit bytes (it has not begun to run its lab),
// and starts its watchdog. noCgroup leaves the cgroup out (tests of the fallback).
func boundMemory(pid int, limit int64, noCgroup bool) *memoryBound {
	m := &memoryBound{pid: pid, limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	if limit <= 0 {
		close(m.done)
		return m
	}
	if noCgroup {
		m.cgErr = errors.New("left out")
	} else {
		m.cg, m.cgErr = newCgroup(limit)
		if m.cgErr == nil {
			if err := m.cg.add(pid); err != nil {
				m.cg.remove()
				m.cg, m.cgErr = nil, err
			}
		}
	}
	threshold := limit
	if m.cg != nil {
		// The cgroup kills at the limit; the watchdog stays behind it, as a second line:
		// what the runtime made before the process joined its cgroup is not charged
		// there, yet is in its RSS.
		threshold += cgroupSlack
	}
	go m.watch(threshold)
	return m
}

// cgroupSlack is how far past the limit the watchdog lets a process in a cgroup go: more
// than what the runtime makes before the process joins it (a few MiB).
const cgroupSlack = 32 << 20

// watch kills the process once its RSS is over threshold, until stopped.
func (m *memoryBound) watch(threshold int64) {
	defer close(m.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if rss := residentBytes(m.pid); rss > threshold {
				m.killed.Store(true)
				_ = syscall.Kill(m.pid, syscall.SIGKILL)
				return
			}
		}
	}
}

// finish stops the watchdog and, the process having ended (killed by a signal, or
// not), reads whether its cgroup killed it and removes the cgroup.
func (m *memoryBound) finish(killed bool) {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	if m.cg != nil {
		m.oom = killed && m.cg.oomKilled()
		m.cg.remove()
	}
}

// exceeded reports whether the process was killed for its memory; call it after finish.
func (m *memoryBound) exceeded() bool { return m.killed.Load() || m.oom }

// how says how the memory is bounded.
func (m *memoryBound) how() string {
	if m.cg != nil {
		return "cgroup " + m.cg.dir + " and an RSS watchdog"
	}
	return fmt.Sprintf("an RSS watchdog (no cgroup: %v)", m.cgErr)
}

// MemoryBound says how labs' processes started by this process have their memory
// bounded: a cgroup (of which hierarchy, where) and the RSS watchdog, or the watchdog
// alone and why, for a controller's log. It makes a cgroup to see, and removes it.
func MemoryBound() string {
	cg, err := newCgroup(1 << 30)
	if err != nil {
		return fmt.Sprintf("an RSS watchdog (no cgroup: %v)", err)
	}
	defer cg.remove()
	v := "v1"
	if cg.v2 {
		v = "v2"
	}
	return fmt.Sprintf("a cgroup (%s, under %s) and an RSS watchdog", v, filepath.Dir(cg.dir))
}

// residentBytes is the anonymous part of pid's RSS (0: gone or unknown), from
// /proc/PID/statm (resident less shared pages): what a lab's Starlark makes. The pages
// of the binary itself, shared with the controller, are not the lab's doing, and a
// cgroup does not charge them to it either.
func residentBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0
	}
	resident, _ := strconv.ParseInt(f[1], 10, 64)
	shared, _ := strconv.ParseInt(f[2], 10, 64)
	return (resident - shared) * int64(os.Getpagesize())
}

// cgroupSeq numbers the cgroups of this process's labs.
var cgroupSeq atomic.Uint64

// cgroupPrefix begins the names of labs' cgroups: socklab-lab-OWNER-N, OWNER the process
// that made it (topology.Owner), N its number in that process.
const cgroupPrefix = "socklab-lab-"

// cleanOnce cleans, before this process makes its first cgroup, what dead ones left.
var cleanOnce sync.Once

// cgroup is the memory cgroup of one lab's process, below this process's own.
type cgroup struct {
	dir string
	v2  bool
}

// newCgroup makes a memory cgroup limited to limit bytes (swap included where the
// kernel accounts it).
func newCgroup(limit int64) (*cgroup, error) {
	base, v2, err := memoryCgroupBase()
	if err != nil {
		return nil, err
	}
	cleanOnce.Do(func() { _, _ = cleanBelow(base) })
	owner, err := topology.Self()
	if err != nil {
		return nil, fmt.Errorf("memory cgroup: %w", err)
	}
	cg := &cgroup{dir: filepath.Join(base, fmt.Sprintf("%s%s-%d", cgroupPrefix, owner, cgroupSeq.Add(1))), v2: v2}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("memory cgroup: %w", err)
	}
	n := strconv.FormatInt(limit, 10)
	settings := [][2]string{{"memory.limit_in_bytes", n}, {"memory.memsw.limit_in_bytes", n}}
	if v2 {
		settings = [][2]string{{"memory.max", n}, {"memory.swap.max", "0"}}
	}
	for i, s := range settings {
		if err := os.WriteFile(filepath.Join(cg.dir, s[0]), []byte(s[1]), 0o644); err != nil {
			if i > 0 && errors.Is(err, os.ErrNotExist) {
				continue // no swap accounting: the memory limit alone
			}
			cg.remove()
			return nil, fmt.Errorf("memory cgroup: %s: %w", s[0], err)
		}
	}
	return cg, nil
}

// add moves pid into the cgroup.
func (c *cgroup) add(pid int) error {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("memory cgroup: join: %w", err)
	}
	return nil
}

// oomKilled reports whether the kernel killed a process of the cgroup for its memory.
func (c *cgroup) oomKilled() bool {
	if c.v2 {
		return cgroups.Count(filepath.Join(c.dir, "memory.events"), "oom_kill") > 0
	}
	// oom_kill counts kills (Linux 4.13 on); before it, the limit reached is the sign.
	return cgroups.Count(filepath.Join(c.dir, "memory.oom_control"), "oom_kill") > 0 || failCount(c.dir) > 0
}

// failCount is how often a v1 cgroup's usage reached its limit.
func failCount(dir string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, "memory.failcnt"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// remove removes the cgroup, giving the kernel a moment to let its last process go.
func (c *cgroup) remove() {
	for range 100 {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CleanCgroups removes the memory cgroups of labs' processes whose controller is gone,
// killed with SIGKILL (a controller removes each as its lab's process ends, and cleans
// what dead ones left before its first), and returns them. One that still holds a
// process stays, until that process, its pipe from the dead controller closed, ends.
func CleanCgroups() ([]string, error) {
	base, _, err := memoryCgroupBase()
	if err != nil {
		return nil, nil // no memory cgroups here: none to clean
	}
	return cleanBelow(base)
}

// cleanBelow removes the labs' cgroups in base whose maker has ended.
func cleanBelow(base string) ([]string, error) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("clean labs' cgroups: %w", err)
	}
	var removed []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
		i := strings.LastIndexByte(rest, '-')
		if !ok || !e.IsDir() || i < 0 {
			continue
		}
		if owner, err := topology.ParseOwner(rest[:i]); err != nil || owner.Alive() {
			continue
		}
		if dir := filepath.Join(base, e.Name()); os.Remove(dir) == nil {
			removed = append(removed, dir)
		}
	}
	return removed, nil
}

// memoryCgroupBase is the directory of this process's own memory cgroup, where labs'
// cgroups go, and whether it is cgroup v2's unified hierarchy.
func memoryCgroupBase() (string, bool, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		own, err := cgroups.Own(func(controllers string) bool { return controllers == "" })
		if err != nil {
			return "", false, err
		}
		return filepath.Join("/sys/fs/cgroup", own), true, nil
	}
	mount, root, err := cgroups.Mount("memory")
	if err != nil {
		return "", false, err
	}
	own, err := cgroups.Own(func(controllers string) bool {
		for _, c := range strings.Split(controllers, ",") {
			if c == "memory" {
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", false, err
	}
	// The mount shows the hierarchy from root on (a container's own cgroup, /docker/ID):
	// this process's cgroup is below it.
	rel, err := filepath.Rel(root, own)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false, fmt.Errorf("this process's memory cgroup %s is outside the mounted %s", own, root)
	}
	return filepath.Join(mount, rel), false, nil
}
