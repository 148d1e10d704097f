package lab_test

import (
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
