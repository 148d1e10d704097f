package lab

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// maxSteps bounds the Starlark steps of one thread: a runaway loop ends the lab with a
// clear error instead of hanging it.
const maxSteps = 50_000_000

// Constants are the socket module's constants a lab uses, with their Linux values.
var Constants = map[string]int{
	"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10,
	"SOCK_STREAM": 1, "SOCK_DGRAM": 2,
	"SOL_SOCKET": 1, "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17,
	"SO_REUSEADDR": 2, "SO_TYPE": 3, "SO_ERROR": 4, "SO_BROADCAST": 6, "SO_SNDBUF": 7,
	"SO_RCVBUF": 8, "SO_KEEPALIVE": 9, "SO_OOBINLINE": 10, "SO_LINGER": 13, "SO_REUSEPORT": 15,
	"SO_RCVLOWAT": 18, "SO_SNDLOWAT": 19, "SO_ACCEPTCONN": 30,
	"TCP_NODELAY": 1, "TCP_MAXSEG": 2, "TCP_CORK": 3, "TCP_KEEPIDLE": 4, "TCP_KEEPINTVL": 5,
	"TCP_KEEPCNT": 6, "TCP_QUICKACK": 12, "TCP_USER_TIMEOUT": 18,
	"IP_TOS": 1, "IP_TTL": 2, "IPPROTO_IPV6": 41, "IPV6_V6ONLY": 26,
	"SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
	"MSG_OOB": 0x1, "MSG_PEEK": 0x2, "MSG_DONTWAIT": 0x40, "MSG_WAITALL": 0x100,
	"MSG_NOSIGNAL": 0x4000, "MSG_MORE": 0x8000,
}

// predeclared returns the names every lab file sees; withLab adds lab() (a lab's own file).
func predeclared(withLab bool) starlark.StringDict {
	d := starlark.StringDict{
		"upper":  starlark.NewBuiltin("upper", bytesMap("upper", bytes.ToUpper)),
		"lower":  starlark.NewBuiltin("lower", bytesMap("lower", bytes.ToLower)),
		"decode": starlark.NewBuiltin("decode", decode),
		"encode": starlark.NewBuiltin("encode", encode),
		"hex":    starlark.NewBuiltin("hex", hexBuiltin),
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
