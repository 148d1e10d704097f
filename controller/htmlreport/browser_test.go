package htmlreport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/browsertest"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/pyrepr"
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

// allLabsVar, set to 1, makes TestReportInBrowser screenshot every built-in lab that
// runs on the local topology, not only defaultLabs.
const allLabsVar = "SOCKLAB_SCREENSHOT_ALL"

// defaultLabs are the labs whose reports TestReportInBrowser opens by default: a
// relay over TCP, refusals and a lost datagram, a reset.
var defaultLabs = []string{"chat-relay", "connect-refused", "rst-on-close"}

// runLab runs a built-in lab on the local topology, as socklab run does (its hosts may
// start the programs a local run may).
func runLab(t *testing.T, name string) *transcript.Record {
	t.Helper()
	l, err := labs.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	rec := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
	if rec.ExitCode != transcript.ExitPassed {
		t.Logf("%s ended with %d: %s", name, rec.ExitCode, rec.Error)
	}
	return rec
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browsertest.Browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// TestReportInBrowser runs built-in labs, writes each one's report.html, and opens it in
// a headless Chromium: no console error, no request but the file itself, a lifeline
// per host, an arrow per arrow ladder.Build finds, a click on a step shows its call, a
// hover on an arrow its payload in hex and text. It leaves a screenshot of each report
// in the artifacts folder (it logs which), and no chromium process behind it.
func TestReportInBrowser(t *testing.T) {
	names := defaultLabs
	if os.Getenv(allLabsVar) == "1" {
		names = nil
		for _, n := range labs.Names() {
			l, err := labs.Load(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Topologies) == 0 || slices.Contains(l.Topologies, "local") {
				names = append(names, n)
			}
		}
	} else {
		t.Logf("opening %s (all local labs with %s=1)", strings.Join(names, ", "), allLabsVar)
	}
	if ok, why := browsertest.Available(); !ok {
		t.Skip(why)
	}
	artifacts := browsertest.ArtifactsDir(t, "report-html")
	var b *browsertest.Browser
	t.Run("browser", func(t *testing.T) {
		b = browsertest.Start(t, 1280, 900)
		if n := b.Processes(); n == 0 {
			t.Fatal("no chromium process counted once the browser started")
		}
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				rec := runLab(t, name)
				checkReport(t, b, rec, filepath.Join(artifacts, name+".png"))
			})
		}
		t.Run("failed-check", func(t *testing.T) {
			l, err := labs.LoadFile("testdata/failing.star")
			if err != nil {
				t.Fatal(err)
			}
			rec := runner.Run(t.Context(), l, topology.Local{Programs: policy.LocalPrograms}, runner.Options{}, runner.Discard{})
			if rec.ExitCode != transcript.ExitFailed {
				t.Fatalf("failing.star ended with %d (%s), want a failed check", rec.ExitCode, rec.Error)
			}
			checkReport(t, b, rec, filepath.Join(artifacts, "failed-check.png"))
			checkFailure(t, b)
		})
		t.Run("zoom-and-pan", func(t *testing.T) { checkZoomPan(t, b) })
		t.Run("incremental", func(t *testing.T) { checkIncremental(t, b) })
		t.Run("long-run", func(t *testing.T) { checkLongRun(t, b, filepath.Join(artifacts, "long-run.png")) })
		t.Run("refused", func(t *testing.T) { checkRefused(t, b) })
	})
	if b != nil {
		if n := b.Processes(); n != 0 {
			t.Errorf("%d chromium processes left after the browser closed", n)
		}
	}
}

// checkReport writes rec's --out folder as socklab run does, opens its report.html in b
// and checks what a reader sees.
func checkReport(t *testing.T, b *browsertest.Browser, rec *transcript.Record, shot string) {
	t.Helper()
	dir := t.TempDir()
	if err := report.WriteDir(dir, rec, htmlreport.File); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, htmlreport.FileName)
	url := "file://" + page
	before := len(b.Requests())
	errsBefore := len(b.ConsoleErrors())
	if err := b.Open(url); err != nil {
		t.Fatal(err)
	}
	if !eval[bool](t, b, `typeof window.socklabLadder === "object"`) {
		t.Fatal("the page did not draw its ladder (window.socklabLadder is not set)")
	}
	if errs := b.ConsoleErrors()[errsBefore:]; len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	for _, u := range b.Requests()[before:] {
		if u != url && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "about:") {
			t.Errorf("the page requested %s: want nothing beyond the file itself", u)
		}
	}

	hosts := eval[[]string](t, b, `Array.from(document.querySelectorAll("svg .lifeline"), l => l.dataset.host)`)
	var want []string
	for _, h := range rec.Header.Hosts {
		want = append(want, h.Role)
	}
	if !slices.Equal(hosts, want) {
		t.Errorf("lifelines %q, want one per host %q", hosts, want)
	}

	steps, arrows := ladder.Build(rec.Entries)
	wantKinds := map[string]int{}
	for _, a := range arrows {
		wantKinds[a.Kind.String()]++
	}
	kinds := eval[[]string](t, b, `Array.from(document.querySelectorAll("svg .arrow"), a => a.dataset.kind)`)
	gotKinds := map[string]int{}
	for _, k := range kinds {
		gotKinds[k]++
	}
	if !maps.Equal(gotKinds, wantKinds) {
		t.Errorf("arrows drawn by kind %v, want ladder.Build's %v", gotKinds, wantKinds)
	}

	clickStep(t, b, steps, arrows)
	hoverPayload(t, b, arrows, strings.TrimSuffix(shot, ".png")+"-hover.png")

	// The whole diagram, its layout done before the capture measures the page.
	eval[int](t, b, `(window.socklabLadder.reset(), window.socklabLadder.tall(), window.scrollTo(0, 0), document.documentElement.scrollHeight)`)
	if err := b.Screenshot(shot); err != nil {
		t.Error(err)
	} else {
		t.Logf("screenshot %s", shot)
	}
}

// clickStep clicks the step that sent the first arrow with a payload (else the first
// operation) and checks that the details show its call.
func clickStep(t *testing.T, b *browsertest.Browser, steps []ladder.Step, arrows []ladder.Arrow) {
	t.Helper()
	idx := -1
	for _, a := range arrows {
		if len(a.Payload) > 0 {
			idx = a.Send
			break
		}
	}
	for i := 0; idx < 0 && i < len(steps); i++ {
		if ev := steps[i].Entry.Event; ev != nil && ev.GetOp() != "" {
			idx = i
		}
	}
	if idx < 0 {
		t.Error("no step to click")
		return
	}
	ev := steps[idx].Entry.Event
	want := report.Call(ev)
	if h := report.Handle(ev); h != "" {
		want = h + "." + want
	}
	x, y := center(t, b, fmt.Sprintf(`document.querySelector('.step[data-index="%d"] circle')`, idx), idx)
	if err := chromedp.Do(b.Context(), chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	got := eval[string](t, b, `(document.querySelector("#details .call") || {}).textContent || ""`)
	if got != want {
		t.Errorf("a click on step %d shows call %q, want %q", idx, got, want)
	}
	if pos := steps[idx].Entry.Pos; pos != "" {
		if got := eval[string](t, b, `(document.querySelector("#details .pos") || {}).textContent || ""`); got != pos {
			t.Errorf("a click on step %d shows lab line %q, want %q", idx, got, pos)
		}
	}
}

// hoverPayload moves the mouse onto the first arrow with a payload and checks that the
// tooltip shows its bytes in hex and as Python's repr; for the first lab, it takes a
// screenshot of the page with the tooltip (shot).
func hoverPayload(t *testing.T, b *browsertest.Browser, arrows []ladder.Arrow, shot string) {
	t.Helper()
	var a *ladder.Arrow
	for i := range arrows {
		if len(arrows[i].Payload) > 0 {
			a = &arrows[i]
			break
		}
	}
	if a == nil {
		return
	}
	path := fmt.Sprintf(`document.querySelector('.arrow[data-send="%d"][data-recv="%d"] .arrow-hit')`, a.Send, a.Recv)
	x, y := midpoint(t, b, path, a.Send)
	if err := chromedp.Do(b.Context(), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y)); err != nil {
		t.Fatal(err)
	}
	tip := eval[string](t, b, `(function () { var t = document.querySelector(".tooltip"); return t.hidden ? "" : t.textContent; })()`)
	var hexWant []string
	for _, c := range a.Payload[:min(len(a.Payload), 8)] {
		hexWant = append(hexWant, fmt.Sprintf("%02x", c))
	}
	for _, want := range []string{strings.Join(hexWant, " "), pyrepr.Bytes(a.Payload, uint64(len(a.Payload)), 0)} {
		if !strings.Contains(tip, want) {
			t.Errorf("hovering the %s arrow from step %d shows %q, want it to hold %q", a.Kind, a.Send, tip, want)
		}
	}
	if filepath.Base(shot) == defaultLabs[0]+"-hover.png" {
		if err := b.Screenshot(shot); err != nil {
			t.Error(err)
		}
	}
	if err := chromedp.Do(b.Context(), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 2, 2)); err != nil {
		t.Fatal(err)
	}
}

// center reveals step idx and returns the page coordinates of the middle of the
// element js selects.
func center(t *testing.T, b *browsertest.Browser, js string, idx int) (float64, float64) {
	t.Helper()
	xy := eval[[]float64](t, b, fmt.Sprintf(`(function () {
		window.scrollTo(0, 0); window.socklabLadder.reveal(%d);
		var r = %s.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, idx, js))
	return xy[0], xy[1]
}

// midpoint reveals step idx and returns the page coordinates of the middle of the SVG
// path js selects.
func midpoint(t *testing.T, b *browsertest.Browser, js string, idx int) (float64, float64) {
	t.Helper()
	xy := eval[[]float64](t, b, fmt.Sprintf(`(function () {
		window.scrollTo(0, 0); window.socklabLadder.reveal(%d);
		var p = %s, m = p.getPointAtLength(p.getTotalLength() / 2);
		var pt = p.ownerSVGElement.createSVGPoint(); pt.x = m.x; pt.y = m.y;
		pt = pt.matrixTransform(p.getScreenCTM()); return [pt.x, pt.y]; })()`, idx, js))
	return xy[0], xy[1]
}

// checkFailure checks what the report of testdata/failing.star shows of its failed
// check: FAIL with its hint in the checks table, and the hosts' socket tables when it
// failed, with the TIME_WAIT, the CLOSE_WAIT and the full backlog the lab left marked.
func checkFailure(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	state := eval[string](t, b, `document.querySelector('#checks tr[data-check="never"] .check-state').textContent`)
	hint := eval[string](t, b, `document.querySelector('#checks tr[data-check="never"] .check-hint').textContent`)
	if state != "FAIL" || !strings.Contains(hint, "look at the socket tables below") {
		t.Errorf("check never shows %q with hint %q, want FAIL and its hint", state, hint)
	}
	marks := eval[map[string]int](t, b, `(function () {
		var out = {};
		["ss-time-wait", "ss-close-wait", "ss-backlog-full"].forEach(function (c) {
			out[c] = document.querySelectorAll('.snapshot[data-check="never"] tr.' + c).length;
		});
		return out; })()`)
	for _, c := range []string{"ss-time-wait", "ss-close-wait", "ss-backlog-full"} {
		if marks[c] == 0 {
			t.Errorf("the snapshot of check never marks no row %s: %v", c, marks)
		}
	}
	// A click on the failed check's row shows where it failed, with the tables.
	xy := eval[[]float64](t, b, `(function () {
		var row = document.querySelector('#checks tr[data-check="never"]'); row.scrollIntoView({block: "center"});
		var r = row.getBoundingClientRect(); return [r.x + 20, r.y + r.height / 2]; })()`)
	if err := chromedp.Do(b.Context(), chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
		t.Fatal(err)
	}
	title := eval[string](t, b, `document.querySelector("#details h2").textContent`)
	tables := eval[int](t, b, `document.querySelectorAll("#details .ss-table").length`)
	if title != "Check never failed" || tables != 2 {
		t.Errorf("a click on check never's row shows %q with %d socket tables, want where it failed with both hosts' tables", title, tables)
	}
}

// transform returns the diagram's scale and translation.
func transform(t *testing.T, b *browsertest.Browser) (k, x, y float64) {
	t.Helper()
	v := eval[[]float64](t, b, `(function () {
		var m = document.querySelector("svg.ladder-svg g.content").transform.baseVal.consolidate().matrix;
		return [m.a, m.e, m.f]; })()`)
	return v[0], v[1], v[2]
}

// checkZoomPan, on the page the browser shows: the wheel zooms, a drag pans without
// opening a step's details, and the buttons zoom in and back to actual size.
func checkZoomPan(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	eval[bool](t, b, `(window.socklabLadder.tall(false), window.scrollTo(0, 0), true)`)
	r := eval[[]float64](t, b, `(function () { var r = document.querySelector("svg.ladder-svg").getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()`)
	cx, cy := r[0]+r[2]/2, r[1]+r[3]/2
	k0, _, _ := transform(t, b)
	wheel := func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 1, -240 } // the protocol wants both
	if err := chromedp.Do(b.Context(), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, cx, cy, wheel)); err != nil {
		t.Fatal(err)
	}
	// The wheel's event reaches the page asynchronously: wait for the zoom.
	var k1 float64
	for range 50 {
		if k1, _, _ = transform(t, b); k1 != k0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if k1 <= k0 {
		t.Errorf("the wheel up zoomed from %.2f to %.2f, want in", k0, k1)
	}
	before := eval[string](t, b, `document.getElementById("details").dataset.index || ""`)
	_, x0, y0 := transform(t, b)
	if err := chromedp.Do(b.Context(),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, cx, cy, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, cx-40, cy-60, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, cx-80, cy-120, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, cx-80, cy-120, chromedp.ButtonLeft),
	); err != nil {
		t.Fatal(err)
	}
	_, x1, y1 := transform(t, b)
	if math.Abs(x1-x0+80) > 0.5 || math.Abs(y1-y0+120) > 0.5 {
		t.Errorf("a drag of (-80, -120) moved the diagram by (%.0f, %.0f)", x1-x0, y1-y0)
	}
	if after := eval[string](t, b, `document.getElementById("details").dataset.index || ""`); after != before {
		t.Errorf("a drag opened step %s's details: a drag is not a click", after)
	}
	click := func(sel string) {
		t.Helper()
		x, y := center(t, b, `document.querySelector("`+sel+`")`, 0)
		if err := chromedp.Do(b.Context(), chromedp.MouseClickXY(x, y)); err != nil {
			t.Fatal(err)
		}
	}
	click(".toolbar .zoom-reset")
	if k, x, y := transform(t, b); k != 1 || x != 0 || y != 0 {
		t.Errorf("1:1 left the diagram at scale %.2f, (%.0f, %.0f), want 1, (0, 0)", k, x, y)
	}
	click(".toolbar .zoom-in")
	if k, _, _ := transform(t, b); k <= 1 {
		t.Errorf("+ left the scale at %.2f, want more than 1", k)
	}
}

// checkLongRun opens the report of a synthesised run longer than the page draws (with
// caps smaller than the defaults, to keep the test short): no console error, the first
// and last steps drawn, and the page says how many it left out.
func checkLongRun(t *testing.T, b *browsertest.Browser, shot string) {
	t.Helper()
	const n, head, tail = 2_006, 300, 100
	page := filepath.Join(t.TempDir(), htmlreport.FileName)
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	w := htmlreport.New(f, htmlreport.Options{Head: head, Tail: tail})
	w.Header(pingPongHeader())
	pingPong(n, w.Entry)
	w.End(pingPongResult())
	if err := errors.Join(w.Err(), f.Close()); err != nil {
		t.Fatal(err)
	}
	errsBefore := len(b.ConsoleErrors())
	if err := b.Open("file://" + page); err != nil {
		t.Fatal(err)
	}
	if errs := b.ConsoleErrors()[errsBefore:]; len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	drawn := eval[int](t, b, `window.socklabLadder.steps()`)
	if want := head + tail; drawn != want {
		t.Errorf("%d steps drawn of %d, want %d", drawn, n, want)
	}
	left := n - head - tail
	gap := eval[string](t, b, `(document.querySelector("svg .band-text.band-gap") || {}).textContent || ""`)
	notice := eval[string](t, b, `document.querySelector(".run-notice").textContent`)
	for _, text := range []string{gap, notice} {
		if !strings.Contains(text, fmt.Sprintf("%s steps", commas(left))) {
			t.Errorf("the page says %q, want it to say the %s steps it left out", text, commas(left))
		}
	}
	if !eval[bool](t, b, fmt.Sprintf(`window.socklabLadder.reveal(%d)`, n-1)) {
		t.Errorf("the last step, %d, is not drawn", n-1)
	}
	t.Logf("drawn in %.0f ms", eval[float64](t, b, `window.socklabDrawMs`))
	if err := b.Screenshot(shot); err != nil {
		t.Error(err)
	}
}

// commas writes n with thousands separators, as the page does ("19,006").
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// checkIncremental feeds a run's records one at a time to a ladder made with follow, as
// a live page does, on the page the browser shows: the arrows grow as their records
// come, and the newest step stays in view.
func checkIncremental(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	eval[bool](t, b, `(function () {
		var el = document.createElement("div"); el.id = "live"; document.body.prepend(el);
		window.live = SocklabLadder.create(el, {follow: true}); window.scrollTo(0, 0); return true; })()`)
	var enc htmlreport.Encoder
	var recs []htmlreport.Record
	recs = append(recs, enc.Header(pingPongHeader()))
	pingPong(166, func(e transcript.Entry) { recs = append(recs, enc.Entry(e)...) })
	recs = append(recs, enc.End(pingPongResult())...)
	arrows := 0
	for i, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := eval[[]float64](t, b, `(function (rec) { window.live.add(rec);
			var svg = document.querySelector("#live svg").getBoundingClientRect();
			var dots = document.querySelectorAll("#live .step circle"), last = dots[dots.length - 1];
			var y = last ? last.getBoundingClientRect().y - svg.y : 0;
			return [window.live.arrows(), y, svg.height]; })(`+string(line)+`)`)
		if r.Arrow != nil {
			arrows++
		}
		if int(got[0]) != arrows {
			t.Fatalf("after record %d the ladder draws %v arrows, want %d", i, got[0], arrows)
		}
		if r.Step != nil && (got[1] < 0 || got[1] > got[2]) {
			t.Fatalf("step %d is drawn at y %.0f, out of the diagram's %.0f: follow keeps the newest in view", r.Step.Index, got[1], got[2])
		}
	}
	if arrows < 80 {
		t.Errorf("%d arrows drawn, want the ping-pong's 80", arrows)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// BenchmarkOpenLongRun writes the report of a synthesised 1,000,000-event run (drawn in
// part: the default caps) and opens it in Chromium, reporting the page's size, the time
// to open it and the renderer's own drawing time:
//
//	go test -run '^$' -bench BenchmarkOpenLongRun -benchtime 1x ./controller/htmlreport/
func BenchmarkOpenLongRun(b *testing.B) {
	page := filepath.Join(b.TempDir(), htmlreport.FileName)
	f, err := os.Create(page)
	if err != nil {
		b.Fatal(err)
	}
	w := htmlreport.New(f, htmlreport.Options{})
	w.Header(pingPongHeader())
	pingPong(1_000_000, w.Entry)
	w.End(pingPongResult())
	if err := errors.Join(w.Err(), f.Close()); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(page)
	br := browsertest.Start(b, 1280, 900)
	for b.Loop() {
		start := time.Now()
		if err := br.Open("file://" + page); err != nil {
			b.Fatal(err)
		}
		open := time.Since(start)
		draw, err := chromedp.Run(br.Context(), chromedp.Evaluate[float64](`window.socklabDrawMs`))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(open.Milliseconds()), "open-ms")
		b.ReportMetric(draw, "draw-ms")
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "page-MiB")
	if errs := br.ConsoleErrors(); len(errs) > 0 {
		b.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// checkRefused opens the report of a run that ended before its hosts were bound: no
// header, no step, only its end. The page says the verdict and the error, with no
// console error.
func checkRefused(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	rec := &transcript.Record{Result: transcript.Result{
		Header:   transcript.Header{Lab: "refused"},
		Checks:   []transcript.Check{{ID: "never-run", MaxPoints: 1, Message: "not reached: lab: no such host"}},
		Error:    "lab: no such host",
		ExitCode: transcript.ExitBadLab,
	}}
	dir := t.TempDir()
	if err := report.WriteDir(dir, rec, htmlreport.File); err != nil {
		t.Fatal(err)
	}
	errsBefore := len(b.ConsoleErrors())
	if err := b.Open("file://" + filepath.Join(dir, htmlreport.FileName)); err != nil {
		t.Fatal(err)
	}
	if errs := b.ConsoleErrors()[errsBefore:]; len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	title := eval[string](t, b, `document.querySelector(".run-title").textContent`)
	notice := eval[string](t, b, `document.querySelector(".run-notice").textContent`)
	state := eval[string](t, b, `document.querySelector('#checks tr[data-check="never-run"] .check-state').textContent`)
	if !strings.Contains(title, "ERROR") || !strings.Contains(notice, "lab: no such host") || state != "NOT REACHED" {
		t.Errorf("a refused run's page says %q, %q, check %q; want ERROR, its error and NOT REACHED", title, notice, state)
	}
}
