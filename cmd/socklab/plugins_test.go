package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// buildPlugins builds the example lab plugins and the crashing one into a folder of
// their own, as a user installs them, and returns it.
func buildPlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../../labs/plugins/http-server", "./testdata/crash-plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, "crash-plugin"), filepath.Join(dir, "crash")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPluginExitCodes runs lab plugins from the command line: a passing and a failing
// submission, a plugin that crashes (3), a program that is no plugin (2), and a plugin
// path sent to a controller (2).
func TestPluginExitCodes(t *testing.T) {
	execsBinary(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 for the submissions")
	}
	dir := buildPlugins(t)
	http := filepath.Join(dir, "http-server")
	runExitCases(t, []exitCase{
		{name: "good", args: []string{"run", http, "--files", "../../labs/plugins/http-server/testdata/good", "--db", "none"}, code: exitOK, want: "9/9 points"},
		{name: "bad", args: []string{"run", http, "--files", "../../labs/plugins/http-server/testdata/bad", "--db", "none"}, code: exitFailed, want: "hint: answer HTTP/1.0 404 Not Found"},
		{name: "crash", args: []string{"run", filepath.Join(dir, "crash"), "--db", "none"}, code: exitInfra, want: "the lab plugin exited during its run (exit 2): panic: boom"},
		{name: "not a plugin", args: []string{"run", "/bin/true", "--db", "none"}, code: exitUsage, want: "not a socklab lab plugin"},
		{name: "remote path", args: []string{"run", http, "--controller", "127.0.0.1:1"}, code: exitUsage, want: "a controller runs the plugins installed in its own plugins folder, by name"},
		{name: "installed", args: []string{"run", "--plugin-dir", dir, "http-server", "--files", "../../labs/plugins/http-server/testdata/good", "--db", "none", "--param", "port=18091"}, code: exitOK, want: "passed"},
		{name: "list", args: []string{"labs", "list", "--plugin-dir", dir}, code: exitOK, want: "lab plugins installed in " + dir},
		{name: "show", args: []string{"labs", "show", "--plugin-dir", dir, "http-server"}, code: exitOK, want: "serves-files    3 pt"},
		{name: "pin", env: []string{"XDG_DATA_HOME=" + pinned(t, dir)}, args: []string{"run", "http-server", "--db", "none"}, code: exitUsage, want: "but its pin says"},
	})
}

// pinned installs the crash plugin as http-server, pinned to another checksum, in a
// data folder of its own, and returns that folder.
func pinned(t *testing.T, dir string) string {
	data := t.TempDir()
	plugins := filepath.Join(data, "socklab", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "crash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "http-server"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "http-server.sha256"), []byte("0000000000000000000000000000000000000000000000000000000000000000  http-server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}
