package lab

import (
	"testing"

	"go.starlark.net/starlark"
)

// TestRepr: check messages show values as Python's repr would.
func TestRepr(t *testing.T) {
	for _, tc := range []struct {
		v    starlark.Value
		want string
	}{
		{nil, "None"},
		{starlark.Bytes("hello"), "b'hello'"},
		{starlark.Bytes("it's"), `b"it's"`},
		{starlark.Bytes("\x00\xff\n"), `b'\x00\xff\n'`},
		{starlark.String("café"), "'café'"},
		{starlark.String("it's"), `"it's"`},
		{starlark.String("a'b\"c"), `'a\'b"c'`},
		{starlark.String("tab\there"), `'tab\there'`},
		{starlark.Tuple{starlark.Bytes(""), starlark.String("x")}, "(b'', 'x')"},
		{starlark.Tuple{starlark.MakeInt(1)}, "(1,)"},
		{starlark.NewList([]starlark.Value{starlark.True, starlark.None}), "[True, None]"},
		{starlark.MakeInt(111), "111"},
		// Where the lab's own repr once differed from CPython's.
		{starlark.String("\u00ad"), `'\xad'`},
		{starlark.String("\u0085"), `'\x85'`},
		{starlark.String("é\u200b"), `'é\u200b'`},
		{starlark.Float(1e-05), "1e-05"},
		{starlark.Float(2), "2.0"},
		{starlark.False, "False"},
	} {
		if got := repr(tc.v); got != tc.want {
			t.Errorf("repr(%v) = %s, want %s", tc.v, got, tc.want)
		}
	}
}
