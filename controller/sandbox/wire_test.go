package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
)

// TestErrorsCross: each kind of error a lab or its calls end with crosses the pipe as
// the same type, fields, text and kind, wrapped or not, so that the runner gives the
// same exit code and message as for a lab run in its own process.
func TestErrorsCross(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		is   []error // errors.Is must hold after the crossing
		as   any     // errors.As must find this type after the crossing
	}{
		{"lab", &runner.LabError{Pos: "a.star:1:2", Msg: "bad"}, nil, new(*runner.LabError)},
		{"budget", runner.OverMemory(256 << 20), nil, new(*runner.BudgetError)},
		{"budget at load", &runner.BudgetError{Budget: "steps", Msg: "m", Pos: "a.star:3:4"}, nil, new(*runner.BudgetError)},
		{"infra", &runner.InfraError{Host: "server", Err: errdefs.Errorf(errdefs.ErrUnavailable, "gone")}, []error{errdefs.ErrUnavailable}, new(*runner.InfraError)},
		{"socket", &lab.SocketError{Name: "ECONNREFUSED", Errno: 111, Message: "Connection refused", Call: "connect on a/s1"}, nil, new(*lab.SocketError)},
		{"watchdog", &lab.WatchdogError{Op: "recv", Where: "a/s1", Waited: "200ms"}, nil, new(*lab.WatchdogError)},
		{"expect", &lab.ExpectError{Msg: "expected ECONNREFUSED"}, nil, new(*lab.ExpectError)},
		{"kind", errdefs.Errorf(errdefs.ErrPermissionDenied, "outside policy"), []error{errdefs.ErrPermissionDenied}, new(*errdefs.Error)},
		{"deadline kind", errdefs.Errorf(errdefs.ErrDeadlineExceeded, "late"), []error{errdefs.ErrDeadlineExceeded, context.DeadlineExceeded}, nil},
		{"canceled", context.Canceled, []error{context.Canceled}, nil},
		{"deadline", context.DeadlineExceeded, []error{context.DeadlineExceeded}, nil},
		{"wrapped", fmt.Errorf("lost mid-run: %w", &runner.InfraError{Host: "b", Err: errors.New("EOF")}), nil, new(*runner.InfraError)},
		{"wrapped kind", fmt.Errorf("open: %w", errdefs.Errorf(errdefs.ErrNotFound, "no session")), []error{errdefs.ErrNotFound}, nil},
		{"text", errors.New("no host c"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toWireError(tc.err).error()
			if got.Error() != tc.err.Error() {
				t.Errorf("text = %q, want %q", got, tc.err)
			}
			if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tc.err) && tc.name != "wrapped" && tc.name != "wrapped kind" {
				t.Errorf("type = %T, want %T", got, tc.err)
			}
			for _, target := range tc.is {
				if !errors.Is(got, target) {
					t.Errorf("errors.Is(%v, %v) = false", got, target)
				}
			}
			if tc.as != nil && !errors.As(got, tc.as) {
				t.Errorf("errors.As(%v, %T) = false", got, tc.as)
			}
		})
	}
	if toWireError(nil).error() != nil {
		t.Error("nil does not cross as nil")
	}
}

// TestParamsCross: parameter values cross as the same values, the floats JSON cannot
// hold and Starlark ints beyond int64 included.
func TestParamsCross(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	in := map[string]any{"n": int64(-7), "f": 0.5, "inf": math.Inf(1), "s": "héllo", "b": []byte{0, 255}, "yes": true,
		"huge": starlark.MakeBigInt(huge)}
	w, err := toWireParams(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fromWireParams(w)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range in {
		if fmt.Sprintf("%T %v", out[k], out[k]) != fmt.Sprintf("%T %v", v, v) {
			t.Errorf("param %s = %T %v, want %T %v", k, out[k], out[k], v, v)
		}
	}
	if nan, err := fromWireParams(mustWire(t, map[string]any{"x": math.NaN()})); err != nil || !math.IsNaN(nan["x"].(float64)) {
		t.Errorf("NaN crossed as %v (%v)", nan["x"], err)
	}
}

func mustWire(t *testing.T, m map[string]any) []wireParam {
	t.Helper()
	w, err := toWireParams(m)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
