package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/socklab/socklab/controller/browsertest"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/users"
	"github.com/socklab/socklab/controller/web"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// servePages serves a controller's run pages on a loopback port until the test ends.
func servePages(t *testing.T, h http.Handler) string {
	t.Helper()
	lis, err := web.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, lis, h) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve the pages: %v", err)
		}
	})
	return lis.Addr().String()
}

// get requests path of the pages with token as a bearer (none when ""), following no
// redirect; it returns the response with its body read.
func get(t *testing.T, addr, path, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// control posts a control to a run's page as token's user; it returns the status and
// the body.
func control(t *testing.T, addr, id, token, action string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/runs/"+id+"/control", strings.NewReader(`{"action": "`+action+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// pageRecords reads a run's event stream as token's user, calling each for every record
// until the stream ends or each returns false.
func pageRecords(t *testing.T, addr, id, token string, each func(htmlreport.Record) bool) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /runs/%s/events = %d: %s", id, resp.StatusCode, b)
	}
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
		if !each(r) {
			return
		}
	}
}

// arrowsAndEnd reads a whole event stream: its arrows and its verdict.
func arrowsAndEnd(t *testing.T, addr, id, token string) (arrows int, verdict string) {
	t.Helper()
	pageRecords(t, addr, id, token, func(r htmlreport.Record) bool {
		if r.Arrow != nil {
			arrows++
		}
		if r.End != nil {
			verdict = r.End.Verdict
		}
		return true
	})
	return arrows, verdict
}

// TestRunPages: a controller's run pages follow the gRPC API's rules. A student's page
// of her own run grows while the run goes and is replayed once it is stored; another
// student is refused it, in the API's words; no token asks for one (a page sends the
// browser to the login form); an instructor reads every run; the login form's cookie
// opens the page in a real browser, which draws the whole ladder.
func TestRunPages(t *testing.T) {
	c := startClass(t, classOptions{labs: []string{"chat-relay"}})
	cli := c.as(t, alice)
	started := make(chan string, 1)
	type result struct {
		res *transcript.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		res, err := cli.RunLab(ctx, &socklabv1.RunLabRequest{Lab: "chat-relay", Pace: durationpb.New(100 * time.Millisecond)},
			func(id string) { started <- id }, newRecorder())
		done <- result{res, err}
	}()
	id := <-started

	// Live: the page's first steps come while the run is still going.
	steps := 0
	pageRecords(t, c.pages, id, c.tokens[alice], func(r htmlreport.Record) bool {
		if r.Step != nil {
			steps++
		}
		return steps < 3
	})
	select {
	case r := <-done:
		t.Fatalf("the run ended (%v) before its page had 3 steps: the page is not live", r.err)
	default:
	}
	// Alice's page paces her run: a pause holds it until she resumes. Bob may not.
	if code, body := control(t, c.pages, id, c.tokens[alice], "pause"); code != http.StatusOK || !strings.Contains(body, `"paused":true`) {
		t.Fatalf("alice pauses her run: %d %s", code, body)
	}
	if code, body := control(t, c.pages, id, c.tokens[bob], "resume"); code != http.StatusForbidden || !strings.Contains(body, "started by another user") {
		t.Errorf("bob resumes alice's run: %d %q, want 403: started by another user", code, body)
	}
	select {
	case r := <-done:
		t.Fatalf("the run ended (%v) while paused", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	if code, body := control(t, c.pages, id, c.tokens[alice], "resume"); code != http.StatusOK {
		t.Fatalf("alice resumes her run: %d %s", code, body)
	}
	// Bob may not see it: refused, in the API's words, page and stream alike.
	for _, path := range []string{"/runs/" + id, "/runs/" + id + "/events"} {
		resp, body := get(t, c.pages, path, c.tokens[bob])
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "started by another user") || strings.Contains(body, "rpc error") {
			t.Errorf("bob: GET %s = %d %q, want 403: started by another user", path, resp.StatusCode, body)
		}
	}
	r := <-done
	if r.err != nil || r.res.ExitCode != transcript.ExitPassed {
		t.Fatalf("alice's chat-relay: %v %+v", r.err, r.res)
	}

	// Stored: replayed whole, to alice and to an instructor.
	for _, u := range []string{alice, instructor, users.TokenUser} {
		if arrows, verdict := arrowsAndEnd(t, c.pages, id, c.tokens[u]); arrows != 8 || verdict != "passed" {
			t.Errorf("%s: the stored run's page draws %d arrows and ends %q, want chat-relay's 8, passed", u, arrows, verdict)
		}
	}
	resp, body := get(t, c.pages, "/", c.tokens[alice])
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, id) {
		t.Errorf("alice's list of runs (%d) does not link her run %s:\n%s", resp.StatusCode, id, body)
	}
	if _, body := get(t, c.pages, "/", c.tokens[bob]); strings.Contains(body, id) {
		t.Errorf("bob's list of runs shows alice's run %s", id)
	}

	// No token, or a wrong one.
	resp, _ = get(t, c.pages, "/runs/"+id, "")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/runs/"+id) {
		t.Errorf("no token: GET /runs/%s = %d to %q, want the login form", id, resp.StatusCode, loc)
	}
	if resp, _ := get(t, c.pages, "/runs/"+id+"/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: the event stream = %d, want 401", resp.StatusCode)
	}
	if resp, body := get(t, c.pages, "/runs/"+id, "socklab_wrong"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong token") {
		t.Errorf("a wrong token: %d %q, want 401: wrong token", resp.StatusCode, body)
	}
	for _, tc := range []struct{ token, next, status, to string }{
		{c.tokens[alice], "/runs/" + id, "303", "/runs/" + id},
		{c.tokens[alice], "//evil.example/", "303", "/"},
		{"socklab_wrong", "/", "401", ""},
	} {
		resp, err := noRedirect.PostForm("http://"+c.pages+"/login", url.Values{"token": {tc.token}, "next": {tc.next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Status[:3]; got != tc.status || resp.Header.Get("Location") != tc.to {
			t.Errorf("log in, next %q: %s to %q, want %s to %q", tc.next, resp.Status, resp.Header.Get("Location"), tc.status, tc.to)
		}
	}

	// In a browser: the page sends it to the login form; with alice's token it comes
	// back to her run's page, which draws the whole ladder.
	p := browsertest.Start(t, 1200, 900)
	p.Do(t, chromedp.Navigate("http://"+c.pages+"/runs/"+id), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), c.tokens[alice]), chromedp.Submit(chromedp.ID("token")))
	status := ""
	for deadline := time.Now().Add(10 * time.Second); !strings.HasPrefix(status, "ended") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		status = browsertest.Eval[string](t, p, `(document.getElementById("status") || {}).textContent || ""`)
	}
	arrows := browsertest.Eval[int](t, p, `document.querySelectorAll("#report svg.ladder-svg g.arrow").length`)
	if arrows != 8 || !strings.HasPrefix(status, "ended: passed") {
		t.Errorf("alice's page in the browser: %d arrows, status %q; want 8, ended: passed", arrows, status)
	}
	if shown := browsertest.Eval[string](t, p, `getComputedStyle(document.getElementById("controls")).display`); shown != "none" {
		t.Error("a controller's page shows pace controls it cannot honour")
	}
	p.CheckClean(t, c.pages)
}
