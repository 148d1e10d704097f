package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/web"
)

// TestRunWeb: `socklab run chat-relay --web 127.0.0.1:0` says on stderr where its page
// is; the page's event stream draws the whole run (its hosts, every step, chat-relay's
// 8 arrows, its end); after the run the page is still served until Ctrl-C, which ends
// the command with the run's own exit code. An address off loopback is refused, and
// so is --web with --controller.
func TestRunWeb(t *testing.T) {
	execsBinary(t)
	run := exec.Command(binary, "run", "chat-relay", "--web", "127.0.0.1:0", "--pace", "10ms", "--db", "none", "--color", "never")
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stdout = io.Discard
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("socklab exited before printing %s", re)
				}
				if m := re.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("socklab did not print %s within 20s", re)
			}
		}
	}
	url := next(regexp.MustCompile(`the run's live ladder: (http://127\.0\.0\.1:\d+/)$`))[1]

	resp, err := http.Get(url + "events")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	verdict := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var r htmlreport.Record
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			t.Fatalf("a record is no JSON: %q: %v", data, err)
		}
		switch {
		case r.Header != nil:
			kinds["run"]++
			if len(r.Header.Hosts) != 3 {
				t.Errorf("the header record has hosts %+v, want chat-relay's 3", r.Header.Hosts)
			}
		case r.Step != nil:
			kinds["step"]++
		case r.Arrow != nil:
			kinds["arrow"]++
		case r.End != nil:
			kinds["end"]++
			verdict = r.End.Verdict
		}
	}
	resp.Body.Close()
	if kinds["run"] != 1 || kinds["step"] < 20 || kinds["arrow"] != 8 || kinds["end"] != 1 || verdict != "passed" {
		t.Errorf("the page's stream drew %v, verdict %q; want the run, its steps, chat-relay's 8 arrows and its end, passed", kinds, verdict)
	}

	next(regexp.MustCompile(`its page stays at .* until Ctrl-C, at most 10m0s`))
	page, err := http.Get(url)
	if err != nil {
		t.Fatalf("after the run, the page is not served: %v", err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), `src="/static/live.js"`) {
		t.Errorf("after the run, GET / = %d:\n%s", page.StatusCode, body)
	}
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(run); code != 0 {
		t.Errorf("exit %d after Ctrl-C once the run had passed, want 0 (the run's)", code)
	}

	runExitCases(t, []exitCase{
		{name: "not loopback", args: []string{"run", "tcp-simple", "--web", "0.0.0.0:0", "--db", "none"}, code: 2, want: "not a loopback address"},
		{name: "with a controller", args: []string{"run", "tcp-simple", "--web", "127.0.0.1:0", "--controller", "127.0.0.1:1"}, code: 2, want: "--web serves a local run"},
	})
}

// TestControllerWeb: `socklab controller --web ADDR` serves the run pages beside the API
// and stops with it on Ctrl-C; without a token it refuses an address off loopback.
func TestControllerWeb(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "ctl.db")
	ctl := exec.Command(binary, "controller", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--db", db)
	stderr, err := ctl.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Process.Kill(); ctl.Wait() })
	re := regexp.MustCompile(`msg="run pages serving" web=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("the controller did not log where its run pages are within 20s")
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<table id="runs">`) {
		t.Errorf("GET %s = %d:\n%s", url, resp.StatusCode, body)
	}
	if err := ctl.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(ctl); code != 0 {
		t.Errorf("the controller's exit after Ctrl-C = %d, want 0", code)
	}
	runExitCases(t, []exitCase{{name: "not loopback without a token", code: 2, want: "not a loopback address",
		args: []string{"controller", "--listen", "127.0.0.1:0", "--web", "0.0.0.0:0", "--db", filepath.Join(t.TempDir(), "c.db")}}})
}

// TestRunWebStep: with --web, --step starts the run paused: Enter on the terminal takes
// one step, as the page's step button does, and the page's resume lets it end.
func TestRunWebStep(t *testing.T) {
	execsBinary(t)
	run := exec.Command(binary, "run", "tcp-simple", "--web", "127.0.0.1:0", "--step", "--web-linger", "0", "--db", "none")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`the run's live ladder: (http://127\.0\.0\.1:\d+/)$`)
	url := ""
	for url == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	go func() { // keep the pipe flowing
		for sc.Scan() {
		}
	}()
	if url == "" {
		t.Fatal("socklab did not print its page's URL")
	}
	resp, err := http.Get(url + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	states := make(chan web.ControlState, 64)
	go func() {
		defer close(states)
		ev := bufio.NewScanner(resp.Body)
		control := false
		for ev.Scan() {
			line := ev.Text()
			if line == "event: control" {
				control = true
				continue
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok && control {
				var st web.ControlState
				if json.Unmarshal([]byte(data), &st) == nil {
					states <- st
				}
			}
			if line == "" {
				control = false
			}
		}
	}()
	waitState := func(what string, ok func(web.ControlState) bool) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case st, open := <-states:
				if !open {
					t.Fatalf("the page's stream ended before %s", what)
				}
				if ok(st) {
					return
				}
			case <-timeout:
				t.Fatalf("the page did not show %s within 20s", what)
			}
		}
	}
	waitState("the run paused after its first step", func(st web.ControlState) bool { return st.Paused && st.Waiting && st.Steps == 1 })
	if _, err := io.WriteString(stdin, "\n"); err != nil {
		t.Fatal(err)
	}
	waitState("one step taken on Enter", func(st web.ControlState) bool { return st.Paused && st.Waiting && st.Steps == 2 })
	req, _ := http.NewRequest(http.MethodPost, url+"control", strings.NewReader(`{"action": "resume"}`))
	req.Header.Set("Content-Type", "application/json")
	cr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cr.Body.Close()
	if cr.StatusCode != http.StatusOK {
		t.Fatalf("resume: %s", cr.Status)
	}
	if code := waitExit(run); code != 0 {
		t.Errorf("exit %d after resume, want 0", code)
	}
}
