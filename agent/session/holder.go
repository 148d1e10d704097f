package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/sock"
)

// heldError is a bind's EADDRINUSE whose address a process outside this agent holds: an
// environment problem, not the lab's. It stays an EADDRINUSE for errors.Is.
type heldError struct {
	err    error
	holder string
}

func (e *heldError) Error() string { return e.err.Error() + ": held by " + e.holder }

func (e *heldError) Unwrap() error { return e.err }

// bindError adds, to a bind's EADDRINUSE, who holds the address when that is no socket
// of this agent's process or of the programs it started (a lab that teaches EADDRINUSE
// meets its own sockets, and its error stays as it is).
func bindError(err error, typ int, addr sock.Addr) error {
	if !errors.Is(err, unix.EADDRINUSE) {
		return err
	}
	if h := addressHolder(typ, addr); h != "" {
		return &heldError{err: err, holder: h}
	}
	return err
}

// addressHolder returns who holds addr for a socket of type typ, when it is a process
// outside this agent and its programs: "python3 (pid 1234)", or "a process of uid 1000"
// when /proc does not show which. It returns "" when the holder is this agent's, or
// the kernel's table shows none (a TIME_WAIT, whose socket no process holds).
func addressHolder(typ int, addr sock.Addr) string {
	proto := "udp"
	if typ == unix.SOCK_STREAM {
		proto = "tcp"
	}
	if !addr.IP.IsValid() {
		return ""
	}
	rows, err := kernel.Sockets(kernel.Filter{Port: uint16(addr.Port), Protocol: proto})
	if err != nil {
		return ""
	}
	ip := addr.IP.Unmap()
	for _, r := range rows {
		local := r.Local.Addr().Unmap()
		if r.Local.Port() != uint16(addr.Port) || r.Inode == 0 ||
			local != ip && !local.IsUnspecified() && !ip.IsUnspecified() {
			continue
		}
		pid := inodeOwner(r.Inode)
		switch {
		case pid == 0:
			return fmt.Sprintf("a process of uid %d", r.UID)
		case ownProcess(pid):
			return ""
		}
		return fmt.Sprintf("%s (pid %d)", procComm(pid), pid)
	}
	return ""
}

// inodeOwner returns the pid of a process with the socket inode open, or 0 when none
// this process can see has.
func inodeOwner(inode uint64) int {
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or not ours to see
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && link == want {
				return pid
			}
		}
	}
	return 0
}

// ownProcess reports whether pid is this process or one it started, however deep.
func ownProcess(pid int) bool {
	self := os.Getpid()
	for i := 0; pid > 1 && i < 64; i++ {
		if pid == self {
			return true
		}
		pid = parentPID(pid)
	}
	return false
}

// parentPID reads pid's parent from /proc/PID/stat (0 if it cannot).
func parentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // state, ppid, ...
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procComm is pid's command name, or "a process" if it cannot be read.
func procComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "a process"
	}
	return strings.TrimSpace(string(b))
}
