// Package webtest drives a real headless Chromium for the tests of socklab's pages: a
// tab, what it logged as an error, and every request it made.
package webtest

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Page is a headless Chromium tab, with what it logged and requested.
type Page struct {
	// Ctx is the tab's chromedp context.
	Ctx context.Context

	mu       sync.Mutex // guards the fields below
	errors   []string   // console errors and uncaught exceptions
	requests []string   // the URL of every request the page made
}

// chromiumPath finds Debian's chromium.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserProcesses counts the processes that run with dir as their profile.
func browserProcesses(t *testing.T, dir string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), dir) {
			n++
		}
	}
	return n
}

// NewPage starts a headless Chromium of its own for the test, and a tab in it; the
// browser and every process of it are gone when the test ends. It skips the test when
// chromium is not installed.
func NewPage(t *testing.T) *Page {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium is not installed (apt-get install chromium): the live page is tested in a real browser")
	}
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.UserDataDir(dir),
		chromedp.DisableGPU, chromedp.WindowSize(1200, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
		deadline := time.Now().Add(5 * time.Second)
		for browserProcesses(t, dir) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := browserProcesses(t, dir); n > 0 {
			t.Errorf("%d chromium processes still run after the test", n)
		}
	})
	p := &Page{Ctx: ctx}
	if err := chromedp.Listen(ctx, p.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if browserProcesses(t, dir) == 0 {
		t.Fatal("chromium started, but no process of it is found")
	}
	return p
}

func (p *Page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.errors = append(p.errors, "console.error: "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		p.errors = append(p.errors, "exception: "+ev.ExceptionDetails.Text+" "+describe(ev.ExceptionDetails.Exception))
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			p.errors = append(p.errors, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.requests = append(p.requests, ev.Request.URL)
	}
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

// Do runs actions in the tab.
func (p *Page) Do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.Ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression in the tab.
func Eval[T any](t *testing.T, p *Page, expr string) T {
	t.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// CheckClean fails the test for a console error or a request to anywhere but host.
func (p *Page) CheckClean(t *testing.T, host string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errors {
		t.Errorf("the page logged an error: %s", e)
	}
	if len(p.requests) == 0 {
		t.Error("the page made no request at all")
	}
	for _, r := range p.requests {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "data" {
			continue // data: URLs stay in the page
		}
		if u.Host != host {
			t.Errorf("the page requested %s: only %s is allowed", r, host)
		}
	}
}
