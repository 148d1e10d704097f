package process

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Where the kernel refuses the namespaces a job's init needs (a container under
// Docker's default seccomp profile without CAP_SYS_ADMIN, or a kernel that refuses
// unprivileged user namespaces), a job's init runs bare: in the agent's namespaces, as a
// child subreaper, so that whatever the program starts, however it detaches (a double
// fork, setsid), stays below the init, which kills all of it when the program ends, when
// the agent asks, or when the agent goes away. Without a uid of its own (an agent that is
// not root), a job runs as the agent's user, and so may signal the agent: there the
// machine or container the agent runs in is the boundary, and containment holds against
// programs that misbehave, not against ones written to attack the agent.

// nsRefusal says why this kernel refused a job's namespaces, once it has: from then on
// inits start bare. Nil while namespaces work (or were not yet tried).
var nsRefusal atomic.Pointer[string]

// refusesNamespaces reports whether err, from starting an init in new namespaces, is the
// kernel refusing the namespaces themselves (for good: seccomp, a sysctl), rather than a
// passing shortage.
func refusesNamespaces(err error) bool {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return true
	case errors.Is(err, unix.ENOSPC): // the user namespace count: 0 is a refusal, else a shortage
		b, rerr := os.ReadFile("/proc/sys/user/max_user_namespaces")
		return rerr == nil && strings.TrimSpace(string(b)) == "0"
	}
	return false
}

// NamespacesRefused says why jobs here run bare, without namespaces of their own: "" as
// long as the kernel has given every job its namespaces.
func NamespacesRefused() string {
	if why := nsRefusal.Load(); why != nil {
		return *why
	}
	return ""
}

// sweepRounds bounds a sweep: each round kills every process found below the init; what
// they forked meanwhile comes back to the init (a subreaper) and is found by the next.
const sweepRounds = 1000

// sweep kills every descendant of pid, a subreaper, and returns how many it killed: it
// ends when a round finds none, or after sweepRounds rounds.
func sweep(pid int) int {
	killed := 0
	for round := 0; round < sweepRounds; round++ {
		ds := descendants(pid)
		if len(ds) == 0 {
			return killed
		}
		for _, d := range ds {
			if unix.Kill(d, unix.SIGKILL) == nil {
				killed++
			}
		}
		if round > 10 {
			time.Sleep(time.Millisecond) // a fork loop: let the kernel deliver the kills
		}
	}
	return killed
}

// tasksOf counts the processes and threads this process can see running as uid: what
// RLIMIT_NPROC counts against a job that shares the agent's uid.
func tasksOf(uid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var real, threads int = -1, 1
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					real, _ = strconv.Atoi(f[0])
				}
			}
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				threads, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if real == uid {
			n += threads
		}
	}
	return n
}
