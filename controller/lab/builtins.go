package lab

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/agent/sockconst"
)

// maxSteps bounds the Starlark steps of one thread: a runaway loop ends the lab with a
// clear error instead of hanging it.
const maxSteps = 50_000_000

// Constants are the socket module's constants a lab uses, with their Linux values: every
// name of agent/sockconst's table, so every option the agent accepts has its name.
var Constants = func() map[string]int {
	m := map[string]int{}
	for _, c := range sockconst.All() {
		m[c.Name] = c.Value
	}
	return m
}()

// predeclared returns the names every lab file sees; withLab adds lab() (a lab's own file).
func predeclared(withLab bool) starlark.StringDict {
	d := starlark.StringDict{
		"upper":  starlark.NewBuiltin("upper", bytesMap("upper", bytes.ToUpper)),
		"lower":  starlark.NewBuiltin("lower", bytesMap("lower", bytes.ToLower)),
		"decode": starlark.NewBuiltin("decode", decode),
		"encode": starlark.NewBuiltin("encode", encode),
		"hex":    starlark.NewBuiltin("hex", hexBuiltin),
		"print":  starlark.NewBuiltin("print", printBuiltin),
		"repr":   starlark.NewBuiltin("repr", reprBuiltin),
		"str":    starlark.NewBuiltin("str", strBuiltin),
		"errno":  errnoMod,
	}
	for k, v := range Constants {
		d[k] = starlark.MakeInt(v)
	}
	if withLab {
		d["lab"] = starlark.NewBuiltin("lab", labBuiltin)
	}
	return d
}

// bytesMap makes upper(b) and lower(b): what Python's bytes.upper and bytes.lower do.
func bytesMap(name string, f func([]byte) []byte) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case starlark.Bytes:
			return starlark.Bytes(asciiMap(string(v), f)), nil
		case starlark.String:
			return starlark.String(f([]byte(v))), nil
		}
		return nil, fmt.Errorf("%s: want bytes or string, not %s", name, v.Type())
	}
}

// asciiMap applies f to ASCII letters only, as Python's bytes methods do.
func asciiMap(s string, f func([]byte) []byte) []byte {
	b := []byte(s)
	for i, c := range b {
		if c < utf8.RuneSelf {
			b[i] = f([]byte{c})[0]
		}
	}
	return b
}

// decode(b, encoding = "utf-8", errors = "strict") is Python's bytes.decode.
func decode(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var b starlark.Bytes
	encoding, errMode := "utf-8", "strict"
	if err := starlark.UnpackArgs("decode", args, kwargs, "b", &b, "encoding?", &encoding, "errors?", &errMode); err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.ReplaceAll(encoding, "_", "-")) {
	case "utf-8", "utf8":
	case "ascii":
		for i := 0; i < len(b); i++ {
			if b[i] >= 0x80 && errMode == "strict" {
				return nil, fmt.Errorf("UnicodeDecodeError: 'ascii' codec can't decode byte 0x%02x in position %d: ordinal not in range(128)", b[i], i)
			}
		}
		return starlark.String(string(b)), nil
	default:
		return nil, fmt.Errorf("decode: encoding %q is not supported (use utf-8 or ascii)", encoding)
	}
	s := string(b)
	if errMode == "strict" {
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				reason := "invalid start byte"
				if len(s)-i < 4 && s[i] >= 0xc0 {
					reason = "unexpected end of data"
				}
				return nil, fmt.Errorf("UnicodeDecodeError: 'utf-8' codec can't decode byte 0x%02x in position %d: %s", s[i], i, reason)
			}
			i += n
		}
		return starlark.String(s), nil
	}
	return starlark.String(strings.ToValidUTF8(s, "\uFFFD")), nil
}

// encode(s, encoding = "utf-8") is Python's str.encode.
func encode(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	encoding := "utf-8"
	if err := starlark.UnpackArgs("encode", args, kwargs, "s", &s, "encoding?", &encoding); err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.ReplaceAll(encoding, "_", "-")) {
	case "utf-8", "utf8":
		return starlark.Bytes(s), nil
	case "ascii":
		for i, r := range s {
			if r >= 0x80 {
				return nil, fmt.Errorf("UnicodeEncodeError: 'ascii' codec can't encode character %q in position %d: ordinal not in range(128)", r, i)
			}
		}
		return starlark.Bytes(s), nil
	}
	return nil, fmt.Errorf("encode: encoding %q is not supported (use utf-8 or ascii)", encoding)
}

// hex(b) is Python's bytes.hex.
func hexBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var b starlark.Bytes
	if err := starlark.UnpackPositionalArgs("hex", args, kwargs, 1, &b); err != nil {
		return nil, err
	}
	return starlark.String(fmt.Sprintf("%x", string(b))), nil
}

// pystr is Python's str(v): a string as it is, an error as Python's str shows an
// exception, anything else as its repr.
func pystr(v starlark.Value) string {
	switch v := v.(type) {
	case starlark.String:
		return string(v)
	case *errorValue:
		return v.pyStr()
	}
	return repr(v)
}

// printBuiltin is Python's print(*args, sep = " "): each argument as str() shows it, so
// that bytes print as b'...' and strings in tuples in single quotes, as in Python. The
// line goes to the transcript as narration.
func printBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep := " "
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		if k != "sep" {
			return nil, fmt.Errorf("TypeError: print: unexpected keyword argument %q (labs print with sep only)", k)
		}
		s, ok := kv[1].(starlark.String)
		if !ok && kv[1] != starlark.None {
			return nil, fmt.Errorf("TypeError: sep must be None or a string, not %s", kv[1].Type())
		}
		if ok {
			sep = string(s)
		}
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = pystr(a)
	}
	if th.Print != nil {
		th.Print(th, strings.Join(parts, sep))
	}
	return starlark.None, nil
}

// reprBuiltin is Python's repr(v).
func reprBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs("repr", args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	return starlark.String(repr(v)), nil
}

// strBuiltin is Python's str(v) (str() is the empty string).
func strBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value = starlark.String("")
	if err := starlark.UnpackPositionalArgs("str", args, kwargs, 0, &v); err != nil {
		return nil, err
	}
	return starlark.String(pystr(v)), nil
}
