package export

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// Suite is one JUnit test suite: one run's checks, or one student's in a grading.
type Suite struct {
	// Name names the suite: the lab, or the student's submission.
	Name string
	// Timestamp is when the run began; zero to leave it out.
	Timestamp time.Time
	// Time is how long the run took; zero to leave it out.
	Time time.Duration
	// Cases are the checks, in the lab's order.
	Cases []Case
}

// Case is one check as a JUnit test case.
type Case struct {
	// Name is the check's id.
	Name string
	// Classname groups the case, as JUnit readers show it: the lab, and the submission.
	Classname string
	// Failure is set for a check that failed (or was not reached).
	Failure *Failure
	// Error marks the failure as an error of the run rather than of the check (a lab that
	// stopped on an error, a submission that could not be run): <error>, not <failure>.
	Error bool
}

// Failure says why a check failed.
type Failure struct {
	// Message is the one-line reason: got versus want, or what stopped the lab first.
	Message string
	// Type classifies it: "failed", "not-reached".
	Type string
	// Text is the longer story: the hint for the student, the lab line.
	Text string
}

type xmlSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Suites   []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name      string    `xml:"name,attr"`
	Tests     int       `xml:"tests,attr"`
	Failures  int       `xml:"failures,attr"`
	Errors    int       `xml:"errors,attr"`
	Timestamp string    `xml:"timestamp,attr,omitempty"`
	Time      string    `xml:"time,attr,omitempty"`
	Cases     []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Failure   *xmlFailure `xml:"failure,omitempty"`
	Error     *xmlFailure `xml:"error,omitempty"`
}

type xmlFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML to w: a <testsuites> named name holding a <testsuite> per
// suite and a <testcase> per check, a failed check's <failure> (or <error>) with its
// message and hint. It is the one JUnit writer: socklab transcript --format junit and
// socklab grade's junit.xml both use it.
func WriteJUnit(w io.Writer, name string, suites []Suite) error {
	doc := xmlSuites{Name: name}
	for _, s := range suites {
		xs := xmlSuite{Name: s.Name, Tests: len(s.Cases)}
		if !s.Timestamp.IsZero() {
			xs.Timestamp = s.Timestamp.UTC().Format("2006-01-02T15:04:05")
		}
		if s.Time > 0 {
			xs.Time = strconv.FormatFloat(s.Time.Seconds(), 'f', 3, 64)
		}
		for _, c := range s.Cases {
			xc := xmlCase{Name: c.Name, Classname: c.Classname}
			if f := c.Failure; f != nil {
				xf := &xmlFailure{Message: xmlSafe(f.Message), Type: f.Type, Text: xmlSafe(f.Text)}
				if c.Error {
					xc.Error = xf
					xs.Errors++
				} else {
					xc.Failure = xf
					xs.Failures++
				}
			}
			xs.Cases = append(xs.Cases, xc)
		}
		doc.Tests += xs.Tests
		doc.Failures += xs.Failures
		doc.Errors += xs.Errors
		doc.Suites = append(doc.Suites, xs)
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}

// xmlSafe drops what XML 1.0 cannot hold at all (control characters other than tab and
// newline, which encoding/xml would write as U+FFFD anyway), so that a message quoting
// a student's binary output stays readable.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return r
	}, s)
}

// RunSuite returns a run's checks as a JUnit suite named after its lab, each failed
// check's hint in lang (else in English). A check the run never reached fails as
// "not-reached"; when the run ended with an error (verdict error) rather than a failed
// check, its failures are errors.
func RunSuite(res *transcript.Result, lang string) Suite {
	h := res.Header
	s := Suite{Name: h.Lab, Timestamp: h.Started}
	if !h.Started.IsZero() && res.Finished.After(h.Started) {
		s.Time = res.Finished.Sub(h.Started)
	}
	isErr := res.Verdict() == transcript.VerdictError || res.Verdict() == transcript.VerdictInterrupted
	for _, c := range res.Checks {
		tc := Case{Name: c.ID, Classname: h.Lab}
		if !c.Passed {
			f := &Failure{Message: c.Message, Type: "failed"}
			if !c.Reached {
				f.Type = "not-reached"
				if f.Message == "" {
					f.Message = "not reached"
				}
			}
			var text []string
			if c.Description != "" {
				text = append(text, "check: "+c.Description)
			}
			if hint := c.Hint(lang); hint != "" {
				text = append(text, "hint: "+hint)
			}
			if c.Pos != "" {
				text = append(text, "at "+c.Pos)
			}
			f.Text = strings.Join(text, "\n")
			tc.Failure, tc.Error = f, isErr
		}
		s.Cases = append(s.Cases, tc)
	}
	return s
}

// JUnit writes a run's checks as JUnit XML when the run ends. Of the entries it keeps
// only each failed check's socket tables at the moment it failed (the first failure's,
// at most maxRows rows), which its <failure> shows after the hint.
type JUnit struct {
	mu      sync.Mutex // guards everything below
	w       io.Writer
	lang    string
	sockets map[string][]string // by check id
	err     error
}

// maxRows bounds the socket table rows kept for one failed check.
const maxRows = 64

// NewJUnit returns a JUnit writer to w, hints in English.
func NewJUnit(w io.Writer) *JUnit { return &JUnit{w: w, lang: transcript.DefaultLang} }

var _ Writer = (*JUnit)(nil)

// Header does nothing: the checks come with the result.
func (j *JUnit) Header(transcript.Header) {}

// Entry keeps a failed check's socket tables.
func (j *JUnit) Entry(e transcript.Entry) {
	if !isFailed(e) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sockets == nil {
		j.sockets = map[string][]string{}
	}
	if _, ok := j.sockets[e.Check]; !ok {
		rows := snapshotRows(e.Snapshot)
		if len(rows) > maxRows {
			rows = append(rows[:maxRows:maxRows], fmt.Sprintf("... %d more", len(rows)-maxRows))
		}
		j.sockets[e.Check] = rows
	}
}

// End writes the run's checks.
func (j *JUnit) End(res *transcript.Result) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	s := RunSuite(res, j.lang)
	for _, c := range s.Cases {
		if rows := j.sockets[c.Name]; c.Failure != nil && len(rows) > 0 {
			c.Failure.Text += "\nsockets when it failed:\n  " + strings.Join(rows, "\n  ")
		}
	}
	j.err = WriteJUnit(j.w, res.Header.Lab, []Suite{s})
}

// Err returns the first error writing, if any.
func (j *JUnit) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}
