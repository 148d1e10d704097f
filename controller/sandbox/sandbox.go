// Package sandbox runs a lab's Starlark in a process of its own, for a controller: a lab
// sent over the network may build strings until its process runs out of memory, and
// the controller, its other runs and its history carry on, the run ending with an error
// that names the budget.
//
// The process is the controller's own binary (Init), started for one lab. It loads the
// lab, runs it within its steps and futures budgets, and has no agent session, token or
// connection of its own: each operation goes to the controller over a pipe, and the
// controller performs it on the run's sessions and records it, as for a lab run in its
// own process. Its memory is bounded by a cgroup where one can be made, and everywhere by
// a watchdog that reads its RSS.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/crash"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Spec says which lab a sandbox loads: a built-in, or a lab file's text.
type Spec struct {
	// Builtin is a built-in lab's name; "" for a lab file.
	Builtin string `json:"builtin,omitempty"`
	// FileName is a lab file's base name, as its errors show it.
	FileName string `json:"file_name,omitempty"`
	// Source is a lab file's text. It may load() the files in Files and the built-in
	// helpers under lib/, and nothing else.
	Source []byte `json:"source,omitempty"`
	// Files are the files sent with Source, by their paths relative to its folder; its
	// loads find them before the built-in helpers.
	Files map[string][]byte `json:"files,omitempty"`
}

// Options tune a sandbox beyond its budgets.
type Options struct {
	// NoCgroup leaves the cgroup out: the watchdog alone bounds the memory, as where no
	// cgroup can be made (tests of that case).
	NoCgroup bool
}

// checkObserver is an Env that records each check as the lab evaluates it (the
// runner's, which records a failed check in the transcript).
type checkObserver interface {
	// Checked is the check c as the lab just recorded it.
	Checked(c transcript.Check)
}

// cancelGrace is how long a lab's process has to end its run once told to stop before
// it is killed (a thread that computes without waiting may not notice).
const cancelGrace = 2 * time.Second

// exitWait bounds the wait for a lab's process to exit once it sent its outcome.
const exitWait = 5 * time.Second

// Lab is a lab loaded in a process of its own, as a runner.Lab. It runs once; Close ends
// its process (if it still runs) and frees what bounds it.
type Lab struct {
	info runner.Info
	p    *proc
}

var _ runner.Lab = (*Lab)(nil)

// Load starts a lab's process, bounded by b.Memory, and loads spec there within b's
// steps and futures. ctx (and b.Time) bound the load. A load over a budget is a
// *runner.BudgetError; a lab that does not load is its error, as lab.Load gives it (a
// *runner.LabError mostly); a process that could not start, of kind
// errdefs.ErrInternal. On an error the process has ended.
func Load(ctx context.Context, spec Spec, b runner.Budgets, opts Options) (*Lab, error) {
	p, err := start(b.Memory, opts)
	if err != nil {
		return nil, err
	}
	if b.Time > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, b.Time, runner.OverTime(b.Time, "--max-run-time"))
		defer cancel()
	}
	_ = p.c.send(&message{Kind: kindLoad, Spec: &spec, Budgets: &b})
	m, err := p.reply(ctx, kindInfo)
	switch {
	case err != nil:
		p.close()
		return nil, err
	case m.Err != nil:
		p.close()
		return nil, m.Err.error()
	case m.Info == nil:
		p.close()
		return nil, errors.New("the lab's process described no lab")
	}
	return &Lab{info: m.Info.info(), p: p}, nil
}

// Info describes the lab.
func (l *Lab) Info() runner.Info { return l.info }

// ParamValues resolves --param overrides in the lab's process.
func (l *Lab) ParamValues(overrides []string) (map[string]any, error) {
	_ = l.p.c.send(&message{Kind: kindParams, Overrides: overrides})
	m, err := l.p.reply(context.Background(), kindParams)
	if err != nil {
		return nil, err
	}
	if m.Err != nil {
		return nil, m.Err.error()
	}
	return fromWireParams(m.Params)
}

// Close ends the lab's process if it still runs, and removes its cgroup.
func (l *Lab) Close() error {
	l.p.close()
	return nil
}

// Run runs the lab in its process: it performs each operation the lab asks for through
// env, and returns the lab's outcome. When ctx ends, the lab is told to stop, with ctx's
// cause, and killed if it has not within cancelGrace. A process that dies before its
// outcome (killed for its memory above all) ends the run with what killed it, and the
// checks the lab had recorded.
func (l *Lab) Run(ctx context.Context, env runner.Env, hosts []runner.HostInfo, params map[string]any) *runner.Outcome {
	p := l.p
	defer p.close()
	checks := append([]transcript.Check(nil), l.info.Checks...)
	wp, err := toWireParams(params)
	if err != nil {
		return stopped(checks, err)
	}
	_ = p.c.send(&message{Kind: kindRun, Hosts: hosts, Params: wp})

	var calls sync.WaitGroup // the calls in progress: none outlives Run
	defer calls.Wait()
	// The calls end after the lab has been told why they end: the lab then knows its
	// run's cause when it gets their answers, as a lab in this process would.
	callCtx, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCalls()
	var (
		mu      sync.Mutex // protects abandon
		abandon = map[uint64]context.CancelFunc{}
	)
	var (
		done  = ctx.Done()
		grace <-chan time.Time
		cause error // why the lab was told to stop
	)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				stopCalls()
				calls.Wait()
				return stopped(checks, p.endError(cause))
			}
			if m.Kind != kindDo {
				p.release(m) // what is kept of it is copied below
			}
			switch m.Kind {
			case kindDo:
				cctx, cancel := callCtx, context.CancelFunc(func() {})
				if m.Timeout > 0 {
					cctx, cancel = context.WithTimeout(callCtx, time.Duration(m.Timeout))
				}
				cctx, stop := context.WithCancel(cctx)
				mu.Lock()
				abandon[m.ID] = stop
				mu.Unlock()
				calls.Add(1)
				go func() {
					defer calls.Done()
					defer cancel()
					defer stop()
					reply := perform(cctx, env, m)
					p.release(m)
					mu.Lock()
					delete(abandon, m.ID)
					mu.Unlock()
					_ = p.c.send(reply) // a process that died has no use for it
				}()
			case kindAbandon:
				mu.Lock()
				if stop, ok := abandon[m.ID]; ok {
					stop()
				}
				mu.Unlock()
			case kindSay:
				env.Say(m.Text, m.Pos)
			case kindCheck:
				for _, c := range fromWireChecks(m.Checks) {
					if o, ok := env.(checkObserver); ok {
						o.Checked(c) // a failed check is recorded where it failed
					}
					for i := range checks {
						if checks[i].ID == c.ID {
							checks[i] = c
						}
					}
				}
			case kindOutcome:
				stopCalls()
				calls.Wait()
				p.await(exitWait)
				return &runner.Outcome{Checks: fromWireChecks(m.Checks), Err: m.Err.error(), Pos: m.Pos}
			}
		case <-done:
			done = nil
			cause = context.Cause(ctx)
			_ = p.c.send(&message{Kind: kindCancel, Err: toWireError(cause)})
			stopCalls()
			grace = time.After(cancelGrace)
		case <-grace:
			p.kill()
		}
	}
}

// perform performs a call of the lab through env and returns its answer.
func perform(ctx context.Context, env runner.Env, m *message) *message {
	reply := &message{Kind: kindDone, ID: m.ID}
	op := &socklabv1.Operation{}
	if err := proto.Unmarshal(m.Op, op); err != nil {
		reply.Err = toWireError(fmt.Errorf("decode the lab's operation: %w", err))
		return reply
	}
	resp, err := env.Do(ctx, m.Role, m.Handle, op, m.Pos)
	if err != nil {
		reply.Err = toWireError(err)
		return reply
	}
	if reply.Response, err = proto.Marshal(resp); err != nil {
		reply.Err = toWireError(fmt.Errorf("encode the answer: %w", err))
	}
	return reply
}

// stopped is the outcome of a lab stopped by err outside its own process: the checks it
// recorded, the others not reached.
func stopped(checks []transcript.Check, err error) *runner.Outcome {
	for i := range checks {
		if !checks[i].Reached {
			checks[i].Message = "not reached: " + err.Error()
		}
	}
	return &runner.Outcome{Checks: checks, Err: err}
}

// proc is a lab's process, from its start to its end.
type proc struct {
	cmd    *exec.Cmd
	c      *conn
	mem    *memoryBound
	limit  int64
	stderr *crash.Tail
	// msgs are the child's messages, in order; closed once its pipe ends.
	msgs chan *message
	// exited is closed once the process has ended and its cgroup is gone; state is how
	// it ended.
	exited chan struct{}
	state  *os.ProcessState
	// quit is closed by close: the reader stops handing messages on.
	quit chan struct{}
	// held bounds the bytes of the child's messages the controller holds at once (the
	// operations of calls in progress above all), so that a lab's many futures sending
	// one large bytes value each cannot fill the controller's memory with copies.
	held      *semaphore.Weighted
	heldMax   int64
	closeOnce sync.Once
	files     []*os.File // the parent's ends of the pipes
	killedBy  string     // set by kill: the process was killed, not out of memory
	mu        sync.Mutex // protects killedBy
}

// start starts a lab's process with its memory bounded by limit (0: none). Its error
// is of kind errdefs.ErrInternal: the controller's, not the lab's.
func start(limit int64, opts Options) (*proc, error) {
	toChildR, toChildW, err := os.Pipe()
	if err != nil {
		return nil, errdefs.Errorf(errdefs.ErrInternal, "start the lab's process: %v", err)
	}
	fromChildR, fromChildW, err := os.Pipe()
	if err != nil {
		toChildR.Close()
		toChildW.Close()
		return nil, errdefs.Errorf(errdefs.ErrInternal, "start the lab's process: %v", err)
	}
	p := &proc{limit: limit, stderr: crash.NewTail(4 << 10), msgs: make(chan *message),
		exited: make(chan struct{}), quit: make(chan struct{}), files: []*os.File{toChildW, fromChildR}}
	p.heldMax = max(limit, 2*maxFrame)
	p.held = semaphore.NewWeighted(p.heldMax)
	p.cmd = &exec.Cmd{
		Path: "/proc/self/exe", Args: []string{childArg0}, Env: childEnv(),
		ExtraFiles: []*os.File{toChildR, fromChildW}, Stderr: p.stderr,
		// No Pdeathsig: it fires when the thread that started the child ends, which a Go
		// program does not choose. The child ends as soon as its pipe from the
		// controller does, the controller's death included.
	}
	err = p.cmd.Start()
	toChildR.Close()
	fromChildW.Close()
	if err != nil {
		toChildW.Close()
		fromChildR.Close()
		return nil, errdefs.Errorf(errdefs.ErrInternal, "start the lab's process: %v", err)
	}
	// The child waits for its load message: it runs nothing before it is in its cgroup.
	p.mem = boundMemory(p.cmd.Process.Pid, limit, opts.NoCgroup)
	p.c = newConn(fromChildR, toChildW)
	quitCtx, stopHolding := context.WithCancel(context.Background())
	p.c.hold = func(size int64) error { return p.held.Acquire(quitCtx, min(size, p.heldMax)) }
	go func() { // the process's reaper: until it ends
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		ws, _ := p.state.Sys().(syscall.WaitStatus)
		p.mem.finish(ws.Signaled() && ws.Signal() == syscall.SIGKILL)
		close(p.exited)
	}()
	go func() { // the child's messages: until its pipe ends, or close
		defer close(p.msgs)
		go func() { <-p.quit; stopHolding() }() // ends with close
		for {
			m, err := p.c.recv()
			if err != nil {
				return
			}
			select {
			case p.msgs <- m:
			case <-p.quit:
				return
			}
		}
	}()
	return p, nil
}

// release lets go of the bytes of m, once the controller is done with it.
func (p *proc) release(m *message) { p.held.Release(min(m.size, p.heldMax)) }

// childEnv is the environment of a lab's process: nothing of the controller's (its
// tokens least of all), but what the race detector and coverage read.
func childEnv() []string {
	var env []string
	for _, k := range []string{"GORACE", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// reply waits for the child's answer of kind, for as long as ctx lets it.
func (p *proc) reply(ctx context.Context, kind string) (*message, error) {
	select {
	case m, ok := <-p.msgs:
		if ok {
			p.release(m)
		}
		switch {
		case !ok:
			return nil, p.endError(nil)
		case m.Kind != kind:
			p.kill()
			return nil, fmt.Errorf("the lab's process sent %s, want %s", m.Kind, kind)
		}
		return m, nil
	case <-ctx.Done():
		p.kill()
		<-p.exited
		if p.mem.exceeded() {
			return nil, runner.OverMemory(p.limit)
		}
		return nil, context.Cause(ctx)
	}
}

// endError says why the process ended before its outcome: its memory, what stopped it
// (cause, when it was told to stop and then killed), or how it ended.
func (p *proc) endError(cause error) error {
	p.await(exitWait)
	p.mu.Lock()
	killedBy := p.killedBy
	p.mu.Unlock()
	switch {
	case p.mem.exceeded(), killedBy == "" && outOfMemory(p.stderr):
		// The runtime's own "out of memory": the address space's backstop.
		return runner.OverMemory(p.limit)
	case cause != nil:
		return cause
	}
	msg := fmt.Sprintf("the lab's process ended before the lab did (%s)", p.state)
	if t := p.stderr.Last(); t != "" {
		msg += ": " + t
	}
	return errors.New(msg)
}

// await waits up to d for the process to end, then kills it and waits for that.
func (p *proc) await(d time.Duration) {
	select {
	case <-p.exited:
		return
	case <-time.After(d):
	}
	p.kill()
	<-p.exited
}

// kill kills the process (if it still runs).
func (p *proc) kill() {
	p.mu.Lock()
	if p.killedBy == "" {
		p.killedBy = "the controller"
	}
	p.mu.Unlock()
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
	}
}

// close ends the process (if it still runs) and waits for it, its cgroup removed and
// its pipes closed.
func (p *proc) close() {
	p.closeOnce.Do(func() {
		close(p.quit)
		select {
		case <-p.exited:
		default:
			p.kill()
			<-p.exited
		}
		for _, f := range p.files {
			f.Close()
		}
	})
}

// outOfMemory reports whether t shows the process died for want of memory: the Go
// runtime's fatal error, or the race detector's.
func outOfMemory(t *crash.Tail) bool {
	s := t.String()
	return strings.Contains(s, "runtime: out of memory") || strings.Contains(s, "cannot allocate memory") ||
		strings.Contains(s, "ThreadSanitizer failed to allocate")
}
