package lab_test

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/controller/lab"
)

// TestBrokenLabs: each broken lab fails to load with its exact file:line:col and message,
// before any agent could be touched.
func TestBrokenLabs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want string
	}{
		{"syntax.star", "testdata/broken/syntax.star:3:1: got newline, want ':'"},
		{"unknown-host.star", `testdata/broken/unknown-host.star:4:11: t has no host or attribute "server"`},
		{"unknown-check.star", `testdata/broken/unknown-check.star:4:13: check "okay" is not declared in lab(checks = ...) (declared: ok)`},
		{"unknown-param.star", `testdata/broken/unknown-param.star:4:18: t.params has no "prot" (the lab declares: port)`},
		{"no-main.star", "testdata/broken/no-main.star: the lab has no main function"},
		{"no-lab.star", "testdata/broken/no-lab.star: the lab does not declare itself"},
		{"main-arity.star", "testdata/broken/main-arity.star:3:1: main must take one parameter, t (it takes 0)"},
		{"bad-hosts.star", `testdata/broken/bad-hosts.star:1:4: lab: for parameter "hosts": got string, want list`},
		{"host-clash.star", `testdata/broken/host-clash.star:1:4: lab: host "say" clashes with t.say`},
		{"bad-check-id.star", `testdata/broken/bad-check-id.star:1:4: lab: check id "Not A Slug" is not a slug`},
		{"top-level-error.star", "testdata/broken/top-level-error.star:2:7: unknown binary op: int + string"},
		{"undefined-name.star", "testdata/broken/undefined-name.star:4:29: undefined: SOCK_STREEM"},
		{"method-typo.star", `testdata/broken/method-typo.star:10:22: srv is a socket, which has no attribute "recvfom" (did you mean recvfrom?)`},
		{"str-payload.star", `testdata/broken/str-payload.star:9:16: sendto: TypeError: a bytes-like object is required, not 'str' (did you mean b"ping"?)`},
		{"bad-load.star", `testdata/broken/bad-load.star:1:1: load "missing.star": testdata/broken/missing.star: no such file or directory`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := lab.Load(lab.DirSources{}, "testdata/broken/"+tc.file)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var le *lab.Error
			if !errors.As(err, &le) {
				t.Fatalf("Load error %T %v, want a *lab.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Load error =\n  %s\nwant it to start with\n  %s", err, tc.want)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	l, err := lab.Load(lab.DirSources{}, "testdata/params.star")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.ParseParams([]string{"port=9090", "rate=0.5", "verbose=true", "name=bob", "data=xyz"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]starlark.Value{
		"port": starlark.MakeInt(9090), "rate": starlark.Float(0.5), "verbose": starlark.True,
		"name": starlark.String("bob"), "data": starlark.Bytes("xyz"),
	}
	for k, v := range want {
		if eq, _ := starlark.Equal(got[k], v); !eq {
			t.Errorf("param %s = %v, want %v", k, got[k], v)
		}
	}
	for _, tc := range []struct{ kv, want string }{
		{"port=http", "--param port=http: want an int"},
		{"rate=fast", "--param rate=fast: want a float"},
		{"nope=1", "--param nope: the lab has no such parameter (it has: data, name, port, rate, verbose)"},
		{"port", `--param "port": want NAME=VALUE`},
	} {
		if _, err := l.ParseParams([]string{tc.kv}); err == nil || err.Error() != tc.want {
			t.Errorf("ParseParams(%q) = %v, want %q", tc.kv, err, tc.want)
		}
	}
}
