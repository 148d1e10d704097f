// Package web serves a run's ladder to a browser while the run goes: a page whose
// ladder (hosts as lifelines, each message an arrow from the step that sent it to the
// step that got it) grows as Server-Sent Events bring its steps and arrows, with the
// run's pace, pause and step in the page; and, once the run has ended, its result. A
// page that comes late gets everything the server kept, then the live tail.
//
// The page draws with report.html's renderer (htmlreport's ladder.js) from the same
// records (htmlreport.Record), so the live page and report.html draw alike. The page,
// its scripts and styles are embedded: no front-end build step, nothing fetched from
// anywhere but the server.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/socklab/socklab/controller/htmlreport"
)

//go:embed static
var static embed.FS

var (
	pageTmpl  = template.Must(template.ParseFS(static, "static/index.html"))
	loginTmpl = template.Must(template.ParseFS(static, "static/login.html"))
	runsTmpl  = template.Must(template.ParseFS(static, "static/runs.html"))
)

// PageOptions say where a page finds its run.
type PageOptions struct {
	// Title names the page.
	Title string
	// Events is the path of the run's event stream.
	Events string
	// Control is the path the page posts its controls to ("": the page has none).
	Control string
}

// securityHeaders keep the page to its own server: no script but its own file, no
// connection elsewhere, no framing.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// ServePage writes the page of one run.
func ServePage(w http.ResponseWriter, opts PageOptions) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if opts.Title == "" {
		opts.Title = "socklab"
	}
	data := struct {
		PageOptions
		Head, Tail int
	}{opts, Head, Tail}
	if err := pageTmpl.Execute(w, data); err != nil {
		http.Error(w, "render the page: "+err.Error(), http.StatusInternalServerError)
	}
}

// ServeLogin writes a form that asks for a token and posts it to /login, to come back to
// next; problem, when set, says what went wrong, with status.
func ServeLogin(w http.ResponseWriter, status int, next, problem string) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, struct{ Next, Problem string }{next, problem})
}

// RunLink is one run in a list of runs.
type RunLink struct {
	// ID names the run; its page is /runs/ID.
	ID string
	// Lab, Started, Verdict, Score and User describe it.
	Lab, Started, Verdict, Score, User string
}

// ServeRuns writes a list of runs, each linked to its page; user names who sees it.
func ServeRuns(w http.ResponseWriter, user string, runs []RunLink) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = runsTmpl.Execute(w, struct {
		User string
		Runs []RunLink
	}{user, runs})
}

// Assets serves the pages' scripts and styles under /static/: report.html's ladder
// renderer (ladder.js, ladder.css: the live page draws as report.html does) and the
// live page's own (live.js, live.css).
func Assets() http.Handler {
	own := http.FileServerFS(static)
	renderer := http.StripPrefix("/static/", http.FileServerFS(must(fs.Sub(htmlreport.Assets, "assets"))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		switch r.URL.Path {
		case "/static/ladder.js", "/static/ladder.css":
			renderer.ServeHTTP(w, r)
		case "/static/live.js", "/static/live.css":
			own.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func must(f fs.FS, err error) fs.FS {
	if err != nil {
		panic("web: " + err.Error())
	}
	return f
}

// keepAlive is how often an idle event stream sends a comment, so that a page that went
// away is noticed and its stream ends.
const keepAlive = 15 * time.Second

// ServeEvents streams feed to one page as Server-Sent Events: each record as a message
// ("data: JSON"), and ctl's state, when ctl is set, as "control" events. It returns when
// the run has ended and its end was sent, when the page goes, or when the request's
// context ends (the server shutting down). Each record's event id is its place in the
// run, so a page that reconnects (EventSource does, with Last-Event-ID) goes on where it
// was, drawing nothing twice.
func ServeEvents(w http.ResponseWriter, r *http.Request, feed *Feed, ctl *Control) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	pg := &page{cursor: -1}
	if id, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && id >= 0 {
		pg.cursor = id
	}
	lastState := ControlState{Steps: -1}
	for {
		var ctlWake <-chan struct{}
		if ctl != nil {
			st, wake := ctl.State()
			ctlWake = wake
			if st != lastState {
				lastState = st
				b, _ := json.Marshal(st)
				if !send(w, "control", "", b) {
					return
				}
			}
		}
		b := feed.next(pg)
		for i, line := range b.lines {
			if !send(w, "", b.ids[i], line) {
				return
			}
		}
		fl.Flush()
		if b.done {
			return
		}
		if b.more {
			continue // more to come at once
		}
		select {
		case <-b.wake:
		case <-ctlWake:
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-ctx.Done():
			return
		}
	}
}

// send writes one event, with its id when id is set; it reports whether the page is
// still there.
func send(w io.Writer, event, id string, data []byte) bool {
	var sb strings.Builder
	if event != "" {
		sb.WriteString("event: " + event + "\n")
	}
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("data: ")
	sb.Write(data) // JSON: one line
	sb.WriteString("\n\n")
	_, err := io.WriteString(w, sb.String())
	return err == nil
}

// controlRequest is what a page posts to its control: {"action": "pause"}, "step",
// "resume", or {"action": "pace", "pace_ms": 300}.
type controlRequest struct {
	Action string `json:"action"`
	PaceMs *int64 `json:"pace_ms"`
}

// ServeControl takes one of a page's controls (a POST of JSON) and answers with the
// control's state. Only JSON is taken, from a page of this server: a form another site
// posts is refused (it is no JSON, and a browser asks before sending JSON elsewhere).
func ServeControl(w http.ResponseWriter, r *http.Request, ctl *Control) {
	securityHeaders(w)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "post a control as JSON", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		http.Error(w, "a control is JSON (Content-Type: application/json)", http.StatusUnsupportedMediaType)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		http.Error(w, "a control comes from the run's own page", http.StatusForbidden)
		return
	}
	var req controlRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&req); err != nil {
		http.Error(w, "read the control: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch req.Action {
	case "pause":
		ctl.Pause()
	case "step":
		ctl.Step()
	case "resume":
		ctl.Resume()
	case "pace":
		if req.PaceMs == nil || *req.PaceMs < 0 || time.Duration(*req.PaceMs)*time.Millisecond > MaxPace {
			http.Error(w, fmt.Sprintf("a pace is between 0 and %d ms", MaxPace.Milliseconds()), http.StatusBadRequest)
			return
		}
		ctl.SetPace(time.Duration(*req.PaceMs) * time.Millisecond)
	default:
		http.Error(w, fmt.Sprintf("no control %q: pause, step, resume or pace", req.Action), http.StatusBadRequest)
		return
	}
	st, _ := ctl.State()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// Handler serves one run's page at "/", its events at "/events", its controls at
// "/control" (when ctl is set) and the page's files under "/static/". It answers only
// requests addressed to host (the address it listens on), so that a web site cannot
// reach it through a name of its own that resolves to loopback (DNS rebinding).
func Handler(host string, feed *Feed, ctl *Control, title string) http.Handler {
	mux := http.NewServeMux()
	opts := PageOptions{Title: title, Events: "/events"}
	if ctl != nil {
		opts.Control = "/control"
		mux.HandleFunc("/control", func(w http.ResponseWriter, r *http.Request) { ServeControl(w, r, ctl) })
	}
	mux.Handle("GET /static/", Assets())
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) { ServeEvents(w, r, feed, ctl) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { ServePage(w, opts) })
	return OnlyHost(host, mux)
}

// OnlyHost serves only the requests whose Host is host, or localhost with its port (a
// server on every interface, 0.0.0.0 or [::], serves any).
func OnlyHost(host string, h http.Handler) http.Handler {
	name, port, _ := net.SplitHostPort(host)
	if ip, err := netip.ParseAddr(name); err == nil && ip.IsUnspecified() {
		return h // every interface: any name may reach it
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != host && r.Host != "localhost:"+port {
			http.Error(w, "this server answers only at "+host, http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ErrNotLoopback is an address off this machine, refused without the flag that allows
// it.
var ErrNotLoopback = errors.New("not a loopback address")

// Listen listens on addr (HOST:PORT; HOST an IP address, or "localhost"). An address
// that is not loopback is refused unless remote is set: the page and its controls have
// no token of their own.
func Listen(addr string, remote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: want HOST:PORT, such as 127.0.0.1:8088: %w", addr, err)
	}
	if host != "localhost" && !remote {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("listen %s: %w: the page would be open to the network; serve 127.0.0.1 or allow it explicitly", addr, ErrNotLoopback)
		}
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return lis, nil
}

// shutdownWait bounds how long Serve waits for its requests to end once its context
// has.
const shutdownWait = 2 * time.Second

// Serve serves h on lis until ctx ends, then ends every event stream and shuts the
// server down; it returns when every request has ended (or after shutdownWait).
func Serve(ctx context.Context, lis net.Listener, h http.Handler) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	cancel() // every request's context: the event streams end
	sctx, stop := context.WithTimeout(context.Background(), shutdownWait)
	defer stop()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-errc // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("shut down %s: %w", lis.Addr(), err)
	}
	return nil
}
