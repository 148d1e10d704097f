package lab_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/lab"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// socketsAndProcesses answers socket operations as errorAgent does and process ones as
// processAgent does.
func socketsAndProcesses(ctx context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
	switch op.GetOp().(type) {
	case *socklabv1.Operation_Socket, *socklabv1.Operation_Connect:
		return errorAgent(ctx, handle, op)
	}
	return processAgent(ctx, handle, op)
}

// TestExceptions: the socket API's TypeError, ValueError and OverflowError are caught
// by t.catch and by t.raises naming them or a base class, and read as CPython's.
func TestExceptions(t *testing.T) {
	out := runLab(t, header+`
def main(t):
    c = t.server.socket()
    v, e = t.catch(c.recv, 2.5)
    t.check("ok", (v, e.name, e.errno, str(e)) == (None, "TypeError", 0, "'float' object cannot be interpreted as an integer"), got = e)
    p = t.server.spawn(["cat"], stdin = True)
    v, e = t.catch(p.write, "str")
    t.check("ok", (e.name, str(e), repr(e)) == ("TypeError", "a bytes-like object is required, not 'str'", "TypeError(\"a bytes-like object is required, not 'str'\")"), got = e)
    t.check("ok", t.raises("ValueError", c.recv, -1).strerror == "negative buffersize in recv")
    t.check("ok", t.raises(("OSError", "ArithmeticError"), c.connect, (t.server.ip, 1 << 16)).name == "OverflowError")
    t.check("ok", t.raises("Exception", c.settimeout, "x").name == "TypeError")
    t.check("ok", t.raises("TypeError", c.recv).strerror == "missing argument for bufsize")
`, nil, &agentEnv{do: socketsAndProcesses}, "")
	if out.Err != nil || !out.Passed() {
		t.Errorf("Run() = error %v, checks %+v", errorText(out), out.Checks)
	}

	for _, tc := range []struct {
		name, body, want string
		badLab           bool // the lab stops as a mistake in the lab (exit code 2)
	}{
		{"uncaught", `c.recv(2.5)`, `labs/lab.star:6:11: recv: TypeError: 'float' object cannot be interpreted as an integer`, true},
		{"uncaught with a hint", `t.server.spawn(["cat"], stdin = True).write("hi")`,
			`labs/lab.star:6:48: write: TypeError: a bytes-like object is required, not 'str' (encode it: encode(s) or b"...")`, true},
		{"not what t.raises expects", `t.raises("ECONNREFUSED", c.recv, 2.5)`,
			`labs/lab.star:6:13: recv: TypeError: 'float' object cannot be interpreted as an integer`, true},
		{"a socket error where a TypeError is expected", `t.raises("TypeError", c.connect, (t.server.ip, 1))`,
			`labs/lab.star:6:13: expected TypeError, but connect raised ECONNREFUSED: [Errno 111] Connection refused`, false},
		{"a mistake in the lab's code", `t.raises("TypeError", lambda: 1 + "one")`,
			`labs/lab.star:6:37: unknown binary op: int + string`, true},
		{"a mistake in spawn's files", `t.catch(t.server.spawn, ["cat"], files = {"a.py": "x"})`,
			`labs/lab.star:6:12: spawn: files["a.py"]: TypeError: a bytes-like object is required, not 'str'`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runLab(t, header+"\ndef main(t):\n    c = t.server.socket()\n    "+tc.body+"\n", nil, &agentEnv{do: socketsAndProcesses}, "")
			if got := errorText(out); !strings.HasPrefix(got, tc.want) {
				t.Errorf("stopped with %q, want %q", got, tc.want)
			}
			var le *lab.Error
			if errors.As(out.Err, &le) != tc.badLab {
				t.Errorf("stopped with %T, want a *lab.Error: %v", out.Err, tc.badLab)
			}
		})
	}
}
