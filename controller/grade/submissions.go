// Package grade grades students' programs: it finds the submissions in a folder (sub-
// folders and zip files, the zips unpacked safely), runs a grading lab on each, in
// parallel, each on hosts of its own, and writes the grades (grades.json, grades.csv,
// junit.xml, one transcript per submission).
package grade

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Submission is one student's work: the folder a grading lab's t.files reads.
type Submission struct {
	// Name is the sub-folder's or the zip's name, without .zip.
	Name string
	// Dir holds the files.
	Dir string
	// Problem says why the submission cannot be graded (a zip with a path that escapes
	// it, too big); "" when it can.
	Problem string
}

// Caps on what one zip may unpack to: a zip bomb or a folder of videos is refused.
const (
	maxZipFiles = 1000
	maxZipBytes = 64 << 20
)

// Find returns the submissions in dir, sorted by name: each sub-folder, and each .zip
// unpacked (under scratch) with its single top-level folder, if it has one, flattened.
// A zip that cannot be unpacked safely is a submission with a Problem, graded as an
// error rather than left out.
func Find(dir, scratch string) ([]Submission, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("submissions: %w", err)
	}
	var subs []Submission
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, name)
		switch {
		case e.IsDir():
			subs = append(subs, Submission{Name: name, Dir: full})
		case strings.EqualFold(filepath.Ext(name), ".zip"):
			s := Submission{Name: strings.TrimSuffix(name, filepath.Ext(name))}
			s.Dir = filepath.Join(scratch, s.Name)
			if err := Unzip(full, s.Dir); err != nil {
				s.Problem = err.Error()
			}
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	for i := 1; i < len(subs); i++ {
		if subs[i].Name == subs[i-1].Name {
			return nil, fmt.Errorf("submissions: %s is both a folder and a zip in %s", subs[i].Name, dir)
		}
	}
	return subs, nil
}

// Unzip unpacks the zip file src into dst, refusing what could write outside dst (an
// absolute path, a "..", a symbolic link) and what is too big (more than 1000 files or
// 64 MiB unpacked). A zip whose files all sit in one top-level folder is unpacked with
// that folder flattened.
func Unzip(src, dst string) error {
	r, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("unzip %s: %w", filepath.Base(src), err)
	}
	defer r.Close()
	if len(r.File) > maxZipFiles {
		return fmt.Errorf("unzip %s: %d files, more than %d", filepath.Base(src), len(r.File), maxZipFiles)
	}
	names := make([]string, len(r.File))
	for i, f := range r.File {
		n := f.Name
		switch {
		case strings.Contains(n, "\\"), path.IsAbs(n), n != path.Clean(n) && n != path.Clean(n)+"/",
			strings.HasPrefix(path.Clean(n), ".."):
			return fmt.Errorf("unzip %s: %q is not a plain relative path: refused", filepath.Base(src), n)
		case f.Mode()&os.ModeSymlink != 0:
			return fmt.Errorf("unzip %s: %q is a symbolic link: refused", filepath.Base(src), n)
		case !f.Mode().IsDir() && !f.Mode().IsRegular():
			return fmt.Errorf("unzip %s: %q is not a file: refused", filepath.Base(src), n)
		}
		names[i] = path.Clean(n)
	}
	prefix := commonFolder(names, r.File)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("unzip %s: %w", filepath.Base(src), err)
	}
	var total int64
	for i, f := range r.File {
		rel := strings.TrimPrefix(names[i], prefix)
		if rel == "" || rel == "." {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if f.Mode().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("unzip %s: %w", filepath.Base(src), err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("unzip %s: %w", filepath.Base(src), err)
		}
		n, err := unzipFile(f, target, maxZipBytes-total)
		total += n
		if err != nil {
			return fmt.Errorf("unzip %s: %s: %w", filepath.Base(src), rel, err)
		}
	}
	return nil
}

// errTooBig is a zip that unpacks to more than it may.
var errTooBig = fmt.Errorf("more than %d MiB unpacked: refused", maxZipBytes>>20)

// unzipFile writes f to target, at most room bytes; it returns what it wrote.
func unzipFile(f *zip.File, target string, room int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644|f.Mode().Perm()&0o111)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, room+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > room {
		err = errTooBig
	}
	return n, err
}

// commonFolder returns "DIR/" when every entry lies in the one top-level folder DIR.
func commonFolder(names []string, files []*zip.File) string {
	var top string
	for i, n := range names {
		first, _, nested := strings.Cut(n, "/")
		if !nested && !files[i].Mode().IsDir() {
			return "" // a file at the top
		}
		if top == "" {
			top = first
		} else if first != top {
			return ""
		}
	}
	if top == "" {
		return ""
	}
	return top + "/"
}

// ErrNoSubmissions is a folder with nothing to grade.
var ErrNoSubmissions = errors.New("no submissions: want sub-folders or .zip files, one per student")
