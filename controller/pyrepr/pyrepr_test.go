package pyrepr

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/cpython.json by running "+python)

// python is the interpreter whose repr is the reference. It is named by its full path so
// that no shim or virtualenv on PATH can stand in for it.
const python = "/usr/bin/python3"

const cpythonFile = "testdata/cpython.json"

// Kinds of cases: what In holds, in hex.
const (
	kindBytes = "bytes" // the bytes
	kindStr   = "str"   // the str's UTF-8, invalid bytes included
	kindFloat = "float" // the float64's IEEE 754 bits, big-endian
)

// pyCase is one input and what CPython's repr printed for it.
type pyCase struct {
	Kind string `json:"kind"`
	In   string `json:"in"`
	Repr string `json:"repr"`
}

// cpythonCases is testdata/cpython.json.
type cpythonCases struct {
	// Python is the interpreter's sys.version and Unicode database version.
	Python string   `json:"python"`
	Cases  []pyCase `json:"cases"`
}

// printable is every printable ASCII character, both quotes and the backslash among them.
const printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// inputs returns the fixed list of inputs compared with CPython, without their reprs.
func inputs() []pyCase {
	var cs []pyCase
	add := func(kind string, b []byte) { cs = append(cs, pyCase{Kind: kind, In: hex.EncodeToString(b)}) }

	for c := range 256 {
		add(kindBytes, []byte{byte(c)})
	}
	mixed := []string{
		"", "hello", "it's", `say "hi"`, `both ' and "`, `'"`, `"'`, `\'`, `\"`, `''`, `""`,
		`\\`, "a\tb\nc\rd", "\x1b[31mred\x1b[0m", "\x00\x7f\x80\xff", "你好",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x0b\x0c", "~\x7f", printable,
	}
	for _, s := range mixed {
		add(kindBytes, []byte(s))
	}
	// Short strings drawn from an alphabet heavy in quotes, backslashes and escapes; the
	// seed is fixed, so the list is too.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("'\"\\\x00\n\t\r\x7f\x80\xffa ")
	for range 64 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		add(kindBytes, b)
	}

	for r := range rune(256) {
		add(kindStr, []byte(string(r)))
	}
	// Characters assigned in Unicode 15.0 are left out: Go's tables have them, CPython
	// 3.11's (Unicode 14.0) do not.
	strs := []string{
		"", "it's", `say "hi"`, `both ' and "`, `'"`, `\'`, printable, "café", "naïve\n",
		// Non-printable: format characters, separators, private use, non-characters,
		// unassigned.
		"\u00ad", "soft\u00adhyphen", "\u200b", "\u200d", "\u2028", "\u2029", "\ufeff", "\ue000",
		"\uf8ff", "\ufffe", "\u0378", "\u3000", "\u2003", "\u061c", "\u180e", "\u0085",
		"\ufffd",
		// Combining marks.
		"e\u0301", "\u0301", "\u20dd", "a\u0308\u0332",
		// CJK, Hangul, kana.
		"你好", "日本語", "한국어", "\u3042",
		// Emoji, with modifiers, joiners, flags and variation selectors.
		"😀", "👍🏽", "👩\u200d💻", "🇫🇷", "\u2764\ufe0f",
		// Astral characters, printable and not.
		"\U0001d11e", "\U00010348", "\U00020000", "\U000e0001", "\U000e0020", "\U000f0000",
		"\U0010fffd", "\U0010ffff", "\U0001d173", "\U000110bd", "\U0001bca0", "\U00013430",
		// Mixed.
		"it's \u00e9\n\x00\u200b😀\\",
	}
	for _, s := range strs {
		add(kindStr, []byte(s))
	}
	// Bytes that are not valid UTF-8: lone bytes, a truncated sequence, an encoded
	// surrogate, an overlong encoding, a code point above U+10FFFF.
	for _, s := range []string{"\xff", "\x80", "a\xe4\xbdb", "\xed\xa0\x80", "\xc0\x80", "\xf4\x90\x80\x80", "ok\xfe'"} {
		add(kindStr, []byte(s))
	}

	floats := []float64{
		0.0, math.Copysign(0, -1), 0.1, 1e-05, 1e16, 123456789012345678.0, math.Inf(1), math.Inf(-1),
		math.NaN(), 2.5, 1.0 / 3, 0.0001, 9.999999999999999e-05, 0.5, 2.0, -1.5, 100.0, 1e15,
		9999999999999998.0, 1e22, 5e-324, math.MaxFloat64, 0.30000000000000004, 1e-300,
		123456789.5, -2.5e-05,
	}
	for _, f := range floats {
		add(kindFloat, binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
	}
	return cs
}

// reprOf returns what this package prints for c's input.
func reprOf(t *testing.T, c pyCase) (call, got string) {
	b, err := hex.DecodeString(c.In)
	if err != nil {
		t.Fatalf("%s: input %q: %v", cpythonFile, c.In, err)
	}
	switch c.Kind {
	case kindBytes:
		return fmt.Sprintf("Bytes(%q, 0, 0)", b), Bytes(b, 0, 0)
	case kindStr:
		return fmt.Sprintf("Str(%+q)", b), Str(string(b))
	case kindFloat:
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		return fmt.Sprintf("Float(%v)", f), Float(f)
	}
	t.Fatalf("%s: unknown kind %q", cpythonFile, c.Kind)
	return "", ""
}

// TestCPython compares Bytes, Str and Float with the reprs CPython printed for the inputs
// of inputs(), recorded in testdata/cpython.json; it does not need Python. With -update it
// runs /usr/bin/python3 once over the inputs and rewrites the file first.
func TestCPython(t *testing.T) {
	if *update {
		writeCPython(t)
	}
	data, err := os.ReadFile(cpythonFile)
	if err != nil {
		t.Fatal(err)
	}
	var file cpythonCases
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", cpythonFile, err)
	}
	t.Logf("reprs printed by Python %s", file.Python)

	key := func(c pyCase) string { return c.Kind + " " + c.In }
	want := inputs()
	got := make([]string, len(file.Cases))
	for i, c := range file.Cases {
		got[i] = key(c)
	}
	for i, c := range want {
		if i >= len(got) || got[i] != key(c) {
			t.Fatalf("%s does not hold the inputs of inputs() (first difference at case %d, %s): run go test -run TestCPython -update", cpythonFile, i, key(c))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s holds %d cases, inputs() has %d: run go test -run TestCPython -update", cpythonFile, len(got), len(want))
	}

	for _, c := range file.Cases {
		if call, got := reprOf(t, c); got != c.Repr {
			t.Errorf("%s = %s, want %s", call, got, c.Repr)
		}
	}
}

// reprScript reads the cases as JSON on stdin and writes them back with their reprs.
const reprScript = `
import json, struct, sys, unicodedata
cases = json.load(sys.stdin)
for c in cases:
    b = bytes.fromhex(c["in"])
    if c["kind"] == "bytes":
        v = b
    elif c["kind"] == "str":
        v = b.decode("utf-8", "surrogateescape")
    elif c["kind"] == "float":
        v = struct.unpack(">d", b)[0]
    else:
        sys.exit("unknown kind " + c["kind"])
    c["repr"] = repr(v)
out = {"python": sys.version.split()[0] + ", Unicode " + unicodedata.unidata_version, "cases": cases}
sys.stdout.buffer.write(json.dumps(out, ensure_ascii=False).encode("utf-8"))
`

// writeCPython runs python over inputs() and writes testdata/cpython.json, one case a line.
func writeCPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("-update needs %s to record CPython's reprs: %v", python, err)
	}
	in, err := json.Marshal(inputs())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, "-I", "-c", reprScript)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", python, err)
	}
	var file cpythonCases
	if err := json.Unmarshal(out, &file); err != nil {
		t.Fatalf("%s printed no JSON: %v", python, err)
	}

	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	line := func(v any) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	w.WriteString("{\n\"python\": ")
	w.Write(line(file.Python))
	w.WriteString(",\n\"cases\": [\n")
	for i, c := range file.Cases {
		w.Write(line(c))
		if i < len(file.Cases)-1 {
			w.WriteString(",")
		}
		w.WriteString("\n")
	}
	w.WriteString("]\n}\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpythonFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBytesPreview(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		total uint64
		max   int
		want  string
	}{
		{"no limit", "hello world", 0, 0, "b'hello world'"},
		{"cut", "hello world", 0, 5, "b'hello'... (11 bytes)"},
		{"fits exactly", "hello", 0, 5, "b'hello'"},
		{"cut keeps escapes whole", "\x00\x00", 0, 5, `b'\x00'... (2 bytes)`},
		{"cut before a first long escape", "\x00", 0, 3, "b''... (1 byte)"},
		{"cut counts the quote's escape", `it's "x"`, 0, 4, `b'it\''... (8 bytes)`},
		{"capped payload", "abc", 10, 0, "b'abc'... (10 bytes)"},
		{"capped and cut", "abcdef", 1000, 2, "b'ab'... (1000 bytes)"},
		{"empty of a longer payload", "", 1, 0, "b''... (1 byte)"},
		{"total smaller than data", "abc", 2, 0, "b'abc'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bytes([]byte(tc.in), tc.total, tc.max); got != tc.want {
				t.Errorf("Bytes(%q, %d, %d) = %s, want %s", tc.in, tc.total, tc.max, got, tc.want)
			}
		})
	}
}

func TestBool(t *testing.T) {
	if got := Bool(true); got != "True" {
		t.Errorf("Bool(true) = %s, want True", got)
	}
	if got := Bool(false); got != "False" {
		t.Errorf("Bool(false) = %s, want False", got)
	}
}
