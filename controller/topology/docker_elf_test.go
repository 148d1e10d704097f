package topology

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/python"
)

// TestSharedLibrariesAsLdd: the libraries the image takes for python3, its extension
// modules and this test binary are the ones ldd lists (ldd runs each, which the image's
// build must not: it costs 60 ms a file here).
func TestSharedLibrariesAsLdd(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this host to compare with")
	}
	type object struct{ path, loader string }
	var files []object
	if exe, err := os.Executable(); err == nil {
		files = append(files, object{exe, ""})
	}
	if py, err := python.Find(); err == nil {
		real, err := filepath.EvalSymlinks(py)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, object{real, ""})
		exts, _ := filepath.Glob(filepath.Join(filepath.Dir(real), "..", "lib", "python3*", "lib-dynload", "*.so"))
		for _, e := range exts {
			files = append(files, object{e, real})
		}
	}
	for _, o := range files {
		f := o.path
		got, gotMissing, err := sharedLibraries(f, o.loader)
		if err != nil {
			t.Fatalf("sharedLibraries(%s): %v", f, err)
		}
		want, wantMissing := ldd(t, f)
		slices.Sort(got)
		slices.Sort(gotMissing)
		if !slices.Equal(got, want) || !slices.Equal(gotMissing, wantMissing) {
			t.Errorf("sharedLibraries(%s) = %v, missing %v; ldd says %v, missing %v", f, got, gotMissing, want, wantMissing)
		}
	}
}

// ldd returns the libraries ldd lists for f (the loader included, the vDSO not), and
// those it cannot find, each sorted.
func ldd(t *testing.T, f string) (libs, missing []string) {
	out, err := exec.Command("ldd", f).CombinedOutput()
	if strings.Contains(string(out), "not a dynamic executable") || strings.Contains(string(out), "statically linked") {
		return nil, nil
	}
	if err != nil {
		t.Fatalf("ldd %s: %v: %s", f, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		name, target, arrow := strings.Cut(line, " => ")
		if !arrow {
			target = line
		}
		if strings.HasPrefix(target, "not found") {
			missing = append(missing, name)
			continue
		}
		if i := strings.Index(target, " ("); i >= 0 {
			target = target[:i]
		}
		if filepath.IsAbs(target) {
			libs = append(libs, target)
		}
	}
	slices.Sort(libs)
	slices.Sort(missing)
	return libs, missing
}
