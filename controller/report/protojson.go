package report

import (
	"encoding/base64"
	"errors"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// jsonEncoder writes messages as protojson.Marshal does, byte for byte, several times
// faster: it walks a message's populated fields as protojson does (sorted into
// declaration order, zero values and empty lists and maps left out, enums by name,
// 64-bit integers and bytes as strings) but straight into its output, reusing its
// buffers from one message to the next. Whatever protojson treats apart (well-known
// types, extensions, invalid UTF-8: an error) gives errFallback: the caller marshals with
// protojson instead. TestAppendJSONIsProtojson holds it to protojson's bytes. The zero
// value is ready to use; it is not safe for concurrent use.
type jsonEncoder struct {
	out []byte
	// fields holds the fields of the messages being written, each message's above its
	// parent's.
	fields []fieldValue
	// collect appends a field to fields (made once: a closure made per message would be
	// an allocation per message).
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
}

// fieldValue is a field and its value.
type fieldValue struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value // invalid: unset
}

// appendMessage appends m to out. fields, when set, stand for m's own values of the
// fields they name (an invalid value: unset), as if they had been set on a copy of m;
// they are in declaration order.
func (e *jsonEncoder) appendMessage(out []byte, m protoreflect.Message, fields []fieldValue) ([]byte, error) {
	if e.collect == nil {
		e.collect = func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			e.fields = append(e.fields, fieldValue{fd, v})
			return true
		}
	}
	e.out = out
	err := e.message(m, fields)
	out, e.out = e.out, nil
	return out, err
}

// errFallback is jsonEncoder's answer where protojson must do the work.
var errFallback = errors.New("protojson needed")

// commaSpace is whether protojson follows a comma with a space. It does in some builds of
// a program and not in others (a choice drawn from the binary's hash, to keep anyone
// from relying on its bytes), and is the only such choice for single-line output: ask it.
var commaSpace = func() bool {
	b, _ := protojson.Marshal(&socklabv1.Address{Host: "a", Port: 1})
	return strings.Contains(string(b), ", ")
}()

func (e *jsonEncoder) comma() {
	e.out = append(e.out, ',')
	if commaSpace {
		e.out = append(e.out, ' ')
	}
}

// message writes m as an object, with overrides for some of its fields.
func (e *jsonEncoder) message(m protoreflect.Message, overrides []fieldValue) error {
	if strings.HasPrefix(string(m.Descriptor().FullName()), "google.protobuf.") {
		return errFallback // well-known types have JSON forms of their own
	}
	// The populated fields, in declaration order: Range's order is nearly that (the
	// protobuf runtime swaps two neighbours in some builds, to keep anyone from relying on
	// it), so an insertion sort is quick.
	base := len(e.fields)
	defer func() {
		clear(e.fields[base:])
		e.fields = e.fields[:base]
	}()
	m.Range(e.collect)
	fs := e.fields[base:] // stays valid as nested messages append past it
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].fd.Index() < fs[j-1].fd.Index(); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
	e.out = append(e.out, '{')
	first := true
	field := func(f fieldValue) error {
		if !f.v.IsValid() {
			return nil
		}
		if k := f.fd.Kind(); (k == protoreflect.DoubleKind || k == protoreflect.FloatKind) && !f.fd.HasPresence() && !f.fd.IsList() && f.v.Float() == 0 {
			return nil // -0: set, but proto.Clone (transcript.EntryEvent) drops it
		}
		if f.fd.IsExtension() {
			return errFallback
		}
		if !first {
			e.comma()
		}
		first = false
		var err error
		if e.out, err = appendString(e.out, f.fd.JSONName()); err != nil {
			return err
		}
		e.out = append(e.out, ':')
		return e.value(f.fd, f.v)
	}
	for _, f := range fs {
		for len(overrides) > 0 && overrides[0].fd.Index() <= f.fd.Index() {
			o := overrides[0]
			overrides = overrides[1:]
			if err := field(o); err != nil {
				return err
			}
			if o.fd.Index() == f.fd.Index() {
				f.v = protoreflect.Value{} // m's own value, overridden
			}
		}
		if err := field(f); err != nil {
			return err
		}
	}
	for _, o := range overrides {
		if err := field(o); err != nil {
			return err
		}
	}
	e.out = append(e.out, '}')
	return nil
}

// value writes field fd's value v.
func (e *jsonEncoder) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		l := v.List()
		e.out = append(e.out, '[')
		for i := range l.Len() {
			if i > 0 {
				e.comma()
			}
			if err := e.singular(fd, l.Get(i)); err != nil {
				return err
			}
		}
		e.out = append(e.out, ']')
		return nil
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, compareKeys)
		e.out = append(e.out, '{')
		for i, k := range keys {
			if i > 0 {
				e.comma()
			}
			var err error
			if e.out, err = appendString(e.out, k.String()); err != nil {
				return err
			}
			e.out = append(e.out, ':')
			if err := e.singular(fd.MapValue(), mp.Get(k)); err != nil {
				return err
			}
		}
		e.out = append(e.out, '}')
		return nil
	}
	return e.singular(fd, v)
}

// compareKeys orders map keys as protojson does: false before true, numbers ascending,
// strings by their bytes.
func compareKeys(x, y protoreflect.MapKey) int {
	switch x.Interface().(type) {
	case bool:
		switch {
		case x.Bool() == y.Bool():
			return 0
		case !x.Bool():
			return -1
		}
		return 1
	case int32, int64:
		return cmpOrdered(x.Int(), y.Int())
	case uint32, uint64:
		return cmpOrdered(x.Uint(), y.Uint())
	}
	return strings.Compare(x.String(), y.String())
}

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// singular writes one value of fd's kind.
func (e *jsonEncoder) singular(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	var err error
	switch fd.Kind() {
	case protoreflect.BoolKind:
		e.out = strconv.AppendBool(e.out, v.Bool())
	case protoreflect.StringKind:
		e.out, err = appendString(e.out, v.String())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		e.out = strconv.AppendInt(e.out, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		e.out = strconv.AppendUint(e.out, v.Uint(), 10)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		e.out = append(e.out, '"')
		e.out = strconv.AppendInt(e.out, v.Int(), 10)
		e.out = append(e.out, '"')
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		e.out = append(e.out, '"')
		e.out = strconv.AppendUint(e.out, v.Uint(), 10)
		e.out = append(e.out, '"')
	case protoreflect.FloatKind:
		e.out = appendFloat(e.out, v.Float(), 32)
	case protoreflect.DoubleKind:
		e.out = appendFloat(e.out, v.Float(), 64)
	case protoreflect.BytesKind:
		e.out = append(e.out, '"')
		e.out = base64.StdEncoding.AppendEncode(e.out, v.Bytes())
		e.out = append(e.out, '"')
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			e.out = append(e.out, '"')
			e.out = append(e.out, ev.Name()...) // an identifier
			e.out = append(e.out, '"')
		} else {
			e.out = strconv.AppendInt(e.out, int64(v.Enum()), 10)
		}
	case protoreflect.MessageKind:
		err = e.message(v.Message(), nil)
	default:
		err = errFallback // groups
	}
	return err
}

// appendString is protojson's (google.golang.org/protobuf/internal/encoding/json): a
// quoted string with '"', '\\' and control characters escaped, invalid UTF-8 refused.
func appendString(out []byte, in string) ([]byte, error) {
	out = append(out, '"')
	i := indexNeedEscape(in)
	in, out = in[i:], append(out, in[:i]...)
	for len(in) > 0 {
		switch r, n := utf8.DecodeRuneInString(in); {
		case r == utf8.RuneError && n == 1:
			return out, errFallback // protojson says which field
		case r < ' ' || r == '"' || r == '\\':
			out = append(out, '\\')
			switch r {
			case '"', '\\':
				out = append(out, byte(r))
			case '\b':
				out = append(out, 'b')
			case '\f':
				out = append(out, 'f')
			case '\n':
				out = append(out, 'n')
			case '\r':
				out = append(out, 'r')
			case '\t':
				out = append(out, 't')
			default:
				out = append(out, 'u')
				out = append(out, "0000"[1+(bits.Len32(uint32(r))-1)/4:]...)
				out = strconv.AppendUint(out, uint64(r), 16)
			}
			in = in[n:]
		default:
			i := indexNeedEscape(in[n:])
			in, out = in[n+i:], append(out, in[:n+i]...)
		}
	}
	return append(out, '"'), nil
}

// indexNeedEscape is where in s the first byte that appendString must look at is.
func indexNeedEscape(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '\\' || c == '"' || c >= utf8.RuneSelf {
			if c < utf8.RuneSelf {
				return i
			}
			for j, r := range s[i:] { // past ASCII: as protojson, rune by rune
				if r < ' ' || r == '\\' || r == '"' || r == utf8.RuneError {
					return i + j
				}
			}
			return len(s)
		}
	}
	return len(s)
}

// appendFloat is protojson's: NaN and infinities as strings, otherwise the shortest
// form, with an exponent (no leading zero in it) below 1e-6 and from 1e21.
func appendFloat(out []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(out, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(out, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(out, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	out = strconv.AppendFloat(out, n, format, -1, bitSize)
	if format == 'e' {
		n := len(out)
		if n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}
