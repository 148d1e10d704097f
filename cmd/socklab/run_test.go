package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/labs"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts under testdata/")

// socklab runs the built binary and returns its stdout, stderr and exit code.
func socklab(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "NO_COLOR=")
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("socklab %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

var (
	timeRe  = regexp.MustCompile(`(?m)^  \d+\.\d{6}`)
	hostRe  = regexp.MustCompile(`127\.\d+\.\d+\.(\d+)`)
	rowsRe  = regexp.MustCompile(`(?m)(-> \d+ row\(s\): )(.*)$`) // ss's answer
	netRe   = regexp.MustCompile(`\b10\.\d+\.\d+\.(\d+)`)        // a netns run's 10.R.S.0/24
	ephemRe = regexp.MustCompile(`\b(3[2-9]\d{3}|[4-6]\d{4})\b`)
)

// background matches the lines of a background server's traffic (socket.serve): it runs
// concurrently with the lab, so where its lines fall among the lab's own varies.
var background = regexp.MustCompile(`(?m)^.*serve \w+\)\n`)

// clearedRe matches the lines of faults the agents clear as a run ends: each host's
// come on its own stream, so the hosts' lines come in either order, which are sorted.
var clearedRe = regexp.MustCompile(`(?m)(?:^.*\(cleared by the agent: .*\n)+`)

// processLines match a program's output and exit lines: they come on the session's event
// stream, as the program writes, so where they fall among the lab's own lines varies too
// (the lab's own stdout() and wait() calls, which are stable, stay).
var processLines = regexp.MustCompile(`(?m)^.*  p\d+ +(?:stdout|stderr|exited):.*\n`)

var (
	pidRe = regexp.MustCompile(`\(pid \d+\)`)                    // a spawned program's pid
	cpuRe = regexp.MustCompile(`(cpu_seconds\(\)  -> )\d+\.\d+`) // CPU time used so far
)

// normalize makes a transcript stable: times, the run's loopback network and ephemeral
// ports vary from run to run, and so does the interleaving of background servers' lines.
// countersRe and faultCountsRe match a kernel counter's value and what a random fault did.
var (
	countersRe    = regexp.MustCompile(`(netstat\('[A-Za-z]+\.[A-Za-z]+'\)  -> )\d+`)
	faultCountsRe = regexp.MustCompile(`None \(\d+ packets[^)]*\)`)
	digitsRe      = regexp.MustCompile(`\d+`)
)

func normalize(s string) string {
	s = background.ReplaceAllString(s, "")
	s = processLines.ReplaceAllString(s, "")
	s = pidRe.ReplaceAllString(s, "(pid N)")
	s = cpuRe.ReplaceAllString(s, "${1}S")
	if strings.HasPrefix(s, "send-vs-sendall:") {
		// send-vs-sendall's non-blocking send writes only part of its b'xxx...' message and
		// sendall sends the rest: how many bytes that one send takes depends on the kernel's
		// buffer state at that instant, so both counts (and the previews, whose width follows
		// the counts' digits) vary from run to run and from kernel to kernel.
		partialSend := regexp.MustCompile(`(  (?:send|sendall)\()b'x+'\.\.\. \(\d+ bytes\)\)  -> (\d+|None)`)
		s = partialSend.ReplaceAllStringFunc(s, func(m string) string {
			sub := partialSend.FindStringSubmatch(m)
			if sub[2] != "None" {
				sub[2] = "N"
			}
			return sub[1] + "b'x...' (N bytes))  -> " + sub[2]
		})
	}
	// How many packets a faulty link saw and touched, and how many segments TCP sent
	// again, follow TCP's timers (its retransmissions, its delayed ACKs): they vary from
	// run to run, while the checks hold on every run.
	s = countersRe.ReplaceAllString(s, "${1}N")
	s = faultCountsRe.ReplaceAllStringFunc(s, func(m string) string { return digitsRe.ReplaceAllString(m, "N") })
	s = timeRe.ReplaceAllString(s, "  T.TTTTTT")
	s = clearedRe.ReplaceAllStringFunc(s, func(m string) string {
		lines := strings.SplitAfter(m, "\n")
		slices.Sort(lines)
		return strings.Join(lines, "")
	})
	s = hostRe.ReplaceAllString(s, "127.R.S.$1")
	s = netRe.ReplaceAllString(s, "10.R.S.$1")
	s = ephemRe.ReplaceAllStringFunc(s, func(p string) string {
		if n, _ := strconv.Atoi(p); n >= 32768 && n <= 60999 {
			return "EPHEM"
		}
		return p
	})
	// The kernel lists its sockets in its hash table's order, which varies with their
	// ports: the rows of one answer, once normalized, are sorted.
	s = rowsRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := rowsRe.FindStringSubmatch(m)
		rows := strings.Split(sub[2], ", ")
		slices.Sort(rows)
		return sub[1] + strings.Join(rows, ", ")
	})
	return s
}

// TestGoldenTranscripts runs every built-in lab as a user would and compares what it
// prints with testdata/NAME.golden (go test ./cmd/socklab -update rewrites them). A lab
// that needs hosts apart runs on network namespaces, which need root; without root it
// must refuse the local topology, naming the ones it needs.
func TestGoldenTranscripts(t *testing.T) {
	execsBinary(t)
	for _, name := range labs.Names() {
		t.Run(name, func(t *testing.T) {
			l, err := labs.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"run", name, "--color", "never"}
			if len(l.Topologies) > 0 && !slices.Contains(l.Topologies, "local") {
				if os.Geteuid() != 0 {
					_, errOut, code := socklab(t, args...)
					if code != 2 || !strings.Contains(errOut, "run it with --topology netns") {
						t.Errorf("socklab run %s on the local topology: exit %d, %q; want 2 naming --topology netns", name, code, errOut)
					}
					t.Skip("this lab needs network namespaces, which need root (CI runs as root)")
				}
				args = append(args, "--topology", "netns")
			}
			out, errOut, code := socklab(t, args...)
			if code != 0 {
				t.Fatalf("socklab run %s: exit %d\n%s%s", name, code, out, errOut)
			}
			got := normalize(out)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("socklab run %s differs from %s (-want +got):\n%s", name, golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the lines that differ, in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("-" + wl + "\n+" + gl + "\n")
		}
	}
	return b.String()
}

// TestDemo: the README's first command exits 0 with a transcript over at least three
// distinct host addresses.
func TestDemo(t *testing.T) {
	execsBinary(t)
	out, errOut, code := socklab(t, "demo")
	if code != 0 {
		t.Fatalf("socklab demo: exit %d\n%s%s", code, out, errOut)
	}
	addrs := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  \d+\.\d{6}  \S+\s+(127\.\d+\.\d+\.\d+)`).FindAllStringSubmatch(out, -1) {
		addrs[m[1]] = true
	}
	if len(addrs) < 3 {
		t.Errorf("the demo's transcript shows %d host addresses (%v), want at least 3\n%s", len(addrs), addrs, out)
	}
	if !strings.Contains(out, "passed") {
		t.Errorf("the demo does not say it passed:\n%s", out)
	}
}

// TestRunExitCodes: a failing check exits 1 naming the check with got/want; a broken lab
// exits 2 with file:line:col before anything runs; bad usage exits 2.
func TestRunExitCodes(t *testing.T) {
	execsBinary(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"failing check", []string{"run", "../../controller/runner/testdata/failing-check.star"}, 1,
			[]string{"greeting", "FAIL", "failing-check.star:10:12: got b'hello',", "failed"}, nil},
		{"socket error", []string{"run", "../../controller/runner/testdata/socket-error.star"}, 1,
			[]string{"!! ECONNREFUSED [Errno 111] Connection refused", "not reached"}, nil},
		{"broken lab", []string{"run", "../../controller/lab/testdata/broken/unknown-host.star"}, 2,
			nil, []string{`../../controller/lab/testdata/broken/unknown-host.star:4:11: t has no host or attribute "server"`}},
		{"syntax error", []string{"run", "../../controller/lab/testdata/broken/syntax.star"}, 2,
			nil, []string{"syntax.star:3:1: got newline, want ':'"}},
		{"no such lab", []string{"run", "no-such-lab"}, 2, nil, []string{`no built-in lab "no-such-lab"`}},
		{"bad param", []string{"run", "tcp-simple", "--param", "port=http"}, 2, nil, []string{"--param port=http: want an int"}},
		{"unknown param", []string{"run", "tcp-simple", "--param", "prot=1"}, 2, nil, []string{"--param prot: the lab has no such parameter"}},
		{"param applies", []string{"run", "tcp-simple", "--param", "message=hey", "--color", "never"}, 0, []string{"send(b'hey')", "b'HEY'"}, nil},
		{"labs check broken", []string{"labs", "check", "../../controller/lab/testdata/broken/no-main.star"}, 2, nil, []string{"no-main.star: the lab has no main function"}},
		{"labs check ok", []string{"labs", "check", "tcp-simple"}, 0, []string{"tcp-simple: ok"}, nil},
		{"labs check method typo", []string{"labs", "check", "../../controller/lab/testdata/broken/method-typo.star"}, 2,
			nil, []string{`broken/method-typo.star:10:22: srv is a socket, which has no attribute "recvfom" (did you mean recvfrom?)`}},
		{"labs check str payload", []string{"labs", "check", "../../controller/lab/testdata/broken/str-payload.star"}, 2,
			nil, []string{`broken/str-payload.star:9:16: sendto: TypeError: a bytes-like object is required, not 'str' (did you mean b"ping"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := socklab(t, tc.args...)
			if code != tc.code {
				t.Errorf("socklab %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
}

// TestLabsListAndShow: the catalogue lists every built-in lab with its summary, and show
// prints hosts, params with defaults and checks.
func TestLabsListAndShow(t *testing.T) {
	execsBinary(t)
	out, _, code := socklab(t, "labs", "list")
	if code != 0 {
		t.Fatalf("labs list: exit %d", code)
	}
	for _, name := range labs.Names() {
		if !strings.Contains(out, name) {
			t.Errorf("labs list lacks %s:\n%s", name, out)
		}
	}
	out, _, code = socklab(t, "labs", "show", "tcp-simple")
	for _, want := range []string{"tcp-simple: One TCP message", "hosts: server, client", "port", "int", "default 8080", "server-receives", "1 pt"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("labs show tcp-simple lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

// TestInterrupt: Ctrl-C during a run exits 130 promptly.
func TestInterrupt(t *testing.T) {
	execsBinary(t)
	cmd := exec.Command(binary, "run", "../../controller/runner/testdata/blocks.star", "--color", "never")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	accepted := make(chan struct{})
	go func() {
		for sc.Scan() {
			if strings.Contains(sc.Text(), "accept()") {
				close(accepted)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the lab never reached accept()")
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).ExitStatus() != 130 {
			t.Errorf("exit after Ctrl-C: %v, want status 130", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("socklab run did not stop within 10s of Ctrl-C")
	}
}
