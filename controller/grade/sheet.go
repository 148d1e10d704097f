package grade

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"path"
)

//go:embed sheet.html
var sheetFS embed.FS

// sheet is grades.html's template.
var sheet = template.Must(template.New("sheet.html").Funcs(template.FuncMap{
	"status": func(s Result) string {
		if s.Status == StatusGraded {
			return ""
		}
		return s.Status
	},
}).ParseFS(sheetFS, "sheet.html"))

// reportPath is where Write puts a submission's report.html, relative to the grades
// folder.
func reportPath(name string) string { return path.Join("transcripts", name+".html") }

// HTML returns grades.html: the grade sheet as a page, a row per submission with its
// score, each check passed or failed (its message and hint on hover) and a link to its
// report.html, then each check's pass rate.
func (r *Report) HTML() ([]byte, error) {
	var checks []string
	if len(r.Submissions) > 0 {
		for _, c := range r.Submissions[0].Checks {
			checks = append(checks, c.Name)
		}
	}
	var buf bytes.Buffer
	if err := sheet.Execute(&buf, struct {
		*Report
		Checks []string
	}{r, checks}); err != nil {
		return nil, fmt.Errorf("grades.html: %w", err)
	}
	return buf.Bytes(), nil
}
