package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/users"
	"github.com/socklab/socklab/controller/web"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// tokenCookie holds the token a user gave the login form: sent back with each request
// to the pages, never readable by a script (HttpOnly), never sent with another site's
// requests (SameSite=Strict).
const tokenCookie = "socklab_token"

// Pages serves the controller's runs to a browser, by the same rules as the gRPC API:
// each request carries a user's token (an "Authorization: Bearer" header, or the cookie
// the login form sets), and a user sees the runs GetTranscript would show them.
//
//	/                  the runs the user may see, newest first
//	/runs/RUN          a run's page: its ladder, live while it runs, replayed once stored
//	/runs/RUN/events   the run's steps and arrows as Server-Sent Events
//	/runs/RUN/control  while it runs, its pace, pause, step and resume (POST, JSON)
//	/login             a form that asks for the token
func (g *Guard) Pages(dir *users.Directory) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Assets())
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		web.ServeLogin(w, http.StatusOK, localPath(r.URL.Query().Get("next")), "")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) { login(w, r, dir) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, ok := pageCaller(w, r, dir)
		if ok {
			g.listPage(ctx, w, r)
		}
	})
	mux.HandleFunc("GET /runs/{run}", func(w http.ResponseWriter, r *http.Request) {
		ctx, ok := pageCaller(w, r, dir)
		if !ok {
			return
		}
		res, err := g.webRun(ctx, r.PathValue("run"))
		if err != nil {
			webError(w, err)
			return
		}
		page := "/runs/" + url.PathEscape(res.Header.RunID)
		opts := web.PageOptions{Title: res.Header.Lab + " · " + res.Header.RunID, Events: page + "/events"}
		if g.svc.liveRun(res.Header.RunID).ctl != nil {
			opts.Control = page + "/control"
		}
		web.ServePage(w, opts)
	})
	mux.HandleFunc("POST /runs/{run}/control", func(w http.ResponseWriter, r *http.Request) {
		res, ok := g.requestedRun(w, r, dir)
		if !ok {
			return
		}
		ctl := g.svc.liveRun(res.Header.RunID).ctl
		if ctl == nil {
			webError(w, errdefs.Errorf(errdefs.ErrNotFound, "no run %s in progress on this controller", res.Header.RunID))
			return
		}
		web.ServeControl(w, r, ctl)
	})
	mux.HandleFunc("GET /runs/{run}/events", func(w http.ResponseWriter, r *http.Request) {
		res, ok := g.requestedRun(w, r, dir)
		if !ok {
			return
		}
		run := g.svc.liveRun(res.Header.RunID)
		feed := run.feed
		if feed == nil {
			// Not in progress here: the stored run, replayed (the feed keeps its latest
			// first web.Head and latest web.Tail steps, so a long run costs no more memory
			// than that).
			feed = &web.Feed{}
			err := report.Replay(feed, res, func(yield func(transcript.Entry) error) error {
				return g.svc.store.Entries(r.Context(), res, yield)
			})
			if err != nil {
				webError(w, fmt.Errorf("read run %s: %w", res.Header.RunID, err))
				return
			}
		}
		web.ServeEvents(w, r, feed, run.ctl)
	})
	return mux
}

// liveRun is a run in progress as its page sees it: what it draws, and the run's pace.
type liveRun struct {
	feed *web.Feed
	ctl  *web.Control
}

// liveRun returns the run while it runs on this controller, else none.
func (s *Service) liveRun(id string) liveRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id]
}

// requestedRun returns the run the request's path names, for its caller (the request's
// token), or answers the request with the error and reports false.
func (g *Guard) requestedRun(w http.ResponseWriter, r *http.Request, dir *users.Directory) (*transcript.Result, bool) {
	ctx, err := webCaller(r, dir)
	if err != nil {
		webError(w, err)
		return nil, false
	}
	res, err := g.webRun(ctx, r.PathValue("run"))
	if err != nil {
		webError(w, err)
		return nil, false
	}
	return res, true
}

// webRun returns the stored run a caller asks for by id (or prefix), if they may read it.
func (g *Guard) webRun(ctx context.Context, runID string) (*transcript.Result, error) {
	id, err := g.readable(ctx, runID)
	if err != nil {
		return nil, err
	}
	res, err := g.svc.store.Result(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errdefs.Errorf(errdefs.ErrNotFound, "%v", err)
	case errors.Is(err, store.ErrAmbiguous):
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%v", err)
	case err != nil:
		return nil, errdefs.Errorf(errdefs.ErrInternal, "%v", err)
	}
	return res, nil
}

// listPage lists the runs the caller may see, as ListRuns does.
func (g *Guard) listPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	list, err := g.ListRuns(ctx, &socklabv1.ListRunsRequest{Limit: 100})
	if err != nil {
		webError(w, err)
		return
	}
	var runs []web.RunLink
	for _, run := range list.GetRuns() {
		runs = append(runs, web.RunLink{ID: run.GetRunId(), Lab: run.GetLab(), Verdict: run.GetVerdict(), User: run.GetUser(),
			Started: time.Unix(0, run.GetStartedUnixNs()).UTC().Format(time.DateTime),
			Score:   fmt.Sprintf("%d/%d", run.GetScore(), run.GetMaxScore())})
	}
	name := ""
	if u, ok := users.FromContext(ctx); ok {
		name = u.Name
	}
	web.ServeRuns(w, name, runs)
}

// webCaller returns the request's context with its caller, found by the token it
// carries, as the gRPC API finds it.
func webCaller(r *http.Request, dir *users.Directory) (context.Context, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, errdefs.Errorf(errdefs.ErrUnauthenticated, "the Authorization header is not \"Bearer TOKEN\"")
		}
		token = t
	} else if c, err := r.Cookie(tokenCookie); err == nil {
		token = c.Value
	}
	return authenticate(r.Context(), dir, token)
}

// authenticate returns ctx with the user whose token it is.
func authenticate(ctx context.Context, dir *users.Directory, token string) (context.Context, error) {
	md := metadata.MD{}
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	u, err := dir.Authenticate(metadata.NewIncomingContext(ctx, md))
	if err != nil {
		if token == "" {
			return nil, errdefs.Errorf(errdefs.ErrUnauthenticated, "log in with your token")
		}
		return nil, errdefs.Errorf(errdefs.ErrUnauthenticated, "wrong token")
	}
	return users.NewContext(ctx, u), nil
}

// pageCaller is webCaller for a page: one that asks for a token sends the browser to the
// login form, to come back after.
func pageCaller(w http.ResponseWriter, r *http.Request, dir *users.Directory) (context.Context, bool) {
	ctx, err := webCaller(r, dir)
	if err == nil {
		return ctx, true
	}
	if errors.Is(err, errdefs.ErrUnauthenticated) && r.Header.Get("Authorization") == "" {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return nil, false
	}
	webError(w, err)
	return nil, false
}

// login takes the login form's token: a right one is set as the cookie and the browser
// goes on to the page it came from.
func login(w http.ResponseWriter, r *http.Request, dir *users.Directory) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	next := localPath(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	if _, err := authenticate(r.Context(), dir, token); err != nil {
		web.ServeLogin(w, http.StatusUnauthorized, next, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath is p when it is a path of this server, else "/": the login form sends the
// browser nowhere else.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

// webError answers with the HTTP status of err's kind and its message, in the words the
// command line would use (never gRPC's own).
func webError(w http.ResponseWriter, err error) {
	err = errdefs.FromGRPC(err)
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errdefs.ErrUnauthenticated):
		code = http.StatusUnauthorized
	case errors.Is(err, errdefs.ErrPermissionDenied):
		code = http.StatusForbidden
	case errors.Is(err, errdefs.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalidArgument):
		code = http.StatusBadRequest
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, err.Error(), code)
}
