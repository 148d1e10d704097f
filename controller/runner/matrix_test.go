//go:build matrix

package runner_test

import (
	"os"
	"slices"
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/labs"
)

// TestMatrix runs every built-in lab on every topology this machine gives (netns as
// root): go test -tags matrix -run TestMatrix ./controller/runner.
func TestMatrix(t *testing.T) {
	topos := map[string]topology.Topology{"local": topology.Local{Programs: policy.LocalPrograms}}
	if os.Geteuid() == 0 {
		topos["netns"] = topology.Netns{Programs: policy.LocalPrograms}
	}
	for kind, topo := range topos {
		for _, name := range labs.Names() {
			t.Run(kind+"/"+name, func(t *testing.T) {
				l, err := labs.Load(name)
				if err != nil {
					t.Fatal(err)
				}
				if ts := l.Topologies; len(ts) > 0 && !slices.Contains(ts, kind) {
					t.Skipf("%s runs on %v", name, ts)
				}
				passes(t, l, topo)
			})
		}
	}
}
