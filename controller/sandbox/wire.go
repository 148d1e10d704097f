package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
)

// The protocol between the controller (the parent) and a lab's process (the child): a
// frame is a 4-byte big-endian length and a JSON message, on fd 3 from the parent and
// fd 4 to it. The parent sends load; the child answers info. The parent may send params,
// answered by params, then run; during the run the child sends do (answered by done,
// matched by id), abandon (a call its lab gave up on; it is still answered), say and
// check, and at its end outcome, and exits. The parent sends cancel to stop the run.
const (
	kindLoad    = "load"
	kindInfo    = "info"
	kindParams  = "params"
	kindRun     = "run"
	kindDo      = "do"
	kindDone    = "done"
	kindAbandon = "abandon"
	kindSay     = "say"
	kindCheck   = "check"
	kindCancel  = "cancel"
	kindOutcome = "outcome"
)

// maxFrame bounds a message: an operation or its response carries at most the agent's
// bytes per operation (16 MiB by default), base64 in JSON.
const maxFrame = 64 << 20

// message is one frame's message; Kind says which fields it uses.
type message struct {
	Kind string `json:"kind"`
	// ID is a call's id (do, done, abandon).
	ID uint64 `json:"id,omitempty"`
	// Spec and Budgets are what to load, and within what (load).
	Spec    *Spec           `json:"spec,omitempty"`
	Budgets *runner.Budgets `json:"budgets,omitempty"`
	// Info describes the loaded lab (info).
	Info *wireInfo `json:"info,omitempty"`
	// Overrides are --param NAME=VALUE strings (params, to the child).
	Overrides []string `json:"overrides,omitempty"`
	// Params are parameter values (params, from the child; run).
	Params []wireParam `json:"params,omitempty"`
	// Hosts are the lab's hosts (run).
	Hosts []runner.HostInfo `json:"hosts,omitempty"`
	// Role, Handle, Op (a proto-encoded socklab.v1.Operation), Pos and Timeout (the
	// nanoseconds left before the call's deadline; 0 for none) are a call (do).
	Role    string `json:"role,omitempty"`
	Handle  uint32 `json:"handle,omitempty"`
	Op      []byte `json:"op,omitempty"`
	Pos     string `json:"pos,omitempty"`
	Timeout int64  `json:"timeout,omitempty"`
	// Response is a call's proto-encoded socklab.v1.PerformResponse (done).
	Response []byte `json:"response,omitempty"`
	// Err is a call's error (done), a load's or a parameter's (info, params), why to stop
	// (cancel) or what stopped the lab (outcome).
	Err *wireError `json:"err,omitempty"`
	// Text is narration (say).
	Text string `json:"text,omitempty"`
	// Checks are a check as the lab just recorded it (check), or every check (outcome).
	Checks []wireCheck `json:"checks,omitempty"`

	// size is the frame's size, which its reader held (conn.hold) until it is done with it.
	size int64
}

// conn is one end of the pipes between parent and child.
type conn struct {
	r  *bufio.Reader
	mu sync.Mutex // serialises writes to w
	w  io.Writer
	// hold, if set, is called with each frame's size before the frame is read: it waits
	// until the reader may hold that much more, or fails.
	hold func(size int64) error
}

func newConn(r io.Reader, w io.Writer) *conn {
	return &conn{r: bufio.NewReaderSize(r, 64<<10), w: w}
}

// send writes m as one frame.
func (c *conn) send(m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Kind, err)
	}
	if len(b) > maxFrame {
		return fmt.Errorf("encode %s: %d bytes, over %d", m.Kind, len(b), maxFrame)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := c.w.Write(append(n[:], b...)); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	return nil
}

// recv reads one frame's message; io.EOF when the other end closed between frames.
func (c *conn) recv() (*message, error) {
	var n [4]byte
	if _, err := io.ReadFull(c.r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("a message of %d bytes, over %d", size, maxFrame)
	}
	if c.hold != nil {
		if err := c.hold(int64(size)); err != nil {
			return nil, err
		}
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, fmt.Errorf("read a message: %w", err)
	}
	m := &message{size: int64(size)}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode a message: %w", err)
	}
	return m, nil
}

// wireInfo is a runner.Info.
type wireInfo struct {
	Name       string      `json:"name"`
	Summary    string      `json:"summary"`
	Hosts      []string    `json:"hosts"`
	Checks     []wireCheck `json:"checks,omitempty"`
	Topologies []string    `json:"topologies,omitempty"`
	Timeout    int64       `json:"timeout,omitempty"` // nanoseconds
}

func toWireInfo(i runner.Info) *wireInfo {
	return &wireInfo{Name: i.Name, Summary: i.Summary, Hosts: i.Hosts, Checks: toWireChecks(i.Checks),
		Topologies: i.Topologies, Timeout: int64(i.Timeout)}
}

func (w *wireInfo) info() runner.Info {
	return runner.Info{Name: w.Name, Summary: w.Summary, Hosts: w.Hosts, Checks: fromWireChecks(w.Checks),
		Topologies: w.Topologies, Timeout: time.Duration(w.Timeout)}
}

// wireCheck is a transcript.Check.
type wireCheck struct {
	ID          string            `json:"id"`
	Description string            `json:"description,omitempty"`
	MaxPoints   int               `json:"max_points,omitempty"`
	Passed      bool              `json:"passed,omitempty"`
	Reached     bool              `json:"reached,omitempty"`
	Message     string            `json:"message,omitempty"`
	Pos         string            `json:"pos,omitempty"`
	Hints       map[string]string `json:"hints,omitempty"`
}

func toWireChecks(cs []transcript.Check) []wireCheck {
	out := make([]wireCheck, len(cs))
	for i, c := range cs {
		out[i] = wireCheck{ID: c.ID, Description: c.Description, MaxPoints: c.MaxPoints, Passed: c.Passed,
			Reached: c.Reached, Message: c.Message, Pos: c.Pos, Hints: c.Hints.Map()}
	}
	return out
}

func fromWireChecks(ws []wireCheck) []transcript.Check {
	if ws == nil {
		return nil
	}
	out := make([]transcript.Check, len(ws))
	for i, w := range ws {
		out[i] = transcript.Check{ID: w.ID, Description: w.Description, MaxPoints: w.MaxPoints, Passed: w.Passed,
			Reached: w.Reached, Message: w.Message, Pos: w.Pos, Hints: transcript.MakeHints(w.Hints)}
	}
	return out
}

// wireParam is one parameter's value, of the types lab.ParamValues gives: int64, float64
// (as text, so that inf and nan survive JSON), bool, string, []byte, or a Starlark int
// too large for int64 (as decimal text).
type wireParam struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Int   int64  `json:"int,omitempty"`
	Bool  bool   `json:"bool,omitempty"`
	Text  string `json:"text,omitempty"`
	Bytes []byte `json:"bytes,omitempty"`
}

func toWireParams(params map[string]any) ([]wireParam, error) {
	out := make([]wireParam, 0, len(params))
	for name, v := range params {
		p := wireParam{Name: name}
		switch v := v.(type) {
		case int64:
			p.Type, p.Int = "int", v
		case float64:
			p.Type, p.Text = "float", strconv.FormatFloat(v, 'g', -1, 64)
		case bool:
			p.Type, p.Bool = "bool", v
		case string:
			p.Type, p.Text = "string", v
		case []byte:
			p.Type, p.Bytes = "bytes", v
		case starlark.Int:
			p.Type, p.Text = "bigint", v.String()
		default:
			return nil, fmt.Errorf("param %s: a %T cannot cross to the lab's process", name, v)
		}
		out = append(out, p)
	}
	return out, nil
}

func fromWireParams(ps []wireParam) (map[string]any, error) {
	out := make(map[string]any, len(ps))
	for _, p := range ps {
		switch p.Type {
		case "int":
			out[p.Name] = p.Int
		case "float":
			f, err := strconv.ParseFloat(p.Text, 64)
			if err != nil {
				return nil, fmt.Errorf("param %s: %w", p.Name, err)
			}
			out[p.Name] = f
		case "bool":
			out[p.Name] = p.Bool
		case "string":
			out[p.Name] = p.Text
		case "bytes":
			out[p.Name] = append([]byte{}, p.Bytes...)
		case "bigint":
			n, ok := new(big.Int).SetString(p.Text, 10)
			if !ok {
				return nil, fmt.Errorf("param %s: %q is no integer", p.Name, p.Text)
			}
			out[p.Name] = starlark.MakeBigInt(n)
		default:
			return nil, fmt.Errorf("param %s: unknown type %q", p.Name, p.Type)
		}
	}
	return out, nil
}

// wireError is an error with what its readers ask of it: a *runner.LabError,
// *runner.BudgetError or *runner.InfraError (with its cause), a *lab.SocketError,
// *lab.WatchdogError or *lab.ExpectError, an errdefs kind, the context's errors, and a
// wrapping error's text around any of them. What crosses is the same type with the same
// fields, so exit codes and messages are the same on both sides.
type wireError struct {
	Type string `json:"type"`
	// Msg is the error's text (a lab, budget, expect, kind, wrap or text error).
	Msg string `json:"msg,omitempty"`
	// Pos is a lab or budget error's position.
	Pos string `json:"pos,omitempty"`
	// Budget names a budget error's budget.
	Budget string `json:"budget,omitempty"`
	// Host is an infra error's host.
	Host string `json:"host,omitempty"`
	// Kind is an errdefs kind's text ("not found").
	Kind string `json:"kind,omitempty"`
	// Name, Errno, Message and Call are a socket error's.
	Name    string `json:"name,omitempty"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message,omitempty"`
	Call    string `json:"call,omitempty"`
	Held    string `json:"held,omitempty"` // a socket error's holder outside the run
	// Op, Where and Waited are a watchdog error's.
	Op     string `json:"op,omitempty"`
	Where  string `json:"where,omitempty"`
	Waited string `json:"waited,omitempty"`
	// Err is what an infra error or a wrapping error wraps.
	Err *wireError `json:"err,omitempty"`
}

// errdefsKinds are the kinds of errdefs, each known by its text.
var errdefsKinds = []error{errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrPermissionDenied,
	errdefs.ErrResourceExhausted, errdefs.ErrFailedPrecondition, errdefs.ErrUnauthenticated, errdefs.ErrUnavailable,
	errdefs.ErrDeadlineExceeded, errdefs.ErrCanceled, errdefs.ErrInternal, errdefs.ErrNotImplemented, errdefs.ErrUnknown}

func toWireError(err error) *wireError {
	switch e := err.(type) {
	case nil:
		return nil
	case *runner.LabError:
		return &wireError{Type: "lab", Msg: e.Msg, Pos: e.Pos}
	case *runner.BudgetError:
		return &wireError{Type: "budget", Budget: e.Budget, Msg: e.Msg, Pos: e.Pos}
	case *runner.InfraError:
		return &wireError{Type: "infra", Host: e.Host, Err: toWireError(e.Err)}
	case *lab.SocketError:
		return &wireError{Type: "socket", Name: e.Name, Errno: e.Errno, Message: e.Message, Call: e.Call, Held: e.Held}
	case *lab.WatchdogError:
		return &wireError{Type: "watchdog", Op: e.Op, Where: e.Where, Waited: e.Waited}
	case *lab.ExpectError:
		return &wireError{Type: "expect", Msg: e.Msg}
	case *errdefs.Error:
		kind := errdefs.ErrUnknown
		for _, k := range errdefsKinds {
			if e.Kind == k {
				kind = k
			}
		}
		return &wireError{Type: "kind", Kind: kind.Error(), Msg: e.Msg}
	}
	switch err {
	case context.Canceled:
		return &wireError{Type: "canceled"}
	case context.DeadlineExceeded:
		return &wireError{Type: "deadline"}
	}
	if inner := errors.Unwrap(err); inner != nil {
		return &wireError{Type: "wrap", Msg: err.Error(), Err: toWireError(inner)}
	}
	return &wireError{Type: "text", Msg: err.Error()}
}

func (w *wireError) error() error {
	if w == nil {
		return nil
	}
	switch w.Type {
	case "lab":
		return &runner.LabError{Pos: w.Pos, Msg: w.Msg}
	case "budget":
		return &runner.BudgetError{Budget: w.Budget, Msg: w.Msg, Pos: w.Pos}
	case "infra":
		return &runner.InfraError{Host: w.Host, Err: w.Err.error()}
	case "socket":
		return &lab.SocketError{Name: w.Name, Errno: w.Errno, Message: w.Message, Call: w.Call, Held: w.Held}
	case "watchdog":
		return &lab.WatchdogError{Op: w.Op, Where: w.Where, Waited: w.Waited}
	case "expect":
		return &lab.ExpectError{Msg: w.Msg}
	case "kind":
		kind := errdefs.ErrUnknown
		for _, k := range errdefsKinds {
			if k.Error() == w.Kind {
				kind = k
			}
		}
		return &errdefs.Error{Kind: kind, Msg: w.Msg}
	case "canceled":
		return context.Canceled
	case "deadline":
		return context.DeadlineExceeded
	case "wrap":
		return &wrapped{msg: w.Msg, err: w.Err.error()}
	}
	return errors.New(w.Msg)
}

// wrapped is an error that wrapped another, on the other side of the pipe: its text,
// and what it wrapped.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
