package lab_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/lab"
)

// TestCheckHints: t.check(hint = ...) takes a str (English) or a dict of language codes
// to strs; a failed check keeps the hint of its first failure, a passed one none; any
// other hint stops the lab as a lab error naming its line and what to give.
func TestCheckHints(t *testing.T) {
	src := `lab(name = "h", summary = "hints", hosts = ["server"],
    checks = {"plain": "p", "both": "b", "passes": "ok", "first": "f"})

def main(t):
    t.check("plain", False, hint = "bound to 127.0.0.1 only?")
    t.check("both", 1 == 2, got = 1, want = 2, hint = {"en": "no EOF check", "zh": "没有检查 EOF", "fr": ""})
    t.check("passes", True, hint = "never kept")
    t.check("first", False, hint = {"en": "the first failure's"})
    t.check("first", False, hint = "a later failure's")
`
	out := runLab(t, src, nil, &agentEnv{do: processAgent}, "")
	if out.Err != nil {
		t.Fatalf("the lab stopped: %v", out.Err)
	}
	want := map[string]map[string]string{
		"plain":  {"en": "bound to 127.0.0.1 only?"},
		"both":   {"en": "no EOF check", "zh": "没有检查 EOF"},
		"passes": nil,
		"first":  {"en": "the first failure's"},
	}
	for _, c := range out.Checks {
		if !maps.Equal(c.Hints.Map(), want[c.ID]) {
			t.Errorf("check %s: hints %v, want %v", c.ID, c.Hints, want[c.ID])
		}
	}
	if c := out.Checks[1]; c.Message != "got 1, want 2" || c.Hint("zh") != "没有检查 EOF" || c.Hint("de") != "no EOF check" {
		t.Errorf("check both: message %q, zh hint %q, de hint %q", c.Message, c.Hint("zh"), c.Hint("de"))
	}

	for _, tc := range []struct{ hint, want string }{
		{`42`, `lab.star:4:12: check: hint is int: give a str (English) or a dict of language codes to strs, such as {"en": "bound to 127.0.0.1 only?", "zh": "..."}`},
		{`{"en": b"bytes"}`, `lab.star:4:12: check: hint['en'] is bytes, not str: give a str (English)`},
		{`{"english please": "x"}`, `lab.star:4:12: check: hint: 'english please' is not a language code such as "en" or "zh"`},
		{`["en", "x"]`, `lab.star:4:12: check: hint is list: give a str`},
	} {
		src := `lab(name = "h", summary = "hints", hosts = ["server"], checks = {"c": "c"})

def main(t):
    t.check("c", False, hint = ` + tc.hint + `)
`
		out := runLab(t, src, nil, &agentEnv{do: processAgent}, "")
		var le *lab.Error
		if !errors.As(out.Err, &le) || !strings.HasPrefix(errorText(out), "labs/"+tc.want) {
			t.Errorf("hint = %s: stopped with %v (%T) at %s, want a lab error starting %q", tc.hint, out.Err, out.Err, out.Pos, tc.want)
		}
	}
}
