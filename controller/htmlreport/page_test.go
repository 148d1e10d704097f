package htmlreport_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// records returns the records a report.html holds, in order.
func records(t *testing.T, page []byte) []htmlreport.Record {
	t.Helper()
	const open = `<script type="application/x-ndjson" id="socklab-records">`
	_, rest, ok := bytes.Cut(page, []byte(open))
	if !ok {
		t.Fatalf("report.html has no %s", open)
	}
	data, _, ok := bytes.Cut(rest, []byte("</script>"))
	if !ok {
		t.Fatal("report.html's records are not closed")
	}
	var out []htmlreport.Record
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r htmlreport.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// render writes n ping-pong entries through a Writer and returns the page.
func render(t *testing.T, n int, opts htmlreport.Options) []byte {
	t.Helper()
	var page bytes.Buffer
	w := htmlreport.New(&page, opts)
	w.Header(pingPongHeader())
	pingPong(n, w.Entry)
	w.End(pingPongResult())
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return page.Bytes()
}

// TestShortRunWhole: a run within the cap is written whole: every step, every arrow
// ladder.Build finds, in order, each arrow after both of its steps.
func TestShortRunWhole(t *testing.T) {
	const n = 206
	recs := records(t, render(t, n, htmlreport.Options{}))
	var entries []transcript.Entry
	pingPong(n, func(e transcript.Entry) { entries = append(entries, e) })
	_, want := ladder.Build(entries)

	if recs[0].Header == nil || recs[len(recs)-1].End == nil {
		t.Fatalf("records run from %+v to %+v, want a header first and an end last", recs[0], recs[len(recs)-1])
	}
	seen := map[int]bool{}
	steps, arrows := 0, 0
	for _, r := range recs {
		switch {
		case r.Step != nil:
			if r.Step.Index != steps {
				t.Fatalf("step %d comes as the %dth", r.Step.Index, steps)
			}
			seen[r.Step.Index] = true
			steps++
		case r.Arrow != nil:
			if !seen[r.Arrow.Send] || !seen[r.Arrow.Recv] {
				t.Errorf("arrow %+v comes before its steps", *r.Arrow)
			}
			arrows++
		case r.Gap != nil:
			t.Errorf("a gap in a run of %d steps: %+v", n, *r.Gap)
		}
	}
	end := recs[len(recs)-1].End
	if steps != n || arrows != len(want) || end.Steps != n || end.Arrows != len(want) {
		t.Errorf("%d steps and %d arrows written, end says %d and %d; want %d and %d", steps, arrows, end.Steps, end.Arrows, n, len(want))
	}
	if end.Verdict != "passed" || len(end.Checks) != 1 || !end.Checks[0].Passed {
		t.Errorf("end = %+v, want passed with its one check", *end)
	}
}

// TestLongRunCapped: beyond Head+Tail steps, the page holds the first Head and the last
// Tail steps, a gap that counts the rest, and only arrows between steps it holds.
func TestLongRunCapped(t *testing.T) {
	const n, head, tail = 10_006, 100, 50
	recs := records(t, render(t, n, htmlreport.Options{Head: head, Tail: tail}))
	drawn := map[int]bool{}
	var gap *htmlreport.Gap
	arrows := 0
	for _, r := range recs {
		switch {
		case r.Step != nil:
			drawn[r.Step.Index] = true
		case r.Gap != nil:
			gap = r.Gap
		case r.Arrow != nil:
			arrows++
			if !drawn[r.Arrow.Send] || !drawn[r.Arrow.Recv] {
				t.Errorf("arrow %+v touches a step not drawn", *r.Arrow)
			}
		}
	}
	if len(drawn) != head+tail {
		t.Errorf("%d steps drawn, want %d", len(drawn), head+tail)
	}
	for i := range head {
		if !drawn[i] || !drawn[n-1-i%tail] {
			t.Fatalf("step %d or %d not drawn: want the first %d and the last %d", i, n-1-i%tail, head, tail)
		}
	}
	if gap == nil {
		t.Fatal("no gap record in a capped run")
	}
	end := recs[len(recs)-1].End
	if gap.From != head || gap.To != n-tail-1 || gap.Steps != n-head-tail || gap.Arrows+arrows != end.Arrows {
		t.Errorf("gap = %+v with %d arrows drawn of %d, want steps %d to %d (%d) and the arrows adding up", *gap, arrows, end.Arrows, head, n-tail-1, n-head-tail)
	}
}

// TestRecordsStayInTheirScript: a payload that spells </script> cannot end the element
// that holds the records, nor run as HTML.
func TestRecordsStayInTheirScript(t *testing.T) {
	var page bytes.Buffer
	w := htmlreport.New(&page, htmlreport.Options{})
	h := pingPongHeader()
	h.Summary = "</script><script>alert(1)</script>"
	w.Header(h)
	ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: 1, Handle: 1, Op: "sendall",
		Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{}}},
		Payload:   []byte("</script><b>x</b>\u2028"), PayloadLength: 22}
	w.Entry(transcript.Entry{Kind: transcript.Operation, Host: "client", Event: ev})
	w.Entry(transcript.Entry{Kind: transcript.Say, Text: "<!-- </SCRIPT >"})
	w.End(pingPongResult())
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(page.String(), `id="socklab-records">`)
	data, _, _ := strings.Cut(rest, "</script>")
	for _, bad := range []string{"<", ">", "\u2028"} {
		if strings.Contains(data, bad) {
			t.Errorf("the records hold %q raw: %s", bad, data)
		}
	}
	recs := records(t, page.Bytes())
	if got := recs[0].Header.Summary; got != h.Summary {
		t.Errorf("summary = %q, want %q", got, h.Summary)
	}
	if got, want := recs[1].Step.Call, report.Call(ev); got != want {
		t.Errorf("call = %q, want %q", got, want)
	}
}

// TestFailedCheckSnapshot: a failed check's step carries each host's socket table when
// it failed, with the backlog the run's listen call gave each listener, and the end
// keeps it: testdata/failing.star leaves a TIME_WAIT, a CLOSE_WAIT and a listener of
// backlog 0 holding a connection.
func TestFailedCheckSnapshot(t *testing.T) {
	l, err := labs.LoadFile("testdata/failing.star")
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{}, runner.Options{}, runner.Discard{})
	var enc htmlreport.Encoder
	for _, e := range rec.Entries {
		enc.Entry(e)
	}
	recs := enc.End(&rec.Result)
	end := recs[len(recs)-1].End
	if end == nil || len(end.Failures) != 1 || end.Failures[0].Check != "never" || end.Failures[0].Kind != htmlreport.KindFailed {
		t.Fatalf("end = %+v, want the one failure of check never", end)
	}
	f := end.Failures[0]
	if f.Text != "fails on purpose" || !strings.HasSuffix(f.Pos, "failing.star:37:12") {
		t.Errorf("failure says %q at %q, want its message and lab line", f.Text, f.Pos)
	}
	states := map[string]int{}
	full := 0
	for _, hs := range f.Snapshot {
		if hs.Error != "" {
			t.Errorf("%s's table: %s", hs.Role, hs.Error)
		}
		for _, s := range hs.Sockets {
			states[s.State]++
			if s.State == "LISTEN" && (s.Backlog == nil || s.RecvQ > uint64(*s.Backlog)) {
				if s.Backlog == nil {
					t.Errorf("listener %s has no backlog: the lab's listen made it", s.Local)
				} else {
					full++
				}
			}
		}
	}
	if states["TIME_WAIT"] == 0 || states["CLOSE_WAIT"] == 0 || full != 1 {
		t.Errorf("snapshot states %v with %d full backlogs, want a TIME_WAIT, a CLOSE_WAIT and one full backlog", states, full)
	}
}

// TestLostOutside: of two datagrams no recv got, the one sent to a lab socket's address
// is lost, the one sent where no socket of the run was (a program's) is Outside.
func TestLostOutside(t *testing.T) {
	dgram := &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_INET, Type: socklabv1.SocketType_SOCKET_TYPE_DGRAM}}}
	rx := &socklabv1.Address{Host: "127.9.0.3", Port: 9000}
	tx := &socklabv1.Address{Host: "127.9.0.2", Port: 40000}
	program := &socklabv1.Address{Host: "127.9.0.3", Port: 7000}
	ev := func(seq uint64, handle uint32, op string, o *socklabv1.Operation, res *socklabv1.Result, local, peer *socklabv1.Address) *socklabv1.Event {
		return &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: seq, Handle: handle, Op: op, Operation: o, Result: res,
			Local: local, Peer: peer, Payload: []byte("hi"), PayloadLength: 2}
	}
	sendto := &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{}}}
	entries := []transcript.Entry{
		{Kind: transcript.Operation, Host: "server", Event: ev(1, 0, "socket", dgram, &socklabv1.Result{Handle: 1}, nil, nil)},
		{Kind: transcript.Operation, Host: "server", Event: ev(2, 1, "bind", &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: rx}}}, &socklabv1.Result{}, rx, nil)},
		{Kind: transcript.Operation, Host: "client", Event: ev(1, 0, "socket", dgram, &socklabv1.Result{Handle: 1}, nil, nil)},
		{Kind: transcript.Operation, Host: "client", Event: ev(2, 1, "sendto", sendto, &socklabv1.Result{Value: 2}, tx, rx)},
		{Kind: transcript.Operation, Host: "client", Event: ev(3, 1, "sendto", sendto, &socklabv1.Result{Value: 2}, tx, program)},
	}
	var enc htmlreport.Encoder
	for _, e := range entries {
		enc.Entry(e)
	}
	got := map[int]bool{}
	for _, r := range enc.End(pingPongResult()) {
		if a := r.Arrow; a != nil && a.Kind == "lost" {
			got[a.Send] = a.Outside
		}
	}
	if want := map[int]bool{3: false, 4: true}; !maps.Equal(got, want) {
		t.Errorf("lost datagrams by send step, outside or not: %v, want %v", got, want)
	}
}
