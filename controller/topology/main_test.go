package topology_test

import (
	"os"
	"testing"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/topology"
)

func TestMain(m *testing.M) {
	process.Init()  // this binary is also the init of its agents' jobs
	topology.Init() // and the host of an unprivileged netns run
	os.Exit(m.Run())
}
