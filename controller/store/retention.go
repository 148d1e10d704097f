package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// Retention is how much of its history a store keeps. The zero Retention keeps all of it.
type Retention struct {
	// Runs is how many runs are kept, the newest by start; 0 keeps any number.
	Runs int
	// Age is how long a run is kept after it started; 0 keeps runs of any age.
	Age time.Duration
}

// Keep makes every later Save prune the history to r, in the run's own transaction. Call
// it before the store is used by more than one goroutine.
func (s *Store) Keep(r Retention) { s.retention = r }

// Prune deletes the runs r does not keep, with their events, and returns how many it
// deleted. A run not ended yet (running) is never deleted. What is deleted is overwritten
// in the database file (SQLite's secure_delete), not merely unlinked, and the journal is
// then emptied into the file when no reader holds it; the file keeps its size, its free
// pages used again by the runs stored next.
func (s *Store) Prune(ctx context.Context, r Retention) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune the history: %w", err)
	}
	defer tx.Rollback()
	n, err := prune(ctx, tx, r, time.Now(), "")
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune the history: %w", err)
	}
	if n > 0 {
		// The journal still holds the deleted pages as they were: empty it into the file.
		// A reader in another process may hold it; then SQLite's own checkpoints do it later.
		_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return n, nil
}

// prune deletes, in tx, the runs r does not keep at now, and their events; never the
// run spare (the one being saved, whatever its start).
func prune(ctx context.Context, tx *sql.Tx, r Retention, now time.Time, spare string) (int, error) {
	var cond []string
	var args []any
	if r.Age > 0 {
		cond = append(cond, "started < ?")
		args = append(args, now.Add(-r.Age).UnixNano())
	}
	if r.Runs > 0 {
		cond = append(cond, "id NOT IN (SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT ?)")
		args = append(args, r.Runs)
	}
	if len(cond) == 0 {
		return 0, nil
	}
	doomed := "SELECT id FROM runs WHERE verdict != ? AND id != ? AND (" + strings.Join(cond, " OR ") + ")"
	args = append([]any{transcript.VerdictRunning, spare}, args...)
	if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE run_id IN ("+doomed+")", args...); err != nil {
		return 0, fmt.Errorf("prune the history's events: %w", err)
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE id IN ("+doomed+")", args...)
	if err != nil {
		return 0, fmt.Errorf("prune the history's runs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune the history's runs: %w", err)
	}
	return int(n), nil
}
