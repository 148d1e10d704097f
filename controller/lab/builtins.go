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

		"setdefaulttimeout": starlark.NewBuiltin("setdefaulttimeout", setDefaultTimeout),
		"getdefaulttimeout": starlark.NewBuiltin("getdefaulttimeout", getDefaultTimeout),
	}
	for k, v := range Constants {
		d[k] = starlark.MakeInt(v)
	}
	for k, v := range apiBuiltins {
		d[k] = v
	}
	if withLab {
		d["lab"] = starlark.NewBuiltin("lab", labBuiltin)
	}
	return d
}

// setDefaultTimeout is Python's socket.setdefaulttimeout(timeout): the sockets the run
// makes from then on (host.socket, accept, connect_many) start with that timeout, None
// (blocking, the default), 0 (non-blocking) or a number of seconds. The default is the
// run's own: every run starts with None.
func setDefaultTimeout(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := unpackArgs("setdefaulttimeout", args, kwargs, "timeout", &v); err != nil {
		return nil, err
	}
	r := runOf(th)
	if r == nil {
		return nil, fmt.Errorf("setdefaulttimeout: call it while the lab runs (in main), not at the top level: the default timeout is each run's own")
	}
	timeout, ex := pyTimeout(v)
	if ex != nil {
		return nil, fmt.Errorf("setdefaulttimeout: %w", ex)
	}
	r.defaultTimeout = timeout
	return starlark.None, nil
}

// getDefaultTimeout is Python's socket.getdefaulttimeout(): the run's default timeout in
// seconds, or None.
func getDefaultTimeout(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs("getdefaulttimeout", args, kwargs); err != nil {
		return nil, err
	}
	if r := runOf(th); r != nil && r.defaultTimeout != nil {
		return starlark.Float(*r.defaultTimeout), nil
	}
	return starlark.None, nil
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

// decode(b, encoding = "utf-8", errors = "strict") is Python's bytes.decode, with its
// "strict", "replace" and "ignore" error handlers.
func decode(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var b starlark.Bytes
	encoding, errMode := "utf-8", "strict"
	if err := starlark.UnpackArgs("decode", args, kwargs, "b", &b, "encoding?", &encoding, "errors?", &errMode); err != nil {
		return nil, err
	}
	codec := strings.ToLower(strings.ReplaceAll(encoding, "_", "-"))
	switch codec {
	case "utf-8", "utf8":
		codec = "utf-8"
	case "ascii":
	default:
		return nil, fmt.Errorf("decode: encoding %q is not supported (use utf-8 or ascii)", encoding)
	}
	// Each invalid part, s[i:end], raises, is dropped ("ignore") or becomes one U+FFFD.
	s := string(b)
	var out strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		end, reason := i+n, ""
		switch {
		case codec == "ascii" && s[i] >= 0x80:
			end, reason = i+1, "ordinal not in range(128)"
		case r == utf8.RuneError && n <= 1:
			end, reason = utf8Invalid(s, i)
		}
		switch {
		case reason == "":
			out.WriteString(s[i:end])
		case errMode == "strict" && end-i == 1:
			return nil, &Exception{Type: "UnicodeDecodeError", Msg: fmt.Sprintf("'%s' codec can't decode byte 0x%02x in position %d: %s", codec, s[i], i, reason)}
		case errMode == "strict":
			return nil, &Exception{Type: "UnicodeDecodeError", Msg: fmt.Sprintf("'%s' codec can't decode bytes in position %d-%d: %s", codec, i, end-1, reason)}
		case errMode != "ignore":
			out.WriteRune(utf8.RuneError)
		}
		i = end
	}
	return starlark.String(out.String()), nil
}

// utf8Invalid returns where the invalid UTF-8 that starts at s[i] ends, and why, as
// CPython's decoder reports it: a byte that starts no character, a sequence cut short by
// a byte that does not continue it (the bytes before that byte are the error), or one
// cut short by the end of the data (the rest of the data is the error).
func utf8Invalid(s string, i int) (end int, reason string) {
	c := s[i]
	lo, hi := byte(0x80), byte(0xbf) // the range of the second byte
	var n int
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c >= 0xe0 && c <= 0xef:
		n = 3
		if c == 0xe0 {
			lo = 0xa0 // not overlong
		} else if c == 0xed {
			hi = 0x9f // no surrogates
		}
	case c >= 0xf0 && c <= 0xf4:
		n = 4
		if c == 0xf0 {
			lo = 0x90 // not overlong
		} else if c == 0xf4 {
			hi = 0x8f // at most U+10FFFF
		}
	default:
		return i + 1, "invalid start byte"
	}
	for k := 1; k < n; k++ {
		if i+k >= len(s) {
			return len(s), "unexpected end of data"
		}
		if b := s[i+k]; b < lo || b > hi {
			return i + k, "invalid continuation byte"
		}
		lo, hi = 0x80, 0xbf
	}
	return i + n, "invalid continuation byte" // not reached: s[i:i+n] is valid
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
		for i, r := range []rune(s) {
			if r >= 0x80 {
				return nil, &Exception{Type: "UnicodeEncodeError", Msg: fmt.Sprintf("'ascii' codec can't encode character '%s' in position %d: ordinal not in range(128)", escapeRune(r), i)}
			}
		}
		return starlark.Bytes(s), nil
	}
	return nil, fmt.Errorf("encode: encoding %q is not supported (use utf-8 or ascii)", encoding)
}

// escapeRune writes r as Python's codec errors do: \xe9, \u4f60, \U0001f600.
func escapeRune(r rune) string {
	switch {
	case r < 0x100:
		return fmt.Sprintf(`\x%02x`, r)
	case r < 0x10000:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
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
			return nil, &Exception{Type: "TypeError", Msg: fmt.Sprintf("'%s' is an invalid keyword argument for print()", k), Hint: "labs print with sep only"}
		}
		s, ok := kv[1].(starlark.String)
		if !ok && kv[1] != starlark.None {
			return nil, typeError("sep must be None or a string, not %s", pyType(kv[1]))
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
