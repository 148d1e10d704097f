package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLadderView: `socklab run LAB --view ladder` draws the run as a ladder as it goes,
// and `socklab transcript RUN --view ladder` draws the stored run the same; --view asks
// for text.
func TestLadderView(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	live, errOut, code := socklab(t, "run", "chat-relay", "--view", "ladder", "--db", db)
	m := announcedRe.FindStringSubmatch(errOut)
	if code != 0 || m == nil {
		t.Fatalf("run chat-relay --view ladder: exit %d, want 0 and the run's id on stderr\n%s%s", code, live, errOut)
	}
	for _, want := range []string{"server", "alice", "bob", "┬", "c1 connect", "b'hi bob!\\n' 8B", "c1 FIN: b''", "PASS", "passed"} {
		if !strings.Contains(live, want) {
			t.Errorf("the live ladder lacks %q:\n%s", want, live)
		}
	}
	again, _, code := socklab(t, "transcript", m[1], "--view", "ladder", "--db", db)
	if code != 0 || again != live {
		t.Errorf("transcript %s --view ladder: exit %d, and it differs from the live ladder (-live +transcript):\n%s", m[1], code, lineDiff(live, again))
	}
	// A controller streams the run as it arrives; the ladder draws it in order all the same.
	addr, _ := startServer(t, "controller", "--listen", testNet()+"37:0", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	remote, errOut, code := socklab(t, "run", "chat-relay", "--view", "ladder", "--controller", addr)
	if code != 0 {
		t.Fatalf("run chat-relay --view ladder --controller: exit %d\n%s%s", code, remote, errOut)
	}
	for _, want := range []string{"c1 connect", "c2 connect", "b'hi bob!\\n' 8B", "b'hello alice\\n' 12B", "c1 FIN: b''", "passed"} {
		if !strings.Contains(remote, want) {
			t.Errorf("the remote run's ladder lacks %q:\n%s", want, remote)
		}
	}
	for _, args := range [][]string{
		{"run", "chat-relay", "--view", "ladder", "--format", "jsonl", "--db", "none"},
		{"run", "chat-relay", "--view", "sideways", "--db", "none"},
		{"transcript", m[1], "--view", "sideways", "--db", db},
	} {
		if out, errOut, code := socklab(t, args...); code != exitUsage || !strings.Contains(errOut, "--view") {
			t.Errorf("socklab %s: exit %d, want %d and a word on --view\n%s%s", strings.Join(args, " "), code, exitUsage, out, errOut)
		}
	}
}

// onTerminal runs socklab with its stdout on a pseudo-terminal 100 columns wide and env
// added, and returns what the terminal got.
func onTerminal(t *testing.T, env []string, args ...string) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("name the pseudo-terminal: %v", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 100}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR="), env...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it: its end ends the reads below
	got := make(chan string)
	go func() { // ends when the child's side closes (EIO)
		var b bytes.Buffer
		_, _ = io.Copy(&b, master)
		got <- b.String()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("socklab %s did not end within a minute", strings.Join(args, " "))
	}
	return <-got
}

// TestTerminal: on a terminal the transcript is coloured, except with TERM=dumb; a call
// that waits shows as waiting, and the waiting line is erased when it returns.
func TestTerminal(t *testing.T) {
	execsBinary(t)
	// concurrent-server: bob's recv waits 0.3 s for an answer that does not come.
	out := onTerminal(t, []string{"TERM=xterm"}, "run", "concurrent-server", "--db", "none")
	if !strings.Contains(out, "\x1b[") {
		t.Errorf("a transcript on a terminal is not coloured:\n%q", out)
	}
	if !strings.Contains(out, "recv(1024)  ...waiting") || !strings.Contains(out, "\x1b[1F\x1b[J") {
		t.Errorf("no recv shown waiting, then erased:\n%q", out)
	}
	if !strings.Contains(out, "recv(1024)\x1b[31m  !! timeout: timed out") {
		t.Errorf("the waiting recv does not end in its timeout:\n%q", out)
	}

	dumb := onTerminal(t, []string{"TERM=dumb"}, "run", "chat-relay", "--db", "none", "--view", "ladder")
	if strings.Contains(dumb, "\x1b") {
		t.Errorf("TERM=dumb: the ladder holds an escape code:\n%q", dumb)
	}
	for _, r := range dumb {
		if r > 127 {
			t.Fatalf("TERM=dumb: the ladder holds %q, not ASCII:\n%s", r, dumb)
		}
	}
	if !strings.Contains(dumb, "c1 connect") {
		t.Errorf("TERM=dumb: no ladder:\n%s", dumb)
	}
}
