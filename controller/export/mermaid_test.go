package export_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/ladder"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// mermaidStatements are the statements a Mermaid writer writes, as Mermaid's
// sequenceDiagram grammar reads them: a label is free text after the first colon up to
// the end of the line, in which ; and # would end or start something, so they appear
// only as entity codes (#59;), as do % " < > &.
var (
	mermaidLabel      = `(?:[^;#%"<>&\n]|#\d+;|<br/>)*`
	mermaidStatements = []*regexp.Regexp{
		regexp.MustCompile(`^sequenceDiagram$`),
		regexp.MustCompile(`^    title ` + mermaidLabel + `$`),
		regexp.MustCompile(`^    participant h\d+ as ` + mermaidLabel + `$`),
		regexp.MustCompile(`^    h\d+(?:->>|-\)|-->>|--\)|--x|-x)h\d+: ` + mermaidLabel + `$`),
		regexp.MustCompile(`^    Note over h\d+(?:,h\d+)?: ` + mermaidLabel + `$`),
	}
)

// checkMermaid fails for a line that is none of the statements above, and for an arrow
// or note naming a participant not declared.
func checkMermaid(t *testing.T, text string) {
	t.Helper()
	declared := map[string]bool{}
	ref := regexp.MustCompile(`\bh\d+\b`)
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ok := false
		for _, re := range mermaidStatements {
			ok = ok || re.MatchString(line)
		}
		if !ok {
			t.Errorf("line %d is no statement Mermaid reads: %q", i+1, line)
			continue
		}
		if strings.HasPrefix(line, "    participant ") {
			declared[strings.Fields(line)[1]] = true
			continue
		}
		head, _, _ := strings.Cut(line, ":")
		for _, p := range ref.FindAllString(head, -1) {
			if !declared[p] {
				t.Errorf("line %d names %s before it is declared: %q", i+1, p, line)
			}
		}
	}
}

// TestMermaidGolden: chat-relay, rst-on-close, a run with a failed check and one with a
// program under test (its messages drawn to and from its host, its start, output and
// end as notes) drawn as Mermaid, against golden files reviewed by eye (go test ./controller/export -update
// rewrites them); Mermaid's own grammar (testdata/mermaid) parses each, with a message
// per ladder arrow, and shows the awkward payload exactly as it was sent.
func TestMermaidGolden(t *testing.T) {
	for _, name := range []string{"chat-relay", "rst-on-close", "failing.star", "program.star"} {
		t.Run(name, func(t *testing.T) {
			if name == "program.star" {
				python(t)
			}
			rec := record(t, name)
			got := pidRe.ReplaceAllString(exported(t, "mermaid", rec), "pid N")
			checkMermaid(t, got)
			if shown, ok := mermaidByNode(t, got); ok {
				_, arrows := ladder.Build(rec.Entries)
				lab := slices.DeleteFunc(slices.Clone(shown.Messages), func(m string) bool { return strings.HasSuffix(m, " a program") })
				if len(lab) != len(arrows) {
					t.Errorf("Mermaid reads %d messages between lab sockets, want one per ladder arrow: %d\n%q", len(lab), len(arrows), shown.Messages)
				}
				if want := []string{"connect to a program", "b'hello' (5 bytes) to a program", "b'HELLO' (5 bytes) from a program",
					"FIN b'' from a program"}; name == "program.star" && !slices.Equal(shown.Messages, want) {
					t.Errorf("Mermaid shows the messages with the program %q, want %q", shown.Messages, want)
				}
				if name == "failing.star" {
					const payload = `b'a;b #35; "q" <x> & y\n'`
					if !slices.Contains(shown.Messages, payload+" (21 bytes) [conn 1]") ||
						!slices.ContainsFunc(shown.Notes, func(n string) bool { return strings.HasPrefix(n, "✗ check gets-upper failed<br/>got "+payload) }) {
						t.Errorf("Mermaid does not show the payload %s as sent, in the arrow and the failed check's note: %+v", payload, shown)
					}
				}
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".star")+".mmd")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (-want +got):\n%s", name, golden, lineDiff(string(want), got))
			}
		})
	}
}

// TestMermaidEscapes: narration and a lab title with every character Mermaid or HTML
// reads come out as entity codes, and a newline as a line break; Mermaid shows them as
// written.
func TestMermaidEscapes(t *testing.T) {
	var b strings.Builder
	w := export.NewMermaid(&b)
	res := &transcript.Result{Header: transcript.Header{Lab: "x", Summary: `a; b # "c" 100% <d> & e`,
		Hosts: []transcript.Host{{Role: "end", Address: "127.0.0.2"}, {Role: "loop", Address: "127.0.0.3"}}}}
	err := report.Replay(w, res, report.Entries([]transcript.Entry{
		{Kind: transcript.Say, Text: "one; two\n#three %%{init}%%"},
	}))
	if err != nil || w.Err() != nil {
		t.Fatal(err, w.Err())
	}
	got := b.String()
	checkMermaid(t, got)
	if shown, ok := mermaidByNode(t, got); ok {
		if shown.Title != `x: a; b # "c" 100% <d> & e` || len(shown.Notes) == 0 || shown.Notes[0] != "one; two<br/>#three %%{init}%%" {
			t.Errorf("Mermaid shows %+v, want the title and the narration as written", shown)
		}
	}
	for _, want := range []string{
		"title x: a#59; b #35; #34;c#34; 100#37; #60;d#62; #38; e",
		"participant h1 as end",
		"Note over h1,h2: one#59; two<br/>#35;three #37;#37;{init}#37;#37;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the diagram lacks %q:\n%s", want, got)
		}
	}
}

// TestMermaidLimit: a run too long for Mermaid is cut before 50,000 characters, saying
// how much was left out, and still ends with the verdict.
func TestMermaidLimit(t *testing.T) {
	var entries []transcript.Entry
	for range 5000 {
		entries = append(entries, transcript.Entry{Kind: transcript.Say, Text: "a line of narration, said again and again"})
	}
	var b strings.Builder
	w := export.NewMermaid(&b)
	res := &transcript.Result{Header: transcript.Header{Lab: "long", Hosts: []transcript.Host{{Role: "a"}, {Role: "b"}}}}
	if err := report.Replay(w, res, report.Entries(entries)); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	checkMermaid(t, got)
	mermaidByNode(t, got)
	if len(got) >= 50_000 || !strings.Contains(got, "more statements left out") || !strings.Contains(got, "passed: 0/0 points") {
		t.Errorf("a 5000-line run: %d characters, want < 50,000 ending with what was left out and the verdict; its end:\n%s",
			len(got), got[max(0, len(got)-300):])
	}
}

// pidRe matches a process id, which differs from run to run.
var pidRe = regexp.MustCompile(`pid \d+`)

// mermaidShown is what Mermaid shows of a diagram: its title's, messages' and notes'
// texts.
type mermaidShown struct {
	Title    string
	Messages []string
	Notes    []string
}

// mermaidByNode parses a diagram with Mermaid's own grammar (testdata/mermaid/parse.js,
// run by node, with the parser jison generates from Mermaid's sequenceDiagram.jison,
// which $SOCKLAB_MERMAID_PARSER names) and returns what Mermaid shows of it; ok is false
// when either is missing.
func mermaidByNode(t *testing.T, text string) (shown mermaidShown, ok bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("no node: the diagram is not parsed by Mermaid's grammar")
		return shown, false
	}
	if os.Getenv("SOCKLAB_MERMAID_PARSER") == "" {
		t.Log("$SOCKLAB_MERMAID_PARSER is not set: the diagram is not parsed by Mermaid's grammar (set it to the parser jison generates from Mermaid's sequenceDiagram.jison)")
		return shown, false
	}
	cmd := exec.Command(node, filepath.Join("testdata", "mermaid", "parse.js"))
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Mermaid's grammar refuses the diagram: %s (%v)\n%s", out, err, text)
	}
	if err := json.Unmarshal(out, &shown); err != nil {
		t.Fatalf("parse.js: %v: %s", err, out)
	}
	return shown, true
}

// lineDiff shows the lines of want and got that differ, in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("-" + a + "\n+" + c + "\n")
		}
	}
	return b.String()
}
