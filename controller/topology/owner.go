package topology

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/socklab/socklab/agent/kernel"
)

// Owner names the process that made a namespace, a link, a container or a network: its
// pid and its start time (clock ticks since boot, /proc/PID/stat field 22), so that a pid
// reused by another process is not taken for the owner. What a run makes carries its
// owner, in its name or its labels; a cleaner removes only what a dead owner left.
type Owner struct {
	PID   int
	Start uint64
}

// Self returns this process as an owner.
func Self() (Owner, error) {
	pid := os.Getpid()
	start, err := kernel.ProcessStart(pid)
	if err != nil {
		return Owner{}, fmt.Errorf("owner: %w", err)
	}
	return Owner{PID: pid, Start: start}, nil
}

// Alive reports whether the owner still runs: a process with its pid and start time.
func (o Owner) Alive() bool {
	start, err := kernel.ProcessStart(o.PID)
	return err == nil && start == o.Start
}

// String writes the owner as names and labels carry it: "PID-START" in base 36
// ("1k3-8xz2"), short enough for a network interface's 15 bytes with a prefix.
func (o Owner) String() string {
	return strconv.FormatInt(int64(o.PID), 36) + "-" + strconv.FormatUint(o.Start, 36)
}

// ParseOwner reads what Owner.String wrote.
func ParseOwner(s string) (Owner, error) {
	p, st, ok := strings.Cut(s, "-")
	pid, err1 := strconv.ParseInt(p, 36, 32)
	start, err2 := strconv.ParseUint(st, 36, 64)
	if !ok || err1 != nil || err2 != nil || pid <= 0 {
		return Owner{}, fmt.Errorf("owner %q: want PID-START in base 36", s)
	}
	return Owner{PID: int(pid), Start: start}, nil
}
