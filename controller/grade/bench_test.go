package grade_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/socklab/socklab/controller/grade"
	"github.com/socklab/socklab/labs"
)

// BenchmarkGrade50 grades 50 copies of a correct tcp-upper-server submission at --jobs 1
// and --jobs 2 and reports submissions per minute, and what grading adds beyond the
// labs' own time (their work and deliberate waits) at one job: target <= 10%.
//
//	go test -run '^$' -bench BenchmarkGrade50 -benchtime 1x ./controller/grade
func BenchmarkGrade50(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "..", "labs", "testdata", "submissions", "tcp-upper-server", "threaded", "server.py"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var subs []grade.Submission
	for i := range 50 {
		d := filepath.Join(dir, fmt.Sprintf("s%02d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "server.py"), src, 0o644); err != nil {
			b.Fatal(err)
		}
		subs = append(subs, grade.Submission{Name: filepath.Base(d), Dir: d})
	}
	l, err := labs.Load("tcp-upper-server")
	if err != nil {
		b.Fatal(err)
	}
	topo, _ := gradeTopology()
	for b.Loop() {
		for _, jobs := range []int{1, 2} {
			start := time.Now()
			rep := grade.Grade(context.Background(), l, subs, grade.Options{Topology: topo, Jobs: jobs})
			wall := time.Since(start)
			for _, s := range rep.Submissions {
				if s.Score != s.MaxScore {
					b.Fatalf("%s: %d/%d (%s): a correct submission must pass", s.Name, s.Score, s.MaxScore, s.Error)
				}
			}
			perMin := float64(len(subs)) / wall.Minutes()
			// At one job the runs follow each other: what the wall adds to the labs' own
			// time is grading's cost (hosts, agents, sessions, records).
			overhead := float64(wall*time.Duration(jobs)-rep.LabTime()) / float64(rep.LabTime())
			b.ReportMetric(perMin, fmt.Sprintf("subs/min@jobs%d", jobs))
			if jobs == 1 {
				b.ReportMetric(overhead*100, "overhead-%@jobs1")
			}
			b.Logf("jobs %d: 50 submissions in %s, %.1f per minute; labs' own time %s; grading adds %.1f%% (per job)", jobs, wall.Round(time.Millisecond), perMin, rep.LabTime().Round(time.Millisecond), overhead*100)
		}
	}
}
