package browsertest_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/socklab/socklab/controller/browsertest"
)

// TestBrowser: a page's console errors, uncaught exceptions and requests are recorded,
// and no process of the browser outlives it.
func TestBrowser(t *testing.T) {
	page := filepath.Join(t.TempDir(), "page.html")
	html := `<!doctype html><title>t</title><body><p id="p">hi</p>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<script>console.error("boom", 42)</script><script>throw new Error("late")</script>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	var b *browsertest.Browser
	t.Run("page", func(t *testing.T) {
		b = browsertest.Start(t, 0, 0)
		if n := b.Processes(); n == 0 {
			t.Errorf("Processes() = 0 once started, want the browser's")
		}
		if err := b.Open("file://" + page); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(b.Context(), chromedp.Text("#p"))
		if err != nil || text != "hi" {
			t.Errorf("Text(#p) = %q, %v; want hi", text, err)
		}
		errs := strings.Join(b.ConsoleErrors(), "\n")
		for _, want := range []string{`boom`, `42`, `late`} {
			if !strings.Contains(errs, want) {
				t.Errorf("ConsoleErrors() = %q, want it to mention %q", errs, want)
			}
		}
		if reqs := b.Requests(); !slices.Contains(reqs, "file://"+page) {
			t.Errorf("Requests() = %q, want the page itself among them", reqs)
		}
	})
	if b == nil {
		return
	}
	if n := b.Processes(); n != 0 {
		t.Errorf("%d chromium processes left once the test that started them ended", n)
	}
}
