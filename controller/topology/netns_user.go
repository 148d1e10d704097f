package topology

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// netnsHostArg0 is the argv[0] under which this binary hosts an unprivileged netns run:
// root of a user namespace of its own, it makes the run's namespaces and serves the
// agents on Unix sockets (see Init).
const netnsHostArg0 = "socklab-netns-host"

// Init runs this binary as the host of an unprivileged netns run when it was started as
// one, and never returns then. main calls it first, as a test binary's TestMain does
// when its tests run netns topologies without root.
func Init() {
	if len(os.Args) > 0 && os.Args[0] == netnsHostArg0 {
		os.Exit(runNetnsHost())
	}
}

// netnsRequest is what the parent asks the host of an unprivileged run, on its stdin.
type netnsRequest struct {
	Roles           []string
	Programs        []string
	ProgramsRefusal string
	Dir             string // the run's directory: namespaces under ns/, agents' sockets
}

// netnsReply is the host's answer, one line on its stdout.
type netnsReply struct {
	Hosts []Host `json:",omitempty"`
	Error string `json:",omitempty"`
}

// runNetnsHost makes the run's namespaces and agents, says where they are, and keeps
// them until its stdin closes (the parent's pool closing, or the parent gone).
func runNetnsHost() int {
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var req netnsRequest
	line, err := in.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		_ = out.Encode(netnsReply{Error: "bad request: " + fmt.Sprint(err)})
		return 1
	}
	n := Netns{Programs: req.Programs, ProgramsRefusal: req.ProgramsRefusal,
		dir: filepath.Join(req.Dir, "ns"), sockets: req.Dir}
	pool, err := n.Start(context.Background(), req.Roles)
	if err != nil {
		_ = out.Encode(netnsReply{Error: err.Error()})
		return 1
	}
	_ = out.Encode(netnsReply{Hosts: pool.Hosts()})
	_, _ = io.Copy(io.Discard, in) // until the parent closes our stdin, or goes
	if err := pool.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startUnprivileged hosts the run in a child that is root of its own user, network and
// mount namespaces: what it makes there ends with it.
func (n Netns) startUnprivileged(ctx context.Context, roles []string) (_ Pool, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	dir, err := os.MkdirTemp("", "socklab-netns-")
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	p := &childPool{dir: dir}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	cmd := exec.Command(self)
	cmd.Args = []string{netnsHostArg0}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) {
			return nil, fmt.Errorf("netns topology: without root, network namespaces need an unprivileged user namespace, which this kernel refuses (%v; see sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone): run as root, or use --topology local or docker", err)
		}
		return nil, fmt.Errorf("netns topology: start the run's host: %w", err)
	}
	p.cmd, p.stdin = cmd, stdin
	req, _ := json.Marshal(netnsRequest{Roles: roles, Programs: n.Programs, ProgramsRefusal: n.ProgramsRefusal, Dir: dir})
	if _, err := stdin.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("netns topology: the run's host: %w", p.failure(err))
	}
	type answer struct {
		reply netnsReply
		err   error
	}
	got := make(chan answer, 1)
	go func() {
		var a answer
		a.err = json.NewDecoder(stdout).Decode(&a.reply)
		got <- a
	}()
	select {
	case a := <-got:
		switch {
		case a.err != nil:
			return nil, fmt.Errorf("netns topology: the run's host: %w", p.failure(a.err))
		case a.reply.Error != "":
			return nil, errors.New(a.reply.Error)
		}
		p.hosts = a.reply.Hosts
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		return nil, errors.New("netns topology: the run's host did not answer in 30s")
	}
}

// childPool is an unprivileged run: its host process, and the run's directory.
type childPool struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr strings.Builder
	dir    string
	hosts  []Host
}

func (p *childPool) Hosts() []Host { return p.hosts }

// failure says why the run's host failed: what it printed, if anything.
func (p *childPool) failure(err error) error {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		return fmt.Errorf("%w: %s", err, s)
	}
	return err
}

// Close ends the run's host, which stops its agents and removes its namespaces (and would
// lose them anyway as it ends), then removes the run's directory.
func (p *childPool) Close() error {
	var err error
	if p.cmd != nil {
		p.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			err = fmt.Errorf("netns topology: the run's host did not stop in 10s: killed (%v)", <-done)
		}
		if err != nil && p.stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(p.stderr.String()))
		}
		p.cmd = nil
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
		p.dir = ""
	}
	return err
}

// NetnsUnavailable says why this process cannot make a netns run's namespaces, "" when
// it can: the kernel is asked once, with a child cloned into a network namespace (and a
// user namespace, without root).
func NetnsUnavailable() string { return netnsProbe() }

var netnsProbe = sync.OnceValue(func() string {
	root := os.Geteuid() == 0
	if !root {
		for _, knob := range []string{"/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_userns_clone"} {
			if b, err := os.ReadFile(knob); err == nil && strings.TrimSpace(string(b)) == "0" {
				return "not root, and " + strings.TrimPrefix(knob, "/proc/sys/") + " is 0"
			}
		}
	}
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if !root {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	// A path that does not exist: once cloned into its namespaces, the child fails to
	// exec and is reaped by ForkExec. ENOENT says the clone worked.
	_, err := syscall.ForkExec("/proc/self/socklab-netns-probe", []string{"socklab-netns-probe"}, &syscall.ProcAttr{Sys: attr})
	if err == nil || errors.Is(err, syscall.ENOENT) {
		return ""
	}
	if root {
		return "the kernel refuses this process a network namespace: " + err.Error()
	}
	return "not root, and the kernel refuses this process a user namespace: " + err.Error()
})
