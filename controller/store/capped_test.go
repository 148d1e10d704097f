package store_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestPayloadCap: the store keeps at most PayloadCap bytes of an event's payload and its
// true length, so the transcript read back marks the cut as it marks an agent's own cap;
// other bytes over the cap (a spawn's files) are cut too, and the event's note says so.
// The events handed to Save are left whole (they are also written to --out).
func TestPayloadCap(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	big := bytes.Repeat([]byte("x"), 100_000)
	small := []byte("hello")
	events := []*socklabv1.Event{
		{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: 1, Handle: 1, Op: "send", Role: "server", Payload: big, PayloadLength: 100_000,
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{}}}, Result: &socklabv1.Result{Value: 100_000}},
		{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: 2, Handle: 1, Op: "recv", Role: "server", Payload: small, PayloadLength: 5,
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: 1024}}}},
		{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: 3, Op: "spawn", Role: "server",
			Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: &socklabv1.SpawnOp{Argv: []string{"python3", "server.py"},
				Files: map[string][]byte{"server.py": big, "small.py": small}}}}},
	}
	res := &transcript.Result{Header: transcript.Header{RunID: "run-big", Lab: "x", Started: time.Now(),
		Hosts: []transcript.Host{{Role: "server", Address: "127.0.0.2"}}}}
	if err := st.Save(t.Context(), res, events); err != nil {
		t.Fatal(err)
	}
	if len(events[0].GetPayload()) != 100_000 || len(events[2].GetOperation().GetSpawn().GetFiles()["server.py"]) != 100_000 {
		t.Error("Save changed the events it was given")
	}
	var got []*socklabv1.Event
	if err := st.Events(t.Context(), "run-big", func(ev *socklabv1.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	if n, l := len(got[0].GetPayload()), got[0].GetPayloadLength(); n != store.PayloadCap || l != 100_000 {
		t.Errorf("stored send: payload %d bytes, payload_length %d; want %d and 100000", n, l, store.PayloadCap)
	}
	if string(got[1].GetPayload()) != "hello" || got[1].GetPayloadLength() != 5 || got[1].GetNote() != "" {
		t.Errorf("stored recv = %q (%d), note %q; want it whole, unnoted", got[1].GetPayload(), got[1].GetPayloadLength(), got[1].GetNote())
	}
	files := got[2].GetOperation().GetSpawn().GetFiles()
	if len(files["server.py"]) != store.PayloadCap || string(files["small.py"]) != "hello" || !strings.Contains(got[2].GetNote(), "cut") {
		t.Errorf("stored spawn: server.py %d bytes, small.py %q, note %q; want %d bytes, hello, a note saying what was cut",
			len(files["server.py"]), files["small.py"], got[2].GetNote(), store.PayloadCap)
	}
	var text strings.Builder
	w := report.NewText(&text, report.TextOptions{})
	w.Header(res.Header)
	for _, ev := range got[:1] {
		w.Entry(transcript.EventEntry(ev, res.Header.Hosts))
	}
	if !strings.Contains(text.String(), "... (100000 bytes))  -> 100000") {
		t.Errorf("the stored send reads back as\n%s\nwant its payload marked cut: ... (100000 bytes)", text.String())
	}
}
