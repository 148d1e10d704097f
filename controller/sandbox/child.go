package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// childArg0 is the argv[0] under which the controller's own binary runs one lab's
// Starlark for it (Init).
const childArg0 = "socklab-lab"

// Init runs this process as a lab's process when the controller started it as one, and
// then never returns: call it first in main (and in the TestMain of tests that run labs
// in a sandbox), as agent/process.Init.
func Init() {
	if len(os.Args) > 0 && os.Args[0] == childArg0 {
		os.Exit(runChild())
	}
}

// runChild loads the lab the parent asks for, answers its questions, runs it, sends the
// outcome and returns. It ends the process at once when the parent goes away.
func runChild() int {
	c := newConn(os.NewFile(3, "from-controller"), os.NewFile(4, "to-controller"))
	m, err := c.recv()
	if err != nil || m.Kind != kindLoad || m.Spec == nil || m.Budgets == nil {
		fmt.Fprintf(os.Stderr, "socklab lab: want a load message first (got %v)\n", err)
		return 111
	}
	b := *m.Budgets
	bound(b.Memory)
	l, err := m.Spec.load(b)
	if err != nil {
		_ = c.send(&message{Kind: kindInfo, Err: toWireError(err)})
		return 0
	}
	if err := c.send(&message{Kind: kindInfo, Info: toWireInfo(l.Info())}); err != nil {
		return 111
	}
	ch := &child{c: c, lab: l, calls: map[uint64]chan *message{}}
	for {
		m, err := c.recv()
		if err != nil {
			// The parent is gone (or sent garbage): nothing is left to run for.
			os.Exit(112)
		}
		ch.handle(m)
	}
}

// bound holds the Go runtime of this process under limit (0: none): the garbage
// collector works harder as the heap nears it, and the address space is limited far
// above it, as a last resort. The parent's cgroup or its watchdog is the bound that
// counts; see memoryBound.
func bound(limit int64) {
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	// The runtime reserves address space it never touches: measured with go1.26 on
	// linux/amd64, a lab's process as it starts has a VmSize of 5.5 GiB (a 4 GiB
	// reservation, glibc's 64 MiB arenas, threads' stacks) and a VmRSS of 17 MiB; under
	// the race detector 5.9 GiB and 39 MiB. A limit of the budget itself would kill it
	// before it ran a step. So the address space may grow, from what it is now, by twice
	// the budget (8 times under the race detector, for its shadow memory) and 1 GiB more,
	// for what the runtime reserves as the heap grows: a backstop for an allocation
	// faster than the watchdog's sampling, never the bound.
	if size := vmSize(); size > 0 {
		as := uint64(size) + addressFactor*uint64(limit) + 1<<30
		_ = unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: as, Max: as})
	}
}

// vmSize is this process's address space in bytes, from /proc/self/status (0: unknown).
func vmSize() int64 { return statusBytes("/proc/self/status", "VmSize:") }

// statusBytes reads a "Key: N kB" line of a /proc status file, in bytes (0: unknown).
func statusBytes(file, key string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// load loads the lab s names within b.
func (s *Spec) load(b runner.Budgets) (*lab.Lab, error) {
	if s.Builtin != "" {
		return lab.LoadWithin(labs.Sources(), s.Builtin+".star", b)
	}
	src, name := labs.Sent(s.FileName, s.Source, s.Files)
	return lab.LoadWithin(src, name, b)
}

// child is the lab's side of a run: the lab's Env, which turns each call into a message
// to the parent and waits for its answer.
type child struct {
	c   *conn
	lab *lab.Lab
	ids atomic.Uint64

	mu     sync.Mutex // protects calls and cancel
	calls  map[uint64]chan *message
	cancel context.CancelCauseFunc // stops the run; nil before it starts
}

var _ runner.Env = (*child)(nil)

// handle acts on one message from the parent.
func (ch *child) handle(m *message) {
	switch m.Kind {
	case kindParams:
		reply := &message{Kind: kindParams}
		values, err := ch.lab.ParamValues(m.Overrides)
		if err == nil {
			reply.Params, err = toWireParams(values)
		}
		reply.Err = toWireError(err)
		ch.sendOrExit(reply)
	case kindRun:
		params, err := fromWireParams(m.Params)
		if err != nil {
			ch.sendOrExit(&message{Kind: kindOutcome, Err: toWireError(err)})
			os.Exit(0)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		ch.mu.Lock()
		ch.cancel = cancel
		ch.mu.Unlock()
		go func() { // the run; the process ends with it
			out := ch.lab.Run(ctx, ch, m.Hosts, params)
			ch.sendOrExit(&message{Kind: kindOutcome, Checks: toWireChecks(out.Checks), Err: toWireError(out.Err), Pos: out.Pos})
			os.Exit(0)
		}()
	case kindDone:
		ch.mu.Lock()
		reply, ok := ch.calls[m.ID]
		delete(ch.calls, m.ID)
		ch.mu.Unlock()
		if ok {
			reply <- m
		}
	case kindCancel:
		ch.mu.Lock()
		cancel := ch.cancel
		ch.mu.Unlock()
		if cancel != nil {
			cancel(m.Err.error())
		}
	}
}

// sendOrExit sends m, or ends the process when the parent is gone.
func (ch *child) sendOrExit(m *message) {
	if err := ch.c.send(m); err != nil {
		os.Exit(112)
	}
}

// Do asks the parent to perform the operation and waits for its answer. A call the lab
// gives up on (its run stopped) is abandoned: the parent cancels it, and answers. A call
// past its deadline is left to the parent's copy of the deadline, so that the runner
// sees the deadline as the lab's watchdog did.
func (ch *child) Do(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error) {
	b, err := proto.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", role, err)
	}
	m := &message{Kind: kindDo, ID: ch.ids.Add(1), Role: role, Handle: handle, Op: b, Pos: pos}
	if dl, ok := ctx.Deadline(); ok {
		m.Timeout = max(int64(time.Until(dl)), 1)
	}
	reply := make(chan *message, 1)
	ch.mu.Lock()
	ch.calls[m.ID] = reply
	ch.mu.Unlock()
	ch.sendOrExit(m)
	var done *message
	select {
	case done = <-reply:
	case <-ctx.Done():
		if ctx.Err() != context.DeadlineExceeded {
			ch.sendOrExit(&message{Kind: kindAbandon, ID: m.ID})
		}
		done = <-reply
	}
	if done.Err != nil {
		return nil, done.Err.error()
	}
	resp := &socklabv1.PerformResponse{}
	if err := proto.Unmarshal(done.Response, resp); err != nil {
		return nil, fmt.Errorf("decode the answer to %s: %w", role, err)
	}
	return resp, nil
}

// Say sends narration to the parent.
func (ch *child) Say(text, pos string) {
	ch.sendOrExit(&message{Kind: kindSay, Text: text, Pos: pos})
}

// Checked sends a check as the lab just recorded it, so that the parent knows it even
// if this process is killed before the run's end.
func (ch *child) Checked(c transcript.Check) {
	ch.sendOrExit(&message{Kind: kindCheck, Checks: toWireChecks([]transcript.Check{c})})
}
