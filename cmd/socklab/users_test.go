package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestControllerUsers: users made with `socklab users add` call a controller started with
// --users: a student runs a published lab but not another, and lists only their runs; the
// instructor lists everyone's, each with who started it; --token stays an admin.
func TestControllerUsers(t *testing.T) {
	execsBinary(t)
	dir := t.TempDir()
	tokens := map[string]string{}
	file := "labs:\n  - tcp-simple\nusers:\n"
	for _, u := range []struct{ name, role string }{{"ines", "instructor"}, {"alice", "student"}} {
		out, errOut, code := socklab(t, "users", "add", u.name, "--role", u.role)
		lines := strings.SplitN(out, "\n", 4)
		if code != 0 || len(lines) < 4 || !strings.HasPrefix(lines[1], "socklab_") {
			t.Fatalf("users add %s: exit %d\n%s%s", u.name, code, out, errOut)
		}
		tokens[u.name] = lines[1]
		file += lines[3]
	}
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startServer(t, "controller", "--listen", testNet()+"20:0", "--users", users, "--token", "CT", "--db", filepath.Join(dir, "ctl.db"))

	as := func(user string, args ...string) (string, string, int) {
		return socklab(t, append(args, "--controller", addr, "--token", tokens[user])...)
	}
	if out, errOut, code := as("alice", "run", "tcp-simple", "--color", "never"); code != 0 {
		t.Errorf("alice's run of a published lab: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := as("alice", "run", "udp-echo"); code != 2 || !strings.Contains(errOut, `lab "udp-echo" is not published: a student runs only the labs an instructor published: socklab run NAME --controller ADDR, NAME one of tcp-simple`) {
		t.Errorf("alice's run of an unpublished lab: exit %d, want 2 and the refusal\n%s%s", code, out, errOut)
	}
	if out, errOut, code := as("ines", "run", "udp-echo", "--color", "never"); code != 0 {
		t.Errorf("the instructor's run: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := as("alice", "runs"); code != 0 || strings.Count(out, "run-") != 1 || !regexp.MustCompile(`(?m)^run-\S+\s+tcp-simple\s.*\salice$`).MatchString(out) {
		t.Errorf("alice's runs: exit %d, want only her own\n%s%s", code, out, errOut)
	}
	out, errOut, code := as("ines", "runs")
	if code != 0 || !regexp.MustCompile(`(?m)^RUN\s+LAB\s+STARTED\s+VERDICT\s+SCORE\s+USER$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)\salice$`).MatchString(out) || !regexp.MustCompile(`(?m)\sines$`).MatchString(out) {
		t.Errorf("the instructor's runs: exit %d, want both, each with its user\n%s%s", code, out, errOut)
	}
	tokens["admin"] = "CT"
	if out, errOut, code := as("admin", "runs"); code != 0 || strings.Count(out, "run-") != 2 {
		t.Errorf("--token's runs: exit %d, want every run\n%s%s", code, out, errOut)
	}
}
