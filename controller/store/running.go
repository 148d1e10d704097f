package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/controller/transcript"
)

// notEnded is the error a run not ended yet reads back with.
const notEnded = "the run has not ended: its transcript is stored when it does"

// Begin records that a run has started (its hosts are bound): the history lists it as
// running from now on, owned by this process. Save replaces the row when the run ends;
// if this process dies first, the next Open of the store marks the run interrupted.
func (s *Store) Begin(ctx context.Context, h transcript.Header) error {
	return s.BeginAs(ctx, h, "")
}

// BeginAs records that a run has started as Begin does, with owner (a controller's user;
// "" for none) as who started it, so that its owner sees it while it runs.
func (s *Store) BeginAs(ctx context.Context, h transcript.Header, owner string) error {
	res := &transcript.Result{Header: h, Checks: h.Checks, ExitCode: transcript.ExitInterrupted, Error: notEnded}
	result, err := json.Marshal(res.File())
	if err != nil {
		return fmt.Errorf("begin run %s: %w", h.RunID, err)
	}
	record, err := proto.Marshal(res.Proto())
	if err != nil {
		return fmt.Errorf("begin run %s: %w", h.RunID, err)
	}
	_, maxScore := res.Score()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, lab, started, finished, verdict, exit_code, score, max_score, error, result, record, owner, process)
		VALUES (?, ?, ?, 0, ?, ?, 0, ?, ?, ?, ?, ?, ?)`, h.RunID, h.Lab, h.Started.UnixNano(), transcript.VerdictRunning,
		res.ExitCode, maxScore, notEnded, string(result), record, sql.NullString{String: owner, Valid: owner != ""}, s.process); err != nil {
		return fmt.Errorf("begin run %s: %w", h.RunID, err)
	}
	return nil
}

// interrupt marks interrupted the runs that were left running by a process that has
// ended: killed, or on a machine that has restarted since. Their rows stay, with the
// error saying what happened, and the events stored before the process ended (an
// Appender's; a run saved only at its end has none). Runs of live processes, and of other machines (a store on a shared
// disk), are left as they are.
func (s *Store) interrupt(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, process FROM runs WHERE verdict = ?`, transcript.VerdictRunning)
	if err != nil {
		return fmt.Errorf("find unfinished runs: %w", err)
	}
	type left struct{ id, owner string }
	var runs []left
	for rows.Next() {
		var r left
		if err := rows.Scan(&r.id, &r.owner); err != nil {
			rows.Close()
			return fmt.Errorf("find unfinished runs: %w", err)
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find unfinished runs: %w", err)
	}
	me := parseOwner(s.process)
	for _, r := range runs {
		o := parseOwner(r.owner)
		if o.alive(me) {
			continue
		}
		msg := fmt.Sprintf("interrupted: the process running it (pid %d) ended before the run did; its transcript was not stored", o.PID)
		var stored int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE run_id = ?`, r.id).Scan(&stored); err == nil && stored > 0 {
			msg = fmt.Sprintf("interrupted: the process running it (pid %d) ended before the run did; its transcript is stored up to then", o.PID)
		}
		// The row is changed only if it is still that owner's running run: the run may
		// have ended (and been saved) since it was read.
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET verdict = ?, exit_code = ?, error = ?, process = '' WHERE id = ? AND verdict = ? AND process = ?`,
			transcript.VerdictInterrupted, transcript.ExitInterrupted, msg, r.id, transcript.VerdictRunning, r.owner); err != nil {
			return fmt.Errorf("mark run %s interrupted: %w", r.id, err)
		}
	}
	return nil
}

// owner names a process across the processes that share a store: the machine it runs
// on (host name and boot), its pid, and when it started (so a pid used again by another
// process is not taken for it).
type owner struct {
	Host  string `json:"host"`
	Boot  string `json:"boot"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot, /proc/PID/stat's starttime
}

// self returns this process's owner, encoded as the process column holds it.
func self() string {
	o := owner{PID: os.Getpid()}
	o.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		o.Boot = strings.TrimSpace(string(b))
	}
	o.Start, _ = kernel.ProcessStart(o.PID)
	b, _ := json.Marshal(o)
	return string(b)
}

// parseOwner decodes a process column; an unreadable one is a zero owner, never alive.
func parseOwner(s string) owner {
	var o owner
	if json.Unmarshal([]byte(s), &o) != nil {
		return owner{}
	}
	return o
}

// alive reports whether o may still be running, as seen from the process me: true when
// it is, or when that cannot be told (another machine's, a /proc that hides it).
func (o owner) alive(me owner) bool {
	switch {
	case o.PID <= 0:
		return false
	case o.Host != me.Host:
		return true
	case o.Boot != me.Boot:
		return false // the machine has restarted since
	}
	start, err := kernel.ProcessStart(o.PID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false
	case err != nil:
		return true
	}
	return start == o.Start
}
