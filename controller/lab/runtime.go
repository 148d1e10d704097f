package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/socklab/socklab/controller/pyrepr"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
)

// Run calls main(t) with the given parameters (from ParamValues; nil: the defaults). It
// returns when main and every future it started have ended, or when one of them fails,
// which cancels the rest.
func (l *Lab) Run(ctx context.Context, env runner.Env, hosts []runner.HostInfo, plain map[string]any) *runner.Outcome {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	params, _ := l.ParseParams(nil)
	for k, v := range plain {
		params[k] = starlarkValue(v)
	}
	r := &run{lab: l, env: env, ctx: ctx, cancel: cancel, checks: map[string]*transcript.Check{}}
	r.steps = &meter{budget: l.budgets.Steps, over: func(th *starlark.Thread, err *runner.BudgetError) {
		r.failAt(err, innermost(th.CallStack(), l.File))
	}}
	r.steps.used.Store(l.loadSteps)
	// A run stopped for its time (the runner's) stops its threads as well, those that
	// compute without ever waiting included.
	stopWatch := context.AfterFunc(ctx, func() {
		var be *runner.BudgetError
		if errors.As(context.Cause(ctx), &be) {
			r.stop(be)
		}
	})
	defer stopWatch()
	for _, c := range l.Checks {
		r.checks[c.ID] = &transcript.Check{ID: c.ID, Description: c.Description, MaxPoints: c.Points}
	}
	fields := starlark.StringDict{}
	for _, p := range l.Params {
		fields[p.Name] = params[p.Name]
	}
	r.t = &tValue{r: r, hosts: map[string]*hostValue{}, params: starlarkstruct.FromStringDict(starlark.String("params"), fields)}
	for _, h := range hosts {
		r.t.hosts[h.Role] = &hostValue{r: r, role: h.Role, ip: h.IP}
		r.t.order = append(r.t.order, h.Role)
	}
	for _, role := range l.Hosts {
		if r.t.hosts[role] == nil {
			return &runner.Outcome{Err: &Error{Pos: l.File, Msg: fmt.Sprintf("host %s has no agent", role)}, Checks: r.results()}
		}
	}

	r.gil.Lock()
	thread := r.newThread("main")
	_, err := starlark.Call(thread, l.main, starlark.Tuple{r.t}, nil)
	r.steps.settle(thread)
	if err != nil {
		r.fail(err)
	}
	r.gil.Unlock()
	r.futures.Wait()
	r.watchdogs.stop()
	out := &runner.Outcome{Checks: r.results()}
	r.mu.Lock()
	out.Err, out.Pos = r.err, r.errPos
	if out.Err == nil {
		out.Err = r.stopped
	}
	r.mu.Unlock()
	if out.Err == nil && ctx.Err() != nil {
		out.Err = context.Cause(ctx)
	}
	if out.Err != nil {
		for i := range out.Checks {
			if !out.Checks[i].Reached {
				out.Checks[i].Message = "not reached: " + errorText(out.Err, out.Pos)
			}
		}
	}
	return out
}

// run is one execution of a lab.
type run struct {
	lab    *Lab
	env    runner.Env
	ctx    context.Context // the run's; cancelled on the first failure
	cancel context.CancelCauseFunc
	t      *tValue

	// gil lets one Starlark thread run at a time; a thread releases it while it waits on
	// an agent, a sleep or a future, so that other threads run meanwhile. It guards
	// defaultTimeout.
	gil     sync.Mutex
	futures sync.WaitGroup
	// defaultTimeout is setdefaulttimeout's: the timeout new sockets start with; nil is
	// None.
	defaultTimeout *float64
	steps          *meter    // the steps of every thread, against the lab's budget
	watchdogs      watchdogs // cut calls short that outlast their watchdog

	mu      sync.Mutex // protects the fields below
	threads []*starlark.Thread
	started int // futures started
	checks  map[string]*transcript.Check
	err     error
	errPos  string
	stopped error // why the run stopped every thread from outside them (its time), if it did

	posMu     sync.Mutex
	positions map[syntax.Position]string // each call site's text, made once
}

func (r *run) newThread(name string) *starlark.Thread {
	th := &starlark.Thread{Name: name, Print: func(th *starlark.Thread, msg string) { r.env.Say(msg, callerPos(th)) }}
	r.steps.attach(th)
	th.SetLocal(runKey, r)
	r.mu.Lock()
	r.threads = append(r.threads, th)
	failed := r.err != nil || r.stopped != nil
	r.mu.Unlock()
	if failed {
		th.Cancel("the lab already stopped")
	}
	return th
}

// fail records the first error and stops every thread and operation.
func (r *run) fail(err error) { r.failFrom(err, "") }

// failFrom is fail for an error of a thread that t.go started at site, the lab's line:
// an error in a loaded helper that the future runs is shown at that line.
func (r *run) failFrom(err error, site string) {
	var ee *starlark.EvalError
	pos, fn := "", ""
	var calls []string
	if errors.As(err, &ee) {
		pos, fn, calls = labFrames(ee.CallStack, r.lab.File)
		if fn == "" && site != "" {
			pos, fn, calls = site, "t.go", helperCalls(ee.CallStack)
		}
	}
	cause := rootCause(err)
	r.mu.Lock()
	stopped := r.stopped != nil
	if stopped {
		cause = r.stopped // what a thread ends on now, it ends on because of that
	}
	r.mu.Unlock()
	var be *runner.BudgetError
	if len(calls) > 0 && !stopped && !errors.Is(cause, context.Canceled) && !errors.As(cause, &be) {
		cause = &helperError{err: cause, fn: fn, calls: calls}
	}
	r.failAt(cause, pos)
}

// stop stops every thread for err, which came from outside them (the run's time): the
// first thread to end on it gives the lab position it stopped at.
func (r *run) stop(err error) {
	r.mu.Lock()
	if r.err != nil || r.stopped != nil {
		r.mu.Unlock()
		return
	}
	r.stopped = err
	threads := append([]*starlark.Thread(nil), r.threads...)
	r.mu.Unlock()
	for _, th := range threads {
		th.Cancel("the lab stopped: " + err.Error())
	}
}

// failAt is fail with the error's cause and the lab position where it happened.
func (r *run) failAt(cause error, pos string) {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return
	}
	r.err, r.errPos = cause, pos
	threads := append([]*starlark.Thread(nil), r.threads...)
	r.mu.Unlock()
	r.cancel(cause)
	for _, th := range threads {
		th.Cancel("the lab stopped: " + cause.Error())
	}
}

// rootCause unwraps Starlark's evaluation errors to what a builtin returned, or turns a
// plain Starlark error (a type error, a failed fail()) into a lab Error.
func rootCause(err error) error {
	for _, target := range []any{new(*SocketError), new(*WatchdogError), new(*ExpectError), new(*InfraError), new(*runner.BudgetError)} {
		if errors.As(err, target) {
			return unwrapTarget(target)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return context.Canceled
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return &Error{Msg: ee.Msg}
	}
	return err
}

func unwrapTarget(t any) error {
	switch t := t.(type) {
	case **SocketError:
		return *t
	case **WatchdogError:
		return *t
	case **ExpectError:
		return *t
	case **InfraError:
		return *t
	case **runner.BudgetError:
		return *t
	}
	return nil
}

func (r *run) results() []transcript.Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]transcript.Check, 0, len(r.lab.Checks))
	for _, c := range r.lab.Checks {
		out = append(out, *r.checks[c.ID])
	}
	return out
}

// unlocked runs wait with the GIL released, so other threads run meanwhile.
func (r *run) unlocked(wait func()) {
	r.gil.Unlock()
	defer r.gil.Lock()
	wait()
}

// callerPos returns the lab position of the call being made by a builtin's caller.
func callerPos(th *starlark.Thread) string {
	for d := 1; d < th.CallStackDepth(); d++ {
		if f := th.CallFrame(d); f.Pos.IsValid() {
			if r, ok := th.Local(runKey).(*run); ok {
				return r.posText(f.Pos)
			}
			return f.Pos.String()
		}
	}
	return ""
}

// posText returns p as text ("lab.star:12:5"), made once per call site: a lab in a loop
// calls from the same few.
func (r *run) posText(p syntax.Position) string {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	s, ok := r.positions[p]
	if !ok {
		if r.positions == nil {
			r.positions = map[syntax.Position]string{}
		}
		s = p.String()
		r.positions[p] = s
	}
	return s
}

// labFramePos returns the position of the innermost call in the lab's own file (not in a
// file it loaded), else callerPos's.
func (r *run) labFramePos(th *starlark.Thread) string {
	stack := th.CallStack()
	for i := range stack {
		if f := stack.At(i); f.Pos.IsValid() && f.Pos.Filename() == r.lab.File {
			return f.Pos.String()
		}
	}
	return callerPos(th)
}

// labFrames splits stack at the innermost call in the lab's own file: pos is that call's
// position and fn the lab function making it, and inner the calls of loaded helpers it
// led to, outermost first ("lib/net.star:15:14 in connect"). With no helper between the
// lab and the error, inner is empty; with no lab call in stack, pos is innermost's.
func labFrames(stack starlark.CallStack, file string) (pos, fn string, inner []string) {
	for i := range stack {
		f := stack.At(i)
		switch {
		case !f.Pos.IsValid() || f.Pos.Filename() == "<builtin>":
		case f.Pos.Filename() == file:
			slices.Reverse(inner)
			return f.Pos.String(), f.Name, inner
		default:
			inner = append(inner, f.Pos.String()+" in "+f.Name)
		}
	}
	return innermost(stack, file), "", nil
}

// helperCalls returns stack's calls in source files, outermost first.
func helperCalls(stack starlark.CallStack) []string {
	var calls []string
	for _, f := range stack {
		if f.Pos.IsValid() && f.Pos.Filename() != "<builtin>" {
			calls = append(calls, f.Pos.String()+" in "+f.Name)
		}
	}
	return calls
}

// helperError is an error raised inside a loaded helper, shown at the lab's own line:
// "in main: ECONNREFUSED: ... (lib/net.star:15:14 in connect)".
type helperError struct {
	err   error
	fn    string   // the lab's function that called the helper
	calls []string // the helpers' calls, outermost first
}

func (e *helperError) Error() string {
	return fmt.Sprintf("in %s: %v (%s)", e.fn, e.err, strings.Join(e.calls, ", "))
}

func (e *helperError) Unwrap() error { return e.err }

// errorText formats an error with the lab position it happened at.
func errorText(err error, pos string) string {
	if pos == "" {
		return err.Error()
	}
	return pos + ": " + err.Error()
}

// tValue is main's t: the hosts, the params, and the lab's verbs.
type tValue struct {
	r      *run
	hosts  map[string]*hostValue
	order  []string
	params *starlarkstruct.Struct
}

var _ starlark.HasAttrs = (*tValue)(nil)

func (t *tValue) String() string        { return "<lab " + t.r.lab.Name + ">" }
func (t *tValue) Type() string          { return "lab" }
func (t *tValue) Freeze()               {}
func (t *tValue) Truth() starlark.Bool  { return true }
func (t *tValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: lab") }

func (t *tValue) AttrNames() []string {
	names := append(append([]string(nil), tAttrs...), t.order...)
	sort.Strings(names)
	return names
}

func (t *tValue) Attr(name string) (starlark.Value, error) {
	if h, ok := t.hosts[name]; ok {
		return h, nil
	}
	switch name {
	case "params":
		return t.params, nil
	case "hosts":
		list := make([]starlark.Value, len(t.order))
		for i, role := range t.order {
			list[i] = t.hosts[role]
		}
		return starlark.NewList(list), nil
	case "check":
		return starlark.NewBuiltin("check", t.check), nil
	case "say":
		return starlark.NewBuiltin("say", t.say), nil
	case "sleep":
		return starlark.NewBuiltin("sleep", t.sleep), nil
	case "go":
		return starlark.NewBuiltin("go", t.goBuiltin), nil
	case "raises":
		return starlark.NewBuiltin("raises", t.raises), nil
	case "catch":
		return starlark.NewBuiltin("catch", t.catch), nil
	case "files":
		return starlark.NewBuiltin("files", t.files), nil
	case "link":
		return starlark.NewBuiltin("link", t.link), nil
	}
	return nil, nil
}

// check(id, cond, got = None, want = None, msg = "", hint = None) records a declared
// check's outcome; a failed check keeps its hint for the student.
func (t *tValue) check(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id string
	var cond starlark.Value
	var got, want, hintArg starlark.Value = nil, nil, starlark.None
	msg := ""
	if err := starlark.UnpackArgs("check", args, kwargs, "id", &id, "cond", &cond, "got?", &got, "want?", &want, "msg?", &msg, "hint?", &hintArg); err != nil {
		return nil, err
	}
	hints, err := hintDict(hintArg)
	if err != nil {
		return nil, err
	}
	r := t.r
	r.mu.Lock()
	c, ok := r.checks[id]
	if !ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("check %q is not declared in lab(checks = ...) (declared: %s)", id, r.lab.checkIDs())
	}
	passed := bool(cond.Truth())
	if !c.Reached || (c.Passed && !passed) {
		c.Pos = r.labFramePos(th)
	}
	if !passed && (!c.Reached || c.Passed) {
		var parts []string
		if msg != "" {
			parts = append(parts, msg)
		}
		if got != nil || want != nil {
			parts = append(parts, fmt.Sprintf("got %s, want %s", repr(got), repr(want)))
		}
		if len(parts) == 0 {
			parts = append(parts, "the condition was false")
		}
		c.Message = strings.Join(parts, ": ")
		c.Hints = transcript.MakeHints(hints)
	}
	c.Passed = passed && (!c.Reached || c.Passed)
	c.Reached = true
	now := *c
	r.mu.Unlock()
	if o, ok := r.env.(checkObserver); ok {
		o.Checked(now)
	}
	return starlark.Bool(passed), nil
}

// checkObserver is an Env that learns each check as the lab records it: a lab run in a
// process of its own (controller/sandbox) reports them as they happen, so that they
// outlive that process.
type checkObserver interface {
	// Checked is the check c as the lab just recorded it.
	Checked(c transcript.Check)
}

// hintDict reads check's hint: None, a str (English), or a dict of language codes to
// strs, {"en": "bound to 127.0.0.1 only?", "zh": "只绑定了 127.0.0.1？"}. Empty hints are
// dropped; nil means none.
func hintDict(v starlark.Value) (map[string]string, error) {
	const want = `give a str (English) or a dict of language codes to strs, such as {"en": "bound to 127.0.0.1 only?", "zh": "..."}`
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		if v == "" {
			return nil, nil
		}
		return map[string]string{transcript.DefaultLang: string(v)}, nil
	case *starlark.Dict:
		out := map[string]string{}
		for _, kv := range v.Items() {
			lang, ok := kv[0].(starlark.String)
			if !ok || !isLang(string(lang)) {
				return nil, fmt.Errorf("check: hint: %s is not a language code such as \"en\" or \"zh\": %s", repr(kv[0]), want)
			}
			text, ok := kv[1].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("check: hint[%s] is %s, not str: %s", repr(lang), kv[1].Type(), want)
			}
			if text != "" {
				out[string(lang)] = string(text)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("check: hint is %s: %s", v.Type(), want)
}

// isLang reports whether s looks like a language code: "en", "zh", "zh-TW".
func isLang(s string) bool {
	if len(s) < 2 || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// repr shows a value as Python would: bytes as b'...', strings in single quotes, and so
// on inside tuples, lists and dicts, so that got/want read like the tutorial's output.
func repr(v starlark.Value) string {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return "None"
	case starlark.Bytes:
		return pyrepr.Bytes([]byte(v), 0, 0)
	case starlark.String:
		return pyrepr.Str(string(v))
	case starlark.Bool:
		return pyrepr.Bool(bool(v))
	case starlark.Float:
		return pyrepr.Float(float64(v))
	case starlark.Tuple:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = repr(x)
		}
		if len(v) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	case *starlark.List:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = repr(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *starlark.Dict:
		var parts []string
		for _, kv := range v.Items() {
			parts = append(parts, repr(kv[0])+": "+repr(kv[1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.String()
}

// say(text) narrates.
func (t *tValue) say(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackPositionalArgs("say", args, kwargs, 1, &text); err != nil {
		return nil, err
	}
	t.r.env.Say(text, callerPos(th))
	return starlark.None, nil
}

// sleep(seconds) waits, letting other threads run.
func (t *tValue) sleep(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs("sleep", args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	d, err := seconds(v)
	if err != nil {
		return nil, fmt.Errorf("sleep: %w", err)
	}
	var cerr error
	t.r.unlocked(func() {
		select {
		case <-time.After(d):
		case <-t.r.ctx.Done():
			cerr = context.Cause(t.r.ctx)
		}
	})
	if cerr != nil {
		return nil, cerr
	}
	return starlark.None, nil
}

// raises(errors, fn, *args, **kwargs) calls fn and returns the error it raised, which
// must be one that errors names as Python's except clause would catch it: an errno's name
// (any of them: "EWOULDBLOCK" is "EAGAIN"), an exception class ("OSError", "timeout",
// "ConnectionRefusedError"), or a tuple of those. Another socket error, or none, stops the
// lab; errors that are no socket errors pass through.
func (t *tValue) raises(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("raises: want raises(errno, fn, *args): got %d positional arguments", len(args))
	}
	want, err := parseExceptionSpec(args[0])
	if err != nil {
		return nil, err
	}
	fn, ok := args[1].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("raises: %s is not callable", args[1].Type())
	}
	_, err = starlark.Call(th, fn, args[2:], kwargs)
	var se *SocketError
	switch {
	case err == nil:
		return nil, &ExpectError{Msg: fmt.Sprintf("expected %s, but %s raised nothing", want, fn.Name())}
	case want.matches(err):
		return raisedValue(err), nil
	case errors.As(err, &se):
		return nil, &ExpectError{Msg: fmt.Sprintf("expected %s, but %s raised %s", want, fn.Name(), se.Error())}
	}
	return nil, err
}

// catch(fn, *args, **kwargs) calls fn and returns (value, None), or (None, error) when
// fn raised a socket error (a process wait's timeout and a process that ended first
// included): Python's try/except OSError as an expression. Other errors pass through.
func (t *tValue) catch(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("catch: want catch(fn, *args): got no function")
	}
	fn, ok := args[0].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("catch: %s is not callable", args[0].Type())
	}
	v, err := starlark.Call(th, fn, args[1:], kwargs)
	if err == nil {
		return starlark.Tuple{v, starlark.None}, nil
	}
	if e := raisedValue(err); e != nil {
		return starlark.Tuple{starlark.None, e}, nil
	}
	return nil, err
}

// goBuiltin is go(fn, *args, **kwargs): run fn on its own thread; returns a future.
func (t *tValue) goBuiltin(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("go: want go(fn, *args)")
	}
	fn, ok := args[0].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("go: %s is not callable", args[0].Type())
	}
	r := t.r
	r.mu.Lock()
	r.started++
	over := r.lab.budgets.Futures > 0 && r.started > r.lab.budgets.Futures
	r.mu.Unlock()
	if over {
		return nil, runner.OverFutures(r.lab.budgets.Futures)
	}
	f := &future{name: fn.Name(), done: make(chan struct{})}
	site := r.labFramePos(th)
	fth := r.newThread("go " + fn.Name())
	rest := append(starlark.Tuple(nil), args[1:]...)
	r.futures.Add(1)
	go func() {
		defer r.futures.Done()
		defer close(f.done)
		r.gil.Lock()
		defer r.gil.Unlock()
		f.value, f.err = starlark.Call(fth, fn, rest, kwargs)
		r.steps.settle(fth)
		if f.err != nil {
			r.failFrom(f.err, site)
		}
	}()
	return f, nil
}

// future is the result of go(fn): result() waits for it.
type future struct {
	name  string
	done  chan struct{}
	value starlark.Value
	err   error
}

var _ starlark.HasAttrs = (*future)(nil)

func (f *future) String() string        { return "<future " + f.name + ">" }
func (f *future) Type() string          { return "future" }
func (f *future) Freeze()               {}
func (f *future) Truth() starlark.Bool  { return true }
func (f *future) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: future") }
func (f *future) AttrNames() []string   { return []string{"done", "result"} }

func (f *future) Attr(name string) (starlark.Value, error) {
	switch name {
	case "result":
		return starlark.NewBuiltin("result", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackPositionalArgs("result", args, kwargs, 0); err != nil {
				return nil, err
			}
			r := runOf(th)
			if r != nil {
				r.unlocked(func() { <-f.done })
			} else {
				<-f.done
			}
			if f.err != nil {
				return nil, fmt.Errorf("future %s failed: %w", f.name, f.err)
			}
			return f.value, nil
		}), nil
	case "done":
		return starlark.NewBuiltin("done", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			select {
			case <-f.done:
				return starlark.True, nil
			default:
				return starlark.False, nil
			}
		}), nil
	}
	return nil, nil
}

const runKey = "socklab.run"

// runOf returns the run a thread belongs to.
func runOf(th *starlark.Thread) *run {
	r, _ := th.Local(runKey).(*run)
	return r
}
