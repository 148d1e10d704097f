// Package browsertest drives a real headless Chromium from Go tests, through chromedp:
// Debian's chromium package, started headless (with --no-sandbox, since the tests may
// run as root), one tab per Browser, every console error and every network request the
// page makes recorded, and every process of the browser gone when the test ends.
//
// A test that needs a browser starts one with Start, which skips the test, saying why,
// where chromium is not installed:
//
//	b := browsertest.Start(t, 1280, 800)
//	if err := b.Open(url); err != nil { ... }
//	n, err := chromedp.Run(b.Context(), chromedp.Evaluate[int]("document.images.length"))
//	if errs := b.ConsoleErrors(); len(errs) > 0 { ... }
//	b.Screenshot(filepath.Join(browsertest.ArtifactsDir(t, "mine"), "page.png"))
package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package installs the browser.
const Path = "/usr/bin/chromium"

// markerVar is the environment variable that marks the processes of one Browser, so
// that they can be counted (every process chromium starts inherits its environment).
const markerVar = "SOCKLAB_BROWSERTEST"

// Browser is one headless Chromium with one tab. It is not safe for concurrent use,
// except ConsoleErrors and Requests, which may be called from any goroutine.
type Browser struct {
	// tab is the chromedp context of the browser's tab: chromedp's handle on the
	// browser, which its actions need, so it is kept here for the test's life.
	tab    context.Context
	cancel func()
	marker string
	stderr *syncBuffer

	mu       sync.Mutex // guards console and requests
	console  []string
	requests []string
}

// Available reports whether chromium is installed, and if not, why the browser tests
// skip.
func Available() (bool, string) {
	if _, err := os.Stat(Path); err != nil {
		return false, fmt.Sprintf("chromium is not installed (%s): apt-get install -y chromium", Path)
	}
	return true, ""
}

// Start starts a headless Chromium for t with a viewport of width x height pixels (0:
// 1280 x 800), or skips t when chromium is not installed. The browser and all its
// processes end when t ends; t fails if one of them outlives it.
func Start(t testing.TB, width, height int) *Browser {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	if width <= 0 || height <= 0 {
		width, height = 1280, 800
	}
	var m [8]byte
	_, _ = rand.Read(m[:])
	b := &Browser{marker: hex.EncodeToString(m[:]), stderr: &syncBuffer{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path),
		chromedp.NoSandbox, // root cannot run chromium's sandbox
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env(markerVar+"="+b.marker),
		chromedp.CombinedOutput(b.stderr),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	b.tab = tab
	b.cancel = func() { cancelTab(); cancelAlloc() }
	t.Cleanup(func() { b.close(t) })

	err := chromedp.Listen(tab, b.listen)
	if err != nil {
		t.Fatalf("start chromium: %v\n%s", err, b.stderr.String())
	}
	return b
}

// listen records the tab's console errors, uncaught exceptions and requests.
func (b *Browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.console = append(b.console, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		b.console = append(b.console, fmt.Sprintf("exception at %d:%d: %s", d.LineNumber+1, d.ColumnNumber+1, text))
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			b.console = append(b.console, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	}
}

// Context returns the tab's chromedp context, for chromedp.Run and chromedp.Do. It ends
// when the test ends.
func (b *Browser) Context() context.Context { return b.tab }

// Open loads url in the tab and waits until its document has loaded.
func (b *Browser) Open(url string) error {
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("body")); err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	return nil
}

// ConsoleErrors returns what the page wrote to the console as errors, and its uncaught
// exceptions, so far.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Requests returns the URL of every request the page made so far, the document's own
// included, in order.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// Screenshot writes a PNG of the whole page (beyond the viewport too) to path.
func (b *Browser) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return nil
}

// Processes returns how many processes of this browser are running.
func (b *Browser) Processes() int { return len(processes(b.marker)) }

// close ends the browser and waits up to 10 s for every one of its processes to end.
func (b *Browser) close(t testing.TB) {
	b.cancel() // kills the browser and waits for its main process
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processes(b.marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("chromium processes outlived the test: %v", left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processes returns the pids of the running processes whose environment holds marker.
func processes(marker string) []int {
	want := []byte(markerVar + "=" + marker + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(append(env, 0), want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && zombie(stat) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		out = append(out, pid)
	}
	return out
}

// zombie reports whether /proc/PID/stat says the process has ended and awaits its
// parent's wait.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// ArtifactsDir returns the folder where tests leave files for people to look at
// (screenshots): $SOCKLAB_ARTIFACTS when set, else socklab-artifacts in the system's
// temporary folder; sub is a folder inside it, made if needed. It logs the folder.
func ArtifactsDir(t testing.TB, sub string) string {
	t.Helper()
	root := os.Getenv("SOCKLAB_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "socklab-artifacts")
	}
	dir := filepath.Join(root, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	t.Logf("artifacts in %s", dir)
	return dir
}

// syncBuffer is a bytes.Buffer that chromium's output goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Do runs actions in b's tab and fails the test on an error.
func (b *Browser) Do(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.tab, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression in b's tab and fails the test on an error.
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// CheckClean fails the test for a console error of the page, or a request it made to
// anywhere but host (data: URLs stay in the page); a page that made no request at all
// fails too.
func (b *Browser) CheckClean(t testing.TB, host string) {
	t.Helper()
	for _, e := range b.ConsoleErrors() {
		t.Errorf("the page logged an error: %s", e)
	}
	reqs := b.Requests()
	if len(reqs) == 0 {
		t.Error("the page made no request at all")
	}
	for _, r := range reqs {
		if u, err := url.Parse(r); err == nil && u.Scheme != "data" && u.Host != host {
			t.Errorf("the page requested %s: only %s is allowed", r, host)
		}
	}
}
