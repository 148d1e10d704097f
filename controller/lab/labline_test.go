package lab_test

import (
	"strings"
	"testing"
)

// TestLabLine: a check made inside a loaded helper is at the lab's own line, and an error
// inside a loaded helper stops the lab at the lab's own line, with the helpers' calls
// that led to it after the error.
func TestLabLine(t *testing.T) {
	src := `load("lib/h.star", "boom", "verify")
lab(name = "p", summary = "s", hosts = ["server"], checks = {"ok": "it holds"})

def main(t):
    verify(t, 1)
    step(t)

def step(t):
    boom(t.server)
`
	helpers := `def verify(t, n):
    t.check("ok", n == 2, got = n, want = 2)

def boom(host):
    return inner(host)

def inner(host):
    return 1 + host.name
`
	out := runLab(t, src, map[string]string{"lib/h.star": helpers}, &agentEnv{do: processAgent}, "")
	if len(out.Checks) != 1 || out.Checks[0].Pos != "labs/lab.star:5:11" {
		t.Errorf("check = %+v, want it at labs/lab.star:5:11 (the lab's call of verify)", out.Checks)
	}
	want := "labs/lab.star:9:9: in step: unknown binary op: int + string (labs/lib/h.star:5:17 in boom, labs/lib/h.star:8:14 in inner)"
	if got := errorText(out); got != want {
		t.Errorf("Run() stopped with\n  %s\nwant\n  %s", got, want)
	}
}

// TestLabLineFuture: an error in a loaded helper that t.go runs is shown at the lab's t.go
// line, and so is a failed builtin that t.go runs.
func TestLabLineFuture(t *testing.T) {
	helpers := "def boom(host):\n    return inner(host)\n\ndef inner(host):\n    return 1 + host.name\n"
	for _, tc := range []struct{ call, want string }{
		{"t.go(boom, t.server).result()", "labs/lab.star:5:9: in t.go: unknown binary op: int + string (labs/lib/h.star:2:17 in boom, labs/lib/h.star:5:14 in inner)"},
		{"t.go(t.sleep, \"one\").result()", "labs/lab.star:5:9: "},
	} {
		src := "load(\"lib/h.star\", \"boom\")\nlab(name = \"p\", summary = \"s\", hosts = [\"server\"], checks = {\"ok\": \"it holds\"})\n\ndef main(t):\n    " + tc.call + "\n"
		out := runLab(t, src, map[string]string{"lib/h.star": helpers}, &agentEnv{do: processAgent}, "")
		if got := errorText(out); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: Run() stopped with\n  %s\nwant it to start with\n  %s", tc.call, got, tc.want)
		}
	}
}
