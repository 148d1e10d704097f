package transcript

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

func addr(host string, port uint32) *socklabv1.Address {
	return &socklabv1.Address{Host: host, Port: port}
}

func op(host string, at time.Duration, seq uint64, name string, local, peer *socklabv1.Address, off, n uint64) Entry {
	ev := &socklabv1.Event{Op: name, Seq: seq, Local: local, Peer: peer, StreamOffset: off, PayloadLength: n,
		Result: &socklabv1.Result{Value: int64(n)}}
	return Entry{Kind: Operation, At: at, Host: host, Event: ev}
}

// TestMergeNeverShowsARecvBeforeItsSend: the receiver's clock runs slightly behind, so its
// recv seems to start before the send whose bytes it got; Merge puts the send first and
// keeps each host's own order.
func TestMergeNeverShowsARecvBeforeItsSend(t *testing.T) {
	a, b := addr("127.0.0.2", 8080), addr("127.0.0.3", 40000)
	entries := []Entry{
		op("client", 10*time.Microsecond, 1, "connect", b, a, 0, 0),
		op("server", 11*time.Microsecond, 4, "recv", a, b, 0, 5), // got the client's 5 bytes
		op("client", 12*time.Microsecond, 2, "getsockname", b, nil, 0, 0),
		op("client", 13*time.Microsecond, 3, "send", b, a, 0, 5),
		{Kind: Say, At: 14 * time.Microsecond, Text: "narration"},
		op("server", 15*time.Microsecond, 5, "send", a, b, 0, 5),
	}
	got := Merge(entries)
	var order []string
	for _, e := range got {
		if e.Kind == Say {
			order = append(order, "say")
			continue
		}
		order = append(order, e.Host+":"+e.Event.GetOp())
	}
	want := []string{"client:connect", "client:getsockname", "client:send", "server:recv", "say", "server:send"}
	if len(order) != len(want) {
		t.Fatalf("Merge = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("Merge = %v, want %v", order, want)
		}
	}
}

func TestMergeKeepsEachHostsSeqOrder(t *testing.T) {
	entries := []Entry{
		op("a", 5*time.Microsecond, 2, "recv", nil, nil, 0, 0),
		op("a", 3*time.Microsecond, 1, "send", nil, nil, 0, 0), // started later by seq, earlier by clock
		op("b", 4*time.Microsecond, 1, "close", nil, nil, 0, 0),
	}
	got := Merge(entries)
	if got[0].Event.GetSeq() != 1 || got[0].Host != "a" {
		t.Errorf("Merge put %s seq %d first, want a's seq 1", got[0].Host, got[0].Event.GetSeq())
	}
}

func TestClock(t *testing.T) {
	c := NewClock(100*time.Microsecond, 300*time.Microsecond, 5_000_000)
	if got := c.At(5_000_000); got != 200*time.Microsecond {
		t.Errorf("At(sample) = %v, want the midpoint 200µs", got)
	}
	if got := c.At(5_001_000); got != 201*time.Microsecond {
		t.Errorf("At(sample+1µs) = %v, want 201µs", got)
	}
}

// TestMergeEOFAfterClose: the b"" a recv returns is shown after the peer's close that
// caused it, even when the receiver's clock puts it first.
func TestMergeEOFAfterClose(t *testing.T) {
	a, b := addr("127.0.0.2", 8080), addr("127.0.0.3", 40000)
	entries := []Entry{
		op("server", 10*time.Microsecond, 7, "recv", a, b, 5, 0), // b'': the client closed
		op("client", 12*time.Microsecond, 4, "close", b, a, 0, 0),
	}
	got := Merge(entries)
	if got[0].Event.GetOp() != "close" || got[1].Event.GetOp() != "recv" {
		t.Errorf("Merge = %s, %s; want the close before the recv that saw it", got[0].Event.GetOp(), got[1].Event.GetOp())
	}
}

// TestHintsRecorded: a failed check's hints survive the stored form (RunResult) and
// result.json, where a check without hints has no "hints" key at all.
func TestHintsRecorded(t *testing.T) {
	res := &Result{Header: Header{RunID: "run-1", Lab: "l"}, ExitCode: ExitFailed, Checks: []Check{
		{ID: "a", MaxPoints: 1, Passed: true, Reached: true},
		{ID: "b", MaxPoints: 1, Reached: true, Message: "got b'hello', want b'HELLO'",
			Hints: MakeHints(map[string]string{"en": "lowercased?", "zh": "转成小写了？"})},
	}}
	back := ResultOf(res.Proto())
	if got := back.Checks[1].Hints.Map(); len(got) != 2 || got["zh"] != "转成小写了？" || !back.Checks[0].Hints.IsZero() {
		t.Errorf("through RunResult: hints %v and %v", back.Checks[0].Hints, got)
	}
	if back.Checks[1] != res.Checks[1] {
		t.Errorf("read back as %+v, want %+v", back.Checks[1], res.Checks[1])
	}
	if !back.Header.Checks[1].Hints.IsZero() {
		t.Errorf("the declared check carries hints %v", back.Header.Checks[1].Hints)
	}
	b, err := json.Marshal(res.File())
	if err != nil {
		t.Fatal(err)
	}
	want := `"checks":[{"id":"a","passed":true,"points":1,"max_points":1,"message":""},` +
		`{"id":"b","passed":false,"points":0,"max_points":1,"message":"got b'hello', want b'HELLO'","hints":{"en":"lowercased?","zh":"转成小写了？"}}]`
	if !strings.Contains(string(b), want) {
		t.Errorf("result.json = %s\nwant it to hold %s", b, want)
	}
	var f ResultFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if got := ResultOfFile(f).Checks[1].Hint("zh"); got != "转成小写了？" {
		t.Errorf("read back from result.json: zh hint %q", got)
	}
}

// TestFailedRoundTrip: a failed check's entry is stored and read back as it was, its
// hosts' socket tables with it.
func TestFailedRoundTrip(t *testing.T) {
	e := Entry{Kind: Failed, At: 3 * time.Millisecond, Check: "greeting", Text: "got b'hello', want b'hi'", Pos: "lab.star:9:12",
		Snapshot: []*socklabv1.HostSockets{{Role: "a", Sockets: []*socklabv1.KernelSocket{{Protocol: "tcp", State: "LISTEN"}}}, {Role: "b", Error: "the host's agent stopped answering"}}}
	ev := EntryEvent(e)
	if ev.GetKind() != socklabv1.EventKind_EVENT_KIND_CHECK_FAILED {
		t.Fatalf("stored as %v", ev.GetKind())
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	back := &socklabv1.Event{}
	if err := proto.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	got := EventEntry(back, nil)
	if got.Kind != e.Kind || got.At != e.At || got.Check != e.Check || got.Text != e.Text || got.Pos != e.Pos || got.Event != nil ||
		len(got.Snapshot) != 2 || !proto.Equal(got.Snapshot[0], e.Snapshot[0]) || !proto.Equal(got.Snapshot[1], e.Snapshot[1]) {
		t.Errorf("read back %+v, want %+v", got, e)
	}
}
