package topology_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/socklab/socklab/controller/topology"
)

// TestOwner: this process is alive as an owner; a process that has ended is not, nor is
// this pid with another start time (a reused pid); String and ParseOwner round-trip.
func TestOwner(t *testing.T) {
	self, err := topology.Self()
	if err != nil {
		t.Fatal(err)
	}
	if self.PID != os.Getpid() || !self.Alive() {
		t.Errorf("Self() = %+v, alive %v; want this process, alive", self, self.Alive())
	}
	if (topology.Owner{PID: self.PID, Start: self.Start + 1}).Alive() {
		t.Error("this pid with another start time counts as alive")
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if (topology.Owner{PID: cmd.Process.Pid, Start: self.Start}).Alive() {
		t.Error("an ended process counts as alive")
	}
	back, err := topology.ParseOwner(self.String())
	if err != nil || back != self {
		t.Errorf("ParseOwner(%q) = %+v, %v; want %+v", self.String(), back, err, self)
	}
	for _, bad := range []string{"", "x", "12", "-5", "zz-", "0-1"} {
		if _, err := topology.ParseOwner(bad); err == nil {
			t.Errorf("ParseOwner(%q) accepted", bad)
		}
	}
}
