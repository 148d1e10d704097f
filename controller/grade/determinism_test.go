//go:build determinism

package grade_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/socklab/socklab/controller/grade"
	"github.com/socklab/socklab/labs"
)

// TestDeterminism grades every test submission of every grading lab five times, at one
// job and at as many as there are cores, and requires the same verdicts every time:
// go test -tags determinism -run TestDeterminism ./controller/grade
func TestDeterminism(t *testing.T) {
	for _, lab := range []string{"tcp-upper-server", "udp-upper-server", "tcp-upper-client"} {
		dir := "../../labs/testdata/submissions/" + lab
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		l, err := labs.Load(lab)
		if err != nil {
			t.Fatal(err)
		}
		subs, err := grade.Find(dir, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		topo, _ := gradeTopology()
		var first map[string]string
		for run := range 5 {
			for _, jobs := range []int{1, runtime.NumCPU()} {
				v := verdicts(grade.Grade(t.Context(), l, subs, grade.Options{Topology: topo, Jobs: jobs, Params: nil}))
				if first == nil {
					first = v
					continue
				}
				for name, want := range first {
					if v[name] != want {
						t.Errorf("%s/%s, run %d at %d jobs: %q, first run %q", lab, name, run+1, jobs, v[name], want)
					}
				}
			}
		}
	}
}
