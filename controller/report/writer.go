package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/socklab/socklab/controller/transcript"
)

// Writer renders a run, whether it is live, streamed from a controller or read back from
// the history: Header once its hosts are bound, Entry for each transcript line, End
// with how it ended.
type Writer interface {
	// Header announces the run and its hosts.
	Header(h transcript.Header)
	// Entry is one transcript line.
	Entry(e transcript.Entry)
	// End is how the run ended.
	End(res *transcript.Result)
}

// Replay writes a finished run to w: its header (when its hosts were bound), each entry
// that each yields, and its end. It stops at the first error each returns.
func Replay(w Writer, res *transcript.Result, each func(yield func(transcript.Entry) error) error) error {
	if len(res.Header.Hosts) > 0 {
		w.Header(res.Header)
	}
	if err := each(func(e transcript.Entry) error { w.Entry(e); return nil }); err != nil {
		return err
	}
	w.End(res)
	return nil
}

// Entries yields a record's entries, for Replay.
func Entries(entries []transcript.Entry) func(yield func(transcript.Entry) error) error {
	return func(yield func(transcript.Entry) error) error {
		for _, e := range entries {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// ResultJSON returns result.json for a run.
func ResultJSON(res *transcript.Result) ([]byte, error) {
	b, err := json.MarshalIndent(res.File(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("result.json: %w", err)
	}
	return append(b, '\n'), nil
}

// DirFile is one more file WriteDir writes, made by a package report does not import
// (report.html).
type DirFile struct {
	// Name is the file's name in the folder.
	Name string
	// Write writes the finished run's file.
	Write func(w io.Writer, rec *transcript.Record) error
}

// WriteDir writes a finished run into dir: transcript.txt (the merged transcript as
// text, with the checks), transcript.jsonl (its events) and result.json, then each of
// also.
func WriteDir(dir string, rec *transcript.Record, also ...DirFile) error {
	var txt, jsonl bytes.Buffer
	if err := Replay(NewText(&txt, TextOptions{}), &rec.Result, Entries(rec.Entries)); err != nil {
		return err
	}
	if err := Replay(NewJSONL(&jsonl), &rec.Result, Entries(rec.Entries)); err != nil {
		return err
	}
	result, err := ResultJSON(&rec.Result)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"transcript.txt", txt.Bytes()}, {"transcript.jsonl", jsonl.Bytes()}, {"result.json", result}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	for _, f := range also {
		if err := writeFile(filepath.Join(dir, f.Name), func(w io.Writer) error { return f.Write(w, rec) }); err != nil {
			return fmt.Errorf("write %s: %w", f.Name, err)
		}
	}
	return nil
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
