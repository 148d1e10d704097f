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
// do. The caller must be root.
func AsNobody(t *testing.T, pattern string) []byte {
	t.Helper()
	dir, err := os.MkdirTemp("", "socklab-nobody-") // t.TempDir's parent is closed to others
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
	if err := os.Chown(tmp, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run", pattern, "-test.v")
	cmd.Env = []string{UnprivilegedEnv + "=1", "TMPDIR=" + tmp, "HOME=" + tmp, "PATH=/usr/bin:/bin"}
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests %s as uid %d failed: %v\n%s", pattern, Nobody, err, out)
	}
	return out
}
