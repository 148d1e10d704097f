package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	socklabrunner "github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// Run runs the lab in its plugin: it serves the plugin LabHostService through the
// broker, performing each operation through env, and returns the lab's outcome once the
// plugin has finished, crashed, hung (Options.Idle) or ctx ended; in every case the
// plugin's process has ended and none of its calls is still in progress when Run
// returns.
func (l *Lab) Run(ctx context.Context, env socklabrunner.Env, hosts []socklabrunner.HostInfo, params map[string]any) *socklabrunner.Outcome {
	defer l.Close()
	hs := newHostServer(ctx, env, l.spec, hosts, l.Watchdog(), l.opts.FilesDir)
	defer hs.finish()

	id := l.lab.broker.NextId()
	served := make(chan struct{})
	var (
		mu  sync.Mutex // protects srv
		srv *grpc.Server
	)
	go func() { // LabHostService, until the run ends
		defer close(served)
		l.lab.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, grpc.UnaryInterceptor(hs.recoverCalls))...)
			pluginv1.RegisterLabHostServiceServer(s, hs)
			mu.Lock()
			srv = s
			mu.Unlock()
			return s
		})
	}()
	defer func() {
		hs.finish() // the calls in progress end first
		l.Close()   // a broker still waiting for the plugin's dial gives up with its connection
		for {       // the server may be made a moment after the plugin dialled
			mu.Lock()
			if srv != nil {
				srv.Stop()
			}
			mu.Unlock()
			select {
			case <-served:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	req := &pluginv1.RunRequest{HostServiceId: id, Params: map[string]*pluginv1.Value{}}
	for _, h := range hosts {
		req.Hosts = append(req.Hosts, &pluginv1.Host{Role: h.Role, Ip: h.IP})
	}
	for k, v := range params {
		req.Params[k] = value(v)
	}
	streamCtx, stopStream := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStream()
	stream, err := l.lab.service.Run(streamCtx, req)
	if err != nil {
		return hs.outcome(l.crash("Run", err), "")
	}
	msgs := make(chan *pluginv1.RunResponse)
	broke := make(chan error, 1)
	received := make(chan struct{})
	defer func() {
		stopStream()
		<-received
	}()
	go func() { // the run's stream, until it ends or is cancelled
		defer close(received)
		for {
			m, err := stream.Recv()
			if err != nil {
				broke <- err
				return
			}
			select {
			case msgs <- m:
			case <-streamCtx.Done():
				broke <- streamCtx.Err()
				return
			}
		}
	}()
	tick := time.NewTicker(min(l.opts.Idle/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case m := <-msgs:
			if f := m.GetFinished(); f != nil {
				return hs.outcome(failureError(f.GetFailure(), hs), f.GetFailure().GetPos())
			}
		case err := <-broke:
			if ctx.Err() != nil {
				return hs.outcome(context.Cause(ctx), "")
			}
			return hs.outcome(l.crash("its run", err), "")
		case <-ctx.Done():
			// Told to stop (interrupted, over its time, an agent lost): the plugin's calls
			// now fail, its stream ends, and its process is ended soon after.
			hs.finish()
			stopStream()
			return hs.outcome(context.Cause(ctx), "")
		case <-tick.C:
			if idle := hs.idle(); idle >= l.opts.Idle {
				stopStream()
				return hs.outcome(&CrashError{Msg: fmt.Sprintf("the lab plugin hangs: it asked for nothing for %s, with no call in progress (its watchdog)", idle.Round(time.Millisecond))}, "")
			}
		}
	}
}

// failureError is the error of a lab's failure as the plugin reported it, with what the
// controller saw itself first: a mistake the plugin went on after, or a lost host.
func failureError(f *pluginv1.LabFailure, hs *hostServer) error {
	if err := hs.firstError(); err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	msg := f.GetMessage()
	if msg == "" {
		msg = "the lab failed"
	}
	switch f.GetKind() {
	case pluginv1.FailureKind_FAILURE_KIND_LAB:
		return &socklabrunner.LabError{Msg: msg}
	case pluginv1.FailureKind_FAILURE_KIND_HOST:
		return &CrashError{Msg: msg}
	}
	return errors.New(msg)
}

// outcome is the run's outcome when err (nil: none) stopped it at pos: the checks the
// plugin recorded, the others not reached.
func (h *hostServer) outcome(err error, pos string) *socklabrunner.Outcome {
	h.mu.Lock()
	checks := make([]transcript.Check, len(h.order))
	for i, id := range h.order {
		checks[i] = *h.checks[id]
	}
	h.mu.Unlock()
	if err != nil {
		text := err.Error()
		if pos != "" {
			text = pos + ": " + text
		}
		for i := range checks {
			if !checks[i].Reached {
				checks[i].Message = "not reached: " + text
			}
		}
	}
	return &socklabrunner.Outcome{Checks: checks, Err: err, Pos: pos}
}
