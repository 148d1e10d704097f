// Package process runs programs under test as jobs: a program, and everything it starts,
// contained and limited, with its output captured, and nothing of it left once the job
// ends.
//
// A job's first process is its init: the agent's own binary started again (see Init) as
// pid 1 of a new pid namespace with a mount namespace of its own, where it mounts a /proc
// that shows only the job, sets the job's limits, drops to the job's user, starts the
// program and reaps whatever runs in the namespace. When the program ends, or the init is
// killed, the kernel ends every process of the namespace: a double fork or setsid
// escapes nothing.
//
// As root, each live job runs as a uid of its own from a reserved range, and in cgroups
// (v1: pids, memory) of its own. Without root, each job gets a user namespace too, and
// rlimits stand in for the cgroups. Containment says which applied.
//
// A Launcher keeps one init started ahead of time, so that a job's start does not wait
// for the agent's binary to load.
package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/cgroups"
)

// Limits bound one job. A zero field takes its default.
type Limits struct {
	// CPU bounds each process's CPU time (RLIMIT_CPU); default 10 s.
	CPU time.Duration
	// Memory bounds the job's memory: its cgroup's as root, each process's address space
	// otherwise; default 512 MiB.
	Memory int64
	// Processes bounds the processes and threads the job runs at once; default 64.
	Processes int
	// OpenFiles bounds each process's open files; default 256.
	OpenFiles int
	// FileSize bounds the size of any file the job writes; default 64 MiB.
	FileSize int64
	// Output bounds the bytes kept of each of stdout and stderr; more is read, counted
	// and dropped, so that the program never blocks on it. Default 1 MiB.
	Output int
	// Wall bounds the job's life; default 60 s.
	Wall time.Duration
}

// DefaultLimits returns the limits of a job that sets none: the most a job may have.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	if l.CPU <= 0 {
		l.CPU = 10 * time.Second
	}
	if l.Memory <= 0 {
		l.Memory = 512 << 20
	}
	if l.Processes <= 0 {
		l.Processes = 64
	}
	if l.OpenFiles <= 0 {
		l.OpenFiles = 256
	}
	if l.FileSize <= 0 {
		l.FileSize = 64 << 20
	}
	if l.Output <= 0 {
		l.Output = 1 << 20
	}
	if l.Wall <= 0 {
		l.Wall = 60 * time.Second
	}
	return l
}

// initThreads is the room a job's limit on processes leaves for its init's own threads
// (a Go runtime's), which count against it too.
const initThreads = 24

// Stream names an output stream of a job.
type Stream int

// The output streams.
const (
	Stdout Stream = iota + 1
	Stderr
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Spec is a program to run.
type Spec struct {
	// Path is the program's absolute path.
	Path string
	// Argv are its arguments, argv[0] included.
	Argv []string
	// Env is its whole environment: nothing of the agent's is added.
	Env []string
	// Dir is its working directory; as root, the job's user is made its owner.
	Dir string
	// Group, when set, is the group the job runs in (as root): the group of a set of jobs
	// that share Dir, such as one session's. Unset, the job has a group of its own and is
	// made Dir's owner.
	Group *Group
	// Stdin keeps the program's standard input open for Write; otherwise it reads
	// /dev/null.
	Stdin bool
	// Limits bound the job.
	Limits Limits
	// Output, if set, is called with each chunk the program writes, as it arrives, from
	// one goroutine per stream; it must not block for long.
	Output func(s Stream, chunk []byte)
}

// Exit is how a job's program ended.
type Exit struct {
	// Code is its exit status, or -1 when a signal ended it.
	Code int
	// Signal names the signal that ended it ("SIGKILL"), if one did.
	Signal string
	// Reason says why the agent ended the job, if it did: "killed", "wall time limit
	// (60s)", "session ended".
	Reason string
	// CPU is the CPU time of every process the job ran.
	CPU time.Duration
	// Limits names the job's limits its processes ran into, as far as the agent can
	// tell: "CPU time limit (1s)", "memory limit (64 MiB)", "process limit (32)",
	// "stdout beyond 1 MiB dropped (5000000 bytes in all)".
	Limits []string
	// At is when the job ended: its program gone, its output read to the end.
	At time.Time
}

// String describes the exit as a transcript shows it: "exit 0", "SIGTERM",
// "SIGKILL (wall time limit (2s))".
func (e Exit) String() string {
	s := "exit " + strconv.Itoa(e.Code)
	if e.Signal != "" {
		s = e.Signal
	}
	why := e.Limits
	if e.Reason != "" {
		why = append([]string{e.Reason}, why...)
	}
	if len(why) > 0 {
		s += " (" + strings.Join(why, "; ") + ")"
	}
	return s
}

// Job is a running program and everything it started.
type Job struct {
	cmd         *exec.Cmd
	ctl         *os.File
	stdin       *os.File
	containment string
	bare        bool // its init runs without namespaces: see bare.go
	limits      Limits
	groups      []string  // the job's cgroup directories
	uid         *uidLease // the job's own uid, as root
	done        chan struct{}
	readers     sync.WaitGroup // the output readers
	wall        *time.Timer

	mu     sync.Mutex // protects everything below
	out    [2]capture // stdout, stderr
	exit   Exit
	reason string // why the agent ended the job
	closed bool
}

// capture keeps the first bytes of a stream, and counts all of them.
type capture struct {
	kept  []byte
	total int64
}

// Start starts spec as a job, with an init started for it. The job runs until its
// program ends, its wall time runs out, or Kill or Close; Close must be called in any
// case, to free what it holds.
func Start(spec Spec) (*Job, error) {
	p, err := launchInit()
	if err != nil {
		return nil, err
	}
	return start(spec, p)
}

// Launcher starts jobs with an init started ahead of time: loading the agent's binary
// and its runtime, most of a small job's start, happens between jobs rather than while
// a spawn waits. The spare is made when a job ends (a build step, then the program it
// built), never while a program under test is starting, so that it takes nothing from
// that program's start. It waits, doing nothing, for its configuration; Close ends it.
type Launcher struct {
	enter   func(func() error) error // where inits are forked
	stop    chan struct{}            // closed by Close
	refills sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	spare  *initProc
	closed bool
}

// NewLauncher returns a launcher; it makes its first spare when its first job ends.
// enter, when not nil, calls what it is given where the jobs must start: inside a
// network namespace (the agent's host's), so that a job's programs are in it too.
func NewLauncher(enter func(func() error) error) *Launcher {
	if enter == nil {
		enter = func(fn func() error) error { return fn() }
	}
	return &Launcher{enter: enter, stop: make(chan struct{})}
}

// Start starts spec as a job, as the package's Start does, on the spare init if there is
// one.
func (l *Launcher) Start(spec Spec) (*Job, error) {
	l.mu.Lock()
	spare, closed := l.spare, l.closed
	l.spare = nil
	if !closed {
		l.refills.Add(1)
	}
	l.mu.Unlock()
	fresh := spare == nil
	var j *Job
	var err error
	if fresh {
		spare, err = l.launch()
	}
	if err == nil {
		j, err = start(spec, spare)
	}
	if !fresh && errors.Is(err, errInitGone) { // the spare died as it waited (killed from outside)
		if spare, err = l.launch(); err == nil {
			j, err = start(spec, spare)
		}
	}
	if !closed {
		go func() { // the next spare, once this job ends
			defer l.refills.Done()
			if j != nil {
				select {
				case <-j.Done():
				case <-l.stop:
					return
				}
			}
			l.refill()
		}()
	}
	return j, err
}

// launch starts an init where the launcher's jobs start.
func (l *Launcher) launch() (p *initProc, err error) {
	err = l.enter(func() error {
		p, err = launchInit()
		return err
	})
	return p, err
}

// refill makes a spare if there is none.
func (l *Launcher) refill() {
	l.mu.Lock()
	need := !l.closed && l.spare == nil
	l.mu.Unlock()
	if !need {
		return
	}
	next, err := l.launch()
	if err != nil {
		return // the next Start starts an init of its own, and says what fails
	}
	next.idle(true) // it loads on CPU time no job wants
	l.mu.Lock()
	if l.closed || l.spare != nil {
		l.mu.Unlock()
		next.discard()
		return
	}
	l.spare = next
	l.mu.Unlock()
}

// Close ends the spare init and makes no other.
func (l *Launcher) Close() {
	l.mu.Lock()
	if !l.closed {
		close(l.stop)
	}
	l.closed = true
	l.mu.Unlock()
	l.refills.Wait()
	l.mu.Lock()
	spare := l.spare
	l.spare = nil
	l.mu.Unlock()
	if spare != nil {
		spare.discard()
	}
}

// initProc is a job's init, started and waiting for its configuration, with the agent's
// ends of its control socket and its standard streams.
type initProc struct {
	cmd            *exec.Cmd
	ctl            *os.File
	stdin          *os.File // the write end of the program's stdin
	stdout, stderr *os.File // the read ends of the program's output
	bare           bool     // in the agent's namespaces, as a subreaper
}

// launchInit starts an init in new pid and mount namespaces (and a user namespace,
// without root), or bare where the kernel refuses them (see NamespacesRefused). It waits
// for its configuration before doing anything, so that it is in its cgroups, under its
// uid and limits, before the program starts.
func launchInit() (*initProc, error) {
	if nsRefusal.Load() != nil {
		return startInit(true)
	}
	p, err := startInit(false)
	if err == nil || !refusesNamespaces(err) {
		return p, err
	}
	if p, berr := startInit(true); berr == nil {
		why := "the kernel refuses them: " + err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			why = "the kernel refuses them: " + errno.Error()
		}
		nsRefusal.CompareAndSwap(nil, &why)
		return p, nil
	}
	if !privileged() && errors.Is(err, unix.EPERM) {
		return nil, fmt.Errorf("start job: this host refuses the unprivileged user namespace a job needs without root (see sysctl user.max_user_namespaces): %w", err)
	}
	return nil, err
}

// startInit starts an init, in namespaces of its own unless bare.
func startInit(bare bool) (_ *initProc, err error) {
	attr := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	root := privileged()
	if !bare {
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	}
	if !bare && !root {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	var mine, theirs []*os.File // the agent's ends, kept on success; the init's, closed once it has them
	defer func() {
		for _, f := range theirs {
			f.Close()
		}
		if err != nil {
			for _, f := range mine {
				f.Close()
			}
		}
	}()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("start job: control socket: %w", err)
	}
	ctl, child := os.NewFile(uintptr(pair[0]), "job control"), os.NewFile(uintptr(pair[1]), "job control (init)")
	mine, theirs = append(mine, ctl), append(theirs, child)
	var ends [3][2]*os.File // stdin, stdout, stderr: read end, write end
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("start job: %w", err)
		}
		ends[i] = [2]*os.File{r, w}
		if i == 0 {
			mine, theirs = append(mine, w), append(theirs, r)
		} else {
			mine, theirs = append(mine, r), append(theirs, w)
		}
	}
	cmd := &exec.Cmd{
		// The init's environment holds nothing of the agent's. GORACE matters only to a
		// race-detector build (tests), which would otherwise sleep a second as it exits.
		Path: "/proc/self/exe", Args: []string{initArg0}, Env: []string{"GORACE=atexit_sleep_ms=0"}, Dir: "/",
		Stdin: ends[0][0], Stdout: ends[1][1], Stderr: ends[2][1], ExtraFiles: []*os.File{child}, SysProcAttr: attr,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start job: %w", err)
	}
	return &initProc{cmd: cmd, ctl: ctl, stdin: ends[0][1], stdout: ends[1][0], stderr: ends[2][0], bare: bare}, nil
}

// idle moves the init's threads to SCHED_IDLE, where it runs only on CPU time no other
// process wants, or back to SCHED_OTHER. Only root may move a process back, so without
// root a spare init runs at the usual priority.
func (p *initProc) idle(on bool) {
	if !privileged() || !canRenice() {
		return
	}
	policy := uint32(unix.SCHED_NORMAL)
	if on {
		policy = unix.SCHED_IDLE
	}
	setPolicy(p.cmd.Process.Pid, policy)
}

// canRenice reports whether this process holds CAP_SYS_NICE, without which it could
// move an init to SCHED_IDLE but never back (root in a container may lack it).
func canRenice() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hexCaps, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hexCaps), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_NICE) != 0
		}
	}
	return false
}

// setPolicy sets the scheduling policy of every thread of pid.
func setPolicy(pid int, policy uint32) {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy}, 0)
		}
	}
}

// discard ends an init that never became a job's.
func (p *initProc) discard() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	for _, f := range []*os.File{p.ctl, p.stdin, p.stdout, p.stderr} {
		f.Close()
	}
}

// start starts spec as a job on proc, a waiting init; errInitGone says it died as it
// waited.
func start(spec Spec, proc *initProc) (_ *Job, err error) {
	if !filepath.IsAbs(spec.Path) {
		proc.discard()
		return nil, fmt.Errorf("start job: program path %q is not absolute", spec.Path)
	}
	if len(spec.Argv) == 0 {
		spec.Argv = []string{spec.Path}
	}
	lim := spec.Limits.withDefaults()
	j := &Job{limits: lim, done: make(chan struct{})}
	defer func() {
		if err != nil {
			j.release()
		}
	}()
	j.bare = proc.bare
	cfg := initConfig{Path: spec.Path, Argv: spec.Argv, Env: spec.Env, Dir: spec.Dir, UID: -1, GID: -1, MountProc: !proc.bare, Subreaper: proc.bare}
	cfg.Rlimits = []rlimit{
		// SIGXCPU at the limit, which a program sees as its CPU limit; SIGKILL a second on.
		{Resource: unix.RLIMIT_CPU, Value: cpuSeconds(lim.CPU), Hard: cpuSeconds(lim.CPU) + 1},
		{Resource: unix.RLIMIT_NOFILE, Value: uint64(lim.OpenFiles)},
		{Resource: unix.RLIMIT_NPROC, Value: uint64(lim.Processes + initThreads)},
		{Resource: unix.RLIMIT_FSIZE, Value: uint64(lim.FileSize)},
		{Resource: unix.RLIMIT_CORE, Value: 0},
	}
	root := privileged()
	if root {
		if j.uid, err = leaseUID(); err != nil {
			proc.discard()
			return nil, fmt.Errorf("start job: %w", err)
		}
		cfg.UID, cfg.GID = j.uid.id, j.uid.id
		if spec.Group != nil && spec.Group.ID() >= 0 {
			cfg.GID = spec.Group.ID()
		} else if spec.Dir != "" {
			if err := os.Chown(spec.Dir, j.uid.id, j.uid.id); err != nil {
				proc.discard()
				return nil, fmt.Errorf("start job: give the job its directory: %w", err)
			}
		}
		j.containment = fmt.Sprintf("pid and mount namespaces, uid %d", j.uid.id)
		if proc.bare {
			j.containment = fmt.Sprintf("no namespaces (%s), a subreaper init, uid %d", NamespacesRefused(), j.uid.id)
		}
	} else {
		cfg.ExecRlimits = []rlimit{{Resource: unix.RLIMIT_AS, Value: uint64(lim.Memory)}}
		j.containment = "user, pid and mount namespaces"
		if proc.bare {
			j.containment = fmt.Sprintf("no namespaces (%s), a subreaper init, the agent's uid", NamespacesRefused())
		}
	}
	if !proc.waiting() {
		proc.discard()
		return nil, fmt.Errorf("start job: %w", errInitGone)
	}
	proc.idle(false)
	j.cmd, j.ctl = proc.cmd, proc.ctl
	if spec.Stdin {
		j.stdin = proc.stdin
	} else {
		proc.stdin.Close() // the program reads EOF
	}
	j.readers.Add(2)
	go j.read(Stdout, proc.stdout, spec.Output)
	go j.read(Stderr, proc.stderr, spec.Output)
	if root {
		if groups, err := joinCgroups(j.cmd.Process.Pid, lim); err == nil {
			j.groups = groups
			j.containment += ", cgroups (pids, memory)"
			// The cgroup refuses forks first (and counts them); RLIMIT_NPROC stays as a
			// backstop, a little above.
			for i := range cfg.Rlimits {
				if cfg.Rlimits[i].Resource == unix.RLIMIT_NPROC {
					cfg.Rlimits[i].Value += 8
				}
			}
		} else {
			j.containment += ", no cgroups (" + err.Error() + ")"
			cfg.ExecRlimits = []rlimit{{Resource: unix.RLIMIT_AS, Value: uint64(lim.Memory)}}
		}
	}
	j.containment += ", rlimits"
	if proc.bare {
		// Bare, the init shares the program's uid, and RLIMIT_NPROC counts every process
		// of a uid: the program alone gets it, at exec, or a fork loop would leave the
		// init no thread. Without root, the agent's own processes count too.
		for i, r := range cfg.Rlimits {
			if r.Resource == unix.RLIMIT_NPROC {
				if !root {
					r.Value += uint64(tasksOf(os.Getuid()))
				}
				cfg.ExecRlimits = append(cfg.ExecRlimits, r)
				cfg.Rlimits = append(cfg.Rlimits[:i:i], cfg.Rlimits[i+1:]...)
				break
			}
		}
	}
	b, _ := json.Marshal(cfg)
	if _, err := j.ctl.Write(b); err != nil {
		j.kill("")
		j.waitInit()
		j.readers.Wait()
		return nil, fmt.Errorf("start job: configure its init: %w: %w", errInitGone, err)
	}
	first, err := j.message()
	if err != nil || !first.Started {
		j.kill("")
		j.waitInit()
		j.readers.Wait()
		switch {
		case err != nil:
			if said, _ := j.Output(Stderr); len(said) > 0 {
				return nil, fmt.Errorf("start job: its init failed: %s", firstLine(said))
			}
			return nil, fmt.Errorf("start job: its init: %w: %w", errInitGone, err)
		case first.Error != "":
			return nil, fmt.Errorf("start job: %s", first.Error)
		}
		return nil, errors.New("start job: its init said nothing")
	}
	j.wall = time.AfterFunc(lim.Wall, func() { j.kill(fmt.Sprintf("wall time limit (%s)", lim.Wall)) })
	go j.follow()
	return j, nil
}

// errInitGone is a job's start failing because its init ended before it was configured.
var errInitGone = errors.New("the init ended")

// waiting reports whether the init still runs: it has not been killed while it waited.
func (p *initProc) waiting() bool {
	return unix.Kill(p.cmd.Process.Pid, 0) == nil && !zombie(p.cmd.Process.Pid)
}

// zombie reports whether pid has ended and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// privileged reports whether this process is root of the machine: able to give jobs uids
// of their own and cgroups. Root of a user namespace that maps one uid (an agent of an
// unprivileged netns run) is not: its jobs are contained as without root.
func privileged() bool {
	if os.Geteuid() != 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) >= 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// firstLine returns b's first line, at most 200 bytes of it.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// message reads one message from the init.
func (j *Job) message() (initMessage, error) {
	buf := make([]byte, 4096)
	n, err := j.ctl.Read(buf)
	if err != nil {
		return initMessage{}, err
	}
	if n == 0 {
		return initMessage{}, errors.New("control socket closed")
	}
	var m initMessage
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return initMessage{}, fmt.Errorf("bad message from the init: %w", err)
	}
	return m, nil
}

// follow waits for the program's exit, then for the init and the output to end.
func (j *Job) follow() {
	m, _ := j.message()
	j.waitInit()
	j.readers.Wait()
	j.wall.Stop()
	j.mu.Lock()
	switch {
	case m.Exited:
		j.exit = Exit{Code: m.Code, Signal: m.Signal, CPU: time.Duration(m.CPUNs)}
	default: // the init was killed: so was everything in the job
		j.exit = Exit{Code: -1, Signal: "SIGKILL"}
	}
	if j.reason != "" {
		j.exit.Reason = j.reason
		if !m.Exited || m.Signal == "SIGKILL" {
			j.exit.Code, j.exit.Signal = -1, "SIGKILL"
		}
	}
	j.exit.Limits = j.limitsHit()
	j.exit.At = time.Now()
	j.mu.Unlock()
	close(j.done)
}

// limitsHit names the limits the job ran into: from the program's end, its cgroups'
// counters (while they still exist) and its output; j.mu held.
func (j *Job) limitsHit() []string {
	var hit []string
	cpu := time.Duration(cpuSeconds(j.limits.CPU)) * time.Second
	if j.exit.Signal == "SIGXCPU" || j.exit.Signal == "SIGKILL" && j.exit.Reason == "" && j.exit.CPU >= cpu {
		hit = append(hit, fmt.Sprintf("CPU time limit (%s)", cpu))
	}
	for _, dir := range j.groups {
		switch {
		case strings.Contains(dir, "/memory/") && cgroups.Count(filepath.Join(dir, "memory.oom_control"), "oom_kill") > 0:
			hit = append(hit, "memory limit ("+sizeText(j.limits.Memory)+")")
		case strings.Contains(dir, "/pids/") && cgroups.Count(filepath.Join(dir, "pids.events"), "max") > 0:
			hit = append(hit, fmt.Sprintf("process limit (%d): a fork was refused", j.limits.Processes))
		}
	}
	for i, c := range j.out {
		if c.total > int64(len(c.kept)) {
			hit = append(hit, fmt.Sprintf("%s beyond %s dropped (%d bytes in all)", Stream(i+1), sizeText(int64(j.limits.Output)), c.total))
		}
	}
	return hit
}

// cpuSeconds rounds a CPU limit up to whole seconds, as RLIMIT_CPU counts.
func cpuSeconds(d time.Duration) uint64 { return uint64((d + time.Second - 1) / time.Second) }

// sizeText writes a byte count as a limit is given: "64 MiB", "1 KiB", "1000 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// waitInit reaps the init.
func (j *Job) waitInit() {
	_ = j.cmd.Wait()
}

// read captures one output stream until every writer is gone.
func (j *Job) read(s Stream, r *os.File, fn func(Stream, []byte)) {
	defer j.readers.Done()
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			j.mu.Lock()
			c := &j.out[s-1]
			if room := j.limits.Output - len(c.kept); room > 0 {
				c.kept = append(c.kept, buf[:min(n, room)]...)
			}
			c.total += int64(n)
			j.mu.Unlock()
			if fn != nil {
				fn(s, append([]byte(nil), buf[:n]...))
			}
		}
		if err != nil {
			return
		}
	}
}

// Pid returns the host pid of the job's init (its namespace's pid 1).
func (j *Job) Pid() int { return j.cmd.Process.Pid }

// UID returns the uid the job's processes run as when it is the job's own (as root),
// else -1: they run as the agent's user (in a user namespace of their own, or bare).
func (j *Job) UID() int {
	if j.uid == nil {
		return -1
	}
	return j.uid.id
}

// Containment says how the job is contained: its namespaces, uid, cgroups and rlimits.
func (j *Job) Containment() string { return j.containment }

// Output returns what the program wrote to s so far (at most the output limit) and how
// many bytes it wrote in all.
func (j *Job) Output(s Stream) (kept []byte, total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.out[s-1]
	return append([]byte(nil), c.kept...), c.total
}

// Write writes to the program's standard input (Spec.Stdin).
func (j *Job) Write(b []byte) (int, error) {
	if j.stdin == nil {
		return 0, errors.New("the program's stdin is not open: start it with stdin")
	}
	return j.stdin.Write(b)
}

// CloseStdin closes the program's standard input: it reads EOF.
func (j *Job) CloseStdin() error {
	if j.stdin == nil {
		return nil
	}
	return j.stdin.Close()
}

// Signal sends sig to the program (not to what it started). As Python's
// Popen.send_signal, it does nothing once the program has ended.
func (j *Job) Signal(sig unix.Signal) error {
	select {
	case <-j.done:
		return nil
	default:
	}
	_, err := j.ctl.Write([]byte(strconv.Itoa(int(sig))))
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		return nil // the init has gone: the program ended a moment ago
	}
	if err != nil {
		return fmt.Errorf("signal the program: %w", err)
	}
	return nil
}

// Kill ends the job at once: the program and everything it started.
func (j *Job) Kill() { j.kill("killed") }

func (j *Job) kill(reason string) {
	j.mu.Lock()
	if j.reason == "" {
		j.reason = reason
	}
	j.mu.Unlock()
	if j.cmd == nil || j.cmd.Process == nil {
		return
	}
	if j.bare {
		// Killing the init alone would leave what the program started to the machine's
		// init: everything below it goes first, while it still collects orphans.
		sweep(j.cmd.Process.Pid)
	}
	_ = j.cmd.Process.Kill()
}

// Done is closed once the job has ended and all its output is read.
func (j *Job) Done() <-chan struct{} { return j.done }

// Alive reports whether the job's program still runs.
func (j *Job) Alive() bool {
	select {
	case <-j.done:
		return false
	default:
		return true
	}
}

// Wait waits for the job to end, or ctx.
func (j *Job) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-j.done:
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.exit, nil
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}

// Close ends the job if it still runs (reason says why), waits for it, and frees its
// uid and cgroups. It returns how the program ended.
func (j *Job) Close(reason string) Exit {
	j.kill(reason)
	<-j.done
	j.mu.Lock()
	first := !j.closed
	j.closed = true
	exit := j.exit
	j.mu.Unlock()
	if first {
		j.release()
	}
	return exit
}

// release frees what the job holds once nothing of it runs.
func (j *Job) release() {
	if j.stdin != nil {
		j.stdin.Close()
	}
	if j.ctl != nil {
		j.ctl.Close()
	}
	removeCgroups(j.groups)
	if j.uid != nil {
		j.uid.release()
	}
}

// Pids returns the host pids of the job's live processes, the init left out.
func (j *Job) Pids() []int {
	if !j.Alive() {
		return nil
	}
	return descendants(j.Pid())
}

// CPU returns the CPU time the job used so far: every process it ran, the init's own
// left out.
func (j *Job) CPU() time.Duration {
	select {
	case <-j.done:
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.exit.CPU
	default:
	}
	_, children, _ := cpuTimes(j.Pid())
	total := children
	for _, p := range descendants(j.Pid()) {
		own, reaped, err := cpuTimes(p)
		if err == nil {
			total += own + reaped
		}
	}
	return total
}

// RSS returns the resident memory of the job's live processes, in bytes.
func (j *Job) RSS() int64 {
	var total int64
	for _, p := range j.Pids() {
		total += rss(p)
	}
	return total
}

// descendants returns the live descendants of pid, breadth first.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 100000 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTicks = 100

// cpuTimes returns a process's own CPU time and that of its reaped children.
func cpuTimes(pid int) (own, reaped time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, errors.New("short stat")
	}
	tick := func(k int) time.Duration {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		return time.Duration(v) * time.Second / clockTicks
	}
	return tick(11) + tick(12), tick(13) + tick(14), nil // utime stime, cutime cstime
}

// rss returns a process's resident memory in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
