package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/labs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// sentLab returns the lab file at path as a controller is sent it: its text, its base
// name and every file it loads (load(), and the files those load), by their paths
// relative to its folder, as the lab loads them here. A lab that does not load here
// goes as far as it loaded: the controller reports its error as a local run would. A
// lab that loads a file outside its folder cannot be sent.
func sentLab(path string) (*socklabv1.RunLabRequest, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec := &recordingSources{src: labs.Local(path), dir: filepath.Dir(path), files: map[string][]byte{}}
	_, _ = lab.Load(rec, path) // its error is the controller's to report
	if rec.err != nil {
		return nil, rec.err
	}
	req := &socklabv1.RunLabRequest{Source: src, FileName: filepath.Base(path)}
	for _, p := range slices.Sorted(maps.Keys(rec.files)) {
		req.Files = append(req.Files, &socklabv1.LabFile{Path: p, Content: rec.files[p]})
	}
	return req, nil
}

// recordingSources reads a lab's files from disk and records each file it loads.
type recordingSources struct {
	src   lab.Sources       // the lab's, as a local run's
	dir   string            // the lab file's folder
	files map[string][]byte // path relative to dir (slashes) -> text
	err   error             // the first file outside dir
}

// Read reads name as a local run does, recording what a load (from != "") read.
func (r *recordingSources) Read(from, name string) ([]byte, string, error) {
	data, shown, err := r.src.Read(from, name)
	if errors.Is(err, lab.ErrOutside) && r.err == nil {
		r.err = fmt.Errorf("%s loads %s, outside the lab's folder %s: a controller is sent the lab and the files under its folder", from, name, r.dir)
	}
	if err != nil || from == "" || strings.HasPrefix(name, lab.BuiltinPrefix) || strings.HasPrefix(from, lab.BuiltinPrefix) {
		return data, shown, err // a module named by a label ("@socklab//...") is the controller's own
	}
	rel, relErr := filepath.Rel(r.dir, shown)
	if relErr != nil || filepath.IsAbs(name) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		if r.err == nil {
			r.err = fmt.Errorf("%s loads %s, outside the lab's folder %s: a controller is sent the lab and the files under its folder", from, name, r.dir)
		}
		return data, shown, err
	}
	r.files[filepath.ToSlash(rel)] = data
	return data, shown, nil
}
