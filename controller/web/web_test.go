package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/browsertest"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/web"
	"github.com/socklab/socklab/labs"
)

func TestMain(m *testing.M) {
	process.Init()
	topology.Init()
	os.Exit(m.Run())
}

// serve serves h on a fresh loopback port until the test ends, and returns its address.
func serve(t *testing.T, feed *web.Feed, ctl *web.Control) string {
	t.Helper()
	lis, err := web.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, lis, web.Handler(addr, feed, ctl, "test")) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return addr
}

// headerSink hands a run's header to a feed.
type headerSink struct{ feed *web.Feed }

func (s headerSink) Header(h transcript.Header) { s.feed.Header(h) }
func (headerSink) Entry(transcript.Entry)       {}

// liveRun runs a built-in lab paced by ctl, feeding feed as a command line's --web does;
// wait returns its entries, in display order, once it has ended.
func liveRun(t *testing.T, name string, feed *web.Feed, ctl *web.Control) (wait func() []transcript.Entry) {
	t.Helper()
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var entries []transcript.Entry
	done := make(chan *transcript.Record, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		opts := runner.Options{Step: ctl.Wait, Ordered: func(e transcript.Entry) {
			mu.Lock()
			entries = append(entries, e)
			mu.Unlock()
			feed.Entry(e)
		}}
		rec := runner.Run(ctx, l, topology.Local{}, opts, headerSink{feed})
		feed.End(&rec.Result)
		done <- rec
	}()
	var once sync.Once
	var rec *transcript.Record
	wait = func() []transcript.Entry {
		once.Do(func() { rec = <-done })
		if rec.ExitCode != transcript.ExitPassed {
			t.Errorf("%s ended with %d: %s", name, rec.ExitCode, rec.Error)
		}
		mu.Lock()
		defer mu.Unlock()
		return entries
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return wait
}

// checkGoroutines fails the test when goroutines started during it outlive it.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := goruntime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		n := goruntime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			n = goruntime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines before the test, %d after:\n%s", before, n, buf[:goruntime.Stack(buf, true)])
		}
	})
}

// counts is what the page shows of the ladder.
type counts struct {
	Steps  int    `json:"steps"`
	Arrows int    `json:"arrows"`
	Status string `json:"status"`
}

// countsJS reads the arrows the page drew (its SVG's), the steps its renderer drew and
// its status line.
const countsJS = `({steps: window.socklabLadder ? socklabLadder.steps() : 0,
	arrows: document.querySelectorAll("#report svg.ladder-svg g.arrow").length,
	status: document.getElementById("status").textContent})`

// ladderPage is a tab on a run's page.
type ladderPage struct{ *browsertest.Browser }

// Do runs actions in the tab.
func (p ladderPage) Do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	p.Browser.Do(t, actions...)
}

func (p ladderPage) counts(t *testing.T) counts {
	t.Helper()
	return browsertest.Eval[counts](t, p.Browser, countsJS)
}

// waitFor polls the page until ok holds (or fails the test after timeout).
func (p ladderPage) waitFor(t *testing.T, what string, timeout time.Duration, ok func(counts) bool) counts {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := p.counts(t)
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; the page shows %+v", timeout, what, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLivePage: chat-relay paced at 150 ms, watched in a real Chromium: the ladder grows
// as the run goes; pause stops it; step lets exactly one more step through; a new pace
// takes; the ladder ends with as many arrows as the finished record has; the page logs
// no error and asks nothing of anywhere but its own server.
func TestLivePage(t *testing.T) {
	checkGoroutines(t)
	// The run starts paused (as --step starts it), its agents starting while the browser
	// does; the page joins it at its first step and lets it go.
	feed, ctl := &web.Feed{}, web.NewControl(150*time.Millisecond, true)
	addr := serve(t, feed, ctl)
	wait := liveRun(t, "chat-relay", feed, ctl)
	p := ladderPage{browsertest.Start(t, 1200, 900)}
	p.Do(t, chromedp.Navigate("http://"+addr+"/"))
	p.waitFor(t, "the run paused after its first step", 10*time.Second, func(c counts) bool { return strings.Contains(c.Status, "paused after step 1 ") })
	p.Do(t, chromedp.Click(chromedp.ID("resume")))

	// It grows: sampled as the run goes, the arrows only ever increase, and do increase.
	first := p.waitFor(t, "the first arrow", 10*time.Second, func(c counts) bool { return c.Arrows > 0 })
	var samples []int
	last := first.Arrows
	for i := 0; i < 40 && len(samples) < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		c := p.counts(t)
		if c.Arrows < last {
			t.Fatalf("arrows went from %d down to %d", last, c.Arrows)
		}
		if c.Arrows > last {
			samples = append(samples, c.Arrows)
		}
		last = c.Arrows
	}
	t.Logf("arrows, sampled as they came: %d then %v", first.Arrows, samples)
	if len(samples) < 2 {
		t.Fatalf("the arrows grew only %d times in 4 s at a 150 ms pace: %d then %v", len(samples), first.Arrows, samples)
	}

	// Pause: the run holds after its step; the page draws every step it took (a moment
	// behind the run, in display order), then no more.
	p.Do(t, chromedp.Click(chromedp.ID("pause")))
	paused := p.waitFor(t, "the pause", 5*time.Second, func(c counts) bool { return strings.Contains(c.Status, "paused after step") })
	st, _ := ctl.State()
	if !st.Paused || !st.Waiting {
		t.Fatalf("the control after pause: %+v", st)
	}
	if !strings.Contains(paused.Status, fmt.Sprintf("paused after step %d ", st.Steps)) {
		t.Errorf("the page says %q; the run paused after step %d", paused.Status, st.Steps)
	}
	held := p.waitFor(t, fmt.Sprintf("the %d steps taken, drawn", st.Steps), 5*time.Second, func(c counts) bool { return c.Steps >= st.Steps })
	time.Sleep(700 * time.Millisecond)
	if c := p.counts(t); c.Steps != st.Steps || c.Arrows != held.Arrows {
		t.Fatalf("paused after step %d, the page drew %+v, then %+v", st.Steps, held, c)
	}

	// Step: one more step, then held again.
	p.Do(t, chromedp.Click(chromedp.ID("step")))
	want := fmt.Sprintf("paused after step %d ", st.Steps+1)
	p.waitFor(t, want, 5*time.Second, func(c counts) bool { return strings.Contains(c.Status, want) })
	p.waitFor(t, "the step drawn", 5*time.Second, func(c counts) bool { return c.Steps > st.Steps })
	time.Sleep(700 * time.Millisecond)
	if c := p.counts(t); c.Steps != st.Steps+1 {
		t.Errorf("step: the page went from %d to %d steps, want one more", st.Steps, c.Steps)
	}

	// A new pace, then resume: the run goes to its end.
	p.Do(t, chromedp.SetValue(chromedp.ID("pace"), "20"), chromedp.Click(chromedp.ID("set-pace")))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := ctl.State(); st.PaceMs == 20 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the page set the pace to %d ms, want 20 (the page shows %+v, its pace input %q)", st.PaceMs, p.counts(t), browsertest.Eval[string](t, p.Browser, `document.getElementById("pace").value`))
		}
	}
	p.Do(t, chromedp.Click(chromedp.ID("resume")))
	p.waitFor(t, "the new pace, shown", 5*time.Second, func(c counts) bool {
		return strings.Contains(c.Status, "pace 20 ms") || strings.Contains(c.Status, "ended")
	})
	entries := wait()
	end := p.waitFor(t, "the run's end", 10*time.Second, func(c counts) bool { return strings.Contains(c.Status, "ended") })

	steps, arrows := ladder.Build(entries)
	if end.Arrows != len(arrows) || end.Steps != len(steps) {
		t.Errorf("the page ends with %d steps and %d arrows; the record has %d and %d", end.Steps, end.Arrows, len(steps), len(arrows))
	}
	if !strings.Contains(end.Status, "ended: passed") {
		t.Errorf("the page's status at the end: %q", end.Status)
	}
	verdict := browsertest.Eval[string](t, p.Browser, `document.querySelector("#report .verdict").textContent`)
	if !strings.HasPrefix(verdict, "PASSED") {
		t.Errorf("the page's verdict: %q", verdict)
	}
	if shown := browsertest.Eval[string](t, p.Browser, `getComputedStyle(document.getElementById("controls")).display`); shown != "none" {
		t.Errorf("the run has ended, and its page still shows its pace controls (display %s)", shown)
	}
	rows := browsertest.Eval[int](t, p.Browser, `document.querySelectorAll("#report tr.check-pass").length`)
	if rows != 4 {
		t.Errorf("the page shows %d checks passed, want chat-relay's 4", rows)
	}

	// A page opened after the run draws all of it.
	p.Do(t, chromedp.Navigate("http://"+addr+"/"))
	late := p.waitFor(t, "the late page's end", 10*time.Second, func(c counts) bool { return strings.Contains(c.Status, "ended") })
	if late.Steps != end.Steps || late.Arrows != end.Arrows {
		t.Errorf("a page opened after the run shows %d steps and %d arrows; the live one showed %d and %d", late.Steps, late.Arrows, end.Steps, end.Arrows)
	}
	p.Browser.CheckClean(t, addr)
}

// TestLatePage: a page that comes after the run has ended gets all of it; one that comes
// after more steps than the feed keeps gets its first and its latest, with a gap between
// that says how many it leaves out.
func TestLatePage(t *testing.T) {
	checkGoroutines(t)
	feed := &web.Feed{Head: 3, Tail: 5}
	addr := serve(t, feed, nil)
	feed.Header(transcript.Header{RunID: "run-1", Lab: "narration", Hosts: []transcript.Host{{Role: "a", Address: "127.0.0.2"}}})
	for i := range 20 {
		feed.Entry(transcript.Entry{Kind: transcript.Say, Text: fmt.Sprint("line ", i)})
	}
	feed.End(&transcript.Result{ExitCode: transcript.ExitPassed})

	recs := events(t, addr, "")
	if len(recs) == 0 || recs[0].Header == nil || recs[0].Header.RunID != "run-1" {
		t.Fatalf("the stream starts with %+v, want the run's header", recs)
	}
	var steps []string
	for _, r := range recs[1 : len(recs)-1] {
		switch {
		case r.Step != nil:
			steps = append(steps, r.Step.Text)
		case r.Gap != nil:
			steps = append(steps, fmt.Sprintf("gap %d-%d (%d)", r.Gap.From, r.Gap.To, r.Gap.Steps))
		}
	}
	want := []string{"line 0", "line 1", "line 2", "gap 3-14 (12)", "line 15", "line 16", "line 17", "line 18", "line 19"}
	if !slices.Equal(steps, want) {
		t.Errorf("a late page gets %q, want %q", steps, want)
	}
	if e := recs[len(recs)-1].End; e == nil || e.Verdict != "passed" {
		t.Errorf("last record %+v, want the end", recs[len(recs)-1])
	}

	// A page that reconnects goes on after the last record it had.
	recs = events(t, addr, "15")
	steps = nil
	for _, r := range recs {
		switch {
		case r.Step != nil:
			steps = append(steps, r.Step.Text)
		case r.End == nil:
			t.Errorf("a reconnected page got %+v again", r)
		}
	}
	if len(steps) != 5 || steps[0] != "line 15" {
		t.Errorf("after Last-Event-ID 15, steps %q, want line 15 to line 19", steps)
	}
}

// events reads a finished run's whole event stream, as a page that had lastID (unless
// "") reconnecting.
func events(t *testing.T, addr, lastID string) []htmlreport.Record {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("/events is %s", ct)
	}
	var out []htmlreport.Record
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var r htmlreport.Record
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			t.Fatalf("a record is no JSON: %q: %v", data, err)
		}
		out = append(out, r)
	}
	return out
}

// TestRefused: a non-loopback address needs the flag that allows it; a control posted as
// a form, or from another site, or to another host name, is refused.
func TestRefused(t *testing.T) {
	if _, err := web.Listen("0.0.0.0:0", false); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("Listen(0.0.0.0:0) = %v, want refused as not loopback", err)
	}
	ctl := web.NewControl(0, false)
	addr := serve(t, &web.Feed{}, ctl)
	post := func(ctype, origin, host string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/control", strings.NewReader(`{"action":"pause"}`))
		req.Header.Set("Content-Type", ctype)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, ctype, origin, host string
		want                      int
	}{
		{"form", "application/x-www-form-urlencoded", "", "", http.StatusUnsupportedMediaType},
		{"another site", "application/json", "http://evil.example", "", http.StatusForbidden},
		{"another host name", "application/json", "", "evil.example:80", http.StatusMisdirectedRequest},
		{"its own page", "application/json", "http://" + addr, "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.ctype, tc.origin, tc.host); got != tc.want {
				t.Errorf("POST /control = %d, want %d", got, tc.want)
			}
		})
	}
	if st, _ := ctl.State(); !st.Paused {
		t.Error("the page's own pause did not take")
	}
}

// TestControl: a paused Wait holds until Step; a pace change mid-wait takes at once.
func TestControl(t *testing.T) {
	ctl := web.NewControl(time.Hour, false)
	done := make(chan struct{})
	returned := make(chan struct{})
	go func() { ctl.Wait(done); close(returned) }()
	time.Sleep(20 * time.Millisecond)
	ctl.SetPace(0) // an hour's wait cut short
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return once the pace became 0")
	}
	ctl.Pause()
	returned = make(chan struct{})
	go func() { ctl.Wait(done); close(returned) }()
	for st, _ := ctl.State(); !st.Waiting; st, _ = ctl.State() {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-returned:
		t.Fatal("a paused Wait returned without a step")
	case <-time.After(50 * time.Millisecond):
	}
	ctl.Step()
	<-returned
	if st, _ := ctl.State(); st.Steps != 2 || st.Waiting || !st.Paused {
		t.Errorf("after a step: %+v, want 2 steps taken, paused, none waiting", st)
	}
	returned = make(chan struct{})
	go func() { ctl.Wait(done); close(returned) }()
	close(done) // the run interrupted: Wait gives way
	<-returned
}
