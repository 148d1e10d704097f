package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/socklab/socklab/agent/kernel"
)

// A session's directory is named after the process that made it, as controller/topology
// names what a run makes: "sl-PID-START-PIDNS-RANDOM", the pid, its start time (clock
// ticks since boot, so that a reused pid is not taken for the owner) and its pid
// namespace's inode (so that an agent never judges a process it cannot see), in base 36.
// An agent killed with SIGKILL cannot remove its sessions' directories; the next agent to
// start removes them (RemoveStale).

// dirPrefix begins the name of every session directory.
const dirPrefix = "sl-"

// owner is the process that made a session directory.
type owner struct {
	pid   int
	start uint64 // clock ticks since boot
	pidns uint64 // the inode of its pid namespace
}

// self returns this process as an owner, read once.
var self = sync.OnceValues(func() (owner, error) {
	pid := os.Getpid()
	// A /proc of another pid namespace would name other processes by these pids.
	if link, err := os.Readlink("/proc/self"); err != nil || link != strconv.Itoa(pid) {
		return owner{}, fmt.Errorf("session directory owner: /proc is not this pid namespace's (/proc/self is %q, pid %d)", link, pid)
	}
	start, err := kernel.ProcessStart(pid)
	if err != nil {
		return owner{}, fmt.Errorf("session directory owner: %w", err)
	}
	ns, err := pidNamespace("self")
	if err != nil {
		return owner{}, fmt.Errorf("session directory owner: %w", err)
	}
	return owner{pid: pid, start: start, pidns: ns}, nil
})

// String writes the owner as a directory name carries it: "PID-START-PIDNS" in base 36.
func (o owner) String() string {
	return strconv.FormatInt(int64(o.pid), 36) + "-" + strconv.FormatUint(o.start, 36) + "-" + strconv.FormatUint(o.pidns, 36)
}

// dirOwner reads the owner from a session directory's name; ok is false for any name
// that is not one.
func dirOwner(name string) (o owner, ok bool) {
	rest, found := strings.CutPrefix(name, dirPrefix)
	if !found {
		return owner{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 4 || f[3] == "" || strings.Trim(f[3], "0123456789") != "" {
		return owner{}, false
	}
	pid, err1 := strconv.ParseInt(f[0], 36, 32)
	start, err2 := strconv.ParseUint(f[1], 36, 64)
	ns, err3 := strconv.ParseUint(f[2], 36, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid <= 0 {
		return owner{}, false
	}
	return owner{pid: int(pid), start: start, pidns: ns}, true
}

// deadIn reports whether the owner has provably ended, as seen from a process in the pid
// namespace ns: it lived in that namespace, and no process of its pid and start time runs.
func (o owner) deadIn(ns uint64) bool {
	if o.pidns != ns {
		return false // another namespace's pids mean nothing here
	}
	start, err := kernel.ProcessStart(o.pid)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && start != o.start
}

// makeDir makes a new session directory under root ("": the system's temporary
// directory), named after this process; where this process cannot name itself (no /proc
// of its own), named so that no agent ever takes it for stale.
func makeDir(root string) (string, error) {
	name := dirPrefix + "x-"
	if me, err := self(); err == nil {
		name = dirPrefix + me.String() + "-"
	}
	dir, err := os.MkdirTemp(root, name)
	if err != nil {
		return "", fmt.Errorf("session directory: %w", err)
	}
	return dir, nil
}

// RemoveStale removes the session directories under root ("": the system's temporary
// directory) that agents killed before they could remove them left behind, and returns
// the paths it removed. It removes only what it can prove stale: a directory (not a link)
// of this process's user, named as makeDir names them, whose maker lived in this
// process's pid namespace and no longer runs. Anything else, a live agent's directory
// above all, it leaves.
func RemoveStale(root string) ([]string, error) {
	if root == "" {
		root = os.TempDir()
	}
	me, err := self()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("remove stale session directories: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		o, ok := dirOwner(e.Name())
		if !ok || !e.IsDir() || !o.deadIn(me.pidns) {
			continue
		}
		p := filepath.Join(root, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue // another user's: not ours to judge
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove stale session directory %s: %w", p, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// pidNamespace returns the inode of the pid namespace of the process named by pid
// ("self" or a number).
func pidNamespace(pid string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+pid+"/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("pid namespace of %s: %w", pid, err)
	}
	return st.Ino, nil
}
