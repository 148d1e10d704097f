package grade

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

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

// junitSuites is JUnit XML: a testsuite per submission, a testcase per check.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit returns junit.xml.
func (r *Report) JUnit() ([]byte, error) {
	doc := junitSuites{Name: r.Lab}
	for _, s := range r.Submissions {
		suite := junitSuite{Name: s.Name, Tests: len(s.Checks)}
		for _, c := range s.Checks {
			tc := junitCase{Name: c.Name, Classname: r.Lab + "." + s.Name}
			if !c.Passed {
				f := &junitFailure{Message: c.Message, Text: c.Hint}
				if s.Status == StatusError {
					tc.Error = f
					suite.Errors++
				} else {
					tc.Failure = f
					suite.Failures++
				}
			}
			suite.Cases = append(suite.Cases, tc)
		}
		doc.Suites = append(doc.Suites, suite)
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...), err
}
