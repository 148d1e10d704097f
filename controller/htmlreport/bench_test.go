package htmlreport_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// renderVar, set in a process BenchmarkRenderMemory starts, says what TestRenderHelper
// renders: "html N" or "text N" for a run of N ping-pong events.
const renderVar = "SOCKLAB_RENDER"

// TestRenderHelper is not a test: it is the process BenchmarkRenderMemory starts to
// render one synthesised run, so that the run's peak RSS is its own.
func TestRenderHelper(t *testing.T) {
	spec := os.Getenv(renderVar)
	if spec == "" {
		t.Skip("the process BenchmarkRenderMemory starts, to render one run")
	}
	var format string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %d", &format, &n); err != nil {
		t.Fatalf("%s=%q: %v", renderVar, spec, err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := bufio.NewWriter(f)
	var w interface {
		report.Writer
		Err() error
	}
	switch format {
	case "html":
		w = htmlreport.New(out, htmlreport.Options{})
	case "text":
		w = report.NewText(out, report.TextOptions{})
	default:
		t.Fatalf("%s=%q: want html or text", renderVar, spec)
	}
	w.Header(pingPongHeader())
	pingPong(n, w.Entry)
	w.End(pingPongResult())
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	fmt.Printf("bytes=%d\n", st.Size())
}

// rendered is one run rendered in a process of its own.
type rendered struct {
	peakRSS int64 // bytes
	elapsed time.Duration
}

func renderIn(b *testing.B, format string, n int) rendered {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRenderHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), renderVar+"="+format+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("render %s of %d events: %v\n%s", format, n, err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for the render process")
	}
	return rendered{peakRSS: ru.Maxrss * 1024, elapsed: time.Since(start)}
}

// BenchmarkRenderMemory renders a synthesised run of 10,000 and of 1,000,000 events
// (a TCP ping-pong) to report.html and to the text transcript, each in a process of its
// own, and prints each one's peak RSS and time; it fails if the long run's peak RSS is
// more than twice the short one's. Run it alone, once:
//
//	go test -run '^$' -bench BenchmarkRenderMemory -benchtime 1x ./controller/htmlreport/
func BenchmarkRenderMemory(b *testing.B) {
	const short, long = 10_000, 1_000_000
	for _, format := range []string{"html", "text"} {
		s := renderIn(b, format, short)
		l := renderIn(b, format, long)
		ratio := float64(l.peakRSS) / float64(s.peakRSS)
		b.Logf("%s: %d events: peak RSS %.1f MiB in %v; %d events: peak RSS %.1f MiB in %v; ratio %.2f",
			format, short, mib(s.peakRSS), s.elapsed.Round(time.Millisecond), long, mib(l.peakRSS), l.elapsed.Round(time.Millisecond), ratio)
		b.ReportMetric(mib(s.peakRSS), format+"-10k-MiB")
		b.ReportMetric(mib(l.peakRSS), format+"-1M-MiB")
		b.ReportMetric(ratio, format+"-ratio")
		if ratio > 2 {
			b.Errorf("%s: a run of %d events peaks at %.1f MiB, %.2fx the %.1f MiB of %d events: want at most 2x", format, long, mib(l.peakRSS), ratio, mib(s.peakRSS), short)
		}
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// BenchmarkWriterEntry is the cost of one entry through the HTML writer, past its cap
// (held in the tail ring) as most of a long run's entries are.
func BenchmarkWriterEntry(b *testing.B) {
	var entries []transcript.Entry
	pingPong(4006, func(e transcript.Entry) { entries = append(entries, e) })
	w := htmlreport.New(io.Discard, htmlreport.Options{Head: 10, Tail: 10})
	w.Header(pingPongHeader())
	i := 0
	for b.Loop() {
		e := entries[6+i%4000]
		w.Entry(e)
		i++
	}
}
