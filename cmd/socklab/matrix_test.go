//go:build matrix

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/socklab/socklab/labs"
)

// TestMatrix runs every built-in lab on every topology this machine gives, through the
// command line: netns as root, docker where an engine answers (go test -tags matrix
// -run TestMatrix ./cmd/socklab). A lab that names its topologies runs only on those.
func TestMatrix(t *testing.T) {
	execsBinary(t)
	topos := []string{"local"}
	if os.Geteuid() == 0 {
		topos = append(topos, "netns")
	}
	if _, code := dockerPing(); code == 0 {
		topos = append(topos, "docker")
	}
	for _, topo := range topos {
		for _, name := range labs.Names() {
			t.Run(topo+"/"+name, func(t *testing.T) {
				l, err := labs.Load(name)
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Topologies) > 0 && !strings.Contains(","+strings.Join(l.Topologies, ",")+",", ","+topo+",") {
					t.Skipf("%s runs on %v", name, l.Topologies)
				}
				out, err := exec.Command(binary, "run", name, "--topology", topo, "--db", "none", "--color", "never").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "\npassed\n") {
					t.Errorf("socklab run %s --topology %s: %v\n%s", name, topo, err, out)
				}
			})
		}
	}
}
