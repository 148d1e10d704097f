// Package labs holds socklab's built-in labs, embedded in the binary: one .star file per
// lab, shared helpers under lib/ that labs load(), under programs/ the tutorial's
// programs that labs run as processes (t.files("programs/tcp_server.py")), and under
// reference/LAB/ the solutions a grading lab grades when a run gives no --files.
package labs

import (
	"embed"
	"io/fs"
	"sort"
	"strings"

	"github.com/socklab/socklab/controller/lab"
)

//go:embed *.star lib/*.star programs/*.py programs/*.star reference/*/*
var files embed.FS

// FS returns the built-in labs' files.
func FS() fs.FS { return files }

// Sources returns the built-in labs as lab sources.
func Sources() lab.Sources { return lab.FSSources{FS: files} }

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
