package lab

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/syntax"
)

// TestTypeCheckFindsNothingInRepoLabs: the static type look reports nothing in any lab,
// helper or test lab of the repository (labs/, labs/lib, labs/testdata, every testdata
// but the labs broken on purpose, under testdata/broken):
// what it reports is always a mistake, never a lab that works.
func TestTypeCheckFindsNothingInRepoLabs(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "../.." || d.Name() == "broken") {
			return filepath.SkipDir // broken on purpose: testdata/broken/*.star
		}
		if d.IsDir() || !strings.HasSuffix(p, ".star") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := fileOptions.Parse(p, src, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		n++
		if problem := typeCheck(f, mainParam(f)); problem != nil {
			t.Errorf("typeCheck reports %v", problem)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("looked at %d .star files, want the repository's (50 or more)", n)
	}
}

// mainParam is the name of main's one parameter in f, "" if it has no such main.
func mainParam(f *syntax.File) string {
	for _, st := range f.Stmts {
		if d, ok := st.(*syntax.DefStmt); ok && d.Name.Name == "main" && len(d.Params) == 1 {
			if id, ok := d.Params[0].(*syntax.Ident); ok {
				return id.Name
			}
		}
	}
	return ""
}
