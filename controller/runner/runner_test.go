package runner_test

import (
	"os"
	"slices"
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
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
