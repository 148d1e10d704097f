package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/agent/errdefs"
	socklabrunner "github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// maxFiles bounds the bytes one ReadFiles returns.
const maxFiles = 32 << 20

// hostServer serves LabHostService to one run's plugin: each call acts through the
// run's Env, as a Starlark lab's does.
type hostServer struct {
	pluginv1.UnimplementedLabHostServiceServer
	env      socklabrunner.Env
	hosts    map[string]bool
	watchdog time.Duration
	filesDir string
	run      context.Context    // the run's: ends when it is stopped or finished
	stop     context.CancelFunc // ends run: the calls in progress give up
	calls    sync.WaitGroup     // the calls in progress: none outlives finish

	mu       sync.Mutex // protects the fields below
	order    []string
	checks   map[string]*transcript.Check
	mistake  error     // the first mistake the controller saw in the lab's calls
	lost     error     // the first host lost
	inFlight int       // calls in progress
	last     time.Time // when the last call ended (or the run began)
	finished bool
}

var _ pluginv1.LabHostServiceServer = (*hostServer)(nil)

func newHostServer(ctx context.Context, env socklabrunner.Env, spec *pluginv1.LabSpec, hosts []socklabrunner.HostInfo, watchdog time.Duration, filesDir string) *hostServer {
	run, stop := context.WithCancel(ctx)
	h := &hostServer{env: env, hosts: map[string]bool{}, watchdog: watchdog, filesDir: filesDir, run: run, stop: stop,
		checks: map[string]*transcript.Check{}, last: time.Now()}
	for _, hi := range hosts {
		h.hosts[hi.Role] = true
	}
	for _, c := range spec.GetChecks() {
		h.order = append(h.order, c.GetId())
		h.checks[c.GetId()] = &transcript.Check{ID: c.GetId(), Description: c.GetDescription(), MaxPoints: points(c)}
	}
	return h
}

// begin counts a call in; it returns false once the run has finished.
func (h *hostServer) begin() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished {
		return false
	}
	h.inFlight++
	h.calls.Add(1)
	return true
}

// end counts a call out.
func (h *hostServer) end() {
	h.mu.Lock()
	h.inFlight--
	h.last = time.Now()
	h.mu.Unlock()
	h.calls.Done()
}

// idle is how long the plugin has asked for nothing, with no call in progress.
func (h *hostServer) idle() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inFlight > 0 {
		return 0
	}
	return time.Since(h.last)
}

// finish ends the calls in progress and refuses new ones; it returns once none is left.
func (h *hostServer) finish() {
	h.mu.Lock()
	h.finished = true
	h.mu.Unlock()
	h.stop()
	h.calls.Wait()
}

// firstError is what the controller saw go wrong itself: a lost host, else a mistake.
func (h *hostServer) firstError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil {
		return h.lost
	}
	return h.mistake
}

// invalid records a mistake of the lab and returns its call error.
func (h *hostServer) invalid(format string, args ...any) *pluginv1.CallError {
	msg := fmt.Sprintf(format, args...)
	h.mu.Lock()
	if h.mistake == nil {
		h.mistake = &socklabrunner.LabError{Msg: msg}
	}
	h.mu.Unlock()
	return &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID, Message: msg}
}

var stoppedError = &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_STOPPED, Message: "the run was stopped"}

// Perform performs one operation through the run's Env, under the lab's watchdog.
func (h *hostServer) Perform(ctx context.Context, req *pluginv1.PerformRequest) (*pluginv1.PerformResponse, error) {
	if !h.begin() {
		return &pluginv1.PerformResponse{Error: stoppedError}, nil
	}
	defer h.end()
	role, op := req.GetHost(), req.GetOperation()
	if !h.hosts[role] {
		return &pluginv1.PerformResponse{Error: h.invalid("no host %q in this run", role)}, nil
	}
	var which protoreflect.FieldDescriptor
	if op != nil {
		which = op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("op"))
	}
	if which == nil {
		return &pluginv1.PerformResponse{Error: h.invalid("an operation on %s names no operation", role)}, nil
	}
	name := string(which.Name())
	where := role
	if req.GetHandle() != 0 {
		where = fmt.Sprintf("%s/s%d", role, req.GetHandle())
	}
	wd := h.watchdog
	if s := req.GetWatchdogSeconds(); s > 0 {
		wd = time.Duration(s * float64(time.Second))
	}
	cctx, cancel := context.WithTimeout(ctx, wd)
	defer cancel()
	stopCall := context.AfterFunc(h.run, cancel)
	defer stopCall()
	resp, err := h.env.Do(cctx, role, req.GetHandle(), op, req.GetPos())
	if err == nil {
		return &pluginv1.PerformResponse{Response: resp}, nil
	}
	var ie *socklabrunner.InfraError
	switch {
	case h.run.Err() != nil:
		return &pluginv1.PerformResponse{Error: stoppedError}, nil
	case errors.Is(cctx.Err(), context.DeadlineExceeded) || errors.Is(err, errdefs.ErrDeadlineExceeded):
		return &pluginv1.PerformResponse{Error: &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_WATCHDOG,
			Message: fmt.Sprintf("watchdog: %s on %s waited %s", name, where, wd)}}, nil
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err() // the plugin gave up the call
	case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrPermissionDenied),
		errors.Is(err, errdefs.ErrResourceExhausted), errors.Is(err, errdefs.ErrFailedPrecondition):
		msg := fmt.Sprintf("%s on %s: the agent refused: %s", name, where, err.Error())
		h.mu.Lock()
		if h.mistake == nil {
			h.mistake = &socklabrunner.LabError{Msg: msg}
		}
		h.mu.Unlock()
		return &pluginv1.PerformResponse{Error: &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_REFUSED, Message: msg}}, nil
	case !errors.As(err, &ie):
		err = &socklabrunner.InfraError{Host: role, Err: err}
	}
	h.mu.Lock()
	if h.lost == nil {
		h.lost = err
	}
	h.mu.Unlock()
	return &pluginv1.PerformResponse{Error: &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_HOST_LOST, Message: err.Error()}}, nil
}

// Say records narration.
func (h *hostServer) Say(_ context.Context, req *pluginv1.SayRequest) (*pluginv1.SayResponse, error) {
	if !h.begin() {
		return &pluginv1.SayResponse{}, nil
	}
	defer h.end()
	h.env.Say(req.GetText(), req.GetPos())
	return &pluginv1.SayResponse{}, nil
}

// Check records one evaluation of a declared check, as Starlark's t.check does: the
// first failure's message and hints stay.
func (h *hostServer) Check(_ context.Context, req *pluginv1.CheckRequest) (*pluginv1.CheckResponse, error) {
	if !h.begin() {
		return &pluginv1.CheckResponse{Error: stoppedError}, nil
	}
	defer h.end()
	h.mu.Lock()
	c, ok := h.checks[req.GetId()]
	if !ok {
		h.mu.Unlock()
		return &pluginv1.CheckResponse{Error: h.invalid("check %q is not declared in the lab's Spec.Checks (declared: %s)", req.GetId(), strings.Join(h.order, ", "))}, nil
	}
	passed := req.GetPassed()
	if !c.Reached || (c.Passed && !passed) {
		c.Pos = req.GetPos()
	}
	if !passed && (!c.Reached || c.Passed) {
		var parts []string
		if req.GetMsg() != "" {
			parts = append(parts, req.GetMsg())
		}
		if req.Got != nil || req.Want != nil {
			parts = append(parts, fmt.Sprintf("got %s, want %s", orNone(req.Got), orNone(req.Want)))
		}
		if len(parts) == 0 {
			parts = append(parts, "the condition was false")
		}
		c.Message = strings.Join(parts, ": ")
		c.Hints = transcript.MakeHints(req.GetHints())
	}
	c.Passed = passed && (!c.Reached || c.Passed)
	c.Reached = true
	now := *c
	h.mu.Unlock()
	if o, ok := h.env.(checkObserver); ok {
		o.Checked(now) // a failed check lands in the transcript, as a Starlark lab's does
	}
	return &pluginv1.CheckResponse{Passed: now.Passed}, nil
}

// checkObserver is an Env that records each check as the lab evaluates it (the runner's,
// which records a failed check in the transcript with the hosts' socket tables).
type checkObserver interface {
	// Checked is the check c as the lab just recorded it.
	Checked(c transcript.Check)
}

func orNone(s *string) string {
	if s == nil {
		return "None"
	}
	return *s
}

// Sleep waits, ending early when the run is stopped.
func (h *hostServer) Sleep(ctx context.Context, req *pluginv1.SleepRequest) (*pluginv1.SleepResponse, error) {
	if !h.begin() {
		return &pluginv1.SleepResponse{Error: stoppedError}, nil
	}
	defer h.end()
	d := time.Duration(req.GetSeconds() * float64(time.Second))
	if d < 0 {
		return &pluginv1.SleepResponse{Error: h.invalid("sleep: %s is negative", d)}, nil
	}
	select {
	case <-time.After(d):
		return &pluginv1.SleepResponse{}, nil
	case <-h.run.Done():
		return &pluginv1.SleepResponse{Error: stoppedError}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// ReadFiles reads files of the run's files directory, as Starlark's t.files does.
func (h *hostServer) ReadFiles(_ context.Context, req *pluginv1.ReadFilesRequest) (*pluginv1.ReadFilesResponse, error) {
	if !h.begin() {
		return &pluginv1.ReadFilesResponse{Error: stoppedError}, nil
	}
	defer h.end()
	if h.filesDir == "" {
		return &pluginv1.ReadFilesResponse{Error: h.invalid("files: this run was given no files: run it with --files DIR")}, nil
	}
	out, from, total := map[string][]byte{}, map[string]string{}, 0
	for _, name := range req.GetNames() {
		if !fs.ValidPath(name) || name == "." {
			return &pluginv1.ReadFilesResponse{Error: h.invalid("files: %q is not a relative file name (no leading /, no ..)", name)}, nil
		}
		b, err := fs.ReadFile(os.DirFS(h.filesDir), name)
		if errors.Is(err, fs.ErrNotExist) && req.GetMissingOk() {
			continue
		}
		if err != nil {
			// A missing file is the submission's, not the lab's: the lab stops, and says
			// which file.
			return &pluginv1.ReadFilesResponse{Error: &pluginv1.CallError{Kind: pluginv1.CallErrorKind_CALL_ERROR_KIND_INVALID,
				Message: "files: no file " + filepath.Join(h.filesDir, name)}}, nil
		}
		if total += len(b); total > maxFiles {
			return &pluginv1.ReadFilesResponse{Error: h.invalid("files: more than %d MiB at once", maxFiles>>20)}, nil
		}
		base := path.Base(name)
		if prev, dup := from[base]; dup {
			return &pluginv1.ReadFilesResponse{Error: h.invalid("files: %q and %q would both be %s in the program's directory", prev, name, base)}, nil
		}
		from[base], out[base] = name, b
	}
	return &pluginv1.ReadFilesResponse{Files: out}, nil
}

// recoverCalls turns a panic in a call of the plugin's into the call's error, recorded as
// a mistake of the lab: what a plugin sends never crashes the controller.
func (h *hostServer) recoverCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.invalid("%s: the controller could not handle the call (%v)", path.Base(info.FullMethod), r)
			resp, err = nil, status.Error(codes.InvalidArgument, "the controller could not handle the call")
		}
	}()
	return handler(ctx, req)
}

// grpcText is what a failed gRPC call said, without gRPC's words.
func grpcText(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return err.Error()
}
