package process

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/socklab/socklab/agent/cgroups"
)

// jobSeq numbers this agent's jobs, for their cgroups' names.
var jobSeq atomic.Uint64

// joinCgroups makes the job's cgroups (v1: pids and memory) below the agent's own, sets
// the job's limits there and moves pid in. It returns the cgroups' directories.
func joinCgroups(pid int, lim Limits) (dirs []string, err error) {
	defer func() {
		if err != nil {
			removeCgroups(dirs)
			dirs = nil
		}
	}()
	name := fmt.Sprintf("socklab-job-%d-%d", os.Getpid(), jobSeq.Add(1))
	for _, c := range []struct {
		controller string
		settings   [][2]string // file, value, in order
	}{
		{"pids", [][2]string{{"pids.max", strconv.Itoa(lim.Processes + initThreads)}}},
		{"memory", [][2]string{{"memory.limit_in_bytes", strconv.FormatInt(lim.Memory, 10)},
			{"memory.memsw.limit_in_bytes", strconv.FormatInt(lim.Memory, 10)}}},
	} {
		base, err := cgroups.Dir(c.controller)
		if err != nil {
			return dirs, err
		}
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return dirs, fmt.Errorf("cgroup %s: %w", c.controller, err)
		}
		dirs = append(dirs, dir)
		for _, s := range c.settings {
			if err := os.WriteFile(filepath.Join(dir, s[0]), []byte(s[1]), 0o644); err != nil {
				if s[0] == "memory.memsw.limit_in_bytes" && errors.Is(err, os.ErrNotExist) {
					continue // no swap accounting: the memory limit alone
				}
				return dirs, fmt.Errorf("cgroup %s: %s: %w", c.controller, s[0], err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return dirs, fmt.Errorf("cgroup %s: join: %w", c.controller, err)
		}
	}
	return dirs, nil
}

// removeCgroups removes a finished job's cgroups, giving the kernel a moment to let
// its last processes go.
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		for i := 0; i < 100; i++ {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// The uids jobs run as, as root: a range no account uses, one uid per live job, across
// every agent on the machine (a lock file per uid in uidDir).
const (
	uidBase  = 0x70000000
	uidCount = 1 << 16
	uidDir   = "/run/socklab/uids"
)

// uidLease is a uid held for one live job.
type uidLease struct {
	id   int
	lock *os.File
}

// leaseUID takes a uid no other live job holds.
func leaseUID() (*uidLease, error) {
	if err := os.MkdirAll(uidDir, 0o700); err != nil {
		return nil, fmt.Errorf("job uids: %w", err)
	}
	start := rand.IntN(uidCount)
	for i := range uidCount {
		id := uidBase + (start+i)%uidCount
		f, err := os.OpenFile(filepath.Join(uidDir, strconv.Itoa(id)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("job uids: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return &uidLease{id: id, lock: f}, nil
	}
	return nil, errors.New("job uids: every uid of the range is in use")
}

// release gives the uid back. The lock file stays: removing it could let two agents
// lock two files of one uid.
func (u *uidLease) release() { u.lock.Close() }

// Group is a group id that the jobs of one set (one session's) share, so that they share
// its directory and nothing else: as root, a gid of the reserved range held while the
// set lives; without root, no group of its own (ID is -1).
type Group struct {
	lease *uidLease
}

// NewGroup takes a group id for a set of jobs. Release it when the set ends.
func NewGroup() (*Group, error) {
	if !privileged() {
		return &Group{}, nil
	}
	l, err := leaseUID()
	if err != nil {
		return nil, err
	}
	return &Group{lease: l}, nil
}

// ID returns the group id, or -1 when there is none.
func (g *Group) ID() int {
	if g == nil || g.lease == nil {
		return -1
	}
	return g.lease.id
}

// Release gives the group id back.
func (g *Group) Release() {
	if g != nil && g.lease != nil {
		g.lease.release()
	}
}
