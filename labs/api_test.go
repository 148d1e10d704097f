package labs_test

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/syntax"

	"github.com/socklab/socklab/agent/session"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/report"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// apiDoc is a parsed API.md: the names its "### " headings document, the constants its
// table lists, and its python examples.
type apiDoc struct {
	headings  map[string]int    // documented name ("t.sleep", "upper") -> line
	constants map[string]string // NAME -> the value the table gives
	constLine map[string]int    // NAME -> line
	examples  []example
	problems  []string // duplicates and other malformations
}

type example struct {
	line int // the line of the opening ```python
	src  string
}

// constRow is a constants table row: | `NAME` | value | ... |
var constRow = regexp.MustCompile("^\\|\\s*`([A-Za-z0-9_]+)`\\s*\\|\\s*([^|]*?)\\s*\\|")

func readAPI(t *testing.T) *apiDoc {
	t.Helper()
	b, err := os.ReadFile("API.md")
	if err != nil {
		t.Fatal(err)
	}
	d := &apiDoc{headings: map[string]int{}, constants: map[string]string{}, constLine: map[string]int{}}
	var block *example
	var blockLines []string
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		if block != nil {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				block.src = strings.Join(blockLines, "\n") + "\n"
				d.examples = append(d.examples, *block)
				block, blockLines = nil, nil
				continue
			}
			blockLines = append(blockLines, line)
			continue
		}
		if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
			if strings.TrimSpace(fence) == "python" {
				block = &example{line: n}
			} else {
				// Another language's block: skip it whole.
				block = &example{line: -n}
			}
			continue
		}
		if h, ok := strings.CutPrefix(line, "### "); ok {
			name := strings.ReplaceAll(h, "`", "")
			name, _, _ = strings.Cut(name, "(")
			name = strings.TrimSpace(name)
			if prev, dup := d.headings[name]; dup {
				d.problems = append(d.problems, "API.md:"+strconv.Itoa(n)+": documents "+name+" again (first at line "+strconv.Itoa(prev)+")")
				continue
			}
			d.headings[name] = n
			continue
		}
		if m := constRow.FindStringSubmatch(line); m != nil {
			if prev, dup := d.constLine[m[1]]; dup {
				d.problems = append(d.problems, "API.md:"+strconv.Itoa(n)+": lists "+m[1]+" again (first at line "+strconv.Itoa(prev)+")")
				continue
			}
			d.constants[m[1]] = m[2]
			d.constLine[m[1]] = n
		}
	}
	if block != nil {
		d.problems = append(d.problems, "API.md: the code block opened at line "+strconv.Itoa(max(block.line, -block.line))+" is never closed")
	}
	// Drop the skipped non-python blocks.
	kept := d.examples[:0]
	for _, e := range d.examples {
		if e.line > 0 {
			kept = append(kept, e)
		}
	}
	d.examples = kept
	return d
}

// TestAPIDocumentsEveryBuiltin keeps API.md in step with the code: every name a lab can
// use has a "### " heading (a constant may instead be a row of the constants table), and
// every heading and table row names something labs have.
func TestAPIDocumentsEveryBuiltin(t *testing.T) {
	d := readAPI(t)
	for _, p := range d.problems {
		t.Error(p)
	}

	want := map[string]bool{} // every documentable name
	for _, n := range lab.Names() {
		want[n] = true
	}
	for prefix, attrs := range map[string][]string{
		"t.":       lab.TAttrs(),
		"host.":    lab.HostAttrs(),
		"socket.":  lab.SocketAttrs(),
		"process.": lab.ProcessAttrs(),
		"future.":  lab.FutureAttrs(),
		"link.":    lab.LinkAttrs(),
		"file.":    lab.FileAttrs(),
	} {
		for _, a := range attrs {
			want[prefix+a] = true
		}
	}
	if len(want) < 30 {
		t.Fatalf("the lab package reports only %d names; is lab.Names() broken?", len(want))
	}

	for _, name := range sorted(want) {
		_, isConst := lab.Constants[name]
		_, inTable := d.constants[name]
		if _, ok := d.headings[name]; !ok && !(isConst && inTable) {
			t.Errorf("API.md does not document %s", name)
		}
	}
	for _, name := range sorted(d.headings) {
		if line := d.headings[name]; !want[name] {
			t.Errorf("API.md documents %s, which labs do not have (API.md:%d)", name, line)
		}
	}
	for _, name := range sorted(d.constants) {
		val := d.constants[name]
		v, ok := lab.Constants[name]
		if !ok {
			t.Errorf("API.md documents %s, which labs do not have (API.md:%d)", name, d.constLine[name])
			continue
		}
		if got, err := strconv.ParseInt(val, 0, 64); err != nil || got != int64(v) {
			t.Errorf("API.md:%d gives %s as %q, but it is %d", d.constLine[name], name, val, v)
		}
	}
}

// sorted returns m's keys in order, so that failures read the same on every run.
func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestAPIExamplesParse: every python example in API.md is valid Starlark in the labs'
// dialect, so that it can be pasted into a lab.
func TestAPIExamplesParse(t *testing.T) {
	d := readAPI(t)
	if len(d.examples) == 0 {
		t.Fatal("API.md has no ```python examples")
	}
	opts := syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}
	for _, e := range d.examples {
		// Pad with the lines before the block so that errors point into API.md.
		src := strings.Repeat("\n", e.line) + e.src
		if _, err := opts.Parse("API.md", src, 0); err != nil {
			t.Errorf("the example at API.md:%d does not parse: %v", e.line, err)
		}
	}
}

// TestEveryOperationEverywhere walks the Operation oneof: each case must have an agent
// implementation, a transcript formatter, a lab method of the same name (on a host, a
// socket or a process) and an API.md entry, so that an operation added to the proto
// cannot be half done.
func TestEveryOperationEverywhere(t *testing.T) {
	d := readAPI(t)
	agent, formatted := set(session.Operations()), set(report.Operations())
	values := []struct {
		prefix string
		attrs  map[string]bool
	}{
		{"host.", set(lab.HostAttrs())},
		{"socket.", set(lab.SocketAttrs())},
		{"process.", set(lab.ProcessAttrs())},
	}
	fields := (&socklabv1.Operation{}).ProtoReflect().Descriptor().Oneofs().ByName("op").Fields()
	if fields.Len() < 20 {
		t.Fatalf("the Operation oneof has %d cases; is the descriptor read right?", fields.Len())
	}
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		if !agent[name] {
			t.Errorf("%s: the agent has no implementation (agent/session)", name)
		}
		if !formatted[name] {
			t.Errorf("%s: the transcript has no formatter (controller/report)", name)
		}
		var methods []string
		for _, v := range values {
			if v.attrs[name] {
				methods = append(methods, v.prefix+name)
			}
		}
		if len(methods) == 0 {
			t.Errorf("%s: labs have no method for it (host.%s, socket.%s or process.%s in controller/lab)", name, name, name, name)
		}
		for _, method := range methods {
			if _, ok := d.headings[method]; !ok {
				t.Errorf("%s: API.md has no heading for %s", name, method)
			}
		}
	}
}

func set(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}
