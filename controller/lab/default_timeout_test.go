package lab_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
)

// TestDefaultTimeoutPerRun: setdefaulttimeout is the run's: a second run of the same lab
// starts with None again, a socket made after it is given the timeout on the agent
// before the lab sees it, and the top level, which every run shares, cannot set it.
func TestDefaultTimeoutPerRun(t *testing.T) {
	src := header + `
def main(t):
    t.check("ok", getdefaulttimeout() == None, got = getdefaulttimeout())
    setdefaulttimeout(2)
    t.check("ok", getdefaulttimeout() == 2.0, got = getdefaulttimeout())
    t.server.socket()
`
	l, err := lab.Load(lab.FSSources{FS: fstest.MapFS{"labs/lab.star": {Data: []byte(src)}}}, "labs/lab.star")
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		env := &agentEnv{do: errorAgent}
		out := l.Run(t.Context(), env, []runner.HostInfo{{Role: "server", IP: "127.5.0.2"}}, nil)
		if out.Err != nil || !out.Passed() {
			t.Fatalf("run %d: Run() = error %v, checks %+v", run+1, errorText(out), out.Checks)
		}
		if len(env.sent) != 2 || env.sent[1].handle != 1 || env.sent[1].op.GetSettimeout().GetSeconds() != 2 {
			t.Errorf("run %d: the lab sent %v, want socket, then settimeout(2) on s1", run+1, env.sent)
		}
	}

	_, err = lab.Load(lab.FSSources{FS: fstest.MapFS{"labs/lab.star": {Data: []byte("setdefaulttimeout(1)\n" + src)}}}, "labs/lab.star")
	if want := "labs/lab.star:1:18: setdefaulttimeout: call it while the lab runs (in main), not at the top level"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load with setdefaulttimeout at the top level: %v, want %q", err, want)
	}
}
