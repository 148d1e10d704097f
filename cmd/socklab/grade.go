package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/socklab/socklab/controller/grade"
	"github.com/socklab/socklab/controller/topology"
)

func gradeCommand() *cobra.Command {
	var (
		submissions, submission, out, lang, topo, format, reference string
		only, params                                                []string
		jobs, repeat                                                int
		timeout                                                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "grade LAB (--submissions DIR | --submission DIR)",
		Short: "Grade students' programs with a grading lab (tcp-upper-server, udp-upper-server, ...)",
		Long: `Grade students' programs: run the grading lab on each submission, each on hosts of its
own, and write the grades. The lab is a built-in, a .star file or a lab plugin (its path,
or its name in --plugin-dir): a plugin is started afresh for each submission, which its
t.Files reads.

--submissions DIR grades every sub-folder (or .zip) of DIR, one student each, --jobs at a
time, and writes grades.json, grades.csv, junit.xml, grades.html (the grade sheet, linking
each student's report.html) and transcripts/ into --out. It exits 0 once grading ran, whatever the students scored, and 3 if a submission could not be
graded (its status is error; the grades are written all the same).

--submission DIR grades one student's folder and prints every check with what went wrong
and a hint; it exits 0 when every check passed, 1 when some failed, 3 when the grading
itself failed.

Each submission's hosts are network namespaces of its own (--topology netns, the
default where namespaces can be made), so submissions that all bind 127.0.0.1:8080 run
side by side; on the local topology they run one at a time.`,
		Example: `  socklab grade tcp-upper-server --submissions ./subs --out ./grades
  socklab grade tcp-upper-server --submission ./mywork`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (submissions == "") == (submission == "") {
				return usageError{fmt.Errorf("give --submissions DIR (a folder of students' folders) or --submission DIR (one student's)")}
			}
			al, err := openLab(cmd, args[0], "")
			if err != nil {
				return loadError(err)
			}
			al.Close() // a plugin is started afresh for each submission
			l := gradingLab(al)
			if _, err := l.ParamValues(params); err != nil {
				return usageError{err}
			}
			if format != "grades" && (submission == "" || out == "") {
				return usageError{fmt.Errorf("--format %s writes one student's results.json: give --submission DIR and --out DIR", format)}
			}
			if format != "grades" && format != "gradescope" && format != "prairielearn" {
				return usageError{fmt.Errorf("--format %q: use grades, gradescope or prairielearn", format)}
			}
			if lang != "en" && lang != "zh" {
				return usageError{fmt.Errorf("--lang %q: use en or zh", lang)}
			}
			t, why, err := gradeTopology(topo)
			if err != nil {
				return usageError{err}
			}
			if why != "" && submissions != "" {
				jobs = 1
				fmt.Fprintf(cmd.ErrOrStderr(), "socklab: grading one submission at a time: %s\n", why)
			}
			scratch, err := os.MkdirTemp("", "socklab-grade-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(scratch)
			var subs []grade.Submission
			if submission != "" {
				st, err := os.Stat(submission)
				if err != nil || !st.IsDir() {
					return usageError{fmt.Errorf("--submission %s: want a folder", submission)}
				}
				subs = []grade.Submission{{Name: filepath.Base(filepath.Clean(submission)), Dir: submission}}
			} else {
				if subs, err = grade.Find(submissions, scratch); err != nil {
					return usageError{err}
				}
				if len(only) > 0 {
					subs = keep(subs, only)
				}
				if len(subs) == 0 {
					return usageError{fmt.Errorf("--submissions %s: %w", submissions, grade.ErrNoSubmissions)}
				}
			}
			opts := grade.Options{Params: params, Topology: t, Jobs: jobs, Timeout: timeout, Lang: lang}
			w := cmd.ErrOrStderr()
			if submissions != "" {
				bar := newProgressBar(w, len(subs))
				defer bar.stop()
				opts.Progress = bar.update
			}
			start := time.Now()
			rep := grade.GradeWith(cmd.Context(), l, subs, opts)
			if reference != "" {
				ropts := opts
				ropts.Progress = nil
				ref := grade.GradeWith(cmd.Context(), l, []grade.Submission{{Name: "reference", Dir: reference}}, ropts)
				if r := ref.Submissions[0]; r.Score != r.MaxScore || ref.Record("reference") == nil {
					return exitError{code: exitUsage, msg: fmt.Sprintf("--reference %s: the reference itself scores %d/%d (%s): fix it first", reference, r.Score, r.MaxScore, r.Error)}
				}
				rep.CompareWith(ref.Record("reference"))
			}
			if repeat > 1 {
				reps := []*grade.Report{rep}
				for i := 1; i < repeat && cmd.Context().Err() == nil; i++ {
					opts.Progress = nil
					fmt.Fprintf(w, "grading again: %d of %d\n", i+1, repeat)
					reps = append(reps, grade.GradeWith(cmd.Context(), l, subs, opts))
				}
				flips := grade.Flips(reps)
				fmt.Fprintf(cmd.OutOrStdout(), "%d gradings: %d verdicts flipped\n", len(reps), len(flips))
				for _, f := range flips {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %s: passed %d of %d\n", f.Submission, f.Check, f.Passed, f.Runs)
				}
			}
			if err := writeGrades(rep, out, format); err != nil {
				return exitError{code: exitInfra, msg: err.Error()}
			}
			if submission != "" {
				return friendly(cmd.OutOrStdout(), rep.Submissions[0])
			}
			table(cmd.OutOrStdout(), rep)
			fmt.Fprintf(cmd.OutOrStdout(), "%d submissions graded in %.1fs", len(rep.Submissions), time.Since(start).Seconds())
			if out != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "; grades in %s", out)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			if rep.Errors() {
				return exitError{code: exitInfra, msg: "some submissions could not be graded: their status is error (see grades.json)"}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&submissions, "submissions", "", "a folder of submissions: one sub-folder or .zip per student")
	f.StringVar(&submission, "submission", "", "one student's folder: print every check with a hint")
	f.StringVar(&out, "out", "", "write grades.json, grades.csv, junit.xml, grades.html (linking each student's report.html) and transcripts/ here")
	f.StringArrayVar(&params, "param", nil, "set a lab parameter for every submission, NAME=VALUE (repeatable): program=server.py, port=8080")
	f.StringArrayVar(&only, "only", nil, "grade only this submission (repeatable)")
	f.IntVar(&jobs, "jobs", 2, "submissions graded at once")
	f.IntVar(&repeat, "repeat", 1, "grade each submission this many times and list the checks whose verdict flipped (flaky checks, racy programs); the grades written are the first grading's")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "each submission's time budget")
	f.StringVar(&lang, "lang", "en", "the hints' language: en or zh")
	f.StringVar(&reference, "reference", "", "a reference solution's folder: graded alongside, and each failing submission shows where its run first departs from the reference's")
	f.StringVar(&format, "format", "grades", "what --out holds: grades (grades.json, grades.csv, junit.xml, grades.html, transcripts/), or one student's results.json for gradescope or prairielearn")
	f.StringVar(&topo, "topology", "auto", "each submission's hosts: auto (netns where namespaces can be made, else local), netns, local or docker")
	return cmd
}

// gradeTopology returns the topology submissions run on, and why they must run one at a
// time ("" when they may run side by side).
func gradeTopology(name string) (topology.Topology, string, error) {
	why := ""
	switch name {
	case "auto":
		name = "netns"
		if reason := topology.NetnsUnavailable(); reason != "" {
			name, why = "local", "no network namespaces here ("+reason+"), so submissions share one kernel and its ports"
		}
	case "local":
		why = "the local topology shares one kernel and its ports between submissions"
	}
	t, err := ownTopology(name)
	if err != nil {
		return nil, "", fmt.Errorf("--topology %q: use auto, netns, local or docker", name)
	}
	return t, why, nil
}

// progressBar shows a grading's progress: a line per finished submission and, on a
// terminal, a status line below them (N of M, the ones running, how long each has run).
type progressBar struct {
	w        io.Writer
	terminal bool
	total    int
	ticker   *time.Ticker
	quit     chan struct{}
	done     chan struct{}

	mu       sync.Mutex // guards the fields below
	finished int
	running  map[string]time.Time
}

func newProgressBar(w io.Writer, total int) *progressBar {
	b := &progressBar{w: w, total: total, running: map[string]time.Time{}, quit: make(chan struct{}), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.terminal = true
		b.ticker = time.NewTicker(200 * time.Millisecond)
		go func() {
			defer close(b.done)
			for {
				select {
				case <-b.ticker.C:
					b.mu.Lock()
					b.status()
					b.mu.Unlock()
				case <-b.quit:
					return
				}
			}
		}()
	} else {
		close(b.done)
	}
	return b
}

// update hears of a submission starting or ending.
func (b *progressBar) update(p grade.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Result == nil {
		b.running[p.Name] = time.Now()
		return
	}
	delete(b.running, p.Name)
	b.finished = p.Done
	r := p.Result
	line := fmt.Sprintf("[%d/%d] %-20s %d/%d  %s  %.1fs", p.Done, p.Total, r.Name, r.Score, r.MaxScore, r.Status, p.Elapsed.Seconds())
	if r.Error != "" && r.Status != grade.StatusGraded {
		line += "  " + firstLine(r.Error)
	}
	if b.terminal {
		fmt.Fprint(b.w, "\r\033[K")
	}
	fmt.Fprintln(b.w, line)
	if b.terminal {
		b.status()
	}
}

// status rewrites the terminal's status line; b.mu held.
func (b *progressBar) status() {
	names := make([]string, 0, len(b.running))
	for n := range b.running {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := []string{fmt.Sprintf("%d of %d", b.finished, b.total)}
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0fs", n, time.Since(b.running[n]).Seconds()))
	}
	fmt.Fprint(b.w, "\r\033[K"+strings.Join(parts, "  "))
}

// stop ends the status line.
func (b *progressBar) stop() {
	if !b.terminal {
		return
	}
	b.ticker.Stop()
	close(b.quit)
	<-b.done
	fmt.Fprint(b.w, "\r\033[K")
}

// writeGrades writes the grading into out (when given) in format.
func writeGrades(rep *grade.Report, out, format string) error {
	if out == "" {
		return nil
	}
	var b []byte
	var err error
	switch format {
	case "gradescope":
		b, err = rep.Submissions[0].Gradescope()
	case "prairielearn":
		b, err = rep.Submissions[0].PrairieLearn()
	default:
		return rep.Write(out)
	}
	if err == nil {
		err = os.MkdirAll(out, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(out, "results.json"), b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("grades: %w", err)
	}
	return nil
}

// keep returns the submissions named in names.
func keep(subs []grade.Submission, names []string) []grade.Submission {
	var out []grade.Submission
	for _, s := range subs {
		for _, n := range names {
			if s.Name == n {
				out = append(out, s)
			}
		}
	}
	return out
}

// table prints the grades, a row per submission and a column per check.
func table(w io.Writer, rep *grade.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Submissions) == 0 {
		return
	}
	head := []string{"submission", "score"}
	for _, c := range rep.Submissions[0].Checks {
		head = append(head, c.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, s := range rep.Submissions {
		row := []string{s.Name, fmt.Sprintf("%d/%d", s.Score, s.MaxScore)}
		for _, c := range s.Checks {
			v := "PASS"
			if !c.Passed {
				v = "FAIL"
			}
			row = append(row, v)
		}
		if s.Status != grade.StatusGraded {
			row = append(row, s.Status)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	for _, s := range rep.Submissions {
		if s.Departure != "" {
			fmt.Fprintf(w, "%s departs from the reference at %s\n", s.Name, s.Departure)
		}
	}
}

// friendly prints one student's grade: each check, what went wrong and a hint. It returns
// the exit status: 0 all passed, 1 some failed, 3 not graded.
func friendly(w io.Writer, r grade.Result) error {
	fmt.Fprintf(w, "%s: %d/%d\n\n", r.Name, r.Score, r.MaxScore)
	for _, c := range r.Checks {
		if c.Passed {
			fmt.Fprintf(w, "  PASS  %s\n", c.Name)
			continue
		}
		fmt.Fprintf(w, "  FAIL  %s: %s\n", c.Name, c.Message)
		if c.Hint != "" {
			fmt.Fprintf(w, "        hint: %s\n", c.Hint)
		}
	}
	if r.Departure != "" {
		fmt.Fprintf(w, "\n  first departure from the reference: %s\n", r.Departure)
	}
	switch {
	case r.Status != grade.StatusGraded:
		return exitError{code: exitInfra, msg: fmt.Sprintf("%s: %s", r.Status, r.Error)}
	case r.Score < r.MaxScore:
		return exitError{code: exitFailed}
	}
	return nil
}

// firstLine returns s's first line.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// gradingLab is the lab a grading runs on each submission.
func gradingLab(l anyLab) grade.Source {
	if l.plug != nil {
		return l.plug
	}
	return grade.Starlark(l.star)
}
