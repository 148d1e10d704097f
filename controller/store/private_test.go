package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
)

// mode returns path's permission bits.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestPrivateFiles: a new store's directory is 0700 and its file (and SQLite's journals)
// 0600, whatever the umask lets through; nothing is noted.
func TestPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "socklab")
	path := filepath.Join(dir, "socklab.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: "run-1", Lab: "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if m := mode(t, d); m != 0o700 {
			t.Errorf("directory %s has mode %04o, want 0700", d, m)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err != nil {
			continue // SQLite may not have made the journal (yet)
		}
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), m)
		}
	}
	if n := st.Notes(); len(n) != 0 {
		t.Errorf("Notes() = %q for a new store, want none", n)
	}
}

// TestLooseFileTightened: an existing store other users may read (as earlier versions
// made them, 0644) is made 0600 when opened, and Notes says so; its runs are still there.
// An existing directory is left as it is: it may be shared, such as /tmp.
func TestLooseFileTightened(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "runs.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(t.Context(), &transcript.Result{Header: transcript.Header{RunID: "run-1", Lab: "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m := mode(t, path); m != 0o600 {
		t.Errorf("the reopened store has mode %04o, want 0600", m)
	}
	if m := mode(t, dir); m != 0o755 {
		t.Errorf("the existing directory's mode became %04o, want it left at 0755", m)
	}
	notes := st.Notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "made "+path+" private") || !strings.Contains(notes[0], "was 0644") {
		t.Errorf("Notes() = %q, want one saying %s was made private (was 0644)", notes, path)
	}
	if _, err := st.Result(t.Context(), "run-1"); err != nil {
		t.Errorf("the run stored before: %v", err)
	}
}
