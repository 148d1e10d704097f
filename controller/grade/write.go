package grade

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/report"
)

// Write writes the grading into dir: grades.json, grades.csv, junit.xml, grades.html
// (the grade sheet, linking each submission's report), and each submission's transcript
// as transcripts/NAME.txt and transcripts/NAME.jsonl, and its report as
// transcripts/NAME.html.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "transcripts"), 0o755); err != nil {
		return fmt.Errorf("grades: %w", err)
	}
	files := map[string]func() ([]byte, error){
		"grades.json": r.JSON,
		"grades.csv":  r.CSV,
		"junit.xml":   r.JUnit,
		"grades.html": r.HTML,
	}
	for name, build := range files {
		b, err := build()
		if err != nil {
			return fmt.Errorf("grades: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("grades: %w", err)
		}
	}
	for name, rec := range r.records {
		var txt, jsonl bytes.Buffer
		if err := report.Replay(report.NewText(&txt, report.TextOptions{}), &rec.Result, report.Entries(rec.Entries)); err != nil {
			return fmt.Errorf("grades: transcript of %s: %w", name, err)
		}
		if err := report.Replay(report.NewJSONL(&jsonl), &rec.Result, report.Entries(rec.Entries)); err != nil {
			return fmt.Errorf("grades: transcript of %s: %w", name, err)
		}
		var page bytes.Buffer
		if err := htmlreport.WriteWith(&page, rec, htmlreport.Options{Subject: name}); err != nil {
			return fmt.Errorf("grades: report of %s: %w", name, err)
		}
		for ext, b := range map[string][]byte{".txt": txt.Bytes(), ".jsonl": jsonl.Bytes(), ".html": page.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, "transcripts", name+ext), b, 0o644); err != nil {
				return fmt.Errorf("grades: %w", err)
			}
		}
	}
	return nil
}

// JSON returns grades.json.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

// CSV returns grades.csv: name, score, max_score, then the points of each check, in
// the lab's order, and last the submission's report.html (see Result.Report).
func (r *Report) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"name", "score", "max_score"}
	if len(r.Submissions) > 0 {
		for _, c := range r.Submissions[0].Checks {
			head = append(head, c.Name)
		}
	}
	head = append(head, "report")
	_ = w.Write(head)
	for _, s := range r.Submissions {
		row := []string{s.Name, strconv.Itoa(s.Score), strconv.Itoa(s.MaxScore)}
		for _, c := range s.Checks {
			row = append(row, strconv.Itoa(c.Points))
		}
		row = append(row, s.Report)
		_ = w.Write(row)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// JUnit returns junit.xml: a test suite per submission, a test case per check, written
// by the one JUnit writer the command line's exports use too. A submission that could
// not be graded (status error) has errors rather than failures.
func (r *Report) JUnit() ([]byte, error) {
	var suites []export.Suite
	for _, s := range r.Submissions {
		suite := export.Suite{Name: s.Name}
		for _, c := range s.Checks {
			tc := export.Case{Name: c.Name, Classname: r.Lab + "." + s.Name}
			if !c.Passed {
				tc.Failure = &export.Failure{Message: c.Message, Type: "failed", Text: c.Hint}
				tc.Error = s.Status == StatusError
			}
			suite.Cases = append(suite.Cases, tc)
		}
		suites = append(suites, suite)
	}
	var buf bytes.Buffer
	err := export.WriteJUnit(&buf, r.Lab, suites)
	return buf.Bytes(), err
}
