package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// procStatus reads a field of /proc/PID/status given in kB ("VmRSS", "VmHWM"), in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the agent's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in /proc/%d/status: %v", field, pid, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// floodBound is the most an agent under the default policy may hold, above its baseline,
// while one connection floods it with requests of the largest size that skip ahead of
// their seq (TestSeqGapFlood):
//
//   - the requests that wait for their turn: at most WaitingPerSession.Bytes (64 MiB);
//   - the requests being read: RecvSlots (2) of at most MessageLimit (17.06 MiB) each, and
//     each costs up to three times its size while gRPC decodes it (its frames, one
//     contiguous copy, the decoded message);
//   - Go's collector lets the heap grow to twice what is live (GOGC=100);
//   - 128 MiB for the runtime, gRPC's buffer pools and what the kernel counts late.
//
// That is 2 x (64 + 3 x 2 x 17.06) + 128 = 461 MiB; the agent starts at about 20 MiB, so
// it must stay under about 480 MiB. Before the bounds, the same flood of 48 requests
// took it past 1.4 GB (80 requests: 3.1 GB).
func floodBound(pol policy.Policy) int64 {
	live := pol.WaitingPerSession.Bytes + 3*server.RecvSlots*int64(server.MessageLimit(pol))
	return 2*live + 128<<20
}

// TestSeqGapFlood floods a real agent with requests of the largest size (16 MiB sendall)
// that skip ahead of their handle's seq, all at once on one connection, and watches the
// agent's memory: a few wait for the missing seq, every other is refused at once with
// ResourceExhausted, and the agent's resident memory stays under floodBound.
func TestSeqGapFlood(t *testing.T) {
	execsBinary(t)
	t.Setenv("GOGC", "100") // the collector floodBound assumes, whatever the environment says
	addr, cmd := startAgent(t, "--listen", "127.0.0.1:0")
	pid := cmd.Process.Pid
	pol := policy.Default()
	c, err := client.Dial(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := c.Open(ctx, time.Minute, "flood")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Do(ctx, 0, client.Socket(client.Stream))
	if err != nil {
		t.Fatal(err)
	}
	h := resp.GetEvent().GetResult().GetHandle()
	base := procStatus(t, pid, "VmRSS")
	bound := base + floodBound(pol)

	// Watch the agent's peak while it is flooded; past the bound, stop the flood.
	flood, stop := context.WithCancel(ctx)
	defer stop()
	over := make(chan int64, 1)
	go func() {
		for flood.Err() == nil {
			if hwm := procStatus(t, pid, "VmHWM"); hwm > bound {
				over <- hwm
				stop()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	const n = 48
	data := make([]byte, pol.MaxBytesPerOp)
	req := func(seq uint64) *socklabv1.PerformRequest {
		return &socklabv1.PerformRequest{SessionId: s.ID, Handle: h, Seq: seq, Operation: client.SendAll(data, 0)}
	}
	// The requests that fit the session's bound on waiting requests wait; the rest are
	// refused.
	waiting := int(min(int64(pol.WaitingPerSession.Requests), pol.WaitingPerSession.Bytes/int64(proto.Size(req(2)))))
	var (
		mu       sync.Mutex
		answered int
		refused  int
		others   []error
		wg       sync.WaitGroup
	)
	all := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			_, err := c.API().Perform(flood, req(uint64(i)+2)) // seq 1 is missing
			err = errdefs.FromGRPC(err)
			mu.Lock()
			defer mu.Unlock()
			answered++
			switch {
			case errors.Is(err, errdefs.ErrResourceExhausted) && strings.Contains(err.Error(), "wait for answers before sending more"):
				refused++
			case errors.Is(err, errdefs.ErrNotFound) && strings.Contains(err.Error(), "session ended while seq"):
				// one that waited, until the session closed
			case err != nil:
				others = append(others, err)
			}
			if answered == n-waiting {
				close(all) // all but the waiting ones have been answered
			}
		})
	}
	select {
	case <-all:
	case hwm := <-over:
		t.Fatalf("the agent's resident memory reached %d MiB under the flood (baseline %d MiB), over its bound of %d MiB", hwm>>20, base>>20, bound>>20)
	case <-flood.Done():
		t.Fatalf("the flood was not answered within 30 s")
	}
	// The waiting ones wait for seq 1, which never comes: closing the session ends them.
	if _, err := s.Close(ctx); err != nil {
		t.Fatalf("close the flooded session: %v", err)
	}
	wg.Wait()
	hwm := procStatus(t, pid, "VmHWM")
	stop()
	t.Logf("flood of %d x %d MiB: %d waited, %d refused; agent memory %d MiB at the start, peak %d MiB, bound %d MiB",
		n, len(data)>>20, n-refused, refused, base>>20, hwm>>20, bound>>20)
	if hwm > bound {
		t.Errorf("the agent's resident memory reached %d MiB under the flood (baseline %d MiB), over its bound of %d MiB", hwm>>20, base>>20, bound>>20)
	}
	if refused != n-waiting || len(others) > 0 {
		t.Errorf("%d of %d requests refused with ResourceExhausted, want %d; other errors: %v", refused, n, n-waiting, others)
	}
}

// TestAgentOpenFileLimit runs an agent whose open-file limit is 512 (soft and hard, so Go
// cannot raise it) and has five sessions, on five connections, each take every socket it
// can (the per-session limit, 4096, is far above): together they get the agent's budget,
// 512 less the 256 it keeps (policy.FileBudget), each refusal is ResourceExhausted naming
// that limit and never a socket error (EMFILE), and the agent still accepts a new
// connection and a new session. Before the budget, the kernel refused sockets with EMFILE
// and new connections hung.
func TestAgentOpenFileLimit(t *testing.T) {
	execsBinary(t)
	const nofile = 512
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max < nofile {
		t.Skipf("the open-file limit's hard bound (%d, %v) is under %d", lim.Max, err, nofile)
	}
	// sh lowers both limits, then becomes the agent.
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n `+strconv.Itoa(nofile)+` && exec "$0" "$@"`, binary, "agent", "--listen", "127.0.0.1:0")
	addr, _ := startCommand(t, "agent", cmd)
	want, _ := policy.FileBudget(nofile)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	total := 0
	for i := range 5 {
		c, err := client.Dial(addr, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Open(ctx, time.Minute, fmt.Sprintf("greedy %d", i))
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		for {
			resp, err := s.Do(ctx, 0, client.Socket(client.Dgram))
			if err != nil {
				if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "open-file limit, 512") {
					t.Fatalf("session %d, socket %d: %v, want ResourceExhausted naming the open-file limit", i, total+1, err)
				}
				break
			}
			if e := resp.GetEvent().GetError(); e != nil {
				t.Fatalf("session %d, socket %d raised %s (%s): the kernel refused before the agent did", i, total+1, e.GetName(), e.GetMessage())
			}
			total++
		}
	}
	if total != want {
		t.Errorf("five sessions got %d sockets together, want the budget %d", total, want)
	}
	// The agent kept room for itself: a new connection, and a session on it.
	c, err := client.Dial(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Hello(ctx); err != nil {
		t.Fatalf("Hello on a new connection once the sockets are all taken: %v", err)
	}
	if _, err := c.Open(ctx, time.Minute, "late"); err != nil {
		t.Errorf("a new session once the sockets are all taken: %v", err)
	}
}

// TestKilledAgentLeavesNoSessionDirs: an agent killed with SIGKILL cannot remove its
// sessions' directories; the next agent to start removes them, and only them: a live
// agent's stay.
func TestKilledAgentLeavesNoSessionDirs(t *testing.T) {
	execsBinary(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the agents make their sessions' directories
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// openUnix opens a session on the agent at addr with an AF_UNIX socket bound in its
	// directory, and returns the directory.
	openUnix := func(addr string) string {
		t.Helper()
		before, _ := filepath.Glob(filepath.Join(tmp, "sl-*"))
		c, err := client.Dial(addr, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := c.Open(ctx, time.Minute, "unix")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Do(ctx, 0, client.SocketOf(client.Unix, client.Stream))
		if err != nil {
			t.Fatal(err)
		}
		if resp, err = s.Do(ctx, resp.GetEvent().GetResult().GetHandle(), client.BindPath("server.sock")); err != nil || resp.GetEvent().GetError() != nil {
			t.Fatalf("bind server.sock: %v %v", err, resp.GetEvent().GetError())
		}
		after, _ := filepath.Glob(filepath.Join(tmp, "sl-*"))
		for _, d := range after {
			if !slices.Contains(before, d) {
				return d
			}
		}
		t.Fatalf("no new session directory in %s: %v", tmp, after)
		return ""
	}
	liveAddr, _ := startAgent(t, "--listen", "127.0.0.1:0")
	liveDir := openUnix(liveAddr)
	killedAddr, killed := startAgent(t, "--listen", "127.0.0.1:0")
	killedDir := openUnix(killedAddr)
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	if _, err := os.Stat(filepath.Join(killedDir, "server.sock")); err != nil {
		t.Fatalf("the killed agent's session directory should remain until another agent starts: %v", err)
	}

	startAgent(t, "--listen", "127.0.0.1:0") // removes what the killed one left, as it starts
	if _, err := os.Stat(killedDir); !os.IsNotExist(err) {
		t.Errorf("the killed agent's session directory %s remains after a new agent started: %v", killedDir, err)
	}
	if _, err := os.Stat(filepath.Join(liveDir, "server.sock")); err != nil {
		t.Errorf("the live agent's session directory lost its socket: %v", err)
	}
}
