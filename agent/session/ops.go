package session

import (
	"context"
	"fmt"
	"reflect"
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
	// any, which the event records; a request error (*errdefs.Error) refuses the request
	// instead, for what only the socket or the filesystem can tell (sendfile's file).
	run func(context.Context, *call, T) error
	// host performs an operation on the host itself, which takes handle 0. Its error is
	// a request error; a socket error goes in the call's event.
	host func(context.Context, *call, T) error
	// process performs the operation on a handle's process (call.pr) and returns the
	// error the event records, if any.
	process func(context.Context, *call, T) error
}

// op is a spec with its message type erased: an entry of the table. Its functions take
// the case's message (a T), which lookup reads out of the Operation once per request.
type op struct {
	name     protoreflect.Name
	lane     lane
	reserves bool
	address  func(proto.Message) *socklabv1.Address
	check    func(proto.Message, *policy.Policy) error
	run      func(context.Context, *call, proto.Message) error
	host     func(context.Context, *call, proto.Message) error
	process  func(context.Context, *call, proto.Message) error
}

// ops is the table: every operation this agent implements, keyed by the Go type of its
// case's oneof wrapper (*socklabv1.Operation_Bind), so that a request finds its operation
// without walking the descriptor. It is filled by the family files' init functions and
// only read afterwards.
var ops = map[reflect.Type]*op{}

// register declares the operation of the case named name. It panics, as the agent starts,
// when name is not a case of Operation's oneof, when the case's message is not T, when
// the case is declared twice, or when the spec sets both or neither of run and host.
func register[T proto.Message](name protoreflect.Name, s spec[T]) {
	fd := opCases.Fields().ByName(name)
	if fd == nil {
		panic(fmt.Sprintf("session: %q is not a case of %s", name, opCases.FullName()))
	}
	probe := (&socklabv1.Operation{}).ProtoReflect()
	probe.Set(fd, probe.NewField(fd))
	wrapper := reflect.TypeOf(probe.Interface().(*socklabv1.Operation).GetOp())
	if wrapper.Kind() != reflect.Pointer || wrapper.Elem().NumField() != 1 {
		panic(fmt.Sprintf("session: the oneof wrapper %v of operation %s is not a struct of one field", wrapper, name))
	}
	if _, dup := ops[wrapper]; dup {
		panic(fmt.Sprintf("session: operation %s declared twice", name))
	}
	if set := btoi(s.run != nil) + btoi(s.host != nil) + btoi(s.process != nil); set != 1 {
		panic(fmt.Sprintf("session: operation %s must set exactly one of run, host and process", name))
	}
	empty := (&socklabv1.Operation{}).ProtoReflect().NewField(fd).Message().Interface()
	if _, ok := empty.(T); !ok {
		var want T
		panic(fmt.Sprintf("session: operation %s carries %T, not %T", name, empty, want))
	}
	o := &op{name: name, lane: s.lane, reserves: s.reserves}
	if s.address != nil {
		o.address = func(m proto.Message) *socklabv1.Address { return s.address(m.(T)) }
	}
	if s.check != nil {
		o.check = func(m proto.Message, pol *policy.Policy) error { return s.check(m.(T), pol) }
	}
	if s.run != nil {
		o.run = func(ctx context.Context, c *call, m proto.Message) error { return s.run(ctx, c, m.(T)) }
	}
	if s.host != nil {
		o.host = func(ctx context.Context, c *call, m proto.Message) error { return s.host(ctx, c, m.(T)) }
	}
	if s.process != nil {
		o.process = func(ctx context.Context, c *call, m proto.Message) error { return s.process(ctx, c, m.(T)) }
	}
	ops[wrapper] = o
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Operations returns the names of the operations this agent implements (the cases of
// Operation's oneof, as "connect_ex"), sorted.
func Operations() []string {
	names := make([]string, 0, len(ops))
	for _, o := range ops {
		names = append(names, string(o.name))
	}
	sort.Strings(names)
	return names
}

// lookup returns the declaration of operation's case and the case's message, or a
// request error when operation has none or this agent implements none for it.
func lookup(operation *socklabv1.Operation) (*op, proto.Message, error) {
	w := operation.GetOp()
	if w == nil {
		return nil, nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "operation is missing: set one of socket, bind, connect, send, recv, ...")
	}
	o, ok := ops[reflect.TypeOf(w)]
	if !ok {
		return nil, nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "operation %s is not supported by this agent", opName(operation))
	}
	// The wrapper's one field is the case's message (register checked). A caller in this
	// process may leave it nil (gRPC never does): it stands for an empty message.
	m := reflect.ValueOf(w).Elem().Field(0).Interface().(proto.Message)
	if reflect.ValueOf(m).IsNil() {
		m = m.ProtoReflect().Type().New().Interface()
	}
	return o, m, nil
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
	o, m, err := lookup(req.GetOperation())
	if err != nil {
		return err
	}
	return o.validate(req.GetHandle(), m, pol)
}

// validate checks a request for the operation o, whose message is m, on handle h (0: the
// host).
func (o *op) validate(h uint32, m proto.Message, pol *policy.Policy) error {
	if onHost := o.host != nil; onHost != (h == 0) {
		if onHost {
			return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s concerns the host, not a socket: leave handle at 0 (it is %d)", o.name, h)
		}
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "%s needs a handle: the one socket or accept returned", o.name)
	}
	if o.address != nil {
		if _, err := parseAddr(string(o.name), o.address(m)); err != nil {
			return err
		}
	}
	if o.check != nil {
		if err := o.check(m, pol); err != nil {
			return err
		}
	}
	return nil
}

// call is one operation under way: what it acts on, and the event and response it fills.
type call struct {
	s    *Session
	h    uint32    // the handle (0: the host)
	e    *entry    // the handle's entry (nil on the host)
	so   *socket   // the handle's socket (nil on the host and for processes)
	pr   *proc     // the handle's process (process operations only)
	addr sock.Addr // the operation's address, resolved for the socket (operations that carry one)
	ev   *socklabv1.Event
	resp *socklabv1.PerformResponse
}
