package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// initArg0 is the argv[0] under which the agent's own binary runs as a job's init: the
// first process of the job's pid namespace, which sets the job's limits, starts the
// program, reaps everything in the namespace and reports the program's exit.
const initArg0 = "socklab-job-init"

// Init runs this process as a job's init when it was started as one, and then never
// returns. Every binary that starts jobs calls it first thing in main (and in TestMain),
// since a job's init is the agent's own executable, started again.
func Init() {
	if len(os.Args) == 0 {
		return
	}
	switch os.Args[0] {
	case initArg0:
		os.Exit(runInit())
	case execArg0:
		os.Exit(runExec(os.Args[1:]))
	}
}

// execArg0 is the argv[0] under which the agent's own binary sets limits that its Go
// runtime could not live under itself (the address space) and then becomes the program:
// argv is the limits ("resource=value,..."), the program's path and its argv.
const execArg0 = "socklab-job-exec"

// runExec sets the limits in args[0] and executes the program; it returns only when it
// could not.
func runExec(args []string) int {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "socklab job: want limits, path and argv")
		return 111
	}
	// Everything exec needs is made first: under the address-space limit, this process's
	// runtime (a race detector's above all) may get no memory at all, and exec itself
	// must not allocate.
	path, err1 := unix.BytePtrFromString(args[1])
	argv, err2 := syscall.SlicePtrFromStrings(args[2:])
	envv, err3 := syscall.SlicePtrFromStrings(os.Environ())
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintf(os.Stderr, "socklab job: start %s: %v\n", args[2], err)
		return 127
	}
	var lims []unix.Rlimit
	var resources []int
	for _, kv := range strings.Split(args[0], ",") {
		var res int
		var val uint64
		if _, err := fmt.Sscanf(kv, "%d=%d", &res, &val); err != nil {
			continue
		}
		resources = append(resources, res)
		lims = append(lims, unix.Rlimit{Cur: val, Max: val})
	}
	for i, res := range resources {
		if err := unix.Setrlimit(res, &lims[i]); err != nil {
			fmt.Fprintf(os.Stderr, "socklab job: set limit %d: %v\n", res, err)
			return 111
		}
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	fmt.Fprintf(os.Stderr, "socklab job: start %s: %v\n", args[2], errno)
	return 127
}

// initConfig is what the agent tells a job's init, as JSON on the control socket.
type initConfig struct {
	Path      string   // the program, an absolute path
	Argv      []string // its arguments, argv[0] included
	Env       []string // its whole environment
	Dir       string   // its working directory
	UID, GID  int      // drop to this uid and gid first (-1: stay)
	MountProc bool     // mount a /proc of the job's own pid namespace
	Subreaper bool     // bare: collect the program's orphans, and kill them at the end
	Rlimits   []rlimit // set by the init, before the program starts
	// ExecRlimits are set just before the program's exec, by a copy of the agent's binary
	// that then becomes the program: limits the init's own runtime could not live under.
	ExecRlimits []rlimit
}

type rlimit struct {
	Resource int
	Value    uint64
	// Hard, when above Value, is the hard limit (RLIMIT_CPU: SIGXCPU at Value, SIGKILL at
	// Hard); otherwise the hard limit is Value.
	Hard uint64 `json:",omitempty"`
}

// initMessage is what a job's init tells the agent.
type initMessage struct {
	// Started is set once the program runs: its pid inside the job.
	Started bool `json:",omitempty"`
	// Error says why the program could not start.
	Error string `json:",omitempty"`
	// Exited is set when the program ended: with Code, or killed by Signal.
	Exited bool   `json:",omitempty"`
	Code   int    `json:",omitempty"`
	Signal string `json:",omitempty"`
	// CPUNs is the CPU time of every process the job ran, in nanoseconds.
	CPUNs int64 `json:",omitempty"`
}

// controlFD is the init's end of the control socket (a SOCK_SEQPACKET pair: one message
// each way per write).
const controlFD = 3

func runInit() int {
	ctl := os.NewFile(controlFD, "control")
	send := func(m initMessage) {
		b, _ := json.Marshal(m)
		_, _ = ctl.Write(b)
	}
	buf := make([]byte, 1<<20)
	n, err := ctl.Read(buf)
	if err != nil {
		return 111
	}
	var cfg initConfig
	if err := json.Unmarshal(buf[:n], &cfg); err != nil {
		send(initMessage{Error: "bad init config: " + err.Error()})
		return 111
	}
	if err := prepare(cfg); err != nil {
		send(initMessage{Error: err.Error()})
		return 111
	}
	// Signals for the program come as control messages. The init catches and drops the
	// usual ones (caught, not ignored: an ignored signal would stay ignored in the
	// program after exec), so a signal meant for the program never ends the job.
	drop := make(chan os.Signal, 8)
	signal.Notify(drop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for range drop {
		}
	}()
	// The end of everything the job started: in its own pid namespace, a kill of every
	// process there; bare, a sweep below this init (kill(-1) would be every process of
	// the agent's user).
	var pid int // the program's
	killAll := func() { _ = unix.Kill(-1, unix.SIGKILL) }
	if cfg.Subreaper {
		killAll = func() {
			// The program's session first, with no allocation: a fork loop's processes
			// may fill the job's cgroup, and this init's runtime could then start no
			// thread (for its collector, say) and die before it swept.
			// Reaped, its processes leave the cgroup too.
			_ = unix.Kill(-pid, unix.SIGKILL)
			reapNow()
			sweep(os.Getpid())
		}
	}
	attr := &os.ProcAttr{Dir: cfg.Dir, Env: cfg.Env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}}
	path, argv := cfg.Path, cfg.Argv
	if len(cfg.ExecRlimits) > 0 {
		var lims []string
		for _, r := range cfg.ExecRlimits {
			lims = append(lims, fmt.Sprintf("%d=%d", r.Resource, r.Value))
		}
		// The agent's binary through the kernel's link, not its path: a job's own uid
		// may not search the folder it is in (go run's build cache is 0700).
		path, argv = "/proc/self/exe", append([]string{execArg0, strings.Join(lims, ","), cfg.Path}, cfg.Argv...)
	}
	prog, err := os.StartProcess(path, argv, attr)
	if err != nil {
		send(initMessage{Error: fmt.Sprintf("start %s: %v", cfg.Argv[0], err)})
		return 111
	}
	pid = prog.Pid
	os.Stdin.Close()
	os.Stdout.Close()
	os.Stderr.Close()
	send(initMessage{Started: true})
	go func() { // signals from the agent, until it goes away
		b := make([]byte, 64)
		for {
			n, err := ctl.Read(b)
			if err != nil || n == 0 {
				killAll() // the agent is gone: so is the job
				os.Exit(112)
			}
			var sig int
			if _, err := fmt.Sscan(string(b[:n]), &sig); err == nil && sig > 0 {
				_ = unix.Kill(pid, unix.Signal(sig))
			}
		}
	}()
	var exit initMessage
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break // ECHILD: nothing left
		}
		if got == pid {
			exit = initMessage{Exited: true, Code: ws.ExitStatus()}
			if ws.Signaled() {
				exit.Code, exit.Signal = -1, unix.SignalName(ws.Signal())
			}
			// The program is gone: nothing it started outlives it.
			killAll()
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) == nil {
		exit.CPUNs = ru.Utime.Nano() + ru.Stime.Nano()
	}
	send(exit)
	return 0
}

// prepare readies the init's namespace and credentials before the program starts.
func prepare(cfg initConfig) error {
	if cfg.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become a subreaper: %w", err)
		}
	}
	if cfg.MountProc {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make mounts private: %w", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount the job's /proc: %w", err)
		}
	}
	if cfg.UID >= 0 {
		// A spare init waited under SCHED_IDLE; the agent moved it back, but a thread the
		// runtime made meanwhile may have missed that, and the program must not inherit it.
		setPolicy(os.Getpid(), unix.SCHED_NORMAL)
	}
	for _, r := range cfg.Rlimits {
		lim := unix.Rlimit{Cur: r.Value, Max: max(r.Value, r.Hard)}
		if err := unix.Setrlimit(r.Resource, &lim); err != nil {
			return fmt.Errorf("set limit %d to %d: %w", r.Resource, r.Value, err)
		}
	}
	if cfg.GID >= 0 {
		// syscall's, not x/sys/unix's: it changes every thread of the init, so the program,
		// forked from any of them, keeps none of root's groups.
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("drop groups: %w", err)
		}
		if err := unix.Setresgid(cfg.GID, cfg.GID, cfg.GID); err != nil {
			return fmt.Errorf("set gid %d: %w", cfg.GID, err)
		}
	}
	if cfg.UID >= 0 {
		if err := unix.Setresuid(cfg.UID, cfg.UID, cfg.UID); err != nil {
			return fmt.Errorf("set uid %d: %w", cfg.UID, err)
		}
	}
	return nil
}

// reapNow reaps the init's ended children for as long as more keep ending, without
// allocating: at most 100 ms, or until 5 ms pass with none.
func reapNow() {
	ts := unix.Timespec{Nsec: int64(time.Millisecond)}
	for i, idle := 0, 0; i < 100 && idle < 5; i++ {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.ECHILD:
			return
		case got > 0:
			idle = 0
		default:
			idle++
			_ = unix.Nanosleep(&ts, nil)
		}
	}
}
