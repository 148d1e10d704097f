package grade

import (
	"encoding/json"
	"strings"
)

// gradescopeTest is one test of Gradescope's results.json.
type gradescopeTest struct {
	Name       string  `json:"name"`
	Score      float64 `json:"score"`
	MaxScore   float64 `json:"max_score"`
	Status     string  `json:"status"`
	Output     string  `json:"output"`
	Visibility string  `json:"visibility"`
}

// Gradescope returns the submission's grade as Gradescope's autograder reads it from
// /autograder/results/results.json: a test per check, with its score, status and what
// went wrong (the message and the hint) as its output, visible to the student.
func (r Result) Gradescope() ([]byte, error) {
	doc := struct {
		Score      float64          `json:"score"`
		Output     string           `json:"output,omitempty"`
		Visibility string           `json:"visibility"`
		Tests      []gradescopeTest `json:"tests"`
	}{Score: float64(r.Score), Visibility: "visible", Tests: []gradescopeTest{}}
	if r.Status != StatusGraded {
		doc.Output = r.Status + ": " + r.Error
	}
	for _, c := range r.Checks {
		t := gradescopeTest{Name: c.Name, Score: float64(c.Points), MaxScore: float64(c.MaxPoints), Status: "passed", Visibility: "visible"}
		if !c.Passed {
			t.Status, t.Output = "failed", checkOutput(c)
		}
		doc.Tests = append(doc.Tests, t)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

// prairieLearnTest is one test of PrairieLearn's external grader results.
type prairieLearnTest struct {
	Name      string `json:"name"`
	Points    int    `json:"points"`
	MaxPoints int    `json:"max_points"`
	Message   string `json:"message"`
	Output    string `json:"output"`
}

// PrairieLearn returns the submission's grade as PrairieLearn's external grader reads it
// from /grade/results/results.json: gradable unless the environment failed it, the score
// as a fraction, a test per check.
func (r Result) PrairieLearn() ([]byte, error) {
	doc := struct {
		Gradable bool               `json:"gradable"`
		Score    float64            `json:"score"`
		Message  string             `json:"message"`
		Tests    []prairieLearnTest `json:"tests"`
	}{Gradable: r.Status != StatusError, Tests: []prairieLearnTest{}}
	if r.MaxScore > 0 {
		doc.Score = float64(r.Score) / float64(r.MaxScore)
	}
	if r.Status != StatusGraded {
		doc.Message = r.Status + ": " + r.Error
	}
	for _, c := range r.Checks {
		t := prairieLearnTest{Name: c.Name, Points: c.Points, MaxPoints: c.MaxPoints}
		if !c.Passed {
			t.Message, t.Output = c.Message, checkOutput(c)
		}
		doc.Tests = append(doc.Tests, t)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

// checkOutput is what a platform shows under a failed check: what went wrong, and the
// hint.
func checkOutput(c Check) string {
	parts := []string{c.Message}
	if c.Hint != "" {
		parts = append(parts, "hint: "+c.Hint)
	}
	return strings.Join(parts, "\n")
}
