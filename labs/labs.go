// Package labs holds socklab's built-in labs, embedded in the binary: one .star file per
// lab, shared helpers under lib/ that labs load(), under programs/ the tutorial's
// programs that labs run as processes (t.files("programs/tcp_server.py")), and under
// reference/LAB/ the solutions a grading lab grades when a run gives no --files.
package labs

import (
	"embed"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/socklab/socklab/controller/lab"
)

//go:embed *.star lib/*.star programs/*.py programs/*.star reference/*/*
var files embed.FS

// FS returns the built-in labs' files.
func FS() fs.FS { return files }

// Sources returns the built-in labs as lab sources.
func Sources() lab.Sources { return lab.FSSources{FS: files, Builtin: files} }

// Local returns the sources of the lab file at file on this machine: its loads stay within
// the file's own folder tree, and load("@socklab//lib/net.star", ...) reads the built-in
// helpers.
func Local(file string) lab.Sources {
	return lab.DirSources{Root: filepath.Dir(file), Builtin: files}
}

// LoadFile loads the lab file at file, with Local's sources.
func LoadFile(file string) (*lab.Lab, error) {
	return lab.Load(Local(file), file)
}

// Names returns the built-in labs' names, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".star"); ok && !e.IsDir() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Load loads a built-in lab by name.
func Load(name string) (*lab.Lab, error) {
	return lab.Load(Sources(), name+".star")
}

// Sent returns the sources of a lab file sent to a controller, with its text and base
// name, and the name to load it by: the file itself, which may load() the files sent
// with it (sent, by their paths relative to its folder) and the built-in helpers, as
// @socklab//lib/NAME.star, or as lib/NAME.star where no file sent has that path. A name
// that is no plain relative path becomes "lab.star".
func Sent(name string, src []byte, sent map[string][]byte) (lab.Sources, string) {
	if name == "" || !fs.ValidPath(name) {
		name = "lab.star"
	}
	mem := fstest.MapFS{}
	_ = fs.WalkDir(files, "lib", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(files, p)
			mem[p] = &fstest.MapFile{Data: b}
		}
		return err
	})
	for p, b := range sent {
		mem[p] = &fstest.MapFile{Data: b}
	}
	mem[name] = &fstest.MapFile{Data: src}
	return lab.FSSources{FS: mem, Builtin: files}, name
}
