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
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
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
	// Ordered, when set, receives the run's entries in display order while the run goes,
	// each once nothing still to come can precede it, and the record holds none: a long
	// run's memory stays flat, and what was stored survives the run's end, whatever it is.
	// It is called with the run's lock held: it must not block for long.
	Ordered func(transcript.Entry)
	// Debug, when set, receives what gRPC said of a failed call to an agent (--debug).
	Debug io.Writer
	// MaxTime bounds the wall time of the lab's run (a controller's --max-run-time); the
	// lab's own timeout may be shorter. 0 leaves only the lab's own, if any.
	MaxTime time.Duration
}

// Sink receives a run as it happens.
type Sink interface {
	// Header announces the run once its hosts are bound.
	Header(h transcript.Header)
	// Entry is one transcript entry, as it happens.
	Entry(e transcript.Entry)
}

// Waiter is a Sink that is also told of each call to an agent as it is sent and as it
// returns, so that it can show a call that waits (a recv with nothing to read yet) while
// it waits. A Sink that is no Waiter is not told. Its methods are called as Entry is,
// one at a time.
type Waiter interface {
	// Calling is a call sent: id names it until Returned, and e is the entry it will
	// make, its Event holding the host's handle and the operation but no result yet.
	Calling(id uint64, e transcript.Entry)
	// Returned is the call's return, before its entry, if it made one, comes to Entry.
	Returned(id uint64)
}

// Run runs l on topo. It always returns a record; its ExitCode says how the run ended,
// and it has hosts only when the topology bound them.
func Run(ctx context.Context, l Lab, topo topology.Topology, opts Options, sink Sink) *transcript.Record {
	info := l.Info()
	rec := &transcript.Record{}
	h := &rec.Header
	h.RunID, h.Lab, h.Summary, h.Started = opts.ID, info.Name, info.Summary, time.Now()
	h.Checks = append([]transcript.Check(nil), info.Checks...)
	if h.RunID == "" {
		h.RunID = NewRunID()
	}
	defer func() { rec.Finished = time.Now() }()
	fail := func(err error, code int) *transcript.Record {
		if ctx.Err() != nil {
			code = transcript.ExitInterrupted // Ctrl-C while the hosts were starting
		}
		rec.Error, rec.ExitCode = err.Error(), code
		if d := errdefs.Detail(err); d != "" && opts.Debug != nil {
			fmt.Fprintln(opts.Debug, "socklab: debug:", d)
		}
		return rec
	}
	params, err := l.ParamValues(opts.Params)
	if err != nil {
		return fail(err, transcript.ExitBadLab)
	}
	h.Params = params
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	if kind := topology.KindOf(topo); len(info.Topologies) > 0 && !slices.Contains(info.Topologies, kind) {
		return fail(fmt.Errorf("%s runs on the %s topologies, not %s: run it with --topology %s",
			info.Name, strings.Join(info.Topologies, " and "), kind, info.Topologies[0]), transcript.ExitBadLab)
	}
	pool, err := topo.Start(ctx, info.Hosts)
	if err != nil {
		code := transcript.ExitInfra
		if errors.Is(err, errdefs.ErrUnauthenticated) {
			code = transcript.ExitBadLab // the command line's token: a usage error
		}
		return fail(fmt.Errorf("start agents: %w", err), code)
	}
	defer pool.Close()
	bound := pool.Hosts()
	for _, b := range bound {
		h.Hosts = append(h.Hosts, transcript.Host{Role: b.Role, Address: b.IP.String()})
	}

	r := &run{start: time.Now(), sink: sink, opts: opts, hosts: map[string]*host{}, done: ctx.Done()}
	defer r.closeAll()
	for _, b := range bound {
		hs, err := r.open(ctx, b, opts.Lease)
		if err != nil {
			return fail(&InfraError{Host: b.Role, Err: err}, transcript.ExitInfra)
		}
		r.hosts[b.Role] = hs
		r.roles = append(r.roles, b.Role)
		r.mu.Lock()
		r.margin = max(r.margin, hs.clockErr+100*time.Microsecond)
		r.mu.Unlock()
	}
	if sink != nil {
		sink.Header(*h)
	}
	infos := make([]HostInfo, len(bound))
	for i, b := range bound {
		infos[i] = HostInfo{Role: b.Role, IP: b.IP.String()}
	}
	labCtx, stopLab := context.WithCancelCause(ctx)
	defer stopLab(nil)
	r.mu.Lock()
	r.stopLab = stopLab
	r.mu.Unlock()
	r.done = labCtx.Done() // a run held after a step (--step, a paused page) ends at its budget too
	if limit, over := runLimit(info.Timeout, opts.MaxTime); limit > 0 {
		// A cancellation, not a deadline: a call cut short by it is no watchdog's, and its
		// agent did not stop answering.
		timer := time.AfterFunc(limit, func() { stopLab(over) })
		defer timer.Stop()
	}
	stopFlushing := r.flushing()
	out := l.Run(labCtx, r, infos, params)
	r.closeAll()
	rec.Checks = out.Checks
	if out.Err != nil {
		rec.Error = errorText(out.Err, out.Pos)
	}
	stopFlushing()
	rec.Entries = r.entries()
	rec.ExitCode = exitCode(ctx, out)
	if ctx.Err() != nil && rec.ExitCode != transcript.ExitInterrupted {
		// Interrupted after the lab's last step: the run still ends as interrupted, at once.
		rec.ExitCode = transcript.ExitInterrupted
		if rec.Error == "" {
			rec.Error = "interrupted"
		}
	}
	if lost := r.lostErr(); lost != nil && ctx.Err() == nil {
		// A lost agent makes the run's transcript incomplete, whatever the lab concluded.
		if errors.Is(lost, errStoppedAnswering) && rec.Error != "" {
			rec.Error = lost.Error() + " (" + rec.Error + ")" // which call it did not answer
		} else {
			rec.Error = lost.Error()
		}
		rec.ExitCode = transcript.ExitInfra
	}
	return rec
}

// errorText is err with the lab position where it happened, if known.
func errorText(err error, pos string) string {
	if pos != "" {
		return pos + ": " + err.Error()
	}
	return err.Error()
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
	r.lost = &InfraError{Host: role, Err: err}
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

func exitCode(ctx context.Context, out *Outcome) int {
	var (
		le *LabError
		ie *InfraError
		be *BudgetError
	)
	switch {
	case out.Err == nil && out.Passed():
		return transcript.ExitPassed
	case out.Err == nil:
		return transcript.ExitFailed
	case ctx.Err() != nil || errors.Is(out.Err, context.Canceled):
		return transcript.ExitInterrupted
	case errors.As(out.Err, &ie), isEnvironment(out.Err):
		return transcript.ExitInfra
	case errors.As(out.Err, &le), errors.As(out.Err, &be):
		return transcript.ExitBadLab
	}
	return transcript.ExitFailed
}

// run is the controller's side of one run: sessions, clocks and the transcript.
type run struct {
	start time.Time
	sink  Sink
	opts  Options
	hosts map[string]*host
	roles []string        // the hosts' roles, in the lab's order
	done  <-chan struct{} // the lab's end (Ctrl-C, its budget, a lost agent): pacing stops waiting
	wg    sync.WaitGroup  // lease renewers and event streams

	mu      sync.Mutex               // protects the fields below, and serialises the sink
	log     transcript.Merger        // the entries so far, ordered as they come
	ordered []transcript.Entry       // without Options.Ordered: those log let go, in display order
	calls   map[uint64]time.Duration // the calls in flight: when each was sent
	margin  time.Duration            // the most an agent's clock may be off (see watermark)
	callID  uint64
	closed  bool
	failed  map[string]bool         // the checks recorded as failed
	lost    *InfraError             // the first agent lost mid-run
	stopLab context.CancelCauseFunc // stops the lab when an agent is lost
}

// host is one lab host's agent session.
type host struct {
	info       topology.Host
	address    string // info.IP as text, as every entry of the host names it
	client     *client.Client
	session    *client.Session
	clock      transcript.Clock
	clockErr   time.Duration      // the most clock may be off: half its best round trip
	stopRenew  context.CancelFunc // stops the lease renewer
	stopStream context.CancelFunc // stops following the event stream
	streamDone chan struct{}      // closed when the event stream has ended
	// hung is set once a call to the host ran out of its watchdog: the agent may be
	// stopped, and the run's end waits for it only briefly.
	hung atomic.Bool
}

var _ Env = (*run)(nil)

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
		hello, err := c.Hello(octx)
		received := time.Since(r.start)
		if err != nil {
			break
		}
		if rtt := received - sent; rtt < best {
			best, clock = rtt, transcript.NewClock(sent, received, hello.GetClock().GetMonotonicNs())
		}
	}
	hs := &host{info: h, address: h.IP.String(), client: c, session: s, clock: clock, clockErr: best / 2}
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
		stream, err := s.Events(follow)
		if err != nil {
			return
		}
		ended := false
		for {
			events, err := stream.Recv()
			if err != nil {
				if !ended && follow.Err() == nil && !errors.Is(err, errdefs.ErrNotFound) && !r.closing() {
					// The stream broke before the session's end: the agent is gone. (NotFound:
					// the stream began after the session closed, in a run shorter than that.)
					r.lose(h.Role, fmt.Errorf("lost mid-run: %w", err))
				}
				return
			}
			for _, ev := range events {
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
	r.mu.Lock()
	id := r.callID
	r.callID++
	if r.calls == nil {
		r.calls = map[uint64]time.Duration{}
	}
	sent := time.Since(r.start)
	r.calls[id] = sent
	waiter, _ := r.sink.(Waiter)
	if waiter != nil {
		waiter.Calling(id, transcript.Entry{Kind: transcript.Operation, At: sent, Host: role, Address: hs.address,
			Event: &socklabv1.Event{Handle: handle, Operation: op}, Pos: pos})
	}
	r.mu.Unlock()
	inFlight := true
	landed := func() {
		if inFlight {
			inFlight = false
			r.mu.Lock()
			delete(r.calls, id)
			r.mu.Unlock()
		}
	}
	defer landed()
	resp, err := hs.session.Do(ctx, handle, op)
	if waiter != nil {
		r.mu.Lock()
		waiter.Returned(id)
		r.mu.Unlock()
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			hs.hung.Store(true)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, errdefs.ErrDeadlineExceeded) {
			if !isDone(r.done) {
				// The watchdog cut the call short: no event of the agent's shows it.
				// The lab's error says how long its watchdog was; a time measured here would
				// differ from run to run.
				r.add(transcript.Entry{Kind: transcript.Note, At: time.Since(r.start), Host: role, Address: hs.address, Pos: pos,
					Text: fmt.Sprintf("watchdog: %s got no answer and was cut short", opName(op))})
			}
		}
		return nil, err
	}
	r.record(hs, resp.GetEvent(), pos)
	landed() // its entry is in: a pause after it holds nothing back from Options.Ordered
	r.pace() // after the operation, outside its watchdog
	return resp, nil
}

// isDone reports whether done is closed.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// opName names an operation by its case of the Operation oneof ("recv"), "a call" for
// none.
func opName(op *socklabv1.Operation) string {
	m := op.ProtoReflect()
	if f := m.WhichOneof(m.Descriptor().Oneofs().ByName("op")); f != nil {
		return string(f.Name())
	}
	return "a call"
}

// Say records narration.
func (r *run) Say(text, pos string) {
	r.add(transcript.Entry{Kind: transcript.Say, At: time.Since(r.start), Text: text, Pos: pos})
	r.pace()
}

// Checked records a check that failed, where the lab evaluated it, with each host's
// kernel socket table at that moment: the first time it fails (a check that failed stays
// failed).
func (r *run) Checked(c transcript.Check) {
	if c.Passed {
		return
	}
	r.mu.Lock()
	seen := r.failed[c.ID]
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	r.failed[c.ID] = true
	r.mu.Unlock()
	if seen {
		return
	}
	at := time.Since(r.start)
	r.add(transcript.Entry{Kind: transcript.Failed, At: at, Check: c.ID, Text: c.Message, Pos: c.Pos, Snapshot: r.snapshot()})
}

// snapshotWait bounds the wait for a host's socket table when a check fails.
const snapshotWait = 2 * time.Second

// snapshot reads each host's kernel socket table: the rows whose local address is the
// host's, but for its agent's own. The reads are not operations of the lab: they are not in the
// transcript, and a host that does not answer in time gives an error row.
func (r *run) snapshot() []*socklabv1.HostSockets {
	out := make([]*socklabv1.HostSockets, len(r.roles))
	var wg sync.WaitGroup
	for i, role := range r.roles {
		hs := r.hosts[role]
		out[i] = &socklabv1.HostSockets{Role: role}
		if hs.hung.Load() {
			out[i].Error = "the host's agent stopped answering"
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), snapshotWait)
			defer cancel()
			ip := hs.address
			resp, err := hs.session.Do(ctx, 0, &socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{Host: ip}}})
			if err != nil {
				out[i].Error = fmt.Sprintf("read the socket table: %v", err)
				return
			}
			_, agentPort, _ := net.SplitHostPort(hs.info.Target)
			for _, so := range resp.GetEvent().GetResult().GetSockets() {
				local := so.GetLocal()
				if local.GetHost() == ip && strconv.Itoa(int(local.GetPort())) != agentPort {
					out[i].Sockets = append(out[i].Sockets, so) // the host's own, not its agent's
				}
			}
		})
	}
	wg.Wait()
	return out
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
		Host: hs.info.Role, Address: hs.address, Event: ev, Pos: pos,
	})
}

func (r *run) add(e transcript.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log.Add(e)
	if r.sink != nil {
		r.sink.Entry(e)
	}
	if r.opts.Ordered != nil {
		r.log.Flush(r.watermark(), r.opts.Ordered)
		r.log.Trim(maxWindow, r.opts.Ordered)
		return
	}
	// A record held whole is ordered as it comes too, so that the run's end orders only
	// the window: its time after the lab's last step stays flat in the run's length.
	r.log.Flush(r.watermark(), r.keep)
}

// keep holds an entry the log let go, for a run without Options.Ordered; r.mu is held.
func (r *run) keep(e transcript.Entry) { r.ordered = append(r.ordered, e) }

// maxWindow bounds the entries a run with Options.Ordered holds back for ordering: past
// it (a call in flight for long while other threads go on), the earliest leave anyway.
const maxWindow = 50_000

const (
	// backgroundLag is how long an agent's background events (a peer's close, a
	// process's output) may take to arrive after they happen.
	backgroundLag = 500 * time.Millisecond
)

// flushEvery is how often a run with Options.Ordered hands over what its window let go
// while nothing else happens (a lab blocked in a call).
const flushEvery = 250 * time.Millisecond

// flushing hands Options.Ordered what the window lets go every flushEvery, until the
// returned func is called.
func (r *run) flushing() (stop func()) {
	if r.opts.Ordered == nil {
		return func() {}
	}
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.mu.Lock()
				r.log.Flush(r.watermark(), r.opts.Ordered)
				r.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// watermark is a time on the run's clock before which no entry still to come starts:
// the calls in flight were sent after it (an agent's event of one may seem to start
// before by as much as the agent's clock may be off), and background events arrive within
// their lag. r.mu is held.
func (r *run) watermark() time.Duration {
	wm := time.Since(r.start) - backgroundLag
	for _, sent := range r.calls {
		wm = min(wm, sent-r.margin)
	}
	return wm
}

// entries returns the run's entries in display order (see transcript.Merge); with
// Options.Ordered, it hands it the rest of them and returns none.
func (r *run) entries() []transcript.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Ordered != nil {
		r.log.Flush(transcript.Forever, r.opts.Ordered)
		return nil
	}
	r.log.Flush(transcript.Forever, r.keep)
	out := r.ordered
	r.ordered = nil
	return out
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
			wait := 5 * time.Second
			if hs.hung.Load() {
				// The lab's own error already names the call this host did not answer; an
				// agent that is stopped frees the session's sockets when its lease lapses.
				wait = hungCloseWait
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_, err := hs.session.Close(ctx)
			switch {
			case err == nil || errors.Is(err, errdefs.ErrNotFound):
			case hs.hung.Load():
				r.lose(hs.info.Role, errStoppedAnswering)
			default:
				r.lose(hs.info.Role, fmt.Errorf("closing its session: %w", err))
			}
		}()
	}
	wg.Wait()
	// Each stream ends on its own after its session's last event (the closes above).
	timeout := time.After(5 * time.Second)
	for _, hs := range r.hosts {
		hs.stopRenew()
		if !hs.hung.Load() {
			select {
			case <-hs.streamDone:
			case <-timeout:
			}
		}
		hs.stopStream()
	}
	r.wg.Wait()
	for _, hs := range r.hosts {
		hs.client.Close()
	}
}

// errStoppedAnswering is a host whose agent let a call run out of its watchdog and then
// did not close its session either: stopped, or its machine gone.
var errStoppedAnswering = errors.New("stopped answering: a call ran out of its watchdog, and its session did not close")

// hungCloseWait bounds the close of a session on a host that did not answer a call
// within its watchdog.
const hungCloseWait = 500 * time.Millisecond

// NewRunID returns a fresh run id, "run-" and 16 hex digits.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run-" + hex.EncodeToString(b[:])
}

// Discard is a Sink that shows nothing.
type Discard struct{}

// Header does nothing.
func (Discard) Header(transcript.Header) {}

// Entry does nothing.
func (Discard) Entry(transcript.Entry) {}

// environmentError is an error a lab met in its machine rather than in itself: a port a
// process outside the run holds. A run it stops ends as an agent lost does: exit code 3,
// verdict error.
type environmentError interface {
	error
	Environment() bool
}

func isEnvironment(err error) bool {
	var ee environmentError
	return errors.As(err, &ee) && ee.Environment()
}
