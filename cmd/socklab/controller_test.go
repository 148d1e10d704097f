package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRemoteController: a lab run through a separately started `socklab controller` prints
// what the same run prints locally, with the same exit codes; the controller's history is
// readable remotely.
func TestRemoteController(t *testing.T) {
	addr, _ := startServer(t, "controller", "--listen", testNet()+"8:0", "--token", "CT", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	remote, errOut, code := socklab(t, "run", "tcp-simple", "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 {
		t.Fatalf("remote run: exit %d\n%s%s", code, remote, errOut)
	}
	local, _, _ := socklab(t, "run", "tcp-simple", "--color", "never", "--db", "none")
	if normalize(remote) != normalize(local) {
		t.Errorf("the remote run's output differs from the local one's (-local +remote):\n%s", lineDiff(normalize(local), normalize(remote)))
	}
	for _, tc := range []struct {
		lab  string
		code int
		want string
	}{
		{"../../controller/runner/testdata/failing-check.star", 1, "got b'hello', want b'hi'"},
		{"../../controller/lab/testdata/broken/unknown-host.star", 2, `unknown-host.star:4:11: t has no host or attribute "server"`},
		{"no-such-lab", 2, `no built-in lab "no-such-lab"`},
	} {
		out, errOut, code := socklab(t, "run", tc.lab, "--controller", addr, "--token", "CT", "--color", "never")
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("remote run %s: exit %d, want %d with %q\n%s%s", tc.lab, code, tc.code, tc.want, out, errOut)
		}
	}
	if _, _, code := socklab(t, "run", "tcp-simple", "--controller", addr, "--token", "wrong"); code != 3 {
		t.Errorf("wrong token: exit %d, want 3", code)
	}
	list, _, code := socklab(t, "runs", "--controller", addr, "--token", "CT")
	m := regexp.MustCompile(`(?m)^(run-[0-9a-f]{16})\s+tcp-simple\s`).FindStringSubmatch(list)
	if code != 0 || m == nil || !strings.Contains(list, "failing-check") {
		t.Fatalf("runs --controller (exit %d):\n%s", code, list)
	}
	again, errOut, code := socklab(t, "transcript", m[1], "--controller", addr, "--token", "CT", "--color", "never")
	if code != 0 || !strings.Contains(again, "send(b'hello')  -> 5") || !strings.Contains(again, "3/3 checks passed") {
		t.Errorf("transcript --controller (exit %d):\n%s%s", code, again, errOut)
	}
}
