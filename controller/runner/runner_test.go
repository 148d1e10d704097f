package runner_test

import (
	"testing"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

func TestBuiltinLabsPass(t *testing.T) {
	for _, name := range labs.Names() {
		t.Run(name, func(t *testing.T) {
			l, err := labs.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			res := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
			if res.ExitCode != transcript.ExitPassed {
				t.Errorf("%s exit %d: %s", name, res.ExitCode, res.Error)
				for _, c := range res.Checks {
					t.Logf("check %s passed=%v %s", c.ID, c.Passed, c.Message)
				}
			}
			if len(res.Entries) == 0 {
				t.Error("empty transcript")
			}
		})
	}
}
