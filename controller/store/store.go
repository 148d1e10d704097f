// Package store keeps runs: their result and every event of their transcript, in one
// SQLite file (modernc.org/sqlite, pure Go, WAL). A run is written in one transaction, so
// it is durable, whole, before it is reported done.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// ErrNotFound is returned for a run the store does not hold.
var ErrNotFound = errors.New("no such run")

// ErrAmbiguous is returned for an id prefix that names more than one run.
var ErrAmbiguous = errors.New("the prefix names more than one run: give more of the id")

// Store is an open store.
type Store struct {
	db *sql.DB
	// process names this process in the runs it begins (see running.go).
	process string
	// retention is what Save prunes the history to (see Keep).
	retention Retention
	// notes are what Open changed or found about the file's permissions, for Notes.
	notes []string
}

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	id        TEXT PRIMARY KEY,
	lab       TEXT NOT NULL,
	started   INTEGER NOT NULL,
	finished  INTEGER NOT NULL,
	verdict   TEXT NOT NULL,
	exit_code INTEGER NOT NULL,
	score     INTEGER NOT NULL,
	max_score INTEGER NOT NULL,
	error     TEXT NOT NULL,
	result    TEXT NOT NULL,
	record    BLOB,
	owner     TEXT,
	process   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_running ON runs (verdict) WHERE verdict = 'running';
CREATE TABLE IF NOT EXISTS events (
	run_id TEXT NOT NULL,
	n      INTEGER NOT NULL,
	event  BLOB NOT NULL,
	PRIMARY KEY (run_id, n)
) WITHOUT ROWID;
`

// DefaultPath is where the store lives unless --db says otherwise: $SOCKLAB_DB, else
// socklab/socklab.db under $XDG_DATA_HOME (default ~/.local/share).
func DefaultPath() (string, error) {
	if p := os.Getenv("SOCKLAB_DB"); p != "" {
		return p, nil
	}
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("store: no home directory for the default database: give --db: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "socklab", "socklab.db"), nil
}

// Open opens (creating if need be) the store at path. The history holds what labs sent
// and received, so it is private: a directory Open makes is 0700, the file is created
// 0600, and an existing file (or SQLite's -wal and -shm beside it) that other users may
// read or write is made 0600, which Notes then says.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	notes, err := private(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(on)")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	st := &Store{db: db, notes: notes, process: self()}
	if err := st.interrupt(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return st, nil
}

// Notes says what Open did about files of the store that other users could read: each
// one it made private, or could not. A command shows them to its user.
func (s *Store) Notes() []string { return s.notes }

// private creates the database file at path readable and writable by its owner only, and
// makes the file and SQLite's journals beside it so when they are not. It returns a note
// for each file it changed, or could not change (one owned by another user, say: the
// store still opens, as it did before).
func private(path string) ([]string, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	var notes []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		mode := fi.Mode().Perm()
		if mode&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, mode&0o700); err != nil {
			notes = append(notes, fmt.Sprintf("%s is open to other users (mode %04o) and could not be made private: %v", p, mode, err))
			continue
		}
		notes = append(notes, fmt.Sprintf("made %s private (mode %04o, was %04o): the run history holds what labs sent and received", p, mode&0o700, mode))
	}
	return notes, nil
}

// migrate brings a store written by an earlier version up to date: runs gained the
// record column (a socklab.v1.RunResult; runs stored before it are read from result),
// the owner column (who started a controller's run; NULL before it, and for local runs)
// and the process column (the process running a run not yet ended). It runs under
// SQLite's write lock, so two processes opening one old store agree.
func migrate(db *sql.DB) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	rollback := func(err error) error {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	for _, col := range []struct{ name, decl string }{{"record", "BLOB"}, {"owner", "TEXT"}, {"process", "TEXT NOT NULL DEFAULT ''"}} {
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('runs') WHERE name = ?`, col.name).Scan(&n); err != nil {
			return rollback(err)
		}
		if n == 0 {
			if _, err := conn.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN `+col.name+` `+col.decl); err != nil {
				return rollback(err)
			}
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Save writes a finished run and its events (in transcript order) in one transaction,
// each event's payload cut to PayloadCap bytes. It replaces the row Begin wrote, and
// prunes the history as Keep said.
func (s *Store) Save(ctx context.Context, run *transcript.Result, events []*socklabv1.Event) error {
	return s.save(ctx, run, events, "")
}

// save writes a run as Save does, recording owner as who started it ("": nobody, NULL).
// With events nil, the events already stored (by an Appender) are kept.
func (s *Store) save(ctx context.Context, run *transcript.Result, events []*socklabv1.Event, owner string) error {
	res := run.File()
	result, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	record, err := proto.Marshal(run.Proto())
	if err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO runs (id, lab, started, finished, verdict, exit_code, score, max_score, error, result, record, owner, process)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`, res.RunID, res.Lab, res.Started.UnixNano(), res.Finished.UnixNano(),
		res.Verdict, res.ExitCode, res.Score, res.MaxScore, res.Error, string(result), record, sql.NullString{String: owner, Valid: owner != ""}); err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	if events != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE run_id = ?`, res.RunID); err != nil {
			return fmt.Errorf("save run %s: %w", res.RunID, err)
		}
		if err := insertEvents(ctx, tx, res.RunID, 0, events); err != nil {
			return err
		}
	}
	if _, err := prune(ctx, tx, s.retention, time.Now(), res.RunID); err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save run %s: %w", res.RunID, err)
	}
	return nil
}

// eventBatch is how many events one INSERT statement writes: one statement per row is
// the cost that dominates in SQLite.
const eventBatch = 256

// SaveRun writes a finished run: its result and its merged transcript's events.
func (s *Store) SaveRun(ctx context.Context, rec *transcript.Record) error {
	return s.SaveRunAs(ctx, rec, "")
}

// SaveRunAs writes a finished run as SaveRun does, recording owner (a controller's user)
// as who started it; "" records nobody.
func (s *Store) SaveRunAs(ctx context.Context, rec *transcript.Record, owner string) error {
	if rec.Streamed {
		return s.save(ctx, &rec.Result, nil, owner)
	}
	events := make([]*socklabv1.Event, 0, len(rec.Entries))
	for _, e := range rec.Entries {
		if ev := transcript.EntryEvent(e); ev != nil {
			events = append(events, ev)
		}
	}
	return s.save(ctx, &rec.Result, events, owner)
}

// insertEvents writes events numbered from first, eventBatch rows per statement.
func insertEvents(ctx context.Context, tx *sql.Tx, runID string, first int, events []*socklabv1.Event) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, 3*eventBatch)
	for start := 0; start < len(events); start += eventBatch {
		batch := events[start:min(start+eventBatch, len(events))]
		args = args[:0]
		for i, ev := range batch {
			b, err := proto.Marshal(ev)
			if err == nil && len(b) > PayloadCap {
				// Only an event this large can hold anything to cut.
				if c := capped(ev, PayloadCap); c != ev {
					b, err = proto.Marshal(c)
				}
			}
			if err != nil {
				return fmt.Errorf("save event %d of %s: %w", first+start+i, runID, err)
			}
			args = append(args, runID, first+start+i, b)
		}
		stmt := full
		if len(batch) < eventBatch || full == nil {
			var err error
			stmt, err = tx.PrepareContext(ctx, "INSERT INTO events (run_id, n, event) VALUES "+placeholders(len(batch)))
			if err != nil {
				return fmt.Errorf("save events of %s: %w", runID, err)
			}
			if len(batch) == eventBatch {
				full = stmt
			} else {
				defer stmt.Close()
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("save events %d.. of %s: %w", first+start, runID, err)
		}
	}
	return nil
}

// placeholders returns "(?, ?, ?), ..." for n rows.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
}

// Summary is one line of the run history.
type Summary struct {
	// ID names the run.
	ID string
	// Lab is the lab's name.
	Lab string
	// Started is when it began.
	Started time.Time
	// Verdict is "passed", "failed" or "error"; "running" for a run not ended yet, and
	// "interrupted" for one whose process ended first (transcript.Verdict*).
	Verdict string
	// Score and MaxScore are its points.
	Score, MaxScore int
	// Owner is who started it: a controller's user ("" for nobody recorded).
	Owner string
}

// Runs returns the latest runs, newest first, at most limit of them.
func (s *Store) Runs(ctx context.Context, limit int) ([]Summary, error) {
	return s.runs(ctx, `SELECT id, lab, started, verdict, score, max_score, owner FROM runs ORDER BY started DESC LIMIT ?`, limit)
}

// RunsOf returns owner's latest runs, newest first, at most limit of them.
func (s *Store) RunsOf(ctx context.Context, owner string, limit int) ([]Summary, error) {
	return s.runs(ctx, `SELECT id, lab, started, verdict, score, max_score, owner FROM runs WHERE owner = ? ORDER BY started DESC LIMIT ?`, owner, limit)
}

func (s *Store) runs(ctx context.Context, query string, args ...any) ([]Summary, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var r Summary
		var started int64
		var owner sql.NullString
		if err := rows.Scan(&r.ID, &r.Lab, &started, &r.Verdict, &r.Score, &r.MaxScore, &owner); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		r.Started, r.Owner = time.Unix(0, started), owner.String
		out = append(out, r)
	}
	return out, rows.Err()
}

// Owner returns who started the run with exactly this id: "" when nobody was recorded
// (a local run, or one stored before runs recorded it).
func (s *Store) Owner(ctx context.Context, id string) (string, error) {
	var owner sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT owner FROM runs WHERE id = ?`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get run %s: %w", id, err)
	}
	return owner.String, nil
}

// OwnedBy returns the whole id of owner's run that id names: its id, or a prefix of it
// that names no other run of owner's. Other users' runs are not looked at, so a prefix
// tells nothing of them.
func (s *Store) OwnedBy(ctx context.Context, id, owner string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("run id is empty: %w", ErrNotFound)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs WHERE owner = ? AND (id = ? OR substr(id, 1, length(?)) = ?) LIMIT 2`, owner, id, id, id)
	if err != nil {
		return "", fmt.Errorf("get run %s: %w", id, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var full string
		if err := rows.Scan(&full); err != nil {
			return "", fmt.Errorf("get run %s: %w", id, err)
		}
		found = append(found, full)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("get run %s: %w", id, err)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("run %s: %w", id, ErrNotFound)
	case 2:
		return "", fmt.Errorf("run %s: %w", id, ErrAmbiguous)
	}
	return found[0], nil
}

// Result returns how a run ended, by its id or an unambiguous prefix of it.
func (s *Store) Result(ctx context.Context, id string) (*transcript.Result, error) {
	if id == "" {
		return nil, fmt.Errorf("run id is empty: %w", ErrNotFound)
	}
	// The prefix is matched literally: % and _ in it match only themselves.
	rows, err := s.db.QueryContext(ctx, `SELECT result, record, verdict, exit_code, error FROM runs WHERE id = ? OR substr(id, 1, length(?)) = ? LIMIT 2`, id, id, id)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	defer rows.Close()
	type row struct {
		result, verdict, error string
		record                 []byte
		exitCode               int
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.result, &r.record, &r.verdict, &r.exitCode, &r.error); err != nil {
			return nil, fmt.Errorf("get run %s: %w", id, err)
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	case 2:
		return nil, fmt.Errorf("run %s: %w", id, ErrAmbiguous)
	}
	if len(found[0].record) > 0 {
		var rr socklabv1.RunResult
		if err := proto.Unmarshal(found[0].record, &rr); err != nil {
			return nil, fmt.Errorf("get run %s: %w", id, err)
		}
		res := transcript.ResultOf(&rr)
		if v := found[0].verdict; v == transcript.VerdictRunning || v == transcript.VerdictInterrupted {
			// The record is the run's start (Begin); the row says how far it got.
			res.ExitCode, res.Error = found[0].exitCode, found[0].error
		}
		return res, nil
	}
	var f transcript.ResultFile // a run stored before the record column
	if err := json.Unmarshal([]byte(found[0].result), &f); err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	return transcript.ResultOfFile(f), nil
}

// Entries calls fn with each entry of a stored run's transcript, in order, reading them
// as it goes: memory does not grow with the run's length.
func (s *Store) Entries(ctx context.Context, res *transcript.Result, fn func(transcript.Entry) error) error {
	return s.Events(ctx, res.Header.RunID, func(ev *socklabv1.Event) error {
		return fn(transcript.EventEntry(ev, res.Header.Hosts))
	})
}

// Events calls fn with each event of a run, in order, reading them as it goes: memory
// does not grow with the run's length.
func (s *Store) Events(ctx context.Context, runID string, fn func(*socklabv1.Event) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT event FROM events WHERE run_id = ? ORDER BY n`, runID)
	if err != nil {
		return fmt.Errorf("read events of %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("read events of %s: %w", runID, err)
		}
		ev := &socklabv1.Event{}
		if err := proto.Unmarshal(b, ev); err != nil {
			return fmt.Errorf("read events of %s: %w", runID, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return rows.Err()
}
