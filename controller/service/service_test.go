package service_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/controller/remote"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// token is the controller's bearer token in these tests.
const token = "CT"

// runTimeout bounds every call that runs a lab: the labs here take milliseconds.
const runTimeout = 30 * time.Second

// startController serves ControllerService on a loopback address as `socklab controller`
// does without --inventory (local agents per run, runs stored in a fresh file), and
// returns its address. Cleanup stops the server, then closes the store.
func startController(t *testing.T) string {
	t.Helper()
	return startControllerWith(t, func(s *service.Service) *service.Service { return s })
}

// startControllerWith is startController with the service as configure makes it.
func startControllerWith(t *testing.T, configure func(*service.Service) *service.Service) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "ctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	topo := func(map[string]string) topology.Topology { return service.Local }
	gs := grpc.NewServer(server.TokenOptions(token)...)
	socklabv1.RegisterControllerServiceServer(gs, configure(service.New(st, topo, 0)))
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		// Clients were closed first (cleanups run last-in first-out), so every call is
		// ending; a run still going after that is a bug worth failing on.
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("the controller's calls were still running 10s after their clients closed")
			gs.Stop()
			<-stopped
		}
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	})
	return lis.Addr().String()
}

// dial connects to the controller at addr with tok, closing the client at cleanup.
func dial(t *testing.T, addr, tok string) *remote.Client {
	t.Helper()
	c, err := remote.Dial(addr, tok)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder is a remote.Sink that keeps what it is given, and a started callback that
// keeps the run ids it learns.
type recorder struct {
	mu      sync.Mutex // protects ids, headers and entries
	ids     []string
	headers []transcript.Header
	entries []transcript.Entry
	changed chan struct{} // signalled (never blocking) after each entry
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) started(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

// Header keeps a run's header.
func (r *recorder) Header(h transcript.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers = append(r.headers, h)
}

// Entry keeps an entry.
func (r *recorder) Entry(e transcript.Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() (ids []string, headers []transcript.Header, entries []transcript.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids), slices.Clone(r.headers), slices.Clone(r.entries)
}

// waitOp waits until an entry records op, or ctx ends.
func (r *recorder) waitOp(ctx context.Context, op string) error {
	for {
		_, _, entries := r.snapshot()
		if slices.ContainsFunc(entries, func(e transcript.Entry) bool { return e.Event.GetOp() == op }) {
			return nil
		}
		select {
		case <-r.changed:
		case <-ctx.Done():
			return fmt.Errorf("no %s entry among %d: %w", op, len(entries), ctx.Err())
		}
	}
}

// line is what a transcript shows of an entry, without its timing.
type line struct {
	kind    transcript.Kind
	host    string
	op      string
	payload string
	text    string
}

func (l line) String() string {
	if l.op == "" {
		return fmt.Sprintf("%s say %q", l.host, l.text)
	}
	return fmt.Sprintf("%s %s %q", l.host, l.op, l.payload)
}

func lines(entries []transcript.Entry) []line {
	out := make([]line, 0, len(entries))
	for _, e := range entries {
		out = append(out, line{kind: e.Kind, host: e.Host, op: e.Event.GetOp(), payload: string(e.Event.GetPayload()), text: e.Text})
	}
	return out
}

// sortedLines is lines in a canonical order, to compare transcripts as multisets.
func sortedLines(entries []transcript.Entry) []line {
	out := lines(entries)
	slices.SortFunc(out, func(a, b line) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// readLab reads a lab file of another package's testdata.
func readLab(t *testing.T, path string) *socklabv1.RunLabRequest {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &socklabv1.RunLabRequest{Source: src, FileName: filepath.Base(path)}
}

// checkOf returns the check with id, failing the test when the result has none.
func checkOf(t *testing.T, res *transcript.Result, id string) transcript.Check {
	t.Helper()
	for _, c := range res.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("the result has no check %q: %+v", id, res.Checks)
	return transcript.Check{}
}

// TestRunLab: a lab run on the controller reaches the client as a local run reaches the
// terminal: the run's id first, its header with its hosts, its entries, then its result.
func TestRunLab(t *testing.T) {
	c := dial(t, startController(t), token)
	for _, tc := range []struct {
		name    string
		req     *socklabv1.RunLabRequest
		lab     string
		exit    int
		verdict string
		score   [2]int
		// failing maps a check that must fail to text its message must hold.
		failing map[string]string
	}{
		{name: "built-in", req: &socklabv1.RunLabRequest{Lab: "tcp-simple"}, lab: "tcp-simple",
			exit: transcript.ExitPassed, verdict: transcript.VerdictPassed, score: [2]int{3, 3}},
		{name: "source", req: readLab(t, "../runner/testdata/failing-check.star"), lab: "failing-check",
			exit: transcript.ExitFailed, verdict: transcript.VerdictFailed, score: [2]int{2, 3},
			failing: map[string]string{"greeting": "got b'hello', want b'hi'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
			defer cancel()
			rec := newRecorder()
			res, err := c.RunLab(ctx, tc.req, rec.started, rec)
			if err != nil {
				t.Fatalf("RunLab(%s) = %v", tc.lab, err)
			}
			ids, headers, entries := rec.snapshot()
			if len(ids) != 1 || !strings.HasPrefix(ids[0], "run-") {
				t.Fatalf("started learned %q, want one run-... id", ids)
			}
			if len(headers) != 1 {
				t.Fatalf("the sink got %d headers, want 1", len(headers))
			}
			h := headers[0]
			if h.RunID != ids[0] || h.Lab != tc.lab {
				t.Errorf("header names run %q of lab %q, want %q of %q", h.RunID, h.Lab, ids[0], tc.lab)
			}
			for _, host := range h.Hosts {
				if a, err := netip.ParseAddr(host.Address); err != nil || !a.IsLoopback() {
					t.Errorf("host %s at %q, want a loopback address", host.Role, host.Address)
				}
			}
			if res.Header.RunID != ids[0] || res.Header.Lab != tc.lab {
				t.Errorf("result names run %q of lab %q, want %q of %q", res.Header.RunID, res.Header.Lab, ids[0], tc.lab)
			}
			if res.ExitCode != tc.exit || res.Verdict() != tc.verdict {
				t.Errorf("exit code %d, verdict %q, want %d, %q (error %q)", res.ExitCode, res.Verdict(), tc.exit, tc.verdict, res.Error)
			}
			if score, max := res.Score(); score != tc.score[0] || max != tc.score[1] {
				t.Errorf("score %d/%d, want %d/%d", score, max, tc.score[0], tc.score[1])
			}
			for _, ch := range res.Checks {
				if !ch.Reached || ch.Description == "" {
					t.Errorf("check %s: reached %v, description %q; want reached, described", ch.ID, ch.Reached, ch.Description)
				}
				want, fails := tc.failing[ch.ID]
				switch {
				case fails && (ch.Passed || !strings.Contains(ch.Message, want)):
					t.Errorf("check %s: passed %v, message %q; want failed with %q", ch.ID, ch.Passed, ch.Message, want)
				case !fails && !ch.Passed:
					t.Errorf("check %s failed: %s", ch.ID, ch.Message)
				}
			}
			if len(entries) == 0 {
				t.Error("the sink got no entries")
			}
			addr := map[string]string{}
			for _, host := range h.Hosts {
				addr[host.Role] = host.Address
			}
			for _, e := range entries {
				if e.Kind == transcript.Operation && e.Address != addr[e.Host] {
					t.Errorf("entry %s on %s at %q, want the host's address %q", e.Event.GetOp(), e.Host, e.Address, addr[e.Host])
				}
			}
		})
	}
}

// TestRunLabTCPSimple: the built-in tcp-simple shows its two hosts, and the connect, the
// message and its upper-cased echo on the hosts that made them, each check described.
func TestRunLabTCPSimple(t *testing.T) {
	c := dial(t, startController(t), token)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	rec := newRecorder()
	res, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Lab: "tcp-simple"}, rec.started, rec)
	if err != nil {
		t.Fatalf("RunLab(tcp-simple) = %v", err)
	}
	_, headers, entries := rec.snapshot()
	if len(headers) != 1 {
		t.Fatalf("the sink got %d headers, want 1", len(headers))
	}
	var roles []string
	for _, h := range headers[0].Hosts {
		roles = append(roles, h.Role)
	}
	if !slices.Equal(roles, []string{"server", "client"}) {
		t.Errorf("header hosts %q, want [server client]", roles)
	}
	got := lines(entries)
	// In the order each host made them: a host's own entries arrive in order.
	for _, want := range [][]line{
		{{host: "client", op: "connect"}, {host: "client", op: "send", payload: "hello"}, {host: "client", op: "recv", payload: "HELLO"}},
		{{host: "server", op: "accept"}, {host: "server", op: "recv", payload: "hello"}, {host: "server", op: "send", payload: "HELLO"}},
	} {
		i := 0
		for _, l := range got {
			if i < len(want) && l.host == want[i].host && l.op == want[i].op && l.payload == want[i].payload {
				i++
			}
		}
		if i < len(want) {
			t.Errorf("entries lack %v in order; got:\n%s", want[i], linesText(got))
		}
	}
	if !slices.ContainsFunc(got, func(l line) bool { return l.kind == transcript.Say && l.text == "the client says hello" }) {
		t.Errorf("entries lack the narration %q; got:\n%s", "the client says hello", linesText(got))
	}
	wantChecks := []string{"server-receives", "client-gets-upper", "eof-after-close"}
	var ids []string
	for _, ch := range res.Checks {
		ids = append(ids, ch.ID)
	}
	if !slices.Equal(ids, wantChecks) {
		t.Errorf("checks %q, want %q", ids, wantChecks)
	}
	if d := checkOf(t, res, "eof-after-close").Description; d != "the server's recv returns b'' once the client has closed" {
		t.Errorf("eof-after-close's description = %q", d)
	}
}

func linesText(ls []line) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "\t%v\n", l)
	}
	return b.String()
}

// TestRunLabRejected: a lab that cannot run is a request error naming what is wrong;
// nothing starts and nothing is stored.
func TestRunLabRejected(t *testing.T) {
	c := dial(t, startController(t), token)
	for _, tc := range []struct {
		name string
		req  *socklabv1.RunLabRequest
		want string
	}{
		{"broken source", readLab(t, "../lab/testdata/broken/unknown-host.star"), `unknown-host.star:4:11: t has no host or attribute "server"`},
		{"unknown built-in", &socklabv1.RunLabRequest{Lab: "no-such-lab"}, `no built-in lab "no-such-lab"`},
		{"too many files", withFiles(readLab(t, "../runner/testdata/failing-check.star"), service.MaxLabFiles+1, 1),
			fmt.Sprintf("at most %d files", service.MaxLabFiles)},
		{"too many bytes", withFiles(readLab(t, "../runner/testdata/failing-check.star"), 2, service.MaxLabBytes/2),
			"at most 1 MiB together"},
		{"files without a source", &socklabv1.RunLabRequest{Lab: "tcp-simple", Files: []*socklabv1.LabFile{{Path: "lib/net.star"}}},
			"files are sent with a lab's source"},
		{"a file outside the lab's folder", &socklabv1.RunLabRequest{Source: []byte("x"), Files: []*socklabv1.LabFile{{Path: "../net.star"}}},
			`file "../net.star": a lab's file is sent by its path relative to the lab's folder`},
		{"a pace too long", &socklabv1.RunLabRequest{Lab: "tcp-simple", Pace: durationpb.New(time.Hour)}, "a run's pace is between 0 and 10s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
			defer cancel()
			rec := newRecorder()
			res, err := c.RunLab(ctx, tc.req, rec.started, rec)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunLab() = %v, %v; want an invalid argument with %q", res, err, tc.want)
			}
			if ids, headers, entries := rec.snapshot(); len(ids)+len(headers)+len(entries) > 0 {
				t.Errorf("a rejected lab started: ids %q, %d headers, %d entries", ids, len(headers), len(entries))
			}
		})
	}
	runs, err := c.ListRuns(t.Context(), 0)
	if err != nil || len(runs) != 0 {
		t.Errorf("ListRuns() = %v, %v; want no runs stored", runs, err)
	}
}

// withFiles is req with n files of size bytes each, sent along.
func withFiles(req *socklabv1.RunLabRequest, n, size int) *socklabv1.RunLabRequest {
	for i := range n {
		req.Files = append(req.Files, &socklabv1.LabFile{Path: fmt.Sprintf("lib/f%d.star", i), Content: make([]byte, size)})
	}
	return req
}

// TestHistory: runs are listed newest first with their verdicts and scores, and a stored
// run's transcript, asked for by a prefix of its id, holds what the live run showed.
func TestHistory(t *testing.T) {
	c := dial(t, startController(t), token)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	live := newRecorder()
	passed, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Lab: "tcp-simple"}, nil, live)
	if err != nil {
		t.Fatalf("RunLab(tcp-simple) = %v", err)
	}
	failed, err := c.RunLab(ctx, readLab(t, "../runner/testdata/failing-check.star"), nil, newRecorder())
	if err != nil {
		t.Fatalf("RunLab(failing-check) = %v", err)
	}

	runs, err := c.ListRuns(ctx, 0)
	if err != nil {
		t.Fatalf("ListRuns() = %v", err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s %s %s %d/%d", r.GetRunId(), r.GetLab(), r.GetVerdict(), r.GetScore(), r.GetMaxScore()))
	}
	want := []string{
		failed.Header.RunID + " failing-check failed 2/3",
		passed.Header.RunID + " tcp-simple passed 3/3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListRuns() =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if runs, err := c.ListRuns(ctx, 1); err != nil || len(runs) != 1 || runs[0].GetRunId() != failed.Header.RunID {
		t.Errorf("ListRuns(limit 1) = %v, %v; want the newest run only", runs, err)
	}

	id := passed.Header.RunID
	prefix := uniquePrefix(id, failed.Header.RunID)
	stored := newRecorder()
	res, err := c.Transcript(ctx, prefix, stored)
	if err != nil {
		t.Fatalf("Transcript(%s) = %v", prefix, err)
	}
	_, liveHeaders, liveEntries := live.snapshot()
	_, headers, entries := stored.snapshot()
	if len(headers) != 1 || headers[0].RunID != id || !slices.Equal(headers[0].Hosts, liveHeaders[0].Hosts) {
		t.Errorf("stored headers %+v, want one of run %s with hosts %+v", headers, id, liveHeaders[0].Hosts)
	}
	// The live stream is in arrival order, the store in merged order: compare the lines.
	if l, s := sortedLines(liveEntries), sortedLines(entries); !slices.Equal(l, s) {
		t.Errorf("the stored transcript differs from the live one:\nlive:\n%sstored:\n%s", linesText(l), linesText(s))
	}
	if res.Header.RunID != id || res.ExitCode != passed.ExitCode || res.Verdict() != transcript.VerdictPassed {
		t.Errorf("stored result: run %s, exit code %d, verdict %s; want %s, %d, passed", res.Header.RunID, res.ExitCode, res.Verdict(), id, passed.ExitCode)
	}
	if !slices.Equal(res.Checks, passed.Checks) {
		t.Errorf("stored checks\n\t%+v\nwant the live run's\n\t%+v", res.Checks, passed.Checks)
	}

	for _, tc := range []struct {
		name, id string
		kind     error
		want     string
	}{
		{"unknown id", "run-ffffffffffffffff0", errdefs.ErrNotFound, "no such run"},
		{"ambiguous prefix", "run-", errdefs.ErrInvalidArgument, "more than one run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Transcript(ctx, tc.id, newRecorder())
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Transcript(%s) = %v, %v; want %v with %q", tc.id, res, err, tc.kind, tc.want)
			}
		})
	}
}

// uniquePrefix returns the shortest prefix of id, beyond "run-", that other does not have.
func uniquePrefix(id, other string) string {
	for n := len("run-") + 1; n < len(id); n++ {
		if !strings.HasPrefix(other, id[:n]) {
			return id[:n]
		}
	}
	return id
}

// TestCancelRun: cancelling a run in progress from another connection ends it as
// interrupted, its partial transcript stored; only runs in progress can be cancelled.
func TestCancelRun(t *testing.T) {
	addr := startController(t)
	runner, canceller := dial(t, addr, token), dial(t, addr, token)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()

	if err := canceller.CancelRun(ctx, "run-0000000000000000"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("CancelRun(unknown) = %v, want not found", err)
	}

	req := readLab(t, "../runner/testdata/blocks.star")
	rec := newRecorder()
	ids := make(chan string, 1)
	type outcome struct {
		res *transcript.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := runner.RunLab(ctx, req, func(id string) { ids <- id }, rec)
		done <- outcome{res, err}
	}()
	var id string
	select {
	case id = <-ids:
	case o := <-done:
		t.Fatalf("RunLab(blocks) ended before it started: %v, %v", o.res, o.err)
	case <-ctx.Done():
		t.Fatal("RunLab(blocks) learned no run id")
	}
	if err := rec.waitOp(ctx, "accept"); err != nil {
		t.Fatalf("RunLab(blocks): %v", err)
	}
	if err := canceller.CancelRun(ctx, id); err != nil {
		t.Fatalf("CancelRun(%s) = %v", id, err)
	}
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatalf("RunLab(blocks) still running after CancelRun(%s)", id)
	}
	if o.err != nil {
		t.Fatalf("RunLab(blocks) = %v, want the interrupted run's result", o.err)
	}
	if o.res.ExitCode != transcript.ExitInterrupted || o.res.Header.RunID != id {
		t.Errorf("cancelled run %s: exit code %d (error %q), want %d", o.res.Header.RunID, o.res.ExitCode, o.res.Error, transcript.ExitInterrupted)
	}

	runs, err := canceller.ListRuns(ctx, 0)
	if err != nil || len(runs) != 1 || runs[0].GetRunId() != id || runs[0].GetVerdict() != transcript.VerdictInterrupted {
		t.Errorf("ListRuns() = %v, %v; want run %s with verdict interrupted", runs, err, id)
	}
	stored := newRecorder()
	if res, err := canceller.Transcript(ctx, id, stored); err != nil || res.ExitCode != transcript.ExitInterrupted {
		t.Errorf("Transcript(%s) = %v, %v; want the interrupted run", id, res, err)
	}
	if err := stored.waitOp(ctx, "accept"); err != nil {
		t.Errorf("the stored partial transcript: %v", err)
	}
	if err := canceller.CancelRun(ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("CancelRun(%s) after it ended = %v, want not found", id, err)
	}
}

// TestToken: every call with a wrong or missing token is refused as unauthenticated, in
// words of the controller's own rather than gRPC's.
func TestToken(t *testing.T) {
	addr := startController(t)
	calls := []struct {
		name string
		call func(ctx context.Context, c *remote.Client) error
	}{
		{"RunLab", func(ctx context.Context, c *remote.Client) error {
			_, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Lab: "tcp-simple"}, nil, newRecorder())
			return err
		}},
		{"ListRuns", func(ctx context.Context, c *remote.Client) error {
			_, err := c.ListRuns(ctx, 0)
			return err
		}},
		{"Transcript", func(ctx context.Context, c *remote.Client) error {
			_, err := c.Transcript(ctx, "run-", newRecorder())
			return err
		}},
		{"CancelRun", func(ctx context.Context, c *remote.Client) error { return c.CancelRun(ctx, "run-0000000000000000") }},
		{"ListAgents", func(ctx context.Context, c *remote.Client) error {
			_, err := c.ListAgents(ctx)
			return err
		}},
	}
	for _, tok := range []struct{ name, token, want string }{
		{"wrong", "wrong", "wrong token"},
		{"missing", "", "missing token"},
	} {
		t.Run(tok.name, func(t *testing.T) {
			t.Setenv("SOCKLAB_TOKEN", "") // Dial's default for an empty token
			c := dial(t, addr, tok.token)
			for _, call := range calls {
				ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
				err := call.call(ctx, c)
				cancel()
				if !errors.Is(err, errdefs.ErrUnauthenticated) || !strings.Contains(fmt.Sprint(err), tok.want) || strings.Contains(fmt.Sprint(err), "rpc error:") {
					t.Errorf("%s with a %s token = %v, want unauthenticated: %q", call.name, tok.name, err, tok.want)
				}
			}
		})
	}
	c := dial(t, addr, token)
	if runs, err := c.ListRuns(t.Context(), 0); err != nil || len(runs) != 0 {
		t.Errorf("ListRuns() = %v, %v; want no runs: refused calls store nothing", runs, err)
	}
}

// TestRemoteLabStartsNoProgram: a lab sent over the network may not start programs on the
// agents the controller starts itself: the agent refuses, and the run ends as a bad lab
// saying why, with nothing started.
func TestRemoteLabStartsNoProgram(t *testing.T) {
	c := dial(t, startController(t), token)
	src := []byte(`lab(name = "spawner", summary = "starts a program", hosts = ["a"], checks = {"ran": "it ran"})

def main(t):
    p = t.a.spawn(["python3", "-c", "print('owned')"])
    t.check("ran", p.wait() == 0)
`)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	res, err := c.RunLab(ctx, &socklabv1.RunLabRequest{Source: src, FileName: "spawner.star"}, nil, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 2 || !strings.Contains(res.Error, "programs run only in local runs, in a controller's runs on --topology netns, and on agents whose owner allows them") {
		t.Errorf("a remote lab's spawn: exit %d, error %q; want 2 and the refusal", res.ExitCode, res.Error)
	}
}
