package report_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	process.Init()
	topology.Init()
	os.Exit(m.Run())
}

// runLab runs a built-in lab on the local topology and returns its record.
func runLab(t *testing.T, name string) *transcript.Record {
	t.Helper()
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
	if rec.ExitCode != transcript.ExitPassed {
		t.Fatalf("%s ended with %d: %s", name, rec.ExitCode, rec.Error)
	}
	return rec
}

// drawLadder replays a record as a ladder with opts.
func drawLadder(t *testing.T, rec *transcript.Record, opts report.LadderOptions) string {
	t.Helper()
	var b bytes.Buffer
	l := report.NewLadder(&b, opts)
	if err := report.Replay(l, &rec.Result, report.Entries(rec.Entries)); err != nil {
		t.Fatal(err)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// lifelines returns the positions (in runes) of the lifelines, from the row that opens
// them under the header.
func lifelines(t *testing.T, out, top string) []int {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" || strings.Trim(line, " "+top) != "" {
			continue
		}
		var xs []int
		for i, r := range []rune(line) {
			if string(r) == top {
				xs = append(xs, i)
			}
		}
		return xs
	}
	t.Fatalf("no row of %q opens the lifelines:\n%s", top, out)
	return nil
}

// arrowRow finds the row whose arrow carries label and returns it as runes.
func arrowRow(t *testing.T, out, label string) []rune {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, label) && strings.ContainsAny(line, "▶◀") {
			return []rune(line)
		}
	}
	t.Fatalf("no arrow labelled %q:\n%s", label, out)
	return nil
}

// TestLadderChatRelay draws chat-relay as a user sees it: three columns in 80, an arrow
// from the sender's lifeline to the receiver's for each message, with its preview and
// count, a connection numbered alike on both its ends, and the FIN of alice's close.
func TestLadderChatRelay(t *testing.T) {
	rec := runLab(t, "chat-relay")
	out := drawLadder(t, rec, report.LadderOptions{Width: 80})
	t.Logf("chat-relay:\n%s", out)
	for i, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line %d is %d characters wide, want at most 80: %q", i+1, n, line)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a ladder without colour holds an escape code")
	}
	x := lifelines(t, out, "┬")
	if len(x) != 3 {
		t.Fatalf("%d lifelines, want 3 (server, alice, bob)", len(x))
	}
	server, alice, bob := x[0], x[1], x[2]
	header := []rune(strings.Split(out, "\n")[slices.IndexFunc(strings.Split(out, "\n"), func(s string) bool { return strings.HasPrefix(s, "time (s)") })])
	for role, at := range map[string]int{"server": server, "alice": alice, "bob": bob} {
		if !strings.HasPrefix(string(header[at:]), role) {
			t.Errorf("the header row %q has no %s over its lifeline at %d", string(header), role, at)
		}
	}
	for _, tc := range []struct {
		label      string
		from, to   int
		rightwards bool
	}{
		{"b'hi bob!\\n' 8B", alice, server, false},
		{"b'alice: hi bob!\\n' 15B", server, bob, true},
		{"b'hello alice\\n' 12B", bob, server, false},
		{"b'* alice left\\n' 13B", server, bob, true},
		{"c1 FIN: b''", alice, server, false},
		{"c2 connect", bob, server, false},
	} {
		row := arrowRow(t, out, tc.label)
		tail, head := "├", "▶"
		headAt, tailAt := tc.to-1, tc.from
		if !tc.rightwards {
			tail, head, headAt = "┤", "◀", tc.to+1
		}
		if string(row[tailAt]) != tail || string(row[headAt]) != head {
			t.Errorf("arrow %q: %q, want %s at the sender's lifeline (%d) and %s beside the receiver's (%d)",
				tc.label, string(row), tail, tailAt, head, headAt)
		}
	}
	// Every message is one arrow: 2 connects, 5 lines of chat, alice's FIN.
	arrows := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.ContainsAny(line, "▶◀") {
			arrows++
		}
	}
	if arrows != 8 {
		t.Errorf("%d arrows, want 8", arrows)
	}
	// alice's socket is c1 at both ends: her send and her close, and the server's.
	if !strings.Contains(out, "├ s1 connect server:") || !strings.Contains(out, "├ s1 c1 sendall 8B") || !strings.Contains(out, "├ s2 c1 close") {
		t.Errorf("alice's connection is not c1 at both its ends:\n%s", out)
	}
	if !strings.Contains(out, "PASS") || !strings.HasSuffix(out, "passed\n") {
		t.Errorf("the ladder does not end with the checks and the verdict")
	}
}

// TestLadderStyles: colour only when asked, ASCII only when asked.
func TestLadderStyles(t *testing.T) {
	rec := runLab(t, "rst-on-close")
	plain := drawLadder(t, rec, report.LadderOptions{})
	if !strings.Contains(string(arrowRow(t, plain, "RST: ECONNRESET")), "▶") {
		t.Errorf("no RST arrow towards the client:\n%s", plain)
	}
	ascii := drawLadder(t, rec, report.LadderOptions{ASCII: true})
	for i, r := range ascii {
		if r > 127 {
			t.Fatalf("an ASCII ladder holds %q at byte %d:\n%s", r, i, ascii)
		}
	}
	if !strings.Contains(ascii, "c2 RST: ECONNRESET ------>|") {
		t.Errorf("the ASCII ladder draws no RST arrow:\n%s", ascii)
	}
	colored := drawLadder(t, rec, report.LadderOptions{Color: true})
	if !strings.Contains(colored, "\x1b[31m") {
		t.Errorf("a coloured ladder draws the reset in no red")
	}
	if got := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(colored, ""); got != plain {
		t.Errorf("the coloured ladder, its colour taken out, differs from the plain one:\n%s\n%s", got, plain)
	}
}

// TestLadderLost: a datagram no recv got is drawn as lost, at the end, at the time it was
// sent; a wide lab keeps its columns legible.
func TestLadderLost(t *testing.T) {
	rec := runLab(t, "udp-echo")
	var kept []transcript.Entry
	dropped := false
	for _, e := range rec.Entries {
		// Drop the server's first recvfrom: the client's first datagram is then lost.
		if !dropped && e.Host == "server" && e.Event.GetOp() == "recvfrom" {
			dropped = true
			continue
		}
		kept = append(kept, e)
	}
	rec.Entries = kept
	out := drawLadder(t, rec, report.LadderOptions{Width: 80})
	if !strings.Contains(out, "lost: 1 datagram(s)") || !strings.Contains(out, "├╌╌╌✗ b'hello' 5B lost") {
		t.Errorf("no lost datagram drawn:\n%s", out)
	}
	// Twelve hosts do not fit 80 columns: each column keeps its minimum width.
	rec.Header.Hosts = nil
	for i := range 12 {
		rec.Header.Hosts = append(rec.Header.Hosts, transcript.Host{Role: "host" + strconv.Itoa(i), Address: "127.0.0." + strconv.Itoa(i+2)})
	}
	wide := drawLadder(t, rec, report.LadderOptions{Width: 80})
	if x := lifelines(t, wide, "┬"); len(x) != 12 || x[1]-x[0] < 12 {
		t.Errorf("12 hosts: lifelines at %v, want 12, each column at least 12 wide", x)
	}
}

// textLines renders each entry of rec with a Text and returns the line each printed
// (the first, for entries of several lines; "" for none).
func textLines(rec *transcript.Record) []string {
	var b bytes.Buffer
	tx := report.NewText(&b, report.TextOptions{Width: 200})
	tx.Header(rec.Header)
	lines := make([]string, len(rec.Entries))
	for i, e := range rec.Entries {
		b.Reset()
		tx.Entry(e)
		lines[i], _, _ = strings.Cut(b.String(), "\n")
	}
	return lines
}

var (
	lineTime = regexp.MustCompile(`^ +(\d+\.\d{6})  `)
	lineConn = regexp.MustCompile(`  s\d+ (c\d+)  `)
)

// TestTextTimesFollowMessages: in every built-in lab that runs on this machine, the time
// the text transcript prints for the step that got a message is never before the time it
// prints for the step that sent it, and the two ends of a connection print the same
// connection number.
func TestTextTimesFollowMessages(t *testing.T) {
	var mu sync.Mutex
	backwards, total := 0, 0 // arrows whose raw times (When) run backwards, of all
	for _, name := range labs.Names() {
		l, err := labs.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Topologies) > 0 && !slices.Contains(l.Topologies, "local") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			rec := runLab(t, name)
			steps, arrows := ladder.Build(rec.Entries)
			lines := textLines(rec)
			at := func(i int) float64 {
				m := lineTime.FindStringSubmatch(lines[i])
				if m == nil {
					t.Fatalf("step %d printed no time: %q", i, lines[i])
				}
				v, _ := strconv.ParseFloat(m[1], 64)
				return v
			}
			back := 0
			for _, a := range arrows {
				if a.Recv < 0 {
					continue
				}
				if report.When(steps[a.Send].Entry) > report.When(steps[a.Recv].Entry) {
					back++
				}
				if s, r := at(a.Send), at(a.Recv); s > r {
					t.Errorf("%s arrow: sent at %.6f, got at %.6f:\n%s\n%s", a.Kind, s, r, lines[a.Send], lines[a.Recv])
				}
				if a.Conn == 0 || a.Kind == ladder.Connect {
					continue // the accept's line names the listener
				}
				want := "c" + strconv.Itoa(a.Conn)
				for _, i := range []int{a.Send, a.Recv} {
					if m := lineConn.FindStringSubmatch(lines[i]); m == nil || m[1] != want {
						t.Errorf("%s arrow of %s: a line of its end does not name it: %q", a.Kind, want, lines[i])
					}
				}
			}
			mu.Lock()
			backwards += back
			total += len(arrows)
			mu.Unlock()
			t.Logf("%s: %d arrows, %d whose raw times run backwards, in %v", name, len(arrows), back, time.Since(start).Round(time.Millisecond))
		})
	}
	t.Cleanup(func() {
		t.Logf("all labs: %d arrows, %d whose raw times ran backwards (shown at their send's time)", total, backwards)
	})
}

// TestLadderProgram: datagrams sent to a program under test, whose sockets no event
// shows, are not drawn as lost: their rows say where they went.
func TestLadderProgram(t *testing.T) {
	out := drawLadder(t, runLab(t, "udp-upper-server"), report.LadderOptions{})
	if strings.Contains(out, "lost") {
		t.Errorf("datagrams to the program under test drawn as lost:\n%s", out)
	}
	if !strings.Contains(out, "sendto 5B → :9000") {
		t.Errorf("no row says where a datagram to the program went:\n%s", out)
	}
}
