package transcript

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// mergeByScan is Merge as it first was, O(n²): after the k-way merge, each stream recv
// scans forward for a later send that fed it and moves that send (with the entries of
// its host between them) before it. Where each recv got the bytes of one send, Merge must
// order every run as it did.
func mergeByScan(entries []Entry) []Entry {
	var hosts []string
	groups := map[string][]Entry{}
	for _, e := range entries {
		if _, ok := groups[e.Host]; !ok {
			hosts = append(hosts, e.Host)
		}
		groups[e.Host] = append(groups[e.Host], e)
	}
	for _, h := range hosts {
		g := groups[h]
		sort.SliceStable(g, func(i, j int) bool {
			if g[i].Event != nil && g[j].Event != nil {
				return g[i].Event.GetSeq() < g[j].Event.GetSeq()
			}
			return g[i].At < g[j].At
		})
	}
	out := entries[:0]
	for {
		best, found := "", false
		for _, h := range hosts {
			if g := groups[h]; len(g) > 0 && (!found || g[0].At < groups[best][0].At) {
				best, found = h, true
			}
		}
		if !found {
			break
		}
		out = append(out, groups[best][0])
		groups[best] = groups[best][1:]
	}
	entries = out
	for i := 0; i < len(entries); i++ {
		r := entries[i]
		if !isStreamRecv(r) {
			continue
		}
		for j := i + 1; j < len(entries); j++ {
			s := entries[j]
			if !isStreamSend(s) || !feeds(s, r) {
				continue
			}
			var block, rest []Entry
			for _, e := range entries[i+1 : j+1] {
				if e.Host == s.Host {
					block = append(block, e)
				} else {
					rest = append(rest, e)
				}
			}
			n := copy(entries[i:], block)
			entries[i+n] = r
			copy(entries[i+n+1:], rest)
			i += n
			break
		}
	}
	return entries
}

// randomRun makes a run of hosts exchanging bytes over stream connections, in random
// chunks, with narration, closes and the b"" they cause, each host's clock skewed by up
// to skew: the inversions Merge must repair.
// With aligned, each recv gets exactly the bytes of one send.
func randomRun(rng *rand.Rand, hosts, conns, steps int, skew time.Duration, aligned bool) []Entry {
	type end struct {
		host    string
		addr    *socklabv1.Address
		sent    uint64 // bytes sent so far
		read    uint64 // bytes of the peer's read so far
		closed  bool
		sawEOF  bool
		peerEnd int
		chunks  []uint64 // the sizes of its sends not yet read
	}
	names := make([]string, hosts)
	offset := map[string]time.Duration{}
	seq := map[string]uint64{}
	for i := range names {
		names[i] = fmt.Sprintf("h%d", i)
		offset[names[i]] = time.Duration(rng.Int64N(int64(2*skew)+1)) - skew
	}
	var ends []*end
	for c := range conns {
		a, b := rng.IntN(hosts), rng.IntN(hosts)
		ends = append(ends,
			&end{host: names[a], addr: &socklabv1.Address{Host: fmt.Sprintf("127.0.0.%d", a+2), Port: uint32(8000 + c)}, peerEnd: 2*c + 1},
			&end{host: names[b], addr: &socklabv1.Address{Host: fmt.Sprintf("127.0.0.%d", b+2), Port: uint32(40000 + c)}, peerEnd: 2 * c})
	}
	var out []Entry
	now := time.Duration(0)
	add := func(host, op string, e *end, off, n, value uint64) {
		seq[host]++
		p := ends[e.peerEnd]
		ev := &socklabv1.Event{Op: op, Seq: seq[host], Local: e.addr, Peer: p.addr, StreamOffset: off, PayloadLength: n,
			Result: &socklabv1.Result{Value: int64(value)}}
		out = append(out, Entry{Kind: Operation, At: now + offset[host], Host: host, Event: ev})
	}
	for range steps {
		now += time.Duration(1+rng.IntN(20)) * time.Microsecond
		e := ends[rng.IntN(len(ends))]
		p := ends[e.peerEnd]
		switch k := rng.IntN(10); {
		case k == 0:
			out = append(out, Entry{Kind: Say, At: now, Text: fmt.Sprintf("say at %v", now)})
		case k == 1 && !e.closed:
			add(e.host, "close", e, e.sent, 0, 0)
			e.closed = true
		case k < 6 && !e.closed:
			n := uint64(1 + rng.IntN(100))
			add(e.host, "send", e, e.sent, n, n)
			e.sent += n
			e.chunks = append(e.chunks, n)
		case k < 9 && p.sent > e.read:
			n := min(p.sent-e.read, uint64(1+rng.IntN(150)))
			if aligned {
				n, p.chunks = p.chunks[0], p.chunks[1:]
			}
			add(e.host, "recv", e, e.read, n, n)
			e.read += n
		case p.closed && p.sent == e.read && !e.sawEOF:
			add(e.host, "recv", e, e.read, 0, 0)
			e.sawEOF = true
		default:
			add(e.host, "getsockname", e, 0, 0, 0)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func same(a, b Entry) bool { return a.Event == b.Event && a.Text == b.Text && a.Host == b.Host }

// TestMergeAsByScan: on random runs of two to five hosts with skewed clocks, Merge orders
// every entry as the scanning merge did.
func TestMergeAsByScan(t *testing.T) {
	for i := range 300 {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		run := randomRun(rng, 2+i%4, 1+i%5, 50+rng.IntN(400), time.Duration(i%60)*time.Microsecond, true)
		want := mergeByScan(slices.Clone(run))
		got := Merge(slices.Clone(run))
		if len(got) != len(want) {
			t.Fatalf("seed %d: Merge kept %d entries of %d", i, len(got), len(want))
		}
		for k := range got {
			if !same(got[k], want[k]) {
				t.Fatalf("seed %d: entry %d is %s %s seq %d, the scanning merge has %s %s seq %d", i, k,
					got[k].Host, got[k].Event.GetOp(), got[k].Event.GetSeq(), want[k].Host, want[k].Event.GetOp(), want[k].Event.GetSeq())
			}
		}
	}
}

// TestMergeRecvAfterItsSend: in every merged random run, no stream recv comes before a
// send whose bytes it got, or before the close whose end of stream it reports.
func TestMergeRecvAfterItsSend(t *testing.T) {
	for i := range 100 {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		got := Merge(randomRun(rng, 2+i%3, 4, 400, time.Duration(i%80)*time.Microsecond, i%2 == 0))
		for k, r := range got {
			if !isStreamRecv(r) {
				continue
			}
			for _, s := range got[k+1:] {
				if isStreamSend(s) && feeds(s, r) {
					t.Fatalf("seed %d: %s recv at offset %d shown before %s %s at offset %d", i, r.Host, r.Event.GetStreamOffset(),
						s.Host, s.Event.GetOp(), s.Event.GetStreamOffset())
				}
			}
		}
	}
}

// BenchmarkMerge merges runs of 10k, 100k and 1M entries of four hosts, and reports its
// time per entry as a ratio to a baseline measured in the same run: sorting the same
// entries by time alone (O(n log n)). A ratio that stays flat as n grows is Merge's
// O(n log n); a quadratic merge's ratio grows tenfold with each size. At 10k entries it
// also times the scanning merge against Merge.
func BenchmarkMerge(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		rng := rand.New(rand.NewPCG(uint64(n), 3))
		run := randomRun(rng, 4, 8, n, 30*time.Microsecond, false)
		work := make([]Entry, len(run))
		b.Run(fmt.Sprintf("entries=%d", len(run)), func(b *testing.B) {
			var base, merge time.Duration
			for b.Loop() {
				copy(work, run)
				t0 := time.Now()
				sort.SliceStable(work, func(i, j int) bool { return work[i].At < work[j].At })
				base += time.Since(t0)
				copy(work, run)
				t0 = time.Now()
				Merge(work)
				merge += time.Since(t0)
			}
			b.ReportMetric(float64(merge.Nanoseconds())/float64(b.N)/float64(len(run)), "merge-ns/entry")
			b.ReportMetric(float64(merge)/float64(base), "x-sort")
		})
		if n > 10_000 {
			continue
		}
		b.Run(fmt.Sprintf("by-scan/entries=%d", len(run)), func(b *testing.B) {
			var base, scan time.Duration
			for b.Loop() {
				copy(work, run)
				t0 := time.Now()
				Merge(work)
				base += time.Since(t0)
				copy(work, run)
				t0 = time.Now()
				mergeByScan(work)
				scan += time.Since(t0)
			}
			b.ReportMetric(float64(scan)/float64(base), "x-merge")
		})
	}
}

// TestMergerWindow: entries added as a run's agents would report them (each when it
// ends, a host's clock skewed by up to skew) and flushed as they come, with a watermark
// that trails the present by the clocks' disagreement, come out as Merge orders the
// whole run, while the Merger holds only the window.
func TestMergerWindow(t *testing.T) {
	for i := range 100 {
		rng := rand.New(rand.NewPCG(uint64(i), 13))
		skew := time.Duration(i%40) * time.Microsecond
		run := randomRun(rng, 2+i%3, 1+i%4, 2000, skew, i%2 == 0)
		// True times: every entry's At less its host's skew is the order it happened in.
		arrival := slices.Clone(run)
		for k := range arrival {
			arrival[k].Duration = time.Duration(rng.IntN(5)) * time.Microsecond
		}
		want := Merge(slices.Clone(arrival))
		slices.SortStableFunc(arrival, func(a, b Entry) int { return cmp.Compare(a.At+a.Duration, b.At+b.Duration) })
		var (
			m       Merger
			got     []Entry
			maxHeld int
		)
		for k, e := range arrival {
			m.Add(e)
			// Nothing still to come starts before the next arrival's start, less what the
			// clocks may disagree by.
			if k+1 < len(arrival) {
				m.Flush(arrival[k+1].At-2*skew-5*time.Microsecond, func(e Entry) { got = append(got, e) })
			}
			maxHeld = max(maxHeld, m.Held())
		}
		m.Flush(Forever, func(e Entry) { got = append(got, e) })
		if len(got) != len(want) {
			t.Fatalf("seed %d: flushed %d entries of %d", i, len(got), len(want))
		}
		for k := range got {
			if !same(got[k], want[k]) {
				t.Fatalf("seed %d: entry %d is %s %s seq %d, Merge has %s %s seq %d", i, k,
					got[k].Host, got[k].Event.GetOp(), got[k].Event.GetSeq(), want[k].Host, want[k].Event.GetOp(), want[k].Event.GetSeq())
			}
		}
		if maxHeld > len(run)/4 {
			t.Errorf("seed %d: the Merger held up to %d entries of %d", i, maxHeld, len(run))
		}
	}
}

// TestMergerTrim: with a watermark that never moves (a call in flight for the whole run),
// Trim keeps the Merger at its bound, and what leaves keeps each host's order.
func TestMergerTrim(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	run := randomRun(rng, 3, 4, 5000, 20*time.Microsecond, false)
	slices.SortStableFunc(run, func(a, b Entry) int { return cmp.Compare(a.At, b.At) }) // as they would arrive
	var (
		m   Merger
		got []Entry
	)
	const keep = 500
	for _, e := range run {
		m.Add(e)
		m.Flush(0, func(e Entry) { got = append(got, e) })
		m.Trim(keep, func(e Entry) { got = append(got, e) })
		if m.Held() > keep {
			t.Fatalf("the Merger holds %d entries, over its bound %d", m.Held(), keep)
		}
	}
	m.Flush(Forever, func(e Entry) { got = append(got, e) })
	if len(got) != len(run) {
		t.Fatalf("emitted %d entries of %d", len(got), len(run))
	}
	last := map[string]Entry{}
	for _, e := range got {
		if p, ok := last[e.Host]; ok && e.Host != "" && before(e, p) {
			t.Fatalf("%s seq %d emitted after seq %d", e.Host, e.Event.GetSeq(), p.Event.GetSeq())
		}
		last[e.Host] = e
	}
}
