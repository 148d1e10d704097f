package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/controller/pyrepr"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// T is one run of a lab: its hosts, its parameters, narration and checks. Its methods
// act through the controller that runs the lab, which records each in the transcript.
type T struct {
	ctx    context.Context // the run's; cancelled on the lab's first failure
	cancel context.CancelFunc
	host   pluginv1.LabHostServiceClient
	spec   Spec
	hosts  map[string]*Host
	params map[string]*pluginv1.Value
	wg     sync.WaitGroup // the goroutines of T.Go

	mu      sync.Mutex // protects failure
	failure *pluginv1.LabFailure
}

// stop is the panic that ends a lab's goroutine on a failure no T.Try catches: a mistake
// in the lab, a lost host, a stopped run.
type stop struct{ f *pluginv1.LabFailure }

// raised is the panic of an error the lab may catch with T.Try: a socket error, a
// watchdog, T.Fatalf.
type raised struct {
	err error
	f   *pluginv1.LabFailure
}

func newT(ctx context.Context, host pluginv1.LabHostServiceClient, spec Spec, req *pluginv1.RunRequest) *T {
	ctx, cancel := context.WithCancel(ctx)
	t := &T{ctx: ctx, cancel: cancel, host: host, spec: spec, hosts: map[string]*Host{}, params: req.GetParams()}
	for _, h := range req.GetHosts() {
		t.hosts[h.GetRole()] = &Host{t: t, Role: h.GetRole(), IP: h.GetIp()}
	}
	return t
}

// run runs fn and every goroutine it started with T.Go, and returns what stopped the lab
// early (nil: nothing).
func (t *T) run(fn func(*T)) *pluginv1.LabFailure {
	t.guard(func() { fn(t) })
	t.wg.Wait()
	t.cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failure
}

// guard runs fn, turning the panics of the lab's failures into the lab's failure. Any
// other panic crashes the plugin, as it would any Go program (its message and stack on
// stderr, exit status 2), and the controller ends the run as a crash.
func (t *T) guard(fn func()) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case stop:
			t.fail(r.f)
		case raised:
			t.fail(r.f)
		default:
			// To the process's own stderr: go-plugin's Serve points os.Stderr elsewhere.
			fmt.Fprintf(os.NewFile(2, "stderr"), "panic: %v\n\n%s", r, debug.Stack())
			os.Exit(2)
		}
	}()
	fn()
}

// fail records the lab's first failure and stops its other calls.
func (t *T) fail(f *pluginv1.LabFailure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failure == nil {
		t.failure = f
		t.cancel()
	}
}

// Context returns the run's context: it ends when the run is stopped or the lab fails.
func (t *T) Context() context.Context { return t.ctx }

// Go runs fn in a goroutine of the lab, as Starlark's t.go runs a future: the run waits
// for it, and a failure in it stops the lab.
func (t *T) Go(fn func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.guard(fn)
	}()
}

// Try calls fn and returns the error that stopped it, if it is one a lab may expect: a
// *SocketError (ECONNREFUSED, a timeout), a watchdog, a Fatalf. A mistake in the lab or
// a lost host still stops the lab.
func (t *T) Try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(raised)
			if !ok {
				panic(r)
			}
			err = re.err
		}
	}()
	fn()
	return nil
}

// Fatalf stops the lab with an error it met: the run fails, as on an uncaught socket
// error.
func (t *T) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	panic(raised{err: err, f: &pluginv1.LabFailure{Kind: pluginv1.FailureKind_FAILURE_KIND_STOPPED, Message: err.Error(), Pos: callerPos()}})
}

// mistake stops the lab for a mistake in it: an unknown host or parameter.
func (t *T) mistake(format string, args ...any) {
	panic(stop{&pluginv1.LabFailure{Kind: pluginv1.FailureKind_FAILURE_KIND_LAB, Message: fmt.Sprintf(format, args...), Pos: callerPos()}})
}

// Host returns the lab host with role.
func (t *T) Host(role string) *Host {
	h, ok := t.hosts[role]
	if !ok {
		t.mistake("no host %q: the lab's hosts are %s", role, strings.Join(t.spec.Hosts, ", "))
	}
	return h
}

// param returns parameter name's value for this run.
func (t *T) param(name string) *pluginv1.Value {
	v, ok := t.params[name]
	if !ok {
		t.mistake("no parameter %q: declare it in Spec.Params", name)
	}
	return v
}

// Int returns the integer parameter name.
func (t *T) Int(name string) int {
	v, ok := t.param(name).GetKind().(*pluginv1.Value_IntValue)
	if !ok {
		t.mistake("parameter %s is not an int", name)
	}
	return int(v.IntValue)
}

// Float returns the floating-point parameter name.
func (t *T) Float(name string) float64 {
	v, ok := t.param(name).GetKind().(*pluginv1.Value_FloatValue)
	if !ok {
		t.mistake("parameter %s is not a float", name)
	}
	return v.FloatValue
}

// Bool returns the boolean parameter name.
func (t *T) Bool(name string) bool {
	v, ok := t.param(name).GetKind().(*pluginv1.Value_BoolValue)
	if !ok {
		t.mistake("parameter %s is not a bool", name)
	}
	return v.BoolValue
}

// String returns the text parameter name.
func (t *T) String(name string) string {
	v, ok := t.param(name).GetKind().(*pluginv1.Value_StringValue)
	if !ok {
		t.mistake("parameter %s is not a string", name)
	}
	return v.StringValue
}

// Bytes returns the bytes parameter name.
func (t *T) Bytes(name string) []byte {
	v, ok := t.param(name).GetKind().(*pluginv1.Value_BytesValue)
	if !ok {
		t.mistake("parameter %s is not bytes", name)
	}
	return v.BytesValue
}

// Say records narration in the transcript, formatted as fmt.Sprintf does.
func (t *T) Say(format string, args ...any) {
	_, err := t.host.Say(t.ctx, &pluginv1.SayRequest{Text: fmt.Sprintf(format, args...), Pos: callerPos()})
	if err != nil {
		t.lost(err)
	}
}

// Sleep waits for d, as the run's clock goes; a stopped run ends it early.
func (t *T) Sleep(d time.Duration) {
	resp, err := t.host.Sleep(t.ctx, &pluginv1.SleepRequest{Seconds: d.Seconds()})
	if err != nil {
		t.lost(err)
	}
	t.callError(resp.GetError(), callerPos())
}

// Files returns the files the run was given (socklab run --files DIR; a submission's
// folder when grading) by their base names, for Host.Spawn: names are relative to that
// folder. A missing file stops the lab, as a mistake in it.
func (t *T) Files(names ...string) map[string][]byte {
	return t.files(names, false)
}

// FilesIfAny is Files, leaving out the files that are missing.
func (t *T) FilesIfAny(names ...string) map[string][]byte {
	return t.files(names, true)
}

func (t *T) files(names []string, missingOK bool) map[string][]byte {
	resp, err := t.host.ReadFiles(t.ctx, &pluginv1.ReadFilesRequest{Names: names, MissingOk: missingOK})
	if err != nil {
		t.lost(err)
	}
	t.callError(resp.GetError(), callerPos())
	return resp.GetFiles()
}

// CheckOption adds to a check what explains its outcome.
type CheckOption func(*pluginv1.CheckRequest)

// Got is what the lab observed, shown as Python's repr shows it.
func Got(v any) CheckOption {
	return func(r *pluginv1.CheckRequest) { s := Repr(v); r.Got = &s }
}

// Want is what the lab expected, shown as Got.
func Want(v any) CheckOption {
	return func(r *pluginv1.CheckRequest) { s := Repr(v); r.Want = &s }
}

// Msg says more about a failure.
func Msg(format string, args ...any) CheckOption {
	return func(r *pluginv1.CheckRequest) { r.Msg = fmt.Sprintf(format, args...) }
}

// Hint is what a failed check tells the student (in English).
func Hint(text string) CheckOption {
	return Hints(map[string]string{"en": text})
}

// Hints are what a failed check tells the student, by language code ("en", "zh").
func Hints(m map[string]string) CheckOption {
	return func(r *pluginv1.CheckRequest) {
		if r.Hints == nil {
			r.Hints = map[string]string{}
		}
		for k, v := range m {
			r.Hints[k] = v
		}
	}
}

// Check records one evaluation of the declared check id: cond is whether it held. It
// returns whether the check holds so far (a check that failed once stays failed).
func (t *T) Check(id string, cond bool, opts ...CheckOption) bool {
	req := &pluginv1.CheckRequest{Id: id, Passed: cond, Pos: callerPos()}
	for _, o := range opts {
		o(req)
	}
	resp, err := t.host.Check(t.ctx, req)
	if err != nil {
		t.lost(err)
	}
	t.callError(resp.GetError(), req.Pos)
	return resp.GetPassed()
}

// lost stops the lab on a call the controller did not answer: it is gone, or it stopped
// the run (the run's context ended).
func (t *T) lost(err error) {
	kind := pluginv1.FailureKind_FAILURE_KIND_HOST
	msg := "the controller did not answer: " + status.Convert(err).Message()
	if t.ctx.Err() != nil {
		kind, msg = pluginv1.FailureKind_FAILURE_KIND_STOPPED, "the run was stopped"
	}
	panic(stop{&pluginv1.LabFailure{Kind: kind, Message: msg, Pos: callerPos()}})
}

// callError stops the lab on a call the controller refused or could not carry out: a
// watchdog may be caught (T.Try); the rest stop the lab.
func (t *T) callError(e *pluginv1.CallError, pos string) {
	if e == nil {
		return
	}
	f := &pluginv1.LabFailure{Message: e.GetMessage(), Pos: pos}
	switch e.GetKind() {
	case pluginv1.CallErrorKind_CALL_ERROR_KIND_WATCHDOG:
		f.Kind = pluginv1.FailureKind_FAILURE_KIND_STOPPED
		panic(raised{err: &WatchdogError{Message: e.GetMessage()}, f: f})
	case pluginv1.CallErrorKind_CALL_ERROR_KIND_REFUSED, pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID:
		f.Kind = pluginv1.FailureKind_FAILURE_KIND_LAB
	case pluginv1.CallErrorKind_CALL_ERROR_KIND_HOST_LOST:
		f.Kind = pluginv1.FailureKind_FAILURE_KIND_HOST
	default:
		f.Kind = pluginv1.FailureKind_FAILURE_KIND_STOPPED
	}
	panic(stop{f})
}

// perform performs op on handle of the host role, with the lab's watchdog (wd 0) or wd,
// and returns the agent's answer; a socket error in it is raised (see T.Try) unless
// keep is set, when perform returns it as well.
func (t *T) perform(role string, handle uint32, op *socklabv1.Operation, wd time.Duration, call string) (*socklabv1.PerformResponse, *SocketError) {
	pos := callerPos()
	resp, err := t.host.Perform(t.ctx, &pluginv1.PerformRequest{Host: role, Handle: handle, Operation: op, Pos: pos, WatchdogSeconds: wd.Seconds()})
	if err != nil {
		t.lost(err)
	}
	t.callError(resp.GetError(), pos)
	r := resp.GetResponse()
	if e := r.GetEvent().GetError(); e != nil {
		return r, &SocketError{Name: e.GetName(), Errno: int(e.GetErrno()), Message: e.GetMessage(), Call: call}
	}
	return r, nil
}

// raise stops the lab on a socket error (or returns it to T.Try).
func raise(err *SocketError) {
	panic(raised{err: err, f: &pluginv1.LabFailure{Kind: pluginv1.FailureKind_FAILURE_KIND_STOPPED, Message: err.Error(), Pos: callerPos()}})
}

// SocketError is a socket operation's error, as Python raises it: OSError with an errno,
// or socket.timeout.
type SocketError struct {
	// Name is the errno's name ("ECONNREFUSED"), or "timeout".
	Name string
	// Errno is the errno's number; 0 for a timeout.
	Errno int
	// Message is the system's message ("Connection refused").
	Message string
	// Call names the call and where it ran ("connect on client/s1").
	Call string
}

// Error reads as a Starlark lab's uncaught socket error does.
func (e *SocketError) Error() string {
	switch {
	case e.Name == "timeout":
		return fmt.Sprintf("timeout: timed out (%s)", e.Call)
	case e.Errno == 0:
		return fmt.Sprintf("%s: %s (%s)", e.Name, e.Message, e.Call)
	}
	return fmt.Sprintf("%s: [Errno %d] %s (%s)", e.Name, e.Errno, e.Message, e.Call)
}

// WatchdogError is a blocking operation that outlived its watchdog.
type WatchdogError struct {
	// Message says which call waited where, and for how long.
	Message string
}

// Error returns the message.
func (e *WatchdogError) Error() string { return e.Message }

// IsErrno reports whether err is a *SocketError of the errno (or "timeout") name.
func IsErrno(err error, name string) bool {
	var se *SocketError
	return errors.As(err, &se) && se.Name == name
}

// callerPos is the plugin's source position calling into this package: "main.go:42".
func callerPos() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, sdkPackage+".") {
			return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

// sdkPackage is this package's import path: its frames are not the lab's.
const sdkPackage = "github.com/socklab/socklab/labs/plugins/lab"

// Text is a check's Got or Want shown as it is, not quoted: "200 with b'hi'".
type Text string

// Repr shows v as Python's repr shows the matching value: b'hello' for []byte, 'hi'
// for a string, True for true, None for nil; a Text as it is.
func Repr(v any) string {
	switch v := v.(type) {
	case Text:
		return string(v)
	case nil:
		return "None"
	case []byte:
		return pyrepr.Bytes(v, 0, 0)
	case string:
		return pyrepr.Str(v)
	case bool:
		return pyrepr.Bool(v)
	case float64:
		return pyrepr.Float(v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
