package service_test

import (
	"os"
	"testing"

	"github.com/socklab/socklab/agent/process"
)

func TestMain(m *testing.M) {
	process.Init() // this binary is also the init of the jobs its local agents start
	os.Exit(m.Run())
}
