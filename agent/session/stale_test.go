package session

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/socklab/socklab/agent/kernel"
)

// deadOwner starts a process, reads it as an owner, and lets it end: an owner that
// provably no longer runs.
func deadOwner(t *testing.T) owner {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process to outlive: %v", err)
	}
	start, err := kernel.ProcessStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := pidNamespace("self")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return owner{pid: cmd.Process.Pid, start: start, pidns: ns}
}

// TestRemoveStale: of the directories under a root, RemoveStale removes exactly the
// session directories of this user whose maker, in this pid namespace, has ended (or
// whose pid now belongs to a later process), and leaves everything else.
func TestRemoveStale(t *testing.T) {
	me, err := self()
	if err != nil {
		t.Skipf("this process cannot name itself: %v", err)
	}
	root := t.TempDir()
	dead := deadOwner(t)
	reused := owner{pid: me.pid, start: me.start + 1, pidns: me.pidns} // this pid, an earlier process
	elsewhere := owner{pid: dead.pid, start: dead.start, pidns: me.pidns + 1}
	mk := func(name string) string {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(p, "inside"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "inside", "server.sock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	live, err := makeDir(root)
	if err != nil {
		t.Fatal(err)
	}
	stale := []string{
		mk(dirPrefix + dead.String() + "-123456"),
		mk(dirPrefix + reused.String() + "-42"),
	}
	kept := []string{
		live,
		mk(dirPrefix + elsewhere.String() + "-7"),        // another pid namespace's
		mk("sl-0a1b2c3d-998877"),                         // the old naming, no owner
		mk(dirPrefix + dead.String() + "-notdigits"),     // not a name makeDir makes
		mk("other-" + dead.String() + "-1"),              // not a session directory
		mk(dirPrefix + dead.String() + "-5-extra-field"), // nor this
	}
	file := filepath.Join(root, dirPrefix+dead.String()+"-99") // a file, not a directory
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	target := mk("target")
	link := filepath.Join(root, dirPrefix+dead.String()+"-98") // a link to a directory
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, file, target, link)
	if os.Geteuid() == 0 {
		theirs := mk(dirPrefix + dead.String() + "-77") // another user's
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, theirs)
	}

	removed, err := RemoveStale(root)
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	slices.Sort(removed)
	slices.Sort(stale)
	if !slices.Equal(removed, stale) {
		t.Errorf("RemoveStale removed %v, want %v", removed, stale)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s remains: %v", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
