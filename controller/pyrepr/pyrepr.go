// Package pyrepr writes Go values as CPython's repr() prints the matching Python values,
// so that transcripts and check messages read like a Python session: b'HELLO\n', 'café',
// 0.5, True.
//
// Which characters a str shows as they are and which it escapes follows the Unicode
// version of Go's unicode package (unicode.Version); a CPython built on another version
// differs only on the characters assigned between the two.
package pyrepr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bytes returns b as Python's repr prints a bytes object: b'...' with \n, \r, \t, \\ and
// the quote escaped, other non-printable bytes as \xNN, and double quotes when b holds a
// single quote but no double quote. total is the data's true length when b is only its
// first part (0 means len(b)). When the content would be longer than max characters (max
// > 0), it is cut at a whole character or escape; a cut or partial preview ends with
// "..." and the true length, as in b'hello wor'... (1000 bytes).
func Bytes(b []byte, total uint64, max int) string {
	if total < uint64(len(b)) {
		total = uint64(len(b))
	}
	quote := quoteFor(string(b))
	var sb strings.Builder
	sb.WriteString("b")
	sb.WriteByte(quote)
	n, shown := 0, 0
	for _, c := range b {
		esc := byteEscape(c, quote)
		if max > 0 && n+len(esc) > max {
			break
		}
		sb.WriteString(esc)
		n += len(esc)
		shown++
	}
	sb.WriteByte(quote)
	switch {
	case total == 1 && shown == 0:
		sb.WriteString("... (1 byte)")
	case uint64(shown) < total:
		fmt.Fprintf(&sb, "... (%d bytes)", total)
	}
	return sb.String()
}

// quoteFor returns the quote Python's repr puts around s: a double quote when s holds a
// single quote but no double quote, else a single quote.
func quoteFor(s string) byte {
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		return '"'
	}
	return '\''
}

// byteEscape returns c as it appears inside a bytes repr quoted with quote.
func byteEscape(c, quote byte) string {
	switch {
	case c == '\\' || c == quote:
		return `\` + string(c)
	case c == '\t':
		return `\t`
	case c == '\n':
		return `\n`
	case c == '\r':
		return `\r`
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf(`\x%02x`, c)
	}
	return string(c)
}

// Str returns s as Python's repr prints a str: quoted as Bytes is, with \\, the quote,
// \t, \n and \r escaped, other ASCII control characters as \xNN, and non-ASCII
// characters kept when Python counts them printable (letters, marks, numbers,
// punctuation and symbols of any script) and otherwise escaped as \xNN, \uNNNN or
// \UNNNNNNNN. A byte that is not part of valid UTF-8 shows as \udcNN, the lone surrogate
// Python's surrogateescape error handler decodes it to.
func Str(s string) string {
	quote := rune(quoteFor(s))
	var sb strings.Builder
	sb.WriteRune(quote)
	for i, r := range s {
		switch {
		case r == utf8.RuneError && isInvalid(s[i:]):
			fmt.Fprintf(&sb, `\udc%02x`, s[i])
		case r == '\\' || r == quote:
			sb.WriteRune('\\')
			sb.WriteRune(r)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			sb.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			fmt.Fprintf(&sb, `\U%08x`, r)
		}
	}
	sb.WriteRune(quote)
	return sb.String()
}

// isInvalid reports whether s starts with a byte that is not part of valid UTF-8 (and
// not a valid encoding of U+FFFD itself).
func isInvalid(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size <= 1
}

// Float returns f as Python's repr prints a float: the shortest digits that read back as
// f, with ".0" when they are whole ("2.0", "-0.0"), in exponent form below 1e-4 and from
// 1e16 on ("1e-05", "1e+16"); "inf", "-inf" and "nan".
func Float(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64) // Go, like Python, writes "1e-05"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Bool returns "True" or "False".
func Bool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
