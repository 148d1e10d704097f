package lab_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// stuckAgent answers as processAgent does, except that a wait_listening never finds the
// socket (it waits until the call's deadline) and a wait_output finds the process ended.
func stuckAgent(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
	if _, ok := op.GetOp().(*socklabv1.Operation_WaitListening); ok {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return processAgent(ctx, handle, op)
}

// TestCatch: t.catch returns (value, None) or (None, error) for a socket error, a wait's
// own timeout and a process that ended first, so that a grading lab records a broken
// program as failed checks; a wait without its own timeout still stops the lab at the
// watchdog, and a mistake in the lab's code is no exception to catch.
func TestCatch(t *testing.T) {
	out := runLab(t, header+`
def main(t):
    p = t.server.spawn(["python3", "server.py"])
    v, e = t.catch(p.stdout)
    t.check("ok", v == b"ready\n" and e == None, got = (v, e))
    v, e = t.catch(p.wait_listening, 8080, timeout = 0.2)
    t.check("ok", v == None and e.name == "timeout", got = (v, e))
    v, e = t.catch(p.wait_output, b"never")
    t.check("ok", v == None and e.name == "error" and "ended" in e.strerror, got = (v, e))
    t.check("ok", t.raises("timeout", p.wait_listening, 8080, timeout = 0.1).name == "timeout")
`, nil, &agentEnv{do: stuckAgent}, "")
	if out.Err != nil || !out.Passed() {
		t.Errorf("Run() = error %v, checks %+v", errorText(out), out.Checks)
	}

	for _, tc := range []struct{ body, want string }{
		{`t.catch(t.server.spawn(["cat"]).wait_listening, 8080)`, `labs/lab.star:5:12: watchdog: wait_listening on server/p7 waited 3s`},
		{`t.catch(lambda: 1 + "one")`, `labs/lab.star:5:23: unknown binary op: int + string`},
		{`t.catch(1)`, `labs/lab.star:5:12: catch: int is not callable`},
	} {
		out := runLab(t, header+"\ndef main(t):\n    "+tc.body+"\n", nil, &agentEnv{do: stuckAgent}, "")
		if got := errorText(out); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: stopped with %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestReference: with no files directory, t.files reads the lab's reference directory;
// missing_ok leaves a missing file out; a files directory replaces the reference.
func TestReference(t *testing.T) {
	src := `lab(name = "r", summary = "reference", hosts = ["server"], checks = {"ok": "it holds"}, reference = "ref/r")

def main(t):
    t.check("ok", t.files("server.py") == {"server.py": b"ref"}, got = t.files("server.py"))
    t.check("ok", t.files("server.c", "server.py", missing_ok = True) == {"server.py": b"ref"})
    t.files("server.c")
`
	fsys := fstest.MapFS{"labs/lab.star": {Data: []byte(src)}, "labs/ref/r/server.py": {Data: []byte("ref")},
		"labs/server.py": {Data: []byte("not this one")}}
	l, err := lab.Load(lab.FSSources{FS: fsys}, "labs/lab.star")
	if err != nil {
		t.Fatal(err)
	}
	if l.Reference != "ref/r" {
		t.Errorf("Reference = %q", l.Reference)
	}
	out := l.Run(t.Context(), &agentEnv{do: processAgent}, []runner.HostInfo{{Role: "server", IP: "127.5.0.2"}}, nil)
	want := "labs/lab.star:6:12: files: no file labs/ref/r/server.c (file names are relative to the lab's reference directory, ref/r)"
	if got := errorText(out); got != want || !out.Checks[0].Passed {
		t.Errorf("Run() = %q, checks %+v; want %q after a passed check", got, out.Checks, want)
	}

	src = strings.Replace(src, `"ref/r"`, `"../up"`, 1)
	fsys["labs/lab.star"] = &fstest.MapFile{Data: []byte(src)}
	if _, err := lab.Load(lab.FSSources{FS: fsys}, "labs/lab.star"); err == nil || !strings.Contains(err.Error(), `lab: reference "../up" is not a directory relative to the lab file`) {
		t.Errorf("Load with reference ../up: %v", err)
	}
}
