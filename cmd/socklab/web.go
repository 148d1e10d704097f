package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/web"
)

// liveWeb is a local run's page (--web): the run's ladder served live, its pace in the
// page's hands. Its methods do nothing on a nil *liveWeb (no --web), so that runLab
// reads the same either way.
type liveWeb struct {
	url     string
	feed    *web.Feed
	ctl     *web.Control
	stop    context.CancelFunc
	served  chan error
	kept    []transcript.Entry // the entries, when nothing else takes them (--out)
	keeping bool
}

// startWeb listens on --web's address and serves the run's page, saying where on
// stderr; nil without --web.
func startWeb(cmd *cobra.Command, f runFlags) (*liveWeb, error) {
	if f.web == "" {
		return nil, nil
	}
	lis, err := web.Listen(f.web, f.webRemote)
	if errors.Is(err, web.ErrNotLoopback) {
		return nil, fmt.Errorf("--web: %w (--web-allow-remote serves another address, to anyone who reaches it)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--web: %w", err)
	}
	addr := lis.Addr().String()
	l := &liveWeb{url: "http://" + addr + "/", feed: &web.Feed{}, ctl: web.NewControl(f.pace, f.step), served: make(chan error, 1)}
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go func() { l.served <- web.Serve(ctx, lis, web.Handler(addr, l.feed, l.ctl, "socklab run")) }()
	fmt.Fprintf(cmd.ErrOrStderr(), "socklab: the run's live ladder: %s\n", l.url)
	if f.step {
		fmt.Fprintln(cmd.ErrOrStderr(), "socklab: --step: the run waits after each step; Enter here or the page's step button takes the next")
	}
	return l, nil
}

// pace hands the run's pace to the page: --pace is where it starts, and --step starts
// it paused, Enter taking one step as the page's step button does.
func (l *liveWeb) pace(opts *runner.Options, step bool, in io.Reader) {
	if l == nil {
		return
	}
	opts.Step, opts.Pace = l.ctl.Wait, 0
	if step {
		go func() { // one reader for the whole run; it ends with stdin or the process
			r := bufio.NewReader(in)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				l.ctl.Step()
			}
		}()
	}
}

// feedOn has the run's entries, in display order, drawn too; when nothing else takes
// them (the run keeps them for --out), they are kept for the record.
func (l *liveWeb) feedOn(opts *runner.Options) {
	if l == nil {
		return
	}
	next := opts.Ordered
	l.keeping = next == nil
	opts.Ordered = func(e transcript.Entry) {
		if next != nil {
			next(e)
		} else {
			l.kept = append(l.kept, e)
		}
		l.feed.Entry(e)
	}
}

// sink has the run's header drawn too.
func (l *liveWeb) sink(s runner.Sink) runner.Sink {
	if l == nil {
		return s
	}
	return webSink{Sink: s, feed: l.feed}
}

// webSink is a run's sink that also starts the page's ladder.
type webSink struct {
	runner.Sink
	feed *web.Feed
}

// Header starts the ladder, then shows the run's start.
func (s webSink) Header(h transcript.Header) {
	s.feed.Header(h)
	s.Sink.Header(h)
}

// Calling passes a call's start on to the sink it wraps, when that shows calls waiting.
func (s webSink) Calling(id uint64, e transcript.Entry) {
	if w, ok := s.Sink.(runner.Waiter); ok {
		w.Calling(id, e)
	}
}

// Returned passes a call's return on to the sink it wraps, when that shows calls waiting.
func (s webSink) Returned(id uint64) {
	if w, ok := s.Sink.(runner.Waiter); ok {
		w.Returned(id)
	}
}

var _ runner.Waiter = webSink{}

// ended draws the run's end, and gives the record the entries kept for it.
func (l *liveWeb) ended(rec *transcript.Record) {
	if l == nil {
		return
	}
	if l.keeping {
		rec.Entries = l.kept
	}
	l.feed.End(&rec.Result)
}

// linger keeps the page served after the run, until Ctrl-C or --web-linger.
func (l *liveWeb) linger(cmd *cobra.Command, d time.Duration) {
	if l == nil || d <= 0 {
		return
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "socklab: the run has ended; its page stays at %s until Ctrl-C, at most %v (--web-linger)\n", l.url, d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-cmd.Context().Done():
	case <-t.C:
	}
}

// close stops serving the page.
func (l *liveWeb) close() {
	if l == nil {
		return
	}
	l.stop()
	<-l.served
}

// serveRunPages serves a controller's run pages on addr until the command's context
// ends; the channel yields once they are shut down. Without tokens (tokens unset) it
// serves only loopback, as the gRPC API does, unless --insecure; on loopback it answers
// only requests addressed to it (a web site's name for loopback is refused).
func serveRunPages(cmd *cobra.Command, addr string, pages http.Handler, tokens, insecure bool, log *slog.Logger) (<-chan error, error) {
	ip := listenIP(addr)
	lis, err := web.Listen(addr, tokens || insecure)
	if err != nil {
		return nil, usageError{fmt.Errorf("--web: %w: give the controller --token or --users, or --insecure", err)}
	}
	if ip.IsValid() && ip.IsLoopback() {
		pages = web.OnlyHost(lis.Addr().String(), pages)
	}
	served := make(chan error, 1)
	go func() { served <- web.Serve(cmd.Context(), lis, pages) }()
	log.Info("run pages serving", "web", "http://"+lis.Addr().String()+"/")
	return served, nil
}
