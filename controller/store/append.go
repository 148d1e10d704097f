package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

const (
	// appendBatch is how many waiting events make the writer write at once.
	appendBatch = 1024
	// appendMax is how many events may wait for the writer before Add waits for it: a
	// run that outpaces the disk slows down rather than grow.
	appendMax = 8 * appendBatch
	// appendEvery is how often the writer writes what waits, however little: what a run
	// killed mid-way loses is at most this much of its end.
	appendEvery = 500 * time.Millisecond
)

// Appender stores one begun run's events as the run goes: a goroutine of its own writes
// them in a transaction per batch, when appendBatch wait or every appendEvery. SaveRun of
// the run's record (Streamed) then keeps them, and a run killed mid-way keeps every batch
// written before.
type Appender struct {
	st    *Store
	runID string
	kick  chan struct{} // a batch is waiting
	done  chan struct{} // the writer has ended

	mu      sync.Mutex
	buf     []*socklabv1.Event
	drained chan struct{} // closed when the writer next takes the waiting events
	closed  bool
	err     error // the first write that failed; later events are dropped
}

// Appender starts storing the events of run runID (begun with Begin) as they come. Close
// ends it.
func (s *Store) Appender(runID string) *Appender {
	a := &Appender{st: s, runID: runID, kick: make(chan struct{}, 1), done: make(chan struct{}), drained: make(chan struct{})}
	go a.write()
	return a
}

// Add takes the run's next entry in display order; it waits while appendMax events wait
// for the writer.
func (a *Appender) Add(e transcript.Entry) {
	ev := transcript.EntryEvent(e)
	if ev == nil {
		return
	}
	a.mu.Lock()
	a.buf = append(a.buf, ev)
	n, drained := len(a.buf), a.drained
	a.mu.Unlock()
	if n >= appendBatch {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	if n >= appendMax {
		<-drained
	}
}

// Close writes what waits, ends the writer and returns the first error it met.
func (a *Appender) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *Appender) write() {
	defer close(a.done)
	t := time.NewTicker(appendEvery)
	defer t.Stop()
	first := 0
	for {
		select {
		case <-a.kick:
		case <-t.C:
		}
		a.mu.Lock()
		batch, closed, failed := a.buf, a.closed, a.err != nil
		a.buf = nil
		close(a.drained)
		a.drained = make(chan struct{})
		a.mu.Unlock()
		if len(batch) > 0 && !failed {
			// The events are the run's record: they are written even as the run is cancelled.
			if err := a.st.appendEvents(context.Background(), a.runID, first, batch); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
			first += len(batch)
		}
		if closed {
			return
		}
	}
}

// appendEvents writes events numbered from first in one transaction.
func (s *Store) appendEvents(ctx context.Context, runID string, first int, events []*socklabv1.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store events of %s: %w", runID, err)
	}
	defer tx.Rollback()
	if err := insertEvents(ctx, tx, runID, first, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store events of %s: %w", runID, err)
	}
	return nil
}

// Recording stores one run as it goes: Begin when its hosts are bound, Add for each of
// its entries in display order (runner.Options.Ordered), Save when it ends. Entries that
// come before Begin (or after a Begin that failed) wait for Save; a run that never began
// in the store is saved whole. The store is given at Begin and Save, so that a command
// line opens its history only once a run has hosts. Its methods are safe for concurrent
// use.
type Recording struct {
	owner string

	mu    sync.Mutex
	app   *Appender
	early []transcript.Entry
}

// NewRecording starts recording a run started by owner (a controller's user; "" for
// none).
func NewRecording(owner string) *Recording { return &Recording{owner: owner} }

// Begin records the run's start in st (BeginAs) and from then on stores its entries as
// they come.
func (r *Recording) Begin(ctx context.Context, st *Store, h transcript.Header) error {
	if err := st.BeginAs(ctx, h, r.owner); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.app = st.Appender(h.RunID)
	for _, e := range r.early {
		r.app.Add(e)
	}
	r.early = nil
	return nil
}

// Add takes the run's next entry in display order.
func (r *Recording) Add(e transcript.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.app == nil {
		r.early = append(r.early, e)
		return
	}
	r.app.Add(e)
}

// Save stores the finished run in st: the entries that came through Add, then rec's own
// (a runner without Options.Ordered keeps them all).
func (r *Recording) Save(ctx context.Context, st *Store, rec *transcript.Record) error {
	r.mu.Lock()
	app, early := r.app, r.early
	r.app, r.early = nil, nil
	r.mu.Unlock()
	if app != nil {
		for _, e := range rec.Entries {
			app.Add(e)
		}
		if err := app.Close(); err != nil {
			return err
		}
		rec.Streamed = true
	} else {
		rec.Entries = append(early, rec.Entries...) // the run never began here: all at once
	}
	return st.SaveRunAs(ctx, rec, r.owner)
}
