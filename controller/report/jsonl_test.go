package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// manyEntries is run()'s entries repeated to n, each later copy later in the run.
func manyEntries(n int) []transcript.Entry {
	base, _ := run()
	out := make([]transcript.Entry, 0, n)
	for i := 0; len(out) < n; i++ {
		for _, e := range base {
			if len(out) == n {
				break
			}
			e.At += time.Duration(i) * 2 * time.Second
			out = append(out, e)
		}
	}
	return out
}

// BenchmarkJSONLVsText writes the same run of 10,000 events as the text transcript and
// as JSON lines, round by round (alternating which goes first, so that machine noise
// falls on both alike), and reports each one's median rate in events per second and the
// ratio of the medians, jsonl / text. The target is a ratio of at least 0.8. It is
// reported, never asserted.
func BenchmarkJSONLVsText(b *testing.B) {
	entries := manyEntries(10_000)
	var buf bytes.Buffer
	text := func() time.Duration {
		buf.Reset()
		start := time.Now()
		w := NewText(&buf, TextOptions{})
		w.Header(transcript.Header{Lab: "tcp-simple", Hosts: hosts})
		for _, e := range entries {
			w.Entry(e)
		}
		return time.Since(start)
	}
	jsonl := func() time.Duration {
		buf.Reset()
		start := time.Now()
		w := NewJSONL(&buf)
		for _, e := range entries {
			w.Entry(e)
		}
		d := time.Since(start)
		if w.Err() != nil {
			b.Fatal(w.Err())
		}
		return d
	}
	text() // warm up both
	jsonl()
	var ts, js []time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			ts, js = append(ts, text()), append(js, jsonl())
		} else {
			js, ts = append(js, jsonl()), append(ts, text())
		}
		i++
	}
	b.StopTimer()
	slices.Sort(ts)
	slices.Sort(js)
	rate := func(d time.Duration) float64 { return float64(len(entries)) / d.Seconds() }
	t, j := rate(ts[len(ts)/2]), rate(js[len(js)/2])
	b.ReportMetric(t, "text-events/s")
	b.ReportMetric(j, "jsonl-events/s")
	b.ReportMetric(j/t, "ratio")
	b.Logf("%d rounds of %d events: text %.0f events/s, jsonl %.0f events/s, ratio %.2f (target >= 0.8)", len(ts), len(entries), t, j, j/t)
}

// TestAppendJSONIsProtojson: each line JSONL writes is protojson.Marshal of the entry's
// event (transcript.EntryEvent), byte for byte: for the hand-built run, and for
// thousands of events with random fields set anywhere in the Event tree (every kind of
// value, awkward strings and floats, unknown enum numbers, maps, repeated fields, the
// entry's own fields already set on the event or not), invalid UTF-8 an error in both.
func TestAppendJSONIsProtojson(t *testing.T) {
	entries := manyEntries(100)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		ev := &socklabv1.Event{}
		fillRandom(rng, ev.ProtoReflect(), 4)
		e := transcript.Entry{Kind: transcript.Operation, Event: ev}
		if rng.IntN(2) == 0 {
			e.At = time.Duration(rng.Int64N(1 << 40))
		}
		if rng.IntN(2) == 0 {
			e.Host = randomString(rng)
		}
		if rng.IntN(2) == 0 {
			e.Pos = randomString(rng)
		}
		entries = append(entries, e)
	}
	for _, text := range []string{"", "narration", "a \"quoted\" \\ line\n", "bad \xff utf-8"} {
		entries = append(entries, transcript.Entry{Kind: transcript.Say, Text: text, At: time.Second})
	}
	invalid := 0
	var enc jsonEncoder
	for i, e := range entries {
		want, werr := protojson.Marshal(transcript.EntryEvent(e))
		got, gerr := appendEntry(&enc, nil, e)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("entry %d: appendEntry error %v, protojson's %v", i, gerr, werr)
		}
		if werr != nil {
			invalid++
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("entry %d:\nappendEntry %s\nprotojson   %s", i, got, want)
		}
		if _, err := appendEntryJSON(&enc, nil, e); err != nil {
			t.Fatalf("entry %d: appendEntryJSON: %v; want no need of protojson: no Event field is a well-known type", i, err)
		}
	}
	if invalid == 0 || invalid > len(entries)/2 {
		t.Errorf("%d of %d entries had invalid UTF-8: want some, not most", invalid, len(entries))
	}
	// And through the writer, line by line.
	var buf bytes.Buffer
	w := NewJSONL(&buf)
	var want []byte
	for _, e := range entries[:100] {
		w.Entry(e)
		if b, err := protojson.Marshal(transcript.EntryEvent(e)); err == nil && b != nil {
			want = append(append(want, b...), '\n')
		}
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("JSONL wrote\n%s\nwant\n%s", buf.Bytes(), want)
	}
}

// fillRandom sets a random choice of m's fields, to depth levels of messages.
func fillRandom(rng *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if m.WhichOneof(od) != nil || rng.IntN(od.Fields().Len()) != 0 {
				continue
			}
		} else if rng.IntN(3) == 0 {
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && depth == 0 && !fd.IsMap() {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range rng.IntN(4) {
				l.Append(randomValue(rng, fd, l.NewElement, depth))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range rng.IntN(4) {
				k := randomValue(rng, fd.MapKey(), nil, 0).MapKey()
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					if depth == 0 {
						continue
					}
				}
				mp.Set(k, randomValue(rng, fd.MapValue(), mp.NewValue, depth))
			}
		default:
			m.Set(fd, randomValue(rng, fd, func() protoreflect.Value { return m.NewField(fd) }, depth))
		}
	}
}

// randomValue is a value of fd's kind, often an awkward one; newMessage makes a message.
func randomValue(rng *rand.Rand, fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value, depth int) protoreflect.Value {
	pick := func(n int) int { return rng.IntN(n) }
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(pick(2) == 0)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(randomString(rng))
	case protoreflect.BytesKind:
		b := make([]byte, pick(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, 111, math.MaxInt32, math.MinInt32, rng.Int32()}[pick(7)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, 8080, math.MaxUint32, rng.Uint32()}[pick(5)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, rng.Int64()}[pick(6)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, math.MaxUint64, rng.Uint64()}[pick(4)])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{0, 1.5, -2.25e-7, 3e21, float32(math.Inf(1)), float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, rng.Float32()}[pick(9)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, math.Copysign(0, -1), 0.25, 1e-6, 9.99e-7, 1e21, 1e20, 1e-320, 123.456, math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, rng.Float64() * 1e6, rng.NormFloat64()}[pick(15)])
	case protoreflect.EnumKind:
		vs := fd.Enum().Values()
		if pick(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(1000 + pick(5)))
		}
		return protoreflect.ValueOfEnum(vs.Get(pick(vs.Len())).Number())
	case protoreflect.MessageKind:
		v := newMessage()
		fillRandom(rng, v.Message(), depth-1)
		return v
	}
	panic(fmt.Sprintf("kind %v", fd.Kind()))
}

// randomString is often plain, sometimes full of what JSON must escape, sometimes not
// UTF-8.
func randomString(rng *rand.Rand) string {
	if rng.IntN(300) == 0 {
		return []string{"a\xffb", "\xc3"}[rng.IntN(2)]
	}
	return []string{"", "server", "127.5.0.2", "tcp_simple.star:31", "hello\r\n", "quote \" back \\ slash",
		"\x00\x01\x1f\x7f", "é ü 中文 😀", "\u2028\u2029", "\ufffd", "<&>", "tab\there"}[rng.IntN(12)]
}

// TestJSONLStartAndEnd: a run in JSON lines is one stream a tool reads alone: its first
// record is the run's start (its id, lab, params, hosts and checks), then its events in
// protojson, and its last record is its end (checks, verdict, score, exit code).
func TestJSONLStartAndEnd(t *testing.T) {
	entries, checks := run()
	hdr := transcript.Header{RunID: "run-0123456789abcdef", Lab: "tcp-simple", Summary: "one message", Hosts: hosts,
		Params: map[string]any{"port": int64(8080), "message": []byte("hi")}, Checks: checks, Started: time.Unix(1, 0)}
	res := &transcript.Result{Header: hdr, Checks: checks, ExitCode: transcript.ExitFailed, Finished: time.Unix(2, 0)}
	var buf bytes.Buffer
	w := NewJSONL(&buf)
	if err := Replay(w, res, Entries(entries)); err != nil || w.Err() != nil {
		t.Fatalf("Replay = %v, %v", err, w.Err())
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("%d lines, want a start, events and an end:\n%s", len(lines), buf.String())
	}
	var first struct {
		Start *transcript.StartFile `json:"start"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Start == nil {
		t.Fatalf("first line %s: %v, want a start record", lines[0], err)
	}
	if s := first.Start; s.RunID != hdr.RunID || s.Lab != "tcp-simple" || s.Hosts["client"] != "127.5.0.3" ||
		s.Params["message"] != "hi" || len(s.Checks) != len(checks) || s.Checks[0].Description != checks[0].Description {
		t.Errorf("start = %+v", s)
	}
	var last struct {
		End *transcript.ResultFile `json:"end"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.End == nil {
		t.Fatalf("last line %s: %v, want an end record", lines[len(lines)-1], err)
	}
	if e := last.End; e.RunID != hdr.RunID || e.Verdict != "failed" || e.ExitCode != 1 || len(e.Checks) != len(checks) {
		t.Errorf("end = %+v", e)
	}
	var want bytes.Buffer
	ev := NewJSONL(&want)
	for _, e := range entries {
		ev.Entry(e)
	}
	if got := strings.Join(lines[1:len(lines)-1], "\n") + "\n"; got != want.String() {
		t.Errorf("the events' lines changed:\n%s\nwant\n%s", got, want.String())
	}
	for _, line := range lines[1 : len(lines)-1] {
		if err := protojson.Unmarshal([]byte(line), &socklabv1.Event{}); err != nil {
			t.Errorf("event line %s: %v", line, err)
		}
	}
}
