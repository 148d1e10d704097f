package lab

import (
	"fmt"
	"math"
	"strings"

	"go.starlark.net/starlark"
)

// unpackArgs is starlark.UnpackArgs for the builtins that stand for Python's socket API:
// an int parameter takes what CPython's does (an int, or a bool), and a wrong argument
// raises TypeError as CPython's would, as `fn: TypeError: msg`, with CPython's message
// where the argument's type is wrong ("'float' object cannot be interpreted as an
// integer") and Starlark's where the arguments do not fit the parameters.
func unpackArgs(fn string, args starlark.Tuple, kwargs []starlark.Tuple, pairs ...any) error {
	var raised *Exception
	for i := 1; i < len(pairs); i += 2 {
		switch p := pairs[i].(type) {
		case *int:
			pairs[i] = &intArg[int]{p: p, raised: &raised}
		case *int64:
			pairs[i] = &intArg[int64]{p: p, raised: &raised}
		}
	}
	err := starlark.UnpackArgs(fn, args, kwargs, pairs...)
	switch {
	case err == nil:
		return nil
	case raised != nil:
		return fmt.Errorf("%s: %w", fn, raised)
	}
	return fmt.Errorf("%s: %w", fn, typeError("%s", strings.TrimPrefix(err.Error(), fn+": ")))
}

// intArg unpacks an int argument as CPython's index conversion does, keeping the
// exception it raises.
type intArg[T int | int64] struct {
	p      *T
	raised **Exception
}

func (a *intArg[T]) Unpack(v starlark.Value) error {
	n, err := pyIndex(v)
	if err != nil {
		*a.raised = err
		return err
	}
	*a.p = T(n)
	return nil
}

// pyIndex converts v to an int as CPython's operator.index does: an int or a bool, else
// TypeError; OverflowError beyond a C long.
func pyIndex(v starlark.Value) (int64, *Exception) {
	switch v := v.(type) {
	case starlark.Bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok {
			return 0, overflowError("Python int too large to convert to C long")
		}
		return n, nil
	}
	return 0, typeError("'%s' object cannot be interpreted as an integer", pyType(v))
}

// maxTimeout is the longest timeout CPython accepts, in seconds: its clock counts
// nanoseconds in an int64.
const maxTimeout = math.MaxInt64 / 1e9

// pyTimeout reads a timeout as socket.settimeout and socket.setdefaulttimeout do: None
// (nil) or a number of seconds, not negative; the exceptions are CPython's.
func pyTimeout(v starlark.Value) (*float64, *Exception) {
	var f float64
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Float:
		f = float64(v)
		switch {
		case math.IsNaN(f):
			return nil, valueError("Invalid value NaN (not a number)")
		case math.Abs(f) > maxTimeout:
			return nil, overflowError("timestamp out of range for platform time_t")
		}
	default:
		n, err := pyIndex(v)
		if err != nil || math.Abs(float64(n)) > maxTimeout {
			if err == nil || err.Type == "OverflowError" {
				return nil, overflowError("timestamp too large to convert to C _PyTime_t")
			}
			return nil, err
		}
		f = float64(n)
	}
	if f < 0 {
		return nil, valueError("Timeout value out of range")
	}
	return &f, nil
}
