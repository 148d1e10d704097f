package lab_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// apiAgent answers the socket calls of the lab API's additions as an agent would on an
// idle host: each socket is a new handle, select finds every socket ready.
func apiAgent(_ context.Context, handle uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
	res := &socklabv1.Result{}
	ev := &socklabv1.Event{Handle: handle, Operation: op, Result: res}
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Socket:
		res.Handle = 1
	case *socklabv1.Operation_Socketpair:
		res.Handles = []uint32{2, 3}
	case *socklabv1.Operation_Select:
		res.Ready = &socklabv1.Ready{Read: o.Select.GetRead(), Write: o.Select.GetWrite(), Exceptional: o.Select.GetExceptional()}
	}
	return ev, nil
}

// TestAPIArguments: the lab API's additions take Python's arguments and refuse others
// with Python's error (TypeError, ValueError), stopping the lab at the line.
func TestAPIArguments(t *testing.T) {
	out := runLab(t, header+`
def main(t):
    s = t.server.socket()
    a, b = t.server.socketpair()
    t.check("ok", a.family == AF_UNIX and b.type == SOCK_STREAM and a.handle != b.handle, got = (a.family, b.type))
    r, w, x = t.server.select([s, 1], (a,), [], 0.5)
    t.check("ok", r == [s, 1] and w == [a] and x == [], got = (r, w, x))
    t.check("ok", t.server.select([], [], [], timeout = None) == ([], [], []))
    f = s.makefile("b")
    t.check("ok", t.server.select([f], [], [])[0] == [f] and f.mode == "rb" and f.fileno() == s.fileno())
`, nil, &agentEnv{do: apiAgent}, "")
	if out.Err != nil || !out.Passed() {
		t.Errorf("Run() = error %v, checks %+v", errorText(out), out.Checks)
	}

	for _, tc := range []struct{ body, want string }{
		{`t.server.select(1, [], [])`, "select: TypeError: arguments 1-3 must be sequences"},
		{`t.server.select([], [], [], "1")`, "select: TypeError: timeout must be a float or None"},
		{`t.server.select([], [], [], -1)`, "select: ValueError: timeout must be non-negative"},
		{`t.server.select([1.5], [], [])`, "select: TypeError: argument must be an int, or have a fileno() method."},
		{`t.server.select([-1], [], [])`, "select: ValueError: file descriptor cannot be a negative integer (-1)"},
		{"s = t.server.socket()\n    s.close()\n    t.server.select([s], [], [])", "select: ValueError: file descriptor cannot be a negative integer (-1)"},
		{`t.server.socketpair("x")`, "socketpair: TypeError: 'str' object cannot be interpreted as an integer"},
		{`t.server.socketpair(AF_UNIX, 5)`, "socketpair: type 5 is not SOCK_STREAM or SOCK_DGRAM"},
		{`t.server.socket().recv_into(b"xx")`, "recv_into: TypeError: recv_into() argument 1 must be read-write bytes-like object, not bytes (make one with bytearray(n))"},
		{`t.server.socket().recv_into(bytearray(4), -1)`, "recv_into: ValueError: negative buffersize in recv_into"},
		{`t.server.socket().recv_into(bytearray(4), 5)`, "recv_into: ValueError: buffer too small for requested bytes"},
		{`bytearray(-1)`, "bytearray: ValueError: negative count"},
		{`bytearray("hi")`, "bytearray: TypeError: string argument without an encoding (use bytearray(encode(s)))"},
		{`bytearray([256])`, "bytearray: ValueError: byte must be in range(0, 256)"},
		{`bytearray(1 << 40)`, "bytearray: 1099511627776 bytes is over the lab's limit of 67108864"},
		{"b = bytearray(2)\n    b[0] = 300", "ValueError: byte must be in range(0, 256)"},
		{"b = bytearray(2)\n    {b: 1}", "TypeError: unhashable type: 'bytearray'"},
		{"b = bytearray(2)\n    for x in b:\n        b[0] = 1", "cannot assign to element of bytearray during iteration"},
		{`t.server.socket().sendfile(b"data.bin")`, "sendfile: TypeError: file must be the name of a file of the session's directory (a str), not bytes"},
		{`t.server.socket().sendfile("data.bin", 0, 0)`, "sendfile: ValueError: count must be a positive integer (got 0)"},
		{`t.server.socket().sendfile("data.bin", count = "x")`, "sendfile: TypeError: count must be a positive integer (got 'x')"},
		{`t.server.socket(AF_INET, SOCK_DGRAM).sendfile("data.bin")`, "sendfile: ValueError: only SOCK_STREAM type sockets are supported"},
		{"s = t.server.socket()\n    s.setblocking(False)\n    s.sendfile(\"data.bin\")", "sendfile: ValueError: non-blocking sockets are not supported"},
		{`t.server.socket().sendfile("data.bin", -1)`, "EINVAL: [Errno 22] Invalid argument (sendfile on server/s1)"},
		{`t.server.socket().makefile()`, `makefile: mode 'r' is text, which labs do not offer: use makefile("rb") and decode() its lines`},
		{`t.server.socket().makefile("wb")`, "makefile: mode 'wb' writes, which labs do not offer: send with sendall"},
		{`t.server.socket().makefile("rx")`, "makefile: ValueError: invalid mode 'rx' (only r, w, b allowed)"},
		{"f = t.server.socket().makefile(\"rb\")\n    f.close()\n    f.readline()", "readline: ValueError: readline of closed file"},
		{"f = t.server.socket().makefile(\"rb\")\n    f.read(-2)", "read: ValueError: read length must be non-negative or -1"},
		{`t.server.create_server(("127.5.0.2", 0), AF_INET6)`, "create_server: TypeError: create_server() takes 1 positional argument but 2 were given"},
		{`t.server.create_server(("127.5.0.2", 0), dualstack_ipv6 = True)`, "create_server: ValueError: dualstack_ipv6 requires AF_INET6 family"},
		{`t.server.create_connection("127.5.0.2")`, `create_connection: TypeError: address must be a (host, port) tuple, not "127.5.0.2"`},
	} {
		out := runLab(t, header+"\ndef main(t):\n    "+tc.body+"\n", nil, &agentEnv{do: apiAgent}, "")
		if got := errorText(out); !strings.HasSuffix(got, tc.want) {
			t.Errorf("%s: stopped with %q, want ...%q", tc.body, got, tc.want)
		}
	}
}

// TestCreateCloses: create_server and create_connection close the socket they made when
// a step after socket() raises, and raise that step's error (bind's with Python's words).
func TestCreateCloses(t *testing.T) {
	failing := func(step string) func(context.Context, uint32, *socklabv1.Operation) (*socklabv1.Event, error) {
		return func(ctx context.Context, h uint32, op *socklabv1.Operation) (*socklabv1.Event, error) {
			ev, err := apiAgent(ctx, h, op)
			if f := op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("op")); f != nil && string(f.Name()) == step {
				ev.Error = &socklabv1.SocketError{Name: "EADDRINUSE", Errno: 98, Message: "Address already in use"}
			}
			return ev, err
		}
	}
	for _, tc := range []struct {
		call, step string
		ops        []string
		msg        string
	}{
		{`t.server.create_server, ("127.5.0.2", 8080)`, "bind", []string{"socket", "setsockopt", "bind", "close"},
			"Address already in use (while attempting to bind on address ('127.5.0.2', 8080))"},
		{`t.server.create_connection, ("127.5.0.2", 8080), 2`, "connect", []string{"socket", "settimeout", "connect", "close"},
			"Address already in use"},
	} {
		env := &agentEnv{do: failing(tc.step)}
		out := runLab(t, header+"\ndef main(t):\n    v, e = t.catch("+tc.call+")\n    t.check(\"ok\", e.strerror == "+strconv.Quote(tc.msg)+", got = e.strerror)\n", nil, env, "")
		if out.Err != nil || !out.Passed() {
			t.Errorf("%s: error %v, checks %+v", tc.call, errorText(out), out.Checks)
		}
		var ops []string
		for _, s := range env.sent {
			ops = append(ops, string(s.op.ProtoReflect().WhichOneof(s.op.ProtoReflect().Descriptor().Oneofs().ByName("op")).Name()))
		}
		if strings.Join(ops, " ") != strings.Join(tc.ops, " ") {
			t.Errorf("%s sent %v, want %v", tc.call, ops, tc.ops)
		}
	}
}

// streamEnv is one host whose every socket reads from one byte stream that ends after
// data: recv_into returns what is left, up to its size, and records the size.
type streamEnv struct {
	data  []byte
	sizes []uint32
}

func (e *streamEnv) Do(_ context.Context, _ string, handle uint32, op *socklabv1.Operation, _ string) (*socklabv1.PerformResponse, error) {
	ev := &socklabv1.Event{Handle: handle, Operation: op, Result: &socklabv1.Result{Handle: 1}}
	resp := &socklabv1.PerformResponse{Event: ev}
	if r := op.GetRecvInto(); r != nil {
		e.sizes = append(e.sizes, r.GetBufsize())
		n := min(int(r.GetBufsize()), len(e.data))
		resp.Data, e.data = e.data[:n], e.data[n:]
		ev.Result.Value = int64(n)
	}
	return resp, nil
}

func (e *streamEnv) Say(text, pos string) {}

// TestMakefileReads: a makefile reader asks the socket for what CPython's BufferedReader
// asks (recv_into of 8192, or of whole buffers straight away), so that what it leaves in
// the socket and the transcript's calls are Python's; the sizes here are those CPython
// 3.11 asks for the same reads.
func TestMakefileReads(t *testing.T) {
	stream := append(append(bytes.Repeat([]byte("x"), 9000), '\n'), bytes.Repeat([]byte("y"), 10999)...)
	for _, tc := range []struct {
		name, makefile, reads string
		sizes                 []uint32
	}{
		{"readline, read(n), read()", `"rb"`, `(len(f.readline()), len(f.read(10000)), len(f.read()))`, []uint32{8192, 8192, 8192, 8192}},
		{"read(n) past the buffer", `"rb"`, `(len(f.read(20000)), f.readline(5), f.read())`, []uint32{16384, 8192, 8192, 8192}},
		{"a smaller buffer", `"rb", 4096`, `(len(f.read(10000)), len(f.readline()))`, []uint32{8192, 4096, 4096, 4096, 4096}},
	} {
		env := &streamEnv{data: bytes.Clone(stream)}
		out := runLab(t, header+"\ndef main(t):\n    f = t.server.socket().makefile("+tc.makefile+")\n    print"+tc.reads+"\n", nil, env, "")
		if out.Err != nil {
			t.Errorf("%s: %s", tc.name, errorText(out))
			continue
		}
		if !slices.Equal(env.sizes, tc.sizes) {
			t.Errorf("%s: recv_into sizes %v, want CPython's %v", tc.name, env.sizes, tc.sizes)
		}
	}
}
