package lab_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/socklab/socklab/controller/lab"
)

// TestTypeCheck: loading a lab reports, as file:line:col before anything runs, an
// attribute that a value of a plain type lacks (with the nearest one) and a str literal
// sent; what a static look cannot tell is left to the run.
func TestTypeCheck(t *testing.T) {
	const head = "lab(name = \"x\", summary = \"s\", hosts = [\"server\", \"client\"])\n\ndef main(t):\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"method typo", "    srv = t.server.socket(AF_INET, SOCK_DGRAM)\n    srv.recvfom(1024)\n",
			`lab.star:5:9: srv is a socket, which has no attribute "recvfom" (did you mean recvfrom?)`},
		{"str to sendto", "    cli = t.client.socket(AF_INET, SOCK_DGRAM)\n    cli.sendto(\"ping\", (t.server.ip, 9))\n",
			`lab.star:5:16: sendto: TypeError: a bytes-like object is required, not 'str' (did you mean b"ping"?)`},
		{"str to send", "    t.client.socket(AF_INET, SOCK_STREAM).send('hi')\n",
			`lab.star:4:48: send: TypeError: a bytes-like object is required, not 'str' (did you mean b'hi'?)`},
		{"str to sendall", "    cli = t.client.socket(AF_INET, SOCK_STREAM)\n    cli.sendall(\"你好\")\n",
			`lab.star:5:17: sendall: TypeError: a bytes-like object is required, not 'str' (did you mean encode("你好")?)`},
		{"host typo", "    t.server.sockett(AF_INET, SOCK_STREAM)\n",
			`lab.star:4:14: t.server is a host, which has no attribute "sockett" (did you mean socket?)`},
		{"accepted", "    srv = t.server.socket(AF_INET, SOCK_STREAM)\n    conn, addr = srv.accept()\n    conn.recvv(1)\n",
			`lab.star:6:10: conn is a socket, which has no attribute "recvv" (did you mean recv?)`},
		{"through variables", "    h = t.server\n    s = h.socket(AF_INET, SOCK_STREAM)\n    s2 = s\n    s2.lisen(1)\n",
			`lab.star:7:8: s2 is a socket, which has no attribute "lisen" (did you mean listen?)`},
		{"create_connection", "    c = t.client.create_connection((t.server.ip, 1))\n    c.sendal(b\"x\")\n",
			`lab.star:5:7: c is a socket, which has no attribute "sendal" (did you mean sendall?)`},
		{"process", "    p = t.server.spawn([\"true\"])\n    p.wiat()\n",
			`lab.star:5:7: p is a process, which has no attribute "wiat" (did you mean wait?)`},
		{"future", "    f = t.go(t.sleep, 0)\n    f.reslt()\n",
			`lab.star:5:7: f is a future, which has no attribute "reslt" (did you mean result?)`},
		{"socket's host", "    s = t.server.socket(AF_INET, SOCK_STREAM)\n    s.host.addr\n",
			`lab.star:5:12: s.host is a host, which has no attribute "addr" (it has: build, clear_faults, connect_many, `},
		{"None first", "    s = None\n    if t.params:\n        s = t.server.socket(AF_INET, SOCK_STREAM)\n    s.clse()\n",
			`lab.star:7:7: s is a socket, which has no attribute "clse" (did you mean close?)`},
		{"a parameter", "    helper(t.server)\n\ndef helper(s):\n    s.anything()\n    s.send(\"x\")\n",
			`lab.star:8:12: send: TypeError`},
		{"loop variable", "    for s in [1]:\n        s.anything()\n    s = t.server.socket(AF_INET, SOCK_STREAM)\n", ""},
		{"two types", "    x = t.server.socket(AF_INET, SOCK_STREAM)\n    x = t.server.spawn([\"true\"])\n    x.wait()\n    x.close()\n", ""},
		{"a str in a variable", "    s = t.server.socket(AF_INET, SOCK_DGRAM)\n    m = \"ping\"\n    t.raises(\"TypeError\", s.sendto, m, (t.server.ip, 9))\n", ""},
		{"a helper's result", "    s = listener(t.server)\n    s.anything()\n\ndef listener(h):\n    return h.socket(AF_INET, SOCK_STREAM)\n", ""},
		{"lambda parameter", "    s = t.server.socket(AF_INET, SOCK_STREAM)\n    f = lambda s: s.anything()\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"lab.star": {Data: []byte(head + tc.body)}}
			_, err := lab.Load(lab.FSSources{FS: fsys}, "lab.star")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Load: %v, want no error", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Load succeeded, want %s", tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), tc.want):
				t.Errorf("Load error =\n  %v\nwant it to start with\n  %s", err, tc.want)
			}
		})
	}
}

// TestTypeCheckLoaded: a mistake in a loaded helper is reported at the lab's load line,
// then the helper's own line.
func TestTypeCheckLoaded(t *testing.T) {
	fsys := fstest.MapFS{
		"lab.star":   {Data: []byte("load(\"lib/h.star\", \"dial\")\nlab(name = \"x\", summary = \"s\", hosts = [\"a\"])\n\ndef main(t):\n    dial(t.a)\n")},
		"lib/h.star": {Data: []byte("def dial(host):\n    s = host.socket(AF_INET, SOCK_STREAM)\n    s.conect((host.ip, 1))\n")},
	}
	_, err := lab.Load(lab.FSSources{FS: fsys}, "lab.star")
	want := `lab.star:1:1: load "lib/h.star": lib/h.star:3:7: s is a socket, which has no attribute "conect" (did you mean connect?)`
	if err == nil || err.Error() != want {
		t.Errorf("Load error =\n  %v\nwant\n  %s", err, want)
	}
}
