package lab_test

import (
	"context"
	"strings"
	"testing"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// errorAgent answers socket, settimeout and gettimeout as an agent does, and fails each
// connect with the error its port names: what the twins of testdata/cpython cannot make
// a real kernel raise on cue.
func errorAgent(_ context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
	res := &socklabv1.Result{}
	ev := &socklabv1.Event{Handle: handle, Operation: op, Result: res}
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Socket:
		res.Handle = 1
	case *socklabv1.Operation_Connect:
		ev.Error = map[uint32]*socklabv1.SocketError{
			1: {Name: "ECONNREFUSED", Errno: 111, Message: "Connection refused"},
			2: {Name: "ETIMEDOUT", Errno: 110, Message: "Connection timed out"},
			3: {Name: "gaierror", Errno: -9, Message: "Address family for hostname not supported"},
			4: {Name: "EDEADLK", Errno: 35, Message: "Resource deadlock avoided"},
		}[o.Connect.GetAddress().GetPort()]
	}
	return ev, nil
}

// TestRaisesNames: t.raises catches what Python's except clause catches, however the lab
// names it, and its error reads as CPython's.
func TestRaisesNames(t *testing.T) {
	out := runLab(t, header+`
def main(t):
    c = t.server.socket()
    ip = t.server.ip
    e = t.raises("timeout", c.connect, (ip, 2))
    t.check("ok", (e.name, e.errno, repr(e)) == ("ETIMEDOUT", 110, "TimeoutError(110, 'Connection timed out')"), got = e)
    t.check("ok", t.raises(("EAGAIN", "TimeoutError"), c.connect, (ip, 2)).name == "ETIMEDOUT")
    for name in ["gaierror", "OSError", "error"]:
        e = t.raises(name, c.connect, (ip, 3))
        t.check("ok", (e.name, e.errno, e.aliases) == ("gaierror", -9, ()), got = e)
        t.check("ok", (str(e), repr(e)) == ("[Errno -9] Address family for hostname not supported", "gaierror(-9, 'Address family for hostname not supported')"), got = (str(e), repr(e)))
    e = t.raises("EDEADLK", c.connect, (ip, 4))
    t.check("ok", (e.name, e.aliases) == ("EDEADLOCK", ("EDEADLK",)), got = e)
    t.check("ok", t.raises("ECONNREFUSED", c.connect, (ip, 1)) == t.raises("ConnectionError", c.connect, (ip, 1)))
    t.check("ok", t.raises("ECONNREFUSED", c.connect, (ip, 1)) != t.raises("ETIMEDOUT", c.connect, (ip, 2)))
`, nil, &agentEnv{do: errorAgent}, "")
	if out.Err != nil || !out.Passed() {
		t.Errorf("Run() = error %v, checks %+v", errorText(out), out.Checks)
	}

	for _, tc := range []struct{ body, want string }{
		{`t.raises(("EAGAIN", "timeout"), c.connect, (ip, 1))`,
			`labs/lab.star:7:13: expected EAGAIN or timeout, but connect raised ECONNREFUSED: [Errno 111] Connection refused (connect on server/s1)`},
		{`t.raises("ConnectionResetError", c.connect, (ip, 1))`,
			`labs/lab.star:7:13: expected ConnectionResetError, but connect raised ECONNREFUSED`},
		{`t.raises("ETIMEDOUT", c.connect, (ip, 5))`, `labs/lab.star:7:13: expected ETIMEDOUT, but connect raised nothing`},
		{`t.raises("ECONNREFUSD", c.connect, (ip, 1))`,
			`labs/lab.star:7:13: raises: "ECONNREFUSD" is neither an errno name (ECONNREFUSED, EAGAIN, ...) nor an exception`},
		{`t.raises(111, c.connect, (ip, 1))`, `labs/lab.star:7:13: raises: give an errno name such as "ECONNREFUSED"`},
		{`t.raises((), c.connect, (ip, 1))`, `labs/lab.star:7:13: raises: the tuple of errors is empty`},
		{`t.raises(["EAGAIN"], c.connect, (ip, 1))`, `labs/lab.star:7:13: raises: give an errno name such as "ECONNREFUSED", an exception such as "OSError" or "timeout", or a tuple of them, not list`},
	} {
		out := runLab(t, header+"\ndef main(t):\n    c = t.server.socket()\n    ip = t.server.ip\n    "+tc.body+"\n", nil, &agentEnv{do: errorAgent}, "")
		if got := errorText(out); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: stopped with %q, want %q", tc.body, got, tc.want)
		}
	}
}
