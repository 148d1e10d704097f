// Package runner runs a lab on a topology: it binds the lab's hosts to agents, opens a
// session on each (renewing its lease), runs the lab, gathers every host's events onto one
// clock, evaluates the checks and closes everything, whatever happened.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Exit codes of a run, as the CLI returns them.
const (
	ExitPassed      = 0   // every check passed
	ExitFailed      = 1   // a check failed, or the lab stopped on a socket error or watchdog
	ExitBadLab      = 2   // the lab (or its parameters) is wrong
	ExitInfra       = 3   // an agent was unreachable, lost or refused
	ExitInterrupted = 130 // the run was interrupted
)

// clockSamples is how many extra round trips estimate each agent's clock offset.
const clockSamples = 8

// Options tune a run.
type Options struct {
	// ID names the run; "" gives it a fresh id.
	ID string
	// Params are --param NAME=VALUE overrides.
	Params []string
	// Pace spaces the steps for an audience: a pause after each operation.
	Pace time.Duration
	// Step, when set, is called after each operation and narration line; it returns when
	// the run may go on (the CLI waits for Enter), or when done is closed.
	Step func(done <-chan struct{})
	// Lease is each session's lease; 0 means 10 s.
	Lease time.Duration
}

// Sink receives a run as it happens.
type Sink interface {
	// Header announces the lab and its hosts once they are bound.
	Header(l *lab.Lab, hosts []topology.Host)
	// Entry is one transcript entry, as it happens.
	Entry(e transcript.Entry)
}

// Result is a finished run.
type Result struct {
	// ID names the run ("run-" and 16 hex digits).
	ID string
	// Lab is the lab that ran.
	Lab *lab.Lab
	// Params are the parameters it ran with, defaults included.
	Params map[string]starlark.Value
	// Hosts are the hosts it ran on.
	Hosts []topology.Host
	// Entries are the transcript, merged.
	Entries []transcript.Entry
	// Checks are every declared check.
	Checks []transcript.Check
	// Err is what stopped the run early, if anything.
	Err error
	// ErrPos is the lab's file:line where Err happened, when known.
	ErrPos string
	// ExitCode is the CLI's exit code for this run.
	ExitCode int
	// Started and Finished bound the run on the wall clock.
	Started, Finished time.Time
}

// ErrorText is the run's error with its lab position, or "".
func (r *Result) ErrorText() string {
	if r.Err == nil {
		return ""
	}
	if r.ErrPos != "" {
		return r.ErrPos + ": " + r.Err.Error()
	}
	return r.Err.Error()
}

// Verdict is "passed", "failed" or "error".
func (r *Result) Verdict() string {
	switch r.ExitCode {
	case ExitPassed:
		return "passed"
	case ExitFailed:
		return "failed"
	}
	return "error"
}

// Run runs l on topo. It always returns a Result; its ExitCode says how the run ended.
func Run(ctx context.Context, l *lab.Lab, topo topology.Topology, opts Options, sink Sink) *Result {
	res := &Result{ID: opts.ID, Lab: l, Started: time.Now()}
	if res.ID == "" {
		res.ID = NewRunID()
	}
	defer func() { res.Finished = time.Now() }()
	params, err := l.ParseParams(opts.Params)
	if err != nil {
		res.Err, res.ExitCode = err, ExitBadLab
		return res
	}
	res.Params = params
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	pool, err := topo.Start(ctx, l.Hosts)
	if err != nil {
		res.Err, res.ExitCode = fmt.Errorf("start agents: %w", err), ExitInfra
		return res
	}
	defer pool.Close()
	res.Hosts = pool.Hosts()

	r := &run{start: time.Now(), sink: sink, opts: opts, hosts: map[string]*host{}, done: ctx.Done()}
	defer r.closeAll()
	for _, h := range res.Hosts {
		hs, err := r.open(ctx, h, opts.Lease)
		if err != nil {
			res.Err, res.ExitCode = &lab.InfraError{Host: h.Role, Err: err}, ExitInfra
			return res
		}
		r.hosts[h.Role] = hs
	}
	if sink != nil {
		sink.Header(l, res.Hosts)
	}
	infos := make([]lab.HostInfo, len(res.Hosts))
	for i, h := range res.Hosts {
		infos[i] = lab.HostInfo{Role: h.Role, IP: h.IP.String()}
	}
	labCtx, stopLab := context.WithCancelCause(ctx)
	defer stopLab(nil)
	r.mu.Lock()
	r.stopLab = stopLab
	r.mu.Unlock()
	out := l.Run(labCtx, r, infos, params)
	r.closeAll()
	res.Checks, res.Err, res.ErrPos = out.Checks, out.Err, out.Pos
	res.Entries = transcript.Merge(r.entries())
	res.ExitCode = exitCode(ctx, out)
	if lost := r.lostErr(); lost != nil && ctx.Err() == nil {
		// A lost agent makes the run's transcript incomplete, whatever the lab concluded.
		res.Err, res.ErrPos, res.ExitCode = lost, "", ExitInfra
	}
	return res
}

// closing reports whether the run has begun closing its sessions.
func (r *run) closing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// lose records that a host's agent is gone and stops the lab.
func (r *run) lose(role string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost != nil {
		return
	}
	r.lost = &lab.InfraError{Host: role, Err: err}
	if r.stopLab != nil {
		r.stopLab(r.lost)
	}
}

func (r *run) lostErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == nil {
		return nil
	}
	return r.lost
}

func exitCode(ctx context.Context, out *lab.Outcome) int {
	var (
		le *lab.Error
		ie *lab.InfraError
	)
	switch {
	case out.Err == nil && out.Passed():
		return ExitPassed
	case out.Err == nil:
		return ExitFailed
	case ctx.Err() != nil || errors.Is(out.Err, context.Canceled):
		return ExitInterrupted
	case errors.As(out.Err, &ie):
		return ExitInfra
	case errors.As(out.Err, &le):
		return ExitBadLab
	}
	return ExitFailed
}

// run is the controller's side of one run: sessions, clocks and the transcript.
type run struct {
	start time.Time
	sink  Sink
	opts  Options
	hosts map[string]*host
	done  <-chan struct{} // the run's end (Ctrl-C): pacing stops waiting
	wg    sync.WaitGroup  // lease renewers and event streams

	mu      sync.Mutex // protects the fields below, and serialises the sink
	log     []transcript.Entry
	closed  bool
	lost    *lab.InfraError         // the first agent lost mid-run
	stopLab context.CancelCauseFunc // stops the lab when an agent is lost
}

// host is one lab host's agent session.
type host struct {
	info       topology.Host
	client     *client.Client
	session    *client.Session
	clock      transcript.Clock
	stopRenew  context.CancelFunc // stops the lease renewer
	stopStream context.CancelFunc // stops following the event stream
	streamDone chan struct{}      // closed when the event stream has ended
}

var _ lab.Env = (*run)(nil)

// open dials a host's agent, opens a session, estimates its clock and starts renewing
// the lease and following the session's background events.
func (r *run) open(ctx context.Context, h topology.Host, lease time.Duration) (*host, error) {
	c, err := client.Dial(h.Target, h.Token)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sent := time.Since(r.start)
	s, err := c.Open(octx, lease, "run "+h.Role)
	received := time.Since(r.start)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("agent %s unreachable: %w", h.Target, err)
	}
	clock := transcript.NewClock(sent, received, s.Opened.GetClock().GetMonotonicNs())
	// A few more samples: the one with the shortest round trip bounds the offset's error
	// best (half its round trip), as NTP does.
	best := received - sent
	for range clockSamples {
		sent := time.Since(r.start)
		hello, err := c.API().Hello(octx, &socklabv1.HelloRequest{})
		received := time.Since(r.start)
		if err != nil {
			break
		}
		if rtt := received - sent; rtt < best {
			best, clock = rtt, transcript.NewClock(sent, received, hello.GetClock().GetMonotonicNs())
		}
	}
	hs := &host{info: h, client: c, session: s, clock: clock}
	renew, stopRenew := context.WithCancel(context.Background())
	follow, stopStream := context.WithCancel(context.Background())
	hs.stopRenew, hs.stopStream, hs.streamDone = stopRenew, stopStream, make(chan struct{})
	r.wg.Add(2)
	go func() { // renew the lease until the run ends
		defer r.wg.Done()
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renew.Done():
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(renew, lease/3)
				_ = s.Renew(rctx)
				cancel()
			}
		}
	}()
	go func() { // background events: until the session ends
		defer r.wg.Done()
		defer close(hs.streamDone)
		stream, err := c.API().StreamEvents(follow, &socklabv1.StreamEventsRequest{SessionId: s.ID})
		if err != nil {
			return
		}
		ended := false
		for {
			resp, err := stream.Recv()
			if err != nil {
				if !ended && follow.Err() == nil && status.Code(err) != codes.NotFound && !r.closing() {
					// The stream broke before the session's end: the agent is gone. (NotFound:
					// the stream began after the session closed, in a run shorter than that.)
					r.lose(h.Role, fmt.Errorf("lost mid-run: %w", err))
				}
				return
			}
			for _, ev := range resp.GetEvents() {
				if ev.GetKind() == socklabv1.EventKind_EVENT_KIND_SESSION_END {
					ended = true
					continue
				}
				r.record(hs, ev, "")
			}
		}
	}()
	return hs, nil
}

// Do performs one operation on a host and records its event.
func (r *run) Do(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error) {
	hs, ok := r.hosts[role]
	if !ok {
		return nil, fmt.Errorf("no host %s", role)
	}
	resp, err := hs.session.Do(ctx, handle, op)
	if err != nil {
		return nil, err
	}
	r.record(hs, resp.GetEvent(), pos)
	r.pace() // after the operation, outside its watchdog
	return resp, nil
}

// Say records narration.
func (r *run) Say(text, pos string) {
	r.add(transcript.Entry{Kind: transcript.Say, At: time.Since(r.start), Text: text, Pos: pos})
	r.pace()
}

// pace holds the run after a step, for an audience: --step waits for Enter, --pace for a
// while; both give way when the run is interrupted.
func (r *run) pace() {
	if r.opts.Step != nil {
		r.opts.Step(r.done)
		return
	}
	if r.opts.Pace > 0 {
		select {
		case <-time.After(r.opts.Pace):
		case <-r.done:
		}
	}
}

func (r *run) record(hs *host, ev *socklabv1.Event, pos string) {
	r.add(transcript.Entry{
		Kind: transcript.Operation, At: hs.clock.At(ev.GetStartNs()), Duration: time.Duration(ev.GetDurationNs()),
		Host: hs.info.Role, Address: hs.info.IP.String(), Event: ev, Pos: pos,
	})
}

func (r *run) add(e transcript.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, e)
	if r.sink != nil {
		r.sink.Entry(e)
	}
}

func (r *run) entries() []transcript.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transcript.Entry(nil), r.log...)
}

// closeAll closes every session (the agents close their sockets), waits for the event
// streams to deliver the closes, and hangs up. It runs once.
func (r *run) closeAll() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, hs := range r.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := hs.session.Close(ctx); err != nil && status.Code(err) != codes.NotFound {
				r.lose(hs.info.Role, fmt.Errorf("closing its session: %w", err))
			}
		}()
	}
	wg.Wait()
	// Each stream ends on its own after its session's last event (the closes above).
	timeout := time.After(5 * time.Second)
	for _, hs := range r.hosts {
		hs.stopRenew()
		select {
		case <-hs.streamDone:
		case <-timeout:
		}
		hs.stopStream()
	}
	r.wg.Wait()
	for _, hs := range r.hosts {
		hs.client.Close()
	}
}

// NewRunID returns a fresh run id, "run-" and 16 hex digits.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run-" + hex.EncodeToString(b[:])
}

// Discard is a Sink that shows nothing.
type Discard struct{}

// Header does nothing.
func (Discard) Header(*lab.Lab, []topology.Host) {}

// Entry does nothing.
func (Discard) Entry(transcript.Entry) {}
