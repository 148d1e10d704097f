package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// cancelOnClose cancels the run when the first socket the agents close at the run's end
// shows: the lab has taken its last step.
type cancelOnClose struct {
	cancel context.CancelFunc
	at     time.Time
}

func (c *cancelOnClose) Header(transcript.Header) {}

func (c *cancelOnClose) Entry(e transcript.Entry) {
	if c.at.IsZero() && strings.Contains(e.Event.GetNote(), "closed by the controller") {
		c.at = time.Now()
		c.cancel()
	}
}

// TestInterruptedAfterTheLab: a run interrupted after the lab's last step (while its
// sessions close and its transcript is put in order) ends at once as interrupted (130),
// even though every check passed, with its transcript whole.
func TestInterruptedAfterTheLab(t *testing.T) {
	l, err := lab.Load(lab.DirSources{Builtin: labs.FS()}, "testdata/pingpong.star")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &cancelOnClose{cancel: cancel}
	rec := runner.Run(ctx, l, topology.Local{}, runner.Options{Params: []string{"n=2000"}}, sink)
	if sink.at.IsZero() {
		t.Fatal("no socket was closed by the controller at the run's end")
	}
	if took := time.Since(sink.at); took > time.Second {
		t.Errorf("the run took %v to end once interrupted, want at most 1s", took.Round(time.Millisecond))
	}
	if score, max := rec.Score(); rec.ExitCode != transcript.ExitInterrupted || rec.Verdict() != transcript.VerdictInterrupted || score != max {
		t.Errorf("exit %d, verdict %s, score %d/%d; want 130, interrupted, with the checks passed", rec.ExitCode, rec.Verdict(), score, max)
	}
	if n := len(rec.Entries); n < 4*2000 {
		t.Errorf("the transcript kept %d entries, want all %d exchanges' (%d)", n, 2000, 4*2000)
	}
}
