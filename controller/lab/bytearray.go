package lab

import (
	"bytes"
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/socklab/socklab/controller/pyrepr"
)

// maxByteArray bounds one bytearray: far more than a lesson's buffer, and a lab's
// mistake (bytearray(10 ** 12)) is refused instead of exhausting the controller.
const maxByteArray = 64 << 20

// byteArray is Python's bytearray, as much of it as a lab needs to receive into: a
// mutable sequence of byte values, which recv_into fills. Indexing gives an int, slicing
// a new bytearray, bytes(b) its bytes; it prints as bytearray(b'...').
type byteArray struct {
	b         []byte
	frozen    bool
	iterators int // live iterators: the bytearray cannot change under them
}

var (
	_ starlark.Sliceable   = (*byteArray)(nil)
	_ starlark.HasSetIndex = (*byteArray)(nil)
	_ starlark.Iterable    = (*byteArray)(nil)
	_ starlark.Comparable  = (*byteArray)(nil)
)

func (a *byteArray) String() string       { return "bytearray(" + pyrepr.Bytes(a.b, 0, 0) + ")" }
func (a *byteArray) Type() string         { return "bytearray" }
func (a *byteArray) Freeze()              { a.frozen = true }
func (a *byteArray) Truth() starlark.Bool { return len(a.b) > 0 }
func (a *byteArray) Hash() (uint32, error) {
	return 0, typeError("unhashable type: 'bytearray'")
}
func (a *byteArray) Len() int                   { return len(a.b) }
func (a *byteArray) Index(i int) starlark.Value { return starlark.MakeInt(int(a.b[i])) }

// Slice returns a new bytearray, as Python's slicing does.
func (a *byteArray) Slice(start, end, step int) starlark.Value {
	if step == 1 {
		return &byteArray{b: bytes.Clone(a.b[start:end])}
	}
	var out []byte
	for i := start; step > 0 && i < end || step < 0 && i > end; i += step {
		out = append(out, a.b[i])
	}
	return &byteArray{b: out}
}

// SetIndex sets one byte: b[i] = 104.
func (a *byteArray) SetIndex(i int, v starlark.Value) error {
	if err := a.checkMutable("assign to element of"); err != nil {
		return err
	}
	var c int
	if err := starlark.AsInt(v, &c); err != nil {
		return typeError("'bytearray' object item must be an int, not %s", v.Type())
	}
	if c < 0 || c > 255 {
		return valueError("byte must be in range(0, 256)")
	}
	a.b[i] = byte(c)
	return nil
}

// checkMutable refuses a change to a frozen bytearray or one being iterated.
func (a *byteArray) checkMutable(verb string) error {
	if a.frozen {
		return fmt.Errorf("cannot %s frozen bytearray", verb)
	}
	if a.iterators > 0 {
		return fmt.Errorf("cannot %s bytearray during iteration", verb)
	}
	return nil
}

// fill copies data over the bytearray's first bytes, as recv_into does.
func (a *byteArray) fill(data []byte) error {
	if err := a.checkMutable("receive into"); err != nil {
		return err
	}
	copy(a.b, data)
	return nil
}

func (a *byteArray) Iterate() starlark.Iterator {
	if !a.frozen {
		a.iterators++
	}
	return &byteArrayIterator{a: a}
}

func (a *byteArray) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	c := bytes.Compare(a.b, y.(*byteArray).b)
	switch op {
	case syntax.EQL:
		return c == 0, nil
	case syntax.NEQ:
		return c != 0, nil
	case syntax.LT:
		return c < 0, nil
	case syntax.LE:
		return c <= 0, nil
	case syntax.GT:
		return c > 0, nil
	case syntax.GE:
		return c >= 0, nil
	}
	return false, fmt.Errorf("bytearray: unsupported comparison %s", op)
}

type byteArrayIterator struct {
	a *byteArray
	i int
}

func (it *byteArrayIterator) Next(p *starlark.Value) bool {
	if it.i >= len(it.a.b) {
		return false
	}
	*p = starlark.MakeInt(int(it.a.b[it.i]))
	it.i++
	return true
}

func (it *byteArrayIterator) Done() {
	if !it.a.frozen {
		it.a.iterators--
	}
}

// bytearrayBuiltin is Python's bytearray(source): empty without one, n zero bytes for an
// int, a copy of bytes or of an iterable of ints (another bytearray). A str needs an
// encoding in Python: here, encode() it first.
func bytearrayBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var source starlark.Value
	if err := starlark.UnpackPositionalArgs("bytearray", args, kwargs, 0, &source); err != nil {
		return nil, err
	}
	switch v := source.(type) {
	case nil:
		return &byteArray{}, nil
	case starlark.Int:
		n, ok := v.Int64()
		switch {
		case ok && n < 0:
			return nil, fmt.Errorf("bytearray: %w", valueError("negative count"))
		case !ok || n > maxByteArray:
			return nil, fmt.Errorf("bytearray: %s bytes is over the lab's limit of %d", v.String(), maxByteArray)
		}
		return &byteArray{b: make([]byte, n)}, nil
	case starlark.Bytes:
		return &byteArray{b: []byte(v)}, nil
	case starlark.String:
		return nil, fmt.Errorf("bytearray: %w", &Exception{Type: "TypeError", Msg: "string argument without an encoding", Hint: "use bytearray(encode(s))"})
	case starlark.Iterable:
		var out []byte
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			var c int
			if err := starlark.AsInt(x, &c); err != nil {
				return nil, fmt.Errorf("bytearray: %w", typeError("'%s' object cannot be interpreted as an integer", x.Type()))
			}
			if c < 0 || c > 255 {
				return nil, fmt.Errorf("bytearray: %w", valueError("byte must be in range(0, 256)"))
			}
			if len(out) >= maxByteArray {
				return nil, fmt.Errorf("bytearray: over the lab's limit of %d bytes", maxByteArray)
			}
			out = append(out, byte(c))
		}
		return &byteArray{b: out}, nil
	}
	return nil, fmt.Errorf("bytearray: %w", typeError("cannot convert '%s' object to bytearray", source.Type()))
}
