package session

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/agent/python"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// The operations that start a program under test and follow it. A process is a handle
// like a socket; its operations take that handle.

// proc is a program held by a handle: its job, and what the session tracks of it.
type proc struct {
	job     *process.Job
	pid     int    // the program's host pid
	name    string // argv[0], for messages
	exit    sync.Once
	flush   func()          // shows the output's last partial lines
	unshown func() []string // says how much output the transcript's lines left out
}

var _ resource = (*proc)(nil)

// Kind returns "process".
func (p *proc) Kind() string { return "process" }

// Describe adds nothing: a process has no addresses.
func (p *proc) Describe(*socklabv1.Event) {}

// Close ends the job and everything it started.
func (p *proc) Close() error {
	p.job.Close("session ended")
	return nil
}

// pollEvery is how often the waits look again at a process's output or sockets.
const pollEvery = 2 * time.Millisecond

// maxSpawnFiles bounds the bytes of the files one spawn writes.
const maxSpawnFiles = 64 << 20

func init() {
	register("spawn", spec[*socklabv1.SpawnOp]{
		check: checkSpawn,
		host:  spawn,
	})
	register("write", spec[*socklabv1.WriteOp]{
		lane: sendLane,
		check: func(o *socklabv1.WriteOp, pol *policy.Policy) error {
			if len(o.GetData()) > pol.MaxBytesPerOp {
				return errdefs.Errorf(errdefs.ErrResourceExhausted, "write: %d bytes is over this agent's limit of %d bytes per operation", len(o.GetData()), pol.MaxBytesPerOp)
			}
			return nil
		},
		process: func(_ context.Context, c *call, o *socklabv1.WriteOp) error {
			n, err := c.pr.job.Write(o.GetData())
			c.ev.Result = &socklabv1.Result{Value: int64(n)}
			c.ev.Payload, c.ev.PayloadLength = capped(o.GetData()[:n], c.s.payloadCap), uint64(n)
			c.ev.Operation = &socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{}}}
			return err
		},
	})
	register("close_stdin", spec[*socklabv1.CloseStdinOp]{
		process: func(_ context.Context, c *call, _ *socklabv1.CloseStdinOp) error { return c.pr.job.CloseStdin() },
	})
	register("signal", spec[*socklabv1.SignalOp]{
		check: func(o *socklabv1.SignalOp, _ *policy.Policy) error {
			if unix.SignalNum(o.GetName()) == 0 {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "signal: %q is not a signal's name such as \"SIGTERM\"", o.GetName())
			}
			return nil
		},
		process: func(_ context.Context, c *call, o *socklabv1.SignalOp) error {
			return c.pr.job.Signal(unix.SignalNum(o.GetName()))
		},
	})
	register("kill", spec[*socklabv1.KillOp]{
		process: func(_ context.Context, c *call, _ *socklabv1.KillOp) error {
			c.pr.job.Kill()
			return nil
		},
	})
	register("wait", spec[*socklabv1.WaitOp]{
		lane: recvLane,
		process: func(ctx context.Context, c *call, _ *socklabv1.WaitOp) error {
			exit, err := c.pr.job.Wait(ctx)
			if err != nil {
				return err
			}
			c.ev.Result = &socklabv1.Result{Exit: exitOf(exit), Seconds: exit.CPU.Seconds()}
			return nil
		},
	})
	register("stdout", spec[*socklabv1.OutputOp]{process: output(process.Stdout)})
	register("stderr", spec[*socklabv1.OutputOp]{process: output(process.Stderr)})
	register("cpu_seconds", spec[*socklabv1.CpuSecondsOp]{
		process: func(_ context.Context, c *call, _ *socklabv1.CpuSecondsOp) error {
			c.ev.Result = &socklabv1.Result{Seconds: c.pr.job.CPU().Seconds()}
			return nil
		},
	})
	register("rss", spec[*socklabv1.RssOp]{
		process: func(_ context.Context, c *call, _ *socklabv1.RssOp) error {
			c.ev.Result = &socklabv1.Result{Value: c.pr.job.RSS()}
			return nil
		},
	})
	register("alive", spec[*socklabv1.AliveOp]{
		process: func(_ context.Context, c *call, _ *socklabv1.AliveOp) error {
			c.ev.Result = &socklabv1.Result{}
			if c.pr.job.Alive() {
				c.ev.Result.Value = 1
			}
			return nil
		},
	})
	register("wait_output", spec[*socklabv1.WaitOutputOp]{
		lane: recvLane,
		check: func(o *socklabv1.WaitOutputOp, _ *policy.Policy) error {
			if len(o.GetLiteral()) == 0 && o.GetRegexp() == "" {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "wait_output: give bytes to find or a regular expression")
			}
			if o.GetRegexp() != "" {
				if _, err := regexp.Compile(o.GetRegexp()); err != nil {
					return errdefs.Errorf(errdefs.ErrInvalidArgument, "wait_output: %v", err)
				}
			}
			return nil
		},
		process: waitOutput,
	})
	register("wait_listening", spec[*socklabv1.WaitListeningOp]{
		lane: recvLane,
		check: func(o *socklabv1.WaitListeningOp, _ *policy.Policy) error {
			if p := o.GetProtocol(); p != "" && p != "tcp" && p != "udp" {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "wait_listening: protocol %q: use \"tcp\" or \"udp\"", p)
			}
			if o.GetPort() == 0 || o.GetPort() > 65535 {
				return errdefs.Errorf(errdefs.ErrInvalidArgument, "wait_listening: port must be 1-65535 (got %d)", o.GetPort())
			}
			return nil
		},
		process: waitListening,
	})
}

// checkSpawn checks a spawn's shape: a program, files with plain names, a relative cwd.
func checkSpawn(o *socklabv1.SpawnOp, pol *policy.Policy) error {
	if len(o.GetArgv()) == 0 || o.GetArgv()[0] == "" {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: argv is empty: give the program and its arguments, [\"python3\", \"server.py\"]")
	}
	total := 0
	for name, data := range o.GetFiles() {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: file name %q: give a plain name, such as \"server.py\"", name)
		}
		total += len(data)
	}
	if total > maxSpawnFiles {
		return errdefs.Errorf(errdefs.ErrResourceExhausted, "spawn: %d bytes of files is over the limit of %d", total, maxSpawnFiles)
	}
	for k := range o.GetEnv() {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "SOCKLAB_") {
			return errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: environment variable %q: give a name without '=', not starting SOCKLAB_", k)
		}
	}
	if cwd := o.GetCwd(); filepath.IsAbs(cwd) || strings.HasPrefix(filepath.Clean("/"+cwd), "/..") {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: cwd %q must be relative to the session's directory", cwd)
	}
	_, err := jobLimits(o.GetLimits())
	return err
}

// jobLimits turns a spawn's limits into a job's: each may tighten the agent's own, none
// may loosen it.
func jobLimits(l *socklabv1.ProcessLimits) (process.Limits, error) {
	most := process.DefaultLimits()
	var lim process.Limits
	for _, f := range []struct {
		name       string
		got, limit float64
		set        func(float64)
		unit       string
	}{
		{"cpu", l.GetCpuSeconds(), most.CPU.Seconds(), func(v float64) { lim.CPU = seconds(v) }, " seconds"},
		{"memory", float64(l.GetMemoryBytes()), float64(most.Memory), func(v float64) { lim.Memory = int64(v) }, " bytes"},
		{"processes", float64(l.GetProcesses()), float64(most.Processes), func(v float64) { lim.Processes = int(v) }, ""},
		{"open_files", float64(l.GetOpenFiles()), float64(most.OpenFiles), func(v float64) { lim.OpenFiles = int(v) }, ""},
		{"output", float64(l.GetOutputBytes()), float64(most.Output), func(v float64) { lim.Output = int(v) }, " bytes"},
		{"wall", l.GetWallSeconds(), most.Wall.Seconds(), func(v float64) { lim.Wall = seconds(v) }, " seconds"},
	} {
		switch {
		case f.got == 0:
			continue
		case f.got < 0 || math.IsNaN(f.got):
			return lim, errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: limits[%q] is %s: give a positive number", f.name, number(f.got))
		case f.got > f.limit:
			return lim, errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: limits[%q] is %s, over this agent's limit of %s%s: a lab may only tighten it", f.name, number(f.got), number(f.limit), f.unit)
		}
		f.set(f.got)
	}
	if l.GetMemoryBytes() != 0 && l.GetMemoryBytes() < 1<<20 {
		return lim, errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: limits[\"memory\"] is %d bytes: give at least 1 MiB (1 << 20)", l.GetMemoryBytes())
	}
	return lim, nil
}

// number writes a limit as a lab would: 536870912, 0.5.
func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// seconds turns a count of seconds into a duration.
func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// resolveProgram finds the program argv0 names and checks the owner allows it. A path
// starting "./" is a program of the session's own directory (dir), such as one a lab
// built there: it runs contained like any other, and an agent that allows any program
// allows it.
func resolveProgram(argv0, dir string, pol *policy.Policy) (string, error) {
	var path string
	switch {
	case strings.HasPrefix(argv0, "./"):
		if len(pol.Programs) == 0 {
			break
		}
		p := filepath.Join(dir, filepath.Clean("/"+argv0))
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			return "", errdefs.Errorf(errdefs.ErrFailedPrecondition, "spawn: %s is no executable file of the session's directory (build it first)", argv0)
		}
		return p, nil
	case argv0 == "python3" || argv0 == "python":
		p, err := python.Find()
		if err != nil {
			return "", errdefs.Errorf(errdefs.ErrFailedPrecondition, "spawn: no python3 on this agent's host: %v", err)
		}
		path = p
	case strings.Contains(argv0, "/"):
		if !filepath.IsAbs(argv0) {
			return "", errdefs.Errorf(errdefs.ErrInvalidArgument, "spawn: program %q: give a name such as \"python3\" or an absolute path", argv0)
		}
		path = argv0
	default:
		for _, dir := range filepath.SplitList(policy.ProgramPath) {
			p := filepath.Join(dir, argv0)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				path = p
				break
			}
		}
	}
	if !pol.AllowsProgram(argv0, path) {
		if pol.ProgramsRefusal != "" {
			return "", errdefs.Errorf(errdefs.ErrPermissionDenied, "spawn: %s: %s", argv0, pol.ProgramsRefusal)
		}
		return "", errdefs.Errorf(errdefs.ErrPermissionDenied, "spawn: program %s is not allowed on this agent; its owner allows: %s (agent --allow-exec)", argv0, pol.ProgramsString())
	}
	if path == "" {
		return "", errdefs.Errorf(errdefs.ErrFailedPrecondition, "spawn: no program %s in %s on this agent's host", argv0, policy.ProgramPath)
	}
	return path, nil
}

// spawn writes the files and starts the program as a job of the session.
func spawn(_ context.Context, c *call, o *socklabv1.SpawnOp) error {
	s := c.s
	pol := &s.m.policy
	argv := o.GetArgv()
	path, err := resolveProgram(argv[0], s.dir, pol)
	if err != nil {
		return err
	}
	lim, err := jobLimits(o.GetLimits())
	if err != nil {
		return err
	}
	group, err := s.jobGroup()
	if err != nil {
		return err
	}
	if err := s.reserveJob(); err != nil {
		return err
	}
	if err := s.reserve(); err != nil {
		s.unreserveJob()
		return err
	}
	fail := func(err error) error {
		s.unreserve()
		s.unreserveJob()
		c.ev.Error = &socklabv1.SocketError{Name: "error", Message: err.Error()}
		return nil
	}
	for name, data := range o.GetFiles() {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			return fail(fmt.Errorf("spawn: write %s: %w", name, err))
		}
		if id := group.ID(); id >= 0 {
			_ = os.Chown(p, -1, id)
		}
	}
	dir := filepath.Join(s.dir, filepath.Clean("/"+o.GetCwd()))
	env := []string{"PATH=" + policy.ProgramPath, "HOME=" + s.dir, "LANG=C.UTF-8", "TMPDIR=" + s.dir,
		"SOCKLAB_HOST=" + s.m.name, "SOCKLAB_HOST_IP=" + s.m.hostIP.String()}
	if strings.HasPrefix(filepath.Base(path), "python") {
		// A pipe would otherwise hold a Python program's output until it exits.
		env = append(env, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	}
	for k, v := range o.GetEnv() {
		env = append(env, k+"="+v)
	}
	var h uint32
	registered := make(chan struct{}) // closed once h is set (or spawn failed)
	defer func() {
		select {
		case <-registered:
		default:
			close(registered)
		}
	}()
	handle := func() uint32 { <-registered; return h } // output waits the moment it takes
	lines := [3]*lineSplitter{}
	jobOutput := lim.Output // what the job keeps of each stream
	if jobOutput == 0 {
		jobOutput = process.DefaultLimits().Output
	}
	for _, st := range []process.Stream{process.Stdout, process.Stderr} {
		lines[st] = newLineSplitter(min(s.payloadCap*64, jobOutput), func(line []byte, total int) {
			ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Handle: handle(), Op: "output",
				Note: st.String(), StartNs: Monotonic(time.Now()), Payload: capped(line, s.payloadCap), PayloadLength: uint64(total)}
			s.events.push(context.Background(), ev, false)
		})
	}
	job, err := s.m.jobs().Start(process.Spec{
		Path: path, Argv: argv, Env: env, Dir: dir, Group: group, Stdin: o.GetStdin(), Limits: lim,
		Output: func(st process.Stream, chunk []byte) { lines[st].write(chunk) },
	})
	if err != nil {
		return fail(err)
	}
	pr := &proc{job: job, pid: programPid(job), name: argv[0]}
	hh, _, err := s.register(pr, "")
	if err != nil {
		return err
	}
	h = hh
	close(registered)
	pr.flush = func() { lines[process.Stdout].flush(); lines[process.Stderr].flush() }
	pr.unshown = func() (notes []string) {
		for _, st := range []process.Stream{process.Stdout, process.Stderr} {
			// Past the job's own limit, the job's note says what was dropped.
			if kept, _ := job.Output(st); lines[st].dropped() > 0 && lines[st].limit < len(kept) {
				notes = append(notes, fmt.Sprintf("%s shown up to %d bytes; %s() has %d", st, lines[st].limit, st, len(kept)))
			}
		}
		return notes
	}
	go func() { // the exit, on the session's stream
		<-job.Done()
		pr.reportExit(s, hh)
	}()
	c.ev.Handle = hh
	c.ev.Result = &socklabv1.Result{Handle: hh, Value: int64(pr.pid), Containment: job.Containment()}
	return nil
}

// reportExit puts the process's exit on the session's stream, once.
func (p *proc) reportExit(s *Session, h uint32) {
	p.exit.Do(func() {
		exit, _ := p.job.Wait(context.Background())
		if p.flush != nil {
			p.flush()
			exit.Limits = append(exit.Limits, p.unshown()...)
		}
		s.unreserveJob()
		// The exit is shown when the job ended, not when this ran: a wait that returned
		// then, and the calls the lab made after it, come after it.
		s.events.push(context.Background(), &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_BACKGROUND, Handle: h, Op: "exit",
			Note: exit.String(), StartNs: Monotonic(exit.At), Result: &socklabv1.Result{Exit: exitOf(exit), Seconds: exit.CPU.Seconds()}}, false)
	})
}

// programPid returns the host pid of the job's program: its init's first child.
func programPid(j *process.Job) int {
	for range 100 {
		if pids := j.Pids(); len(pids) > 0 {
			return pids[0]
		}
		if !j.Alive() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return 0
}

func exitOf(e process.Exit) *socklabv1.ProcessExit {
	return &socklabv1.ProcessExit{Code: int32(e.Code), Signal: e.Signal, Reason: e.Reason, Limits: e.Limits}
}

// output returns stdout's or stderr's operation: what the stream held so far.
func output(st process.Stream) func(context.Context, *call, *socklabv1.OutputOp) error {
	return func(_ context.Context, c *call, _ *socklabv1.OutputOp) error {
		kept, total := c.pr.job.Output(st)
		c.ev.Result = &socklabv1.Result{BytesValue: kept, Value: total}
		return nil
	}
}

// ended is the error of a wait the process's end cut short.
func ended(c *call, what string) error {
	exit, _ := c.pr.job.Wait(context.Background())
	return fmt.Errorf("the process ended (%s) before %s", exit, what)
}

// waitOutput waits until the process's output holds the pattern.
func waitOutput(ctx context.Context, c *call, o *socklabv1.WaitOutputOp) error {
	st, name := process.Stdout, "stdout"
	if o.GetStderr() {
		st, name = process.Stderr, "stderr"
	}
	var find func([]byte) []byte
	if lit := o.GetLiteral(); len(lit) > 0 {
		find = func(b []byte) []byte {
			if bytes.Contains(b, lit) {
				return lit
			}
			return nil
		}
	} else {
		find = regexp.MustCompile(o.GetRegexp()).Find // checked by the spec's check
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		alive := c.pr.job.Alive()
		kept, _ := c.pr.job.Output(st)
		if m := find(kept); m != nil {
			c.ev.Result = &socklabv1.Result{BytesValue: m}
			return nil
		}
		if !alive {
			c.ev.Result = &socklabv1.Result{}
			return ended(c, "its "+name+" held the pattern")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitListening waits until a socket of the process (or a child of it) listens on the
// port (tcp) or is bound to it (udp): the kernel's table, matched to the process tree's
// own fds by inode, so that nothing else's socket counts and nothing connects.
func waitListening(ctx context.Context, c *call, o *socklabv1.WaitListeningOp) error {
	proto := o.GetProtocol()
	if proto == "" {
		proto = "tcp"
	}
	f := kernel.Filter{Port: uint16(o.GetPort()), Protocol: proto}
	if proto == "tcp" {
		f.State = "LISTEN"
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		alive := c.pr.job.Alive()
		rows, err := c.s.m.sockets(f)
		if err != nil {
			return err
		}
		if found := ownedBy(rows, uint16(o.GetPort()), c.pr.job); len(found) > 0 {
			c.ev.Result = &socklabv1.Result{}
			for _, r := range found {
				c.ev.Result.Sockets = append(c.ev.Result.Sockets, kernelSocket(r))
			}
			return nil
		}
		if !alive {
			c.ev.Result = &socklabv1.Result{}
			return ended(c, fmt.Sprintf("it had a %s socket on port %d", proto, o.GetPort()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ownedBy keeps the rows whose local port is port and that are the job's own: owned by
// its uid, where the job has one of its own (as root: reading another uid's
// /proc/PID/fd would need CAP_SYS_PTRACE, which an agent in a container may lack), else
// a socket one of its processes holds open.
func ownedBy(rows []kernel.Socket, port uint16, job *process.Job) []kernel.Socket {
	var mine []kernel.Socket
	var inodes map[uint64]bool
	uid := job.UID()
	for _, r := range rows {
		if r.Local.Port() != port || r.Inode == 0 {
			continue
		}
		if uid >= 0 {
			if r.UID == uint32(uid) {
				mine = append(mine, r)
			}
			continue
		}
		if inodes == nil {
			inodes = socketInodes(job.Pids())
		}
		if inodes[r.Inode] {
			mine = append(mine, r)
		}
	}
	return mine
}

// socketInodes returns the inodes of the sockets the processes hold open.
func socketInodes(pids []int) map[uint64]bool {
	out := map[uint64]bool{}
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/" + fd.Name())
			if err != nil {
				continue
			}
			if v, ok := strings.CutPrefix(link, "socket:["); ok {
				if n, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64); err == nil {
					out[n] = true
				}
			}
		}
	}
	return out
}

// jobGroup returns the group the session's jobs share (made at the first spawn), after
// giving the session's directory to it.
func (s *Session) jobGroup() (*process.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.group != nil {
		return s.group, nil
	}
	g, err := process.NewGroup()
	if err != nil {
		return nil, errdefs.Errorf(errdefs.ErrResourceExhausted, "spawn: %v", err)
	}
	if id := g.ID(); id >= 0 {
		// The jobs (each its own uid, all of this group) share the directory; new files
		// in it take its group.
		if err := os.Chown(s.dir, -1, id); err != nil {
			g.Release()
			return nil, fmt.Errorf("spawn: share the session's directory: %w", err)
		}
		if err := os.Chmod(s.dir, 0o770|os.ModeSetgid); err != nil {
			g.Release()
			return nil, fmt.Errorf("spawn: share the session's directory: %w", err)
		}
	}
	s.group = g
	return g, nil
}

// reserveJob counts one more running program against the owner's limit.
func (s *Session) reserveJob() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs >= s.m.policy.MaxJobs {
		return errdefs.Errorf(errdefs.ErrResourceExhausted, "spawn: session %s runs %d programs, this agent's limit: wait for or kill one first", s.id, s.jobs)
	}
	if err := s.m.takeFiles(jobFiles, "a new program's pipes"); err != nil {
		return err
	}
	s.jobs++
	return nil
}

// unreserveJob gives back what reserveJob took, once the program has ended (or never
// started).
func (s *Session) unreserveJob() {
	s.mu.Lock()
	s.jobs--
	s.mu.Unlock()
	s.m.giveFiles(jobFiles)
}

// lineSplitter turns a stream's chunks into the transcript's output events: one per
// line, a partial line once the program has been quiet for a moment (a prompt), and
// nothing past the stream's share of the transcript (the rest is still counted by the
// job and readable with stdout()).
type lineSplitter struct {
	emit  func(line []byte, total int)
	limit int // bytes shown, at most

	mu      sync.Mutex // guards the fields below
	partial []byte
	shown   int
	unshown int64 // bytes past the limit
	idle    *time.Timer
}

// lineIdle is how long a partial line waits for its end before it is shown as it is.
const lineIdle = 50 * time.Millisecond

func newLineSplitter(limit int, emit func([]byte, int)) *lineSplitter {
	l := &lineSplitter{emit: emit, limit: limit}
	l.idle = time.AfterFunc(time.Hour, l.flush)
	l.idle.Stop()
	return l
}

func (l *lineSplitter) write(chunk []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, chunk...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 && len(l.partial) < 4096 {
			break
		}
		n := i + 1
		if i < 0 {
			n = len(l.partial)
		}
		l.show(l.partial[:n])
		l.partial = l.partial[n:]
	}
	if len(l.partial) > 0 {
		l.idle.Reset(lineIdle)
	}
}

// show emits a line, within the limit; l.mu held.
func (l *lineSplitter) show(line []byte) {
	if l.shown >= l.limit {
		l.unshown += int64(len(line))
		return
	}
	l.shown += len(line)
	l.emit(append([]byte(nil), line...), len(line))
}

// dropped returns how many bytes the limit kept out of the transcript.
func (l *lineSplitter) dropped() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unshown
}

// flush shows a partial line now.
func (l *lineSplitter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.show(l.partial)
		l.partial = nil
	}
}
