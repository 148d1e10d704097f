// Package remote is a client of a socklab controller (socklab.v1.ControllerService): it
// runs labs there and reads its history, handing back the same run records a local run
// gives, with errors of errdefs kinds.
package remote

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Client is a connection to a controller.
type Client struct {
	conn *client.Client
	api  socklabv1.ControllerServiceClient
}

// Dial connects to the controller at addr, sending token with every call (""
// means $SOCKLAB_TOKEN).
func Dial(addr, token string) (*Client, error) {
	if token == "" {
		token = os.Getenv("SOCKLAB_TOKEN")
	}
	c, err := client.Dial(addr, token)
	if err != nil {
		return nil, err
	}
	return &Client{conn: c, api: socklabv1.NewControllerServiceClient(c.Conn())}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Sink receives a run as it arrives: its header once its hosts are bound, then its
// entries.
type Sink interface {
	// Header announces the run and its hosts.
	Header(h transcript.Header)
	// Entry is one transcript entry.
	Entry(e transcript.Entry)
}

// RunLab runs a lab on the controller and hands it to sink as it happens; started, if
// set, learns the run's id first. It returns how the run ended.
func (c *Client) RunLab(ctx context.Context, req *socklabv1.RunLabRequest, started func(runID string), sink Sink) (*transcript.Result, error) {
	stream, err := c.api.RunLab(ctx, req)
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return follow(func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error) {
		m, err := stream.Recv()
		if id := m.GetStarted().GetRunId(); id != "" && started != nil {
			started(id)
		}
		return m.GetStarted(), m.GetEvent(), m.GetFinished(), err
	}, sink)
}

// Transcript reads a stored run (by its id or a unique prefix of it) into sink and
// returns how it ended.
func (c *Client) Transcript(ctx context.Context, runID string, sink Sink) (*transcript.Result, error) {
	stream, err := c.api.GetTranscript(ctx, &socklabv1.GetTranscriptRequest{RunId: runID})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return follow(func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error) {
		m, err := stream.Recv()
		return m.GetStarted(), m.GetEvent(), m.GetFinished(), err
	}, sink)
}

// follow reads a run's stream (live or stored) into sink until its result.
func follow(next func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error), sink Sink) (*transcript.Result, error) {
	var hosts []transcript.Host
	for {
		started, ev, finished, err := next()
		switch {
		case errors.Is(err, io.EOF):
			return nil, errdefs.Errorf(errdefs.ErrUnavailable, "the controller ended the stream before the run's result")
		case err != nil:
			return nil, errdefs.FromGRPC(err)
		case started != nil:
			h := transcript.Started(started)
			hosts = h.Hosts
			if len(hosts) > 0 {
				sink.Header(h)
			}
		case ev != nil:
			sink.Entry(transcript.EventEntry(ev, hosts))
		case finished != nil && finished.GetResult() == nil:
			// An older controller sent result.json as text: its verdict cannot be trusted here.
			return nil, errdefs.Errorf(errdefs.ErrNotImplemented, "the controller sent no run result: is it an older socklab?")
		case finished != nil:
			return transcript.ResultOf(finished.GetResult()), nil
		}
	}
}

// ListRuns lists the controller's stored runs, newest first, at most limit (0: 50).
func (c *Client) ListRuns(ctx context.Context, limit int) ([]*socklabv1.RunSummary, error) {
	resp, err := c.api.ListRuns(ctx, &socklabv1.ListRunsRequest{Limit: uint32(max(limit, 0))})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return resp.GetRuns(), nil
}

// CancelRun stops a run in progress.
func (c *Client) CancelRun(ctx context.Context, runID string) error {
	_, err := c.api.CancelRun(ctx, &socklabv1.CancelRunRequest{RunId: runID})
	return errdefs.FromGRPC(err)
}

// ListAgents lists the controller's inventory agents and whether each answers.
func (c *Client) ListAgents(ctx context.Context) ([]*socklabv1.AgentStatus, error) {
	resp, err := c.api.ListAgents(ctx, &socklabv1.ListAgentsRequest{})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return resp.GetAgents(), nil
}
