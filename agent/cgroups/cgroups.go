// Package cgroups finds this process's place in the cgroup v1 hierarchies and reads their
// counters: what the agent's jobs and the controller's labs are bounded by.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mount returns where the v1 hierarchy of controller ("memory", "pids") is mounted, and
// the hierarchy's directory the mount shows ("/" on a host).
func Mount(controller string) (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(qf[2], ",") {
			if o == controller {
				return pf[4], pf[3], nil
			}
		}
	}
	return "", "", fmt.Errorf("no cgroup v1 %s hierarchy is mounted", controller)
}

// Dir returns the directory of this process's own cgroup of controller (v1).
func Dir(controller string) (string, error) {
	mount, root, err := Mount(controller)
	if err != nil {
		return "", err
	}
	own, err := Own(func(controllers string) bool {
		return slices.Contains(strings.Split(controllers, ","), controller)
	})
	if err != nil {
		return "", fmt.Errorf("this process is in no %s cgroup", controller)
	}
	// The mount shows the hierarchy from root on (a container's own cgroup, /docker/ID):
	// this process's path is below it.
	rel, err := filepath.Rel(root, own)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("this process's %s cgroup %s is outside the mounted %s", controller, own, root)
	}
	return filepath.Join(mount, rel), nil
}

// Own returns this process's cgroup path (as /proc/self/cgroup gives it, from its
// hierarchy's root) in the hierarchy whose controllers field matches ("memory,..." in v1,
// "" for the v2 hierarchy).
func Own(match func(controllers string) bool) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && match(parts[1]) {
			return parts[2], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("this process is in no such cgroup")
}

// Count reads the counter key of a cgroup file of "key value" lines (pids.events,
// memory.oom_control, memory.events); 0 when it cannot.
func Count(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
