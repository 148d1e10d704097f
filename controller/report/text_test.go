package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var hosts = []transcript.Host{{Role: "server", Address: "127.5.0.2"}, {Role: "client", Address: "127.5.0.3"}}

// at is an operation entry of host at ms milliseconds into the run.
func at(ms float64, role string, h uint32, ev *socklabv1.Event) transcript.Entry {
	ev.Handle = h
	a := map[string]string{"server": "127.5.0.2", "client": "127.5.0.3"}[role]
	return transcript.Entry{Kind: transcript.Operation, At: time.Duration(ms * float64(time.Millisecond)),
		Host: role, Address: a, Event: ev}
}

func say(ms float64, text string) transcript.Entry {
	return transcript.Entry{Kind: transcript.Say, At: time.Duration(ms * float64(time.Millisecond)), Text: text}
}

// run is a small hand-built run of the tcp-simple lab that went wrong in every way a
// transcript can show.
func run() (entries []transcript.Entry, checks []transcript.Check) {
	background := func(note string) func(*socklabv1.Event) {
		return func(ev *socklabv1.Event) { ev.Kind, ev.Note = socklabv1.EventKind_EVENT_KIND_BACKGROUND, note }
	}
	entries = []transcript.Entry{
		say(0.1, "the server opens a listener on port 8080"),
		at(0.5, "server", 1, op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 1}))),
		at(0.7, "server", 1, op(client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1),
			result(&socklabv1.Result{OptionName: "SO_REUSEADDR"}))),
		at(0.9, "server", 1, op(client.Bind("127.5.0.2", 8080))),
		at(1.0, "server", 1, op(client.Listen(5))),
		at(1.4, "client", 1, op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 1}))),
		at(1.6, "client", 1, op(client.ConnectEx("127.5.0.2", 8081), refused, result(&socklabv1.Result{Value: 111}))),
		at(1.8, "client", 1, op(client.Connect("127.5.0.2", 8081), refused)),
		at(2.1, "client", 1, op(client.Connect("127.5.0.2", 8080))),
		at(2.2, "server", 1, op(client.Accept(), result(&socklabv1.Result{Handle: 2, Address: addr("127.5.0.3", 43210)}))),
		say(2.5, "the client says hello"),
		at(2.6, "client", 1, op(client.SendAll(nil, 0), payload("hello", 5), result(&socklabv1.Result{Value: 5}))),
		at(2.9, "server", 2, op(client.Recv(1024, 0), payload("hello", 5), result(&socklabv1.Result{}))),
		at(3.1, "server", 2, op(client.Send(nil, 0), payload("hello\r\n"+strings.Repeat("it's all lower case; ", 6), 133),
			result(&socklabv1.Result{Value: 133}))),
		at(3.3, "client", 1, op(client.Recv(1024, 0), payload("hello", 5), result(&socklabv1.Result{}))),
		at(4.0, "client", 2, op(client.Socket(client.Dgram), result(&socklabv1.Result{Handle: 2}))),
		at(4.2, "client", 2, op(client.RecvFrom(10, 0), payload("0123456789", 10),
			result(&socklabv1.Result{Address: addr("127.5.0.2", 9000), Truncated: true, DatagramLength: 100}))),
		at(1004.5, "client", 1, op(client.Recv(1024, 0), timedOut)),
		{Kind: transcript.Note, At: 1005 * time.Millisecond, Text: "the lab stopped: tcp_simple.star:31: recv: timeout: timed out"},
		at(1006.0, "server", 0, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_DROPPED, Dropped: 3,
			Note: "events were dropped: the event stream fell behind"}),
		at(1006.2, "server", 2, op(client.Close(), background("closed by the agent: session closed"))),
		at(1006.3, "server", 0, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SESSION_END, Note: "session ended"}),
	}
	checks = []transcript.Check{
		{ID: "listening", Description: "the server listens on 8080", MaxPoints: 1, Passed: true, Reached: true},
		{ID: "echo-upper", Description: "the reply is upper-cased", MaxPoints: 2, Reached: true,
			Message: "recv() = b'hello', want b'HELLO': the server sent the message back unchanged; " +
				"did it call upper() on the data before send()? A long message wraps under its column."},
		{ID: "eof-after-close", Description: "recv returns b'' after close", MaxPoints: 1,
			Message: "tcp_simple.star:31: recv: timeout: timed out"},
	}
	return entries, checks
}

// render renders run() in full with opts.
func render(opts TextOptions) string {
	var b bytes.Buffer
	tx := NewText(&b, opts)
	entries, checks := run()
	tx.Header(transcript.Header{Lab: "tcp-simple", Summary: "One TCP message echoed upper-cased (tutorial programs 1 and 2)", Hosts: hosts})
	for _, e := range entries {
		tx.Entry(e)
	}
	tx.Checks(checks)
	tx.Footer("failed: 1/3 checks, 1/4 points", "tcp_simple.star:31: recv: timeout: timed out\n  in eof_after_close")
	return b.String()
}

func TestTranscriptGolden(t *testing.T) {
	golden(t, "testdata/transcript.golden", render(TextOptions{}))
}

// golden compares got with the file at path, or rewrites the file under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./controller/report -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (-want +got; go test ./controller/report -update accepts it):\n%s",
			path, diff(string(want), got))
	}
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestColor(t *testing.T) {
	plain := render(TextOptions{Color: false})
	if strings.Contains(plain, "\x1b") {
		t.Errorf("Color=false output holds an escape code:\n%q", plain)
	}
	colored := render(TextOptions{Color: true})
	if !strings.Contains(colored, "\x1b[") {
		t.Fatalf("Color=true output holds no escape code:\n%s", colored)
	}
	if stripped := sgr.ReplaceAllString(colored, ""); stripped != plain {
		t.Errorf("Color=true output without its escape codes differs from Color=false (-plain +stripped):\n%s", diff(plain, stripped))
	}
	for _, want := range []string{
		red + "  !! ECONNREFUSED [Errno 111] Connection refused" + reset, // errors red
		green + "  -> None" + reset,                                      // outcomes green
		bold + "» the client says hello" + reset,                         // narration bold
		yellow + "! the lab stopped",                                     // notes yellow
		boldGrn + "PASS  " + reset,
		boldRed + "FAIL  " + reset,
		hostColors[0] + "server" + reset, // hosts by role order
		hostColors[1] + "client" + reset,
	} {
		if !strings.Contains(colored, want) {
			t.Errorf("Color=true output lacks %q", want)
		}
	}
}

// TestWidth checks that a long line gives up payload preview, never its error or note.
func TestWidth(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name  string
		width int
		ev    *socklabv1.Event
		want  []string // substrings of the line
		fits  bool     // the line fits the width
	}{
		{"send cut to fit", 80, op(client.Send(nil, 0), payload(long, 200), result(&socklabv1.Result{Value: 200})),
			[]string{"send(b'xxx", "'... (200 bytes))  -> 200"}, true},
		{"error kept whole", 70, op(client.SendAll(nil, 0), payload(long, 200), sockErr("EPIPE", 32, "Broken pipe")),
			[]string{"'... (200 bytes))  !! EPIPE [Errno 32] Broken pipe"}, false},
		{"error kept whole, preview fits", 110, op(client.SendAll(nil, 0), payload(long, 200), sockErr("EPIPE", 32, "Broken pipe")),
			[]string{"'... (200 bytes))  !! EPIPE [Errno 32] Broken pipe"}, true},
		{"recv outcome cut", 80, op(client.Recv(1024, 0), payload(long, 200)),
			[]string{"recv(1024)  -> b'xxx", "'... (200 bytes)"}, true},
		{"payload not cut when that makes it no shorter", 40, op(client.RecvFrom(10, 0), payload("0123456789", 10),
			result(&socklabv1.Result{Address: addr("127.5.0.2", 9000)})),
			[]string{"recvfrom(10)  -> (b'0123456789', ('127.5.0.2', 9000))"}, false},
		{"preview never below the minimum", 40, op(client.Send(nil, 0), payload(long, 200), sockErr("ECONNRESET", 104, "Connection reset by peer")),
			[]string{"send(b'" + strings.Repeat("x", minPreview) + "'... (200 bytes))  !! ECONNRESET [Errno 104] Connection reset by peer"}, false},
		{"short line untouched", 60, op(client.Send(nil, 0), payload("hi", 2), result(&socklabv1.Result{Value: 2})),
			[]string{"send(b'hi')  -> 2"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tx := NewText(&b, TextOptions{Width: tc.width})
			tx.Entry(at(1, "client", 1, tc.ev))
			line := strings.TrimSuffix(b.String(), "\n")
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("Entry() = %q, want it to contain %q", line, w)
				}
			}
			if n := runes(line); tc.fits && n > tc.width {
				t.Errorf("Entry() is %d characters, want at most %d: %q", n, tc.width, line)
			}
		})
	}
}

func TestEntryForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    transcript.Entry
		want string
	}{
		{"operation", at(1.234, "client", 1, op(client.Connect("127.5.0.2", 8080))),
			"  0.001234  client  127.5.0.3  s1      connect(('127.5.0.2', 8080))  -> None\n"},
		{"no handle", at(0, "server", 0, op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 12}))),
			"  0.000000  server  127.5.0.2          socket(AF_INET, SOCK_STREAM)  -> s12\n"},
		{"wide handle", at(0, "server", 123, op(client.Close())),
			"  0.000000  server  127.5.0.2  s123    close()  -> None\n"},
		{"long time", at(123456.789, "server", 1, op(client.Close())),
			"123.456789  server  127.5.0.2  s1      close()  -> None\n"},
		{"role not in the header", transcript.Entry{Kind: transcript.Operation, Host: "observer", Address: "127.5.0.10",
			Event: op(client.Close(), func(ev *socklabv1.Event) { ev.Handle = 1 })},
			"  0.000000  observer  127.5.0.10  s1      close()  -> None\n"},
		{"connect_ex names its errno", at(0, "client", 1, op(client.ConnectEx("127.5.0.2", 1), refused, result(&socklabv1.Result{Value: 111}))),
			"  0.000000  client  127.5.0.3  s1      connect_ex(('127.5.0.2', 1))  -> 111 (ECONNREFUSED)\n"},
		{"one dropped", at(0, "server", 0, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_DROPPED, Dropped: 1}),
			"  0.000000  server  127.5.0.2          ! 1 event lost\n"},
		{"session end", at(0, "server", 0, &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_SESSION_END}), ""},
		{"multi-line narration", say(0, "first\nsecond"), "            » first\n              second\n"},
		{"note", transcript.Entry{Kind: transcript.Note, Text: "watchdog: accept() waited 5s"},
			"            ! watchdog: accept() waited 5s\n"},
		{"operation without an event", transcript.Entry{Kind: transcript.Operation}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tx := NewText(&b, TextOptions{})
			tx.Header(transcript.Header{Lab: "lab", Hosts: hosts})
			b.Reset()
			tx.Entry(tc.e)
			if got := b.String(); got != tc.want {
				t.Errorf("Entry() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChecksEmpty(t *testing.T) {
	var b bytes.Buffer
	NewText(&b, TextOptions{}).Checks(nil)
	if got, want := b.String(), "total: 0/0 checks passed, 0/0 points\n"; !strings.HasSuffix(got, want) {
		t.Errorf("Checks(nil) = %q, want it to end with %q", got, want)
	}
}

func TestFooter(t *testing.T) {
	for _, tc := range []struct {
		name, verdict, err, want string
	}{
		{"passed", "passed: 3/3 checks, 3/3 points", "", "\npassed: 3/3 checks, 3/3 points\n"},
		{"failed with an error", "failed: 0/3 checks, 0/3 points", "lab.star:4: connect: ECONNREFUSED [Errno 111] Connection refused\n",
			"\nfailed: 0/3 checks, 0/3 points\nerror: lab.star:4: connect: ECONNREFUSED [Errno 111] Connection refused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			NewText(&b, TextOptions{}).Footer(tc.verdict, tc.err)
			if got := b.String(); got != tc.want {
				t.Errorf("Footer() = %q, want %q", got, tc.want)
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, fmt.Errorf("disk full")
}

func TestWriteError(t *testing.T) {
	w := &failWriter{}
	tx := NewText(w, TextOptions{})
	tx.Header(transcript.Header{Lab: "lab", Hosts: hosts})
	tx.Footer("passed", "")
	if err := tx.Err(); err == nil || err.Error() != "disk full" {
		t.Errorf("Err() = %v, want disk full", err)
	}
	if w.n != 1 {
		t.Errorf("writes after an error = %d, want none after the first", w.n-1)
	}
}

// TestConcurrentEntries checks that entries written from several goroutines come out as
// whole lines.
func TestConcurrentEntries(t *testing.T) {
	var b bytes.Buffer
	tx := NewText(&b, TextOptions{Color: true})
	tx.Header(transcript.Header{Lab: "lab", Hosts: hosts})
	b.Reset()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				tx.Entry(at(float64(j), hosts[i%2].Role, uint32(i+1), op(client.Close())))
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(sgr.ReplaceAllString(b.String(), ""), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("got %d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "close()  -> None") {
			t.Fatalf("line %q is not one whole entry", l)
		}
	}
}

// diff returns a line diff of want and got: lines only in want start with "-", lines
// only in got with "+", and up to three common lines around each change with " ".
func diff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var lines []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, " "+a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, "-"+a[i])
			i++
		default:
			lines = append(lines, "+"+b[j])
			j++
		}
	}
	const context = 3
	var out strings.Builder
	skipped := false
	for k, l := range lines {
		near := false
		for d := max(0, k-context); d <= min(len(lines)-1, k+context); d++ {
			near = near || lines[d][0] != ' '
		}
		if !near {
			skipped = true
			continue
		}
		if skipped {
			out.WriteString("...\n")
			skipped = false
		}
		out.WriteString(l + "\n")
	}
	return out.String()
}

// TestChecksHints: a failed check's hint shows on the line below its message, in the
// report's language, in English when the hint has none in that language, and wrapped
// under the message column; a passed check shows none.
func TestChecksHints(t *testing.T) {
	checks := []transcript.Check{
		{ID: "starts", Description: "the server listens", MaxPoints: 1, Passed: true, Reached: true,
			Hints: transcript.MakeHints(map[string]string{"en": "never shown"})},
		{ID: "other-host", Description: "answers another host", MaxPoints: 1, Reached: true,
			Message: "connect to 127.5.0.2:8080 from client: ECONNREFUSED",
			Hints:   transcript.MakeHints(map[string]string{"en": "bound to 127.0.0.1 only?", "zh": "只绑定了 127.0.0.1？"})},
		{ID: "no-spin", Description: "idle after clients leave", MaxPoints: 1, Reached: true,
			Message: "0.98 CPU-s per wall-s", Hints: transcript.MakeHints(map[string]string{"en": "no EOF check: it spins after a client leaves, " +
				"because recv returns b'' at once, every time, and the loop never ends"})},
		{ID: "plain", Description: "no hint", MaxPoints: 1, Reached: true, Message: "got 1, want 2"},
	}
	for _, tc := range []struct {
		lang string
		want string
	}{
		{"", `
  check       points  result  message
  starts      1/1     PASS    the server listens
  other-host  0/1     FAIL    connect to 127.5.0.2:8080 from client: ECONNREFUSED
                              hint: bound to 127.0.0.1 only?
  no-spin     0/1     FAIL    0.98 CPU-s per wall-s
                              hint: no EOF check: it spins after a client leaves, because recv
                              returns b'' at once, every time, and the loop never ends
  plain       0/1     FAIL    got 1, want 2
total: 1/4 checks passed, 1/4 points
`},
		{"zh", `
  check       points  result  message
  starts      1/1     PASS    the server listens
  other-host  0/1     FAIL    connect to 127.5.0.2:8080 from client: ECONNREFUSED
                              hint: 只绑定了 127.0.0.1？
  no-spin     0/1     FAIL    0.98 CPU-s per wall-s
                              hint: no EOF check: it spins after a client leaves, because recv
                              returns b'' at once, every time, and the loop never ends
  plain       0/1     FAIL    got 1, want 2
total: 1/4 checks passed, 1/4 points
`},
	} {
		var b bytes.Buffer
		NewText(&b, TextOptions{Lang: tc.lang}).Checks(checks)
		if got := b.String(); got != tc.want {
			t.Errorf("Lang %q: checks table\n%s\nwant\n%s", tc.lang, got, tc.want)
		}
	}
}

// TestChecksShowLabLine: a failed check's message comes after the lab line that made it.
func TestChecksShowLabLine(t *testing.T) {
	var b bytes.Buffer
	NewText(&b, TextOptions{}).Checks([]transcript.Check{{ID: "greeting", MaxPoints: 1, Reached: true,
		Message: "got b'hello', want b'hi'", Pos: "lab.star:10:12"}})
	if got, want := b.String(), "FAIL    lab.star:10:12: got b'hello', want b'hi'\n"; !strings.Contains(got, want) {
		t.Errorf("Checks() =\n%s\nwant a line with %q", got, want)
	}
}

// TestWaiting: on a terminal a call that has not returned within a moment shows as
// waiting below the transcript, with its connection, and is erased when it returns, its
// line taking that place; elsewhere nothing shows.
func TestWaiting(t *testing.T) {
	cli, srv := addr("127.5.0.3", 40000), addr("127.5.0.2", 8080)
	connect := at(1, "client", 1, op(client.Connect("127.5.0.2", 8080), func(ev *socklabv1.Event) { ev.Op, ev.Local, ev.Peer = "connect", cli, srv }))
	recv := at(2, "client", 1, op(client.Recv(1024, 0)))
	for _, width := range []int{0, 80} {
		var b syncBuffer
		tx := NewText(&b, TextOptions{Terminal: width})
		tx.Entry(connect)
		tx.Calling(7, recv)
		time.Sleep(waitAfter + 100*time.Millisecond)
		waiting := b.String()
		tx.Returned(7)
		tx.Entry(recv)
		got := b.String()
		if width == 0 {
			if strings.Contains(got, "waiting") || strings.Contains(got, "\x1b") {
				t.Errorf("no terminal: %q, want no waiting line", got)
			}
			continue
		}
		if want := "client  127.5.0.3  s1 c1   recv(1024)  ...waiting\n"; !strings.HasSuffix(waiting, want) {
			t.Errorf("waiting: %q, want it to end with %q", waiting, want)
		}
		if rest := strings.TrimPrefix(got, waiting); !strings.HasPrefix(rest, "\x1b[1F\x1b[J") || !strings.HasSuffix(rest, "recv(1024)  -> b''\n") {
			t.Errorf("after the return: %q, want the waiting line erased and the recv's line", rest)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a timer's goroutine and the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
