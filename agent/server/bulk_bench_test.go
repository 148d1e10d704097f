package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
)

// bulkBenchChunk is the size of one send or recv in the baseline: session's bulkChunk, the
// size send_bulk and drain use.
const bulkBenchChunk = 64 << 10

// BenchmarkBulkVsCopy compares send_bulk + drain between two sockets of one agent with a
// plain Go TCP copy over 127.0.0.1 in the same process (a writer goroutine writing a
// filled 64 KiB buffer, a reader reading into another), both moving the same number of
// bytes per round. Rounds alternate which goes first so that machine noise falls on both
// alike; the medians of each one's rate and of the per-round ratio (bulk / copy) are
// reported. The target is a ratio of at least 0.9. When iperf3 is installed its loopback
// rate is reported too, for reference. It is reported, never asserted.
func BenchmarkBulkVsCopy(b *testing.B) {
	const size = 256 << 20
	a := agenttest.Start(b)
	s := a.Session(b, time.Hour)
	cli, conn, _ := s.Pair("127.0.0.1")
	ctx := b.Context()

	bulk := func() float64 {
		sent := make(chan error, 1)
		start := time.Now()
		go func() {
			resp, err := s.Session.Do(ctx, cli, client.SendBulk(size))
			if err == nil && resp.GetEvent().GetResult().GetValue() != size {
				err = errors.New("send_bulk: short count")
			}
			sent <- err
		}()
		got := s.OK(conn, client.Drain(size)).GetEvent().GetResult().GetValue()
		d := time.Since(start)
		if err := <-sent; err != nil {
			b.Fatalf("send_bulk: %v", err)
		}
		if got != size {
			b.Fatalf("drain = %d, want %d", got, size)
		}
		return gbits(size, d)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	w, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r, err := lis.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	wbuf, rbuf := make([]byte, bulkBenchChunk), make([]byte, bulkBenchChunk)
	for i := range wbuf {
		wbuf[i] = byte(i % 251)
	}
	copyRound := func() float64 {
		wrote := make(chan error, 1)
		start := time.Now()
		go func() {
			var err error
			for left := size; left > 0 && err == nil; left -= bulkBenchChunk {
				_, err = w.Write(wbuf[:min(left, bulkBenchChunk)])
			}
			wrote <- err
		}()
		var err error
		for got := 0; got < size && err == nil; {
			var m int
			m, err = r.Read(rbuf[:min(size-got, bulkBenchChunk)])
			got += m
		}
		d := time.Since(start)
		if err != nil {
			b.Fatalf("copy: read: %v", err)
		}
		if err := <-wrote; err != nil {
			b.Fatalf("copy: write: %v", err)
		}
		return gbits(size, d)
	}

	bulk() // warm up both paths
	copyRound()
	var bs, cs, ratios []float64
	i := 0
	for b.Loop() {
		var bg, cg float64
		if i%2 == 0 {
			bg, cg = bulk(), copyRound()
		} else {
			cg, bg = copyRound(), bulk()
		}
		bs, cs, ratios = append(bs, bg), append(cs, cg), append(ratios, bg/cg)
		i++
	}
	b.StopTimer()
	bm, cm, rm := median(bs), median(cs), median(ratios)
	b.ReportMetric(bm, "bulk-Gbit/s")
	b.ReportMetric(cm, "copy-Gbit/s")
	b.ReportMetric(rm, "ratio")
	b.Logf("%d rounds of %d MiB: send_bulk/drain %.2f Gbit/s, Go copy %.2f Gbit/s, median ratio %.2f (target >= 0.9)", len(bs), size>>20, bm, cm, rm)
	if g, err := iperf3(b, size); err == nil {
		b.ReportMetric(g, "iperf3-Gbit/s")
		b.Logf("iperf3 over 127.0.0.1 (-l 64K): %.2f Gbit/s", g)
	} else {
		b.Logf("iperf3: %v", err)
	}
}

// gbits is the rate of moving n bytes in d, in Gbit/s.
func gbits(n int, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e9 }

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// iperf3 runs iperf3's server and client over 127.0.0.1 moving n bytes with 64 KiB
// writes, and returns the rate the receiver saw.
func iperf3(b *testing.B, n int) (float64, error) {
	path, err := exec.LookPath("iperf3")
	if err != nil {
		return 0, errors.New("not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	srv := exec.CommandContext(b.Context(), path, "-s", "-1", "-B", "127.0.0.1", "-p", port)
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	type result struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var res result
	for range 50 { // the server takes a moment to listen
		res = result{}
		out, _ := exec.CommandContext(b.Context(), path, "-c", "127.0.0.1", "-p", port, "-n", strconv.Itoa(n), "-l", "64K", "-J").Output()
		if err := json.Unmarshal(out, &res); err != nil {
			return 0, fmt.Errorf("iperf3 output: %w", err)
		}
		if res.Error == "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.Error != "" {
		return 0, errors.New(res.Error)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}
