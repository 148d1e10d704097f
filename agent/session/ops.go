package session

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/sock"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Every operation is declared once, by the name of its case in Operation's oneof, in the
// file of its family: ops_socket.go, ops_stream.go, ops_host.go and ops_bulk.go. The case's
// name is also the Python name events and messages show ("connect_ex"). Adding an
// operation means its proto field and one spec; TestEveryOperationImplemented walks the
// oneof and names any case left without one.

// opCases is Operation's oneof, whose fields' names key the table.
var opCases = (&socklabv1.Operation{}).ProtoReflect().Descriptor().Oneofs().ByName("op")

// spec declares one operation, whose message is T (*socklabv1.BindOp for bind). Exactly
// one of run and host is set.
type spec[T proto.Message] struct {
	// lane is the ordered lane the operation runs in; control operations have noLane.
	lane lane
	// address returns the address the operation carries, if it carries one: Validate
	// checks its shape, and on a handle Perform resolves it for the socket's family and
	// the owner's policy before run (call.addr).
	address func(T) *socklabv1.Address
	// reserves marks an operation that makes a new handle (accept): it takes a place
	// against the session's socket limit before it runs, and is refused when none is left.
	reserves bool
	// check validates the request's shape and limits without touching any socket; nil
	// when there is nothing to check.
	check func(T, *policy.Policy) error
	// run performs the operation on a handle's socket and returns the socket error, if
	// any, which the event records.
	run func(context.Context, *call, T) error
	// host performs an operation on the host itself, which takes handle 0. Its error is
	// a request error; a socket error goes in the call's event.
	host func(context.Context, *call, T) error
}

// op is a spec with its message type erased: an entry of the table.
type op struct {
	name     protoreflect.Name
	lane     lane
	reserves bool
	address  func(*socklabv1.Operation) *socklabv1.Address
	check    func(*socklabv1.Operation, *policy.Policy) error
	run      func(context.Context, *call, *socklabv1.Operation) error
	host     func(context.Context, *call, *socklabv1.Operation) error
}

// ops is the table: every operation this agent implements, by its case's name. It is
// filled by the family files' init functions and only read afterwards.
var ops = map[protoreflect.Name]*op{}

// register declares the operation of the case named name. It panics, as the agent starts,
// when name is not a case of Operation's oneof, when the case's message is not T, when
// the case is declared twice, or when the spec sets both or neither of run and host.
func register[T proto.Message](name protoreflect.Name, s spec[T]) {
	fd := opCases.Fields().ByName(name)
	if fd == nil {
		panic(fmt.Sprintf("session: %q is not a case of %s", name, opCases.FullName()))
	}
	if _, dup := ops[name]; dup {
		panic(fmt.Sprintf("session: operation %s declared twice", name))
	}
	if (s.run == nil) == (s.host == nil) {
		panic(fmt.Sprintf("session: operation %s must set exactly one of run and host", name))
	}
	empty := (&socklabv1.Operation{}).ProtoReflect().NewField(fd).Message().Interface()
	if _, ok := empty.(T); !ok {
		var want T
		panic(fmt.Sprintf("session: operation %s carries %T, not %T", name, empty, want))
	}
	get := func(o *socklabv1.Operation) T { return o.ProtoReflect().Get(fd).Message().Interface().(T) }
	o := &op{name: name, lane: s.lane, reserves: s.reserves}
	if s.address != nil {
		o.address = func(x *socklabv1.Operation) *socklabv1.Address { return s.address(get(x)) }
	}
	if s.check != nil {
		o.check = func(x *socklabv1.Operation, pol *policy.Policy) error { return s.check(get(x), pol) }
	}
	if s.run != nil {
		o.run = func(ctx context.Context, c *call, x *socklabv1.Operation) error { return s.run(ctx, c, get(x)) }
	}
	if s.host != nil {
		o.host = func(ctx context.Context, c *call, x *socklabv1.Operation) error { return s.host(ctx, c, get(x)) }
	}
	ops[name] = o
}

// Operations returns the names of the operations this agent implements (the cases of
// Operation's oneof, as "connect_ex"), sorted.
func Operations() []string {
	names := make([]string, 0, len(ops))
	for name := range ops {
		names = append(names, string(name))
	}
	sort.Strings(names)
	return names
}

// lookup returns the declaration of operation's case, or a request error when operation
// has none or this agent implements none for it.
func lookup(operation *socklabv1.Operation) (*op, error) {
	f := operation.ProtoReflect().WhichOneof(opCases)
	if f == nil {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "operation is missing: set one of socket, bind, connect, send, recv, ...")
	}
	o, ok := ops[f.Name()]
	if !ok {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "operation %s is not supported by this agent", f.Name())
	}
	return o, nil
}

// opName is the Python name of an operation, as events and messages show it.
func opName(operation *socklabv1.Operation) string {
	if f := operation.ProtoReflect().WhichOneof(opCases); f != nil {
		return string(f.Name())
	}
	return "unknown"
}

// Validate checks a request's shape and limits without touching any socket. It is what a
// malformed request meets first; it never panics, whatever the message holds.
func Validate(req *socklabv1.PerformRequest, pol *policy.Policy) error {
	_, err := validate(req, pol)
	return err
}

// validate is Validate, returning the operation's declaration when the request is valid.
func validate(req *socklabv1.PerformRequest, pol *policy.Policy) (*op, error) {
	operation := req.GetOperation()
	o, err := lookup(operation)
	if err != nil {
		return nil, err
	}
	if onHost := o.host != nil; onHost != (req.GetHandle() == 0) {
		if onHost {
			return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s concerns the host, not a socket: leave handle at 0 (it is %d)", o.name, req.GetHandle())
		}
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "%s needs a handle: the one socket or accept returned", o.name)
	}
	if o.address != nil {
		if _, err := parseAddr(string(o.name), o.address(operation)); err != nil {
			return nil, err
		}
	}
	if o.check != nil {
		if err := o.check(operation, pol); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// call is one operation under way: what it acts on, and the event and response it fills.
type call struct {
	s    *Session
	h    uint32    // the handle (0: the host)
	e    *entry    // the handle's entry (nil on the host)
	so   *socket   // the handle's socket (nil on the host)
	addr sock.Addr // the operation's address, resolved for the socket (operations that carry one)
	ev   *socklabv1.Event
	resp *socklabv1.PerformResponse
}
