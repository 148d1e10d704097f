package runner_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestBuiltinLabsPass runs every built-in lab on local agents; a lab that needs hosts
// apart runs on network namespaces instead (as root).
func TestBuiltinLabsPass(t *testing.T) {
	for _, name := range labs.Names() {
		t.Run(name, func(t *testing.T) {
			l, err := labs.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			var topo topology.Topology = topology.Local{Programs: policy.LocalPrograms}
			if len(l.Topologies) > 0 && !slices.Contains(l.Topologies, "local") {
				if os.Geteuid() != 0 {
					t.Skip("this lab needs network namespaces, which need root (CI runs as root)")
				}
				topo = topology.Netns{Programs: policy.LocalPrograms}
			}
			passes(t, l, topo)
		})
	}
}

// passes runs l on topo and fails the test unless every check passes.
func passes(t *testing.T, l runner.Lab, topo topology.Topology) {
	t.Helper()
	res := runner.Run(t.Context(), l, topo, runner.Options{}, runner.Discard{})
	if res.ExitCode != transcript.ExitPassed {
		t.Errorf("%s on %s: exit %d: %s", l.Info().Name, topology.KindOf(topo), res.ExitCode, res.Error)
		for _, c := range res.Checks {
			t.Logf("check %s passed=%v %s", c.ID, c.Passed, c.Message)
		}
	}
	if len(res.Entries) == 0 {
		t.Error("empty transcript")
	}
}

// TestLabsOnNetns runs the labs CI runs on every topology that gives hosts a network
// stack of their own (the full matrix, every lab on every topology, is the matrix build
// tag's: go test -tags matrix ./controller/runner).
func TestLabsOnNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("netns topology: making network namespaces needs root (CI runs as root)")
	}
	for _, name := range []string{"tcp-simple", "udp-echo", "chat-relay", "same-port-two-hosts", "tutorial-programs"} {
		t.Run(name, func(t *testing.T) {
			l, err := labs.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			passes(t, l, topology.Netns{Programs: policy.LocalPrograms})
		})
	}
}

// TestLabRefusesTopology: a lab that needs hosts apart stops before any step on the
// local topology, naming the topologies it runs on (exit 2).
func TestLabRefusesTopology(t *testing.T) {
	l, err := labs.Load("same-port-two-hosts")
	if err != nil {
		t.Fatal(err)
	}
	res := runner.Run(t.Context(), l, topology.Local{}, runner.Options{}, runner.Discard{})
	want := "same-port-two-hosts runs on the netns and docker and static topologies, not local: run it with --topology netns"
	if res.ExitCode != transcript.ExitBadLab || res.Error != want || len(res.Header.Hosts) != 0 {
		t.Errorf("on local: exit %d, %q, hosts %v; want 2, %q, none", res.ExitCode, res.Error, res.Header.Hosts, want)
	}
}

// TestFailedCheckSnapshot: a failed check is in the transcript where it failed, once,
// with each host's kernel socket table at that moment: the listener, both ends of the
// connection and the bytes not yet read.
func TestFailedCheckSnapshot(t *testing.T) {
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/failed-snapshot.star")
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{}, runner.Options{}, runner.Discard{})
	if rec.ExitCode != transcript.ExitFailed {
		t.Fatalf("exit %d (%s), want 1", rec.ExitCode, rec.Error)
	}
	var failed []transcript.Entry
	sends := 0
	for _, e := range rec.Entries {
		if e.Kind == transcript.Failed {
			failed = append(failed, e)
			if sends == 0 {
				t.Errorf("check %s recorded before the send that precedes it", e.Check)
			}
		}
		if e.Event.GetOp() == "send" {
			sends++
		}
		if e.Event.GetOp() == "ss" {
			t.Errorf("the snapshot's ss is in the transcript: %v", e.Event)
		}
	}
	if len(failed) != 2 || failed[0].Check != "late" || failed[1].Check != "again" {
		t.Fatalf("failed entries %+v, want late then again, once each", failed)
	}
	f := failed[0]
	if f.Text != "fails on purpose" || !strings.HasSuffix(f.Pos, "failed-snapshot.star:12:12") {
		t.Errorf("late: text %q at %s, want the first failure's message and line", f.Text, f.Pos)
	}
	if len(f.Snapshot) != 2 || f.Snapshot[0].GetRole() != "a" || f.Snapshot[1].GetRole() != "b" {
		t.Fatalf("snapshot of %d hosts, want a then b: %v", len(f.Snapshot), f.Snapshot)
	}
	states := func(hs *socklabv1.HostSockets) (out []string) {
		for _, s := range hs.GetSockets() {
			out = append(out, fmt.Sprintf("%s:%d", s.GetState(), s.GetRecvQueue()))
		}
		slices.Sort(out)
		return out
	}
	if got, want := states(f.Snapshot[0]), []string{"ESTABLISHED:6", "LISTEN:0"}; !slices.Equal(got, want) {
		t.Errorf("a's sockets %q, want %q (the listener, and the accepted end with 6 bytes unread)", got, want)
	}
	if got, want := states(f.Snapshot[1]), []string{"ESTABLISHED:0"}; !slices.Equal(got, want) {
		t.Errorf("b's sockets %q, want %q", got, want)
	}
}
