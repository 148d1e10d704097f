package service_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/sandbox"
)

func TestMain(m *testing.M) {
	process.Init() // this binary is also the init of the jobs its local agents start
	sandbox.Init() // and the process of each lab its controllers run
	if name := filepath.Base(os.Args[0]); name == echoPlugin || name == crashPlugin {
		servePlugin() // and a lab plugin installed on a controller
	}
	os.Exit(m.Run())
}
