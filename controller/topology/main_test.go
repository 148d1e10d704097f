package topology_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/topology"
)

func TestMain(m *testing.M) {
	process.Init()  // this binary is also the init of its agents' jobs
	topology.Init() // and the host of an unprivileged netns run
	if os.Getenv(agenttest.RefuseNamespacesEnv) != "" {
		if err := agenttest.RefuseNamespaces(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// TestNetnsUnavailable: the kernel is asked whether it makes network namespaces; where a
// seccomp filter refuses them (as Docker's default profile does), the reason says so.
func TestNetnsUnavailable(t *testing.T) {
	refused := os.Getenv(agenttest.RefuseNamespacesEnv) != ""
	why := topology.NetnsUnavailable()
	switch {
	case refused && !strings.Contains(why, "refuses") || refused && !strings.Contains(why, "operation not permitted"):
		t.Errorf("namespaces refused: NetnsUnavailable() = %q, want the refusal and EPERM's text", why)
	case !refused && why != "":
		t.Skipf("this machine makes no network namespaces: %s", why)
	case !refused:
		out := agenttest.Rerun(t, "^TestNetnsUnavailable$", false, agenttest.RefuseNamespacesEnv+"=1")
		if !strings.Contains(string(out), "--- PASS: TestNetnsUnavailable") {
			t.Errorf("the run without namespaces did not pass:\n%s", out)
		}
	}
}
