package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gradeLab is a lab as a newcomer writes it from labs/API.md: it spawns the submission's
// server.py on one host, waits for it to listen, probes it from another host and checks
// its reply and its output.
const gradeLab = `lab(
    name = "grade-echo",
    summary = "A student's upper-casing echo server",
    hosts = ["server", "client"],
    checks = {"reply": "answers upper-cased", "prints": "says what it got"},
)

def main(t):
    p = t.server.spawn(["python3", "server.py", "9090"], files = t.files("server.py"), limits = {"wall": 20})
    p.wait_listening(9090, timeout = 10)
    c = t.client.socket(AF_INET, SOCK_STREAM)
    c.connect((t.server.ip, 9090))
    c.sendall(b"hello")
    t.check("reply", c.recv(1024, MSG_WAITALL) == b"HELLO")
    c.close()
    p.wait_output(b"got", timeout = 5)
    t.check("prints", b"got b'hello'" in p.stdout(), got = p.stdout())
    p.signal("SIGTERM")
    p.wait(timeout = 5)
`

// submission is a student's server: it binds its host's address, as SOCKLAB_HOST_IP
// says, and answers one client.
const submission = `import os, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((os.environ["SOCKLAB_HOST_IP"], int(sys.argv[1])))
srv.listen(1)
conn, _ = srv.accept()
data = conn.recv(1024)
print("got", data)
conn.sendall(data.upper())
conn.close()
`

// TestFilesFromSubmission: socklab run LAB --files DIR gives the lab the submission's
// files; the same lab fails, naming the check, on a submission that answers wrongly, and
// stops naming the file when the submission lacks it.
func TestFilesFromSubmission(t *testing.T) {
	execsBinary(t)
	dir := t.TempDir()
	lab := filepath.Join(dir, "labs", "grade.star")
	good, bad, empty := filepath.Join(dir, "alice"), filepath.Join(dir, "bob"), filepath.Join(dir, "carol")
	for path, body := range map[string]string{
		lab:                               gradeLab,
		filepath.Join(good, "server.py"):  submission,
		filepath.Join(bad, "server.py"):   strings.Replace(submission, "data.upper()", "data", 1),
		filepath.Join(empty, "notes.txt"): "no server here\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := socklab(t, "run", lab, "--files", good, "--color", "never")
	if code != 0 || !strings.Contains(out, "passed") || !strings.Contains(out, "stdout: b\"got b'hello'\\n\"") {
		t.Errorf("alice's submission: exit %d, want 0 with her program's output\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", lab, "--files", bad, "--color", "never")
	if code != 1 || !strings.Contains(out, "reply   0/1     FAIL") {
		t.Errorf("bob's submission: exit %d, want 1 failing reply\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", lab, "--files", empty, "--color", "never")
	if code != 2 || !strings.Contains(out+errOut, "server.py") {
		t.Errorf("carol's submission, without server.py: exit %d, want 2 naming the file\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestGradeCommand: socklab grade's exit codes as a student and a TA meet them: one
// student's passing folder exits 0 and a failing one 1, printing the failed check with
// its hint; a folder of submissions exits 0 whatever the scores and writes the grades,
// 3 when a submission could not be graded, and 2 when there is nothing to grade.
func TestGradeCommand(t *testing.T) {
	execsBinary(t)
	subs := filepath.Join("..", "..", "labs", "testdata", "submissions", "tcp-upper-server")
	out, errOut, code := socklab(t, "grade", "tcp-upper-server", "--submission", filepath.Join(subs, "threaded"))
	if code != 0 || !strings.Contains(out, "threaded: 7/7") {
		t.Errorf("a passing submission: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "grade", "tcp-upper-server", "--submission", filepath.Join(subs, "sequential"))
	if code != 1 || !strings.Contains(out, "FAIL  concurrent-clients") || !strings.Contains(out, "hint: ") {
		t.Errorf("a failing submission: exit %d, want 1 with the failed check and a hint\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	for _, name := range []string{"threaded", "sequential"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(subs, name, "server.py"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "server.py"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	grades := filepath.Join(t.TempDir(), "grades")
	out, errOut, code = socklab(t, "grade", "tcp-upper-server", "--submissions", dir, "--out", grades)
	if code != 0 || !strings.Contains(out, "2 submissions graded") || !strings.Contains(errOut, "[2/2]") {
		t.Errorf("a folder of submissions: exit %d, want 0\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"grades.json", "grades.csv", "junit.xml", "transcripts/sequential.txt"} {
		if _, err := os.Stat(filepath.Join(grades, f)); err != nil {
			t.Errorf("--out lacks %s: %v", f, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.zip"), []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code = socklab(t, "grade", "tcp-upper-server", "--submissions", dir, "--only", "broken"); code != 3 || !strings.Contains(out, "broken") {
		t.Errorf("a submission that cannot be graded: exit %d, want 3\n%s%s", code, out, errOut)
	}
	if _, errOut, code = socklab(t, "grade", "tcp-upper-server", "--submissions", t.TempDir()); code != 2 || !strings.Contains(errOut, "no submissions") {
		t.Errorf("nothing to grade: exit %d, want 2\n%s", code, errOut)
	}
}
