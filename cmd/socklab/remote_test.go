package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ownLab writes a lab that loads its own edited lib/net.star (the built-in one and a
// function more, which itself loads lib/extra.star), and returns its path.
func ownLab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	net, err := os.ReadFile("../../labs/lib/net.star")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"own-lib.star": `"""A lab that loads its own edited lib/net.star."""

load("lib/net.star", "listener", "connect", "edited")

lab(
    name = "own-lib",
    summary = "A lab whose helpers are its own",
    hosts = ["server", "client"],
    params = {"port": 8080},
    checks = {"edited": "the lab's own lib/net.star is the one loaded"},
)

def main(t):
    srv = listener(t.server, t.params.port)
    cli = connect(t.client, t.server, t.params.port)
    conn, addr = srv.accept()
    cli.send(b"hi")
    conn.recv(2)
    t.say(edited())
    t.check("edited", edited() == "the edited lib/net.star", got = edited())
    cli.close()
    conn.close()
    srv.close()
`,
		"lib/net.star":   `load("extra.star", _note = "note")` + "\n" + string(net) + "\ndef edited():\n    return _note\n",
		"lib/extra.star": `note = "the edited lib/net.star"` + "\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "own-lib.star")
}

// outNorm normalises what must differ between two runs' --out files: run ids, hosts'
// addresses, times, session ids and ephemeral ports (normalize does the last two).
var outNorm = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`run-[0-9a-f]{16}`), "run-ID"},
	{regexp.MustCompile(`"(atNs|startNs|durationNs)":"\d+"`), `"$1":"N"`},
	{regexp.MustCompile(`"sessionId":"[^"]*"`), `"sessionId":"S"`},
	{regexp.MustCompile(`"(started|finished)":\s*"[^"]*"`), `"$1":"T"`},
	{regexp.MustCompile(`"host":"[^"]*"`), `"host":"H"`},
}

func normalizeOut(s string) string {
	for _, n := range outNorm {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return normalize(s)
}

// TestRemoteRunLikeLocal: a lab run on a controller travels with every file it loads (its
// own edited lib/net.star, and the file that one loads), --out writes the same three
// files a local run writes, --pace paces the controller's run, and --step, which needs
// this terminal, is refused.
func TestRemoteRunLikeLocal(t *testing.T) {
	execsBinary(t)
	addr, _ := startServer(t, "controller", "--listen", testNet()+"31:0", "--db", filepath.Join(t.TempDir(), "ctl.db"))
	labFile := ownLab(t)
	local, remote := t.TempDir(), t.TempDir()
	out, errOut, code := socklab(t, "run", labFile, "--color", "never", "--db", "none", "--out", local)
	if code != 0 {
		t.Fatalf("local run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = socklab(t, "run", labFile, "--color", "never", "--controller", addr, "--out", remote)
	if code != 0 || !strings.Contains(out, "» the edited lib/net.star") {
		t.Fatalf("remote run: exit %d, want 0 with the lab's own lib/net.star\n%s%s", code, out, errOut)
	}
	for _, name := range []string{"transcript.txt", "transcript.jsonl", "result.json"} {
		l, errL := os.ReadFile(filepath.Join(local, name))
		r, errR := os.ReadFile(filepath.Join(remote, name))
		if errL != nil || errR != nil {
			t.Errorf("%s: local %v, remote %v", name, errL, errR)
			continue
		}
		// A local run names positions by the path the lab was given by, a remote one
		// relative to the lab's folder: the same when run from that folder.
		l = []byte(strings.ReplaceAll(string(l), filepath.Dir(labFile)+"/", ""))
		if nl, nr := normalizeOut(string(l)), normalizeOut(string(r)); nl != nr {
			t.Errorf("the remote run's %s differs from the local run's (-local +remote):\n%s", name, lineDiff(nl, nr))
		}
	}
	var res struct {
		Verdict string `json:"verdict"`
	}
	if data, err := os.ReadFile(filepath.Join(remote, "result.json")); err != nil || json.Unmarshal(data, &res) != nil || res.Verdict != "passed" {
		t.Errorf("the remote result.json: %v, verdict %q, want passed", err, res.Verdict)
	}

	start := time.Now()
	if out, errOut, code := socklab(t, "run", labFile, "--color", "never", "--controller", addr, "--pace", "200ms"); code != 0 {
		t.Errorf("remote run --pace: exit %d\n%s%s", code, out, errOut)
	}
	if d := time.Since(start); d < 8*200*time.Millisecond {
		t.Errorf("remote run --pace 200ms of 8 steps or more took %v: the controller did not pace it", d)
	}
	if out, errOut, code := socklab(t, "run", labFile, "--controller", addr, "--pace", "1h"); code != 2 || !strings.Contains(errOut, "pace") {
		t.Errorf("remote run --pace 1h: exit %d, want 2 saying the pace's bound\n%s%s", code, out, errOut)
	}
	if out, errOut, code := socklab(t, "run", labFile, "--controller", addr, "--step"); code != 2 || !strings.Contains(errOut, "--step needs a local run") {
		t.Errorf("remote run --step: exit %d, want 2 with \"--step needs a local run\"\n%s%s", code, out, errOut)
	}
	outside := filepath.Join(t.TempDir(), "sub", "outside.star")
	os.MkdirAll(filepath.Dir(outside), 0o755)
	os.WriteFile(filepath.Join(filepath.Dir(outside), "..", "shared.star"), []byte("x = 1\n"), 0o644)
	os.WriteFile(outside, []byte(`load("../shared.star", "x")`+"\n"), 0o644)
	if out, errOut, code := socklab(t, "run", outside, "--controller", addr); code != 2 || !strings.Contains(errOut, "outside the lab's folder") {
		t.Errorf("remote run of a lab loading ../shared.star: exit %d, want 2 saying it loads a file outside its folder\n%s%s", code, out, errOut)
	}
}
