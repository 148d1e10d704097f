package agenttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the unprivileged user AsNobody runs tests as.
const Nobody = 65534

// UnprivilegedEnv is set in the environment of a test binary AsNobody started.
const UnprivilegedEnv = "SOCKLAB_TEST_UNPRIVILEGED"

// AsNobody runs the tests of this test binary that match pattern again as the
// unprivileged user nobody, from a copy of the binary nobody can read, in a temporary
// directory of nobody's, and returns what they printed (-test.v); the test fails when they
// do. The caller must be root. env is added to the run's environment.
func AsNobody(t *testing.T, pattern string, env ...string) []byte {
	t.Helper()
	return Rerun(t, pattern, true, env...)
}

// Rerun runs the tests of this test binary that match pattern again in a process of their
// own (as nobody, when asNobody), with env added to a clean environment, and returns
// what they printed (-test.v); the test fails when they do.
func Rerun(t *testing.T, pattern string, asNobody bool, env ...string) []byte {
	t.Helper()
	dir, err := os.MkdirTemp("", "socklab-rerun-") // t.TempDir's parent is closed to others
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run", pattern, "-test.v")
	cmd.Env = append([]string{"TMPDIR=" + tmp, "HOME=" + tmp, "PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = tmp
	who := "this user"
	if asNobody {
		if err := os.Chown(tmp, Nobody, Nobody); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, UnprivilegedEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
		who = "nobody"
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests %s, run again as %s with %v, failed: %v\n%s", pattern, who, env, err, out)
	}
	return out
}
