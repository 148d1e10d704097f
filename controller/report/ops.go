package report

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/agent/sockconst"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// operation is how a transcript shows one case of the Operation oneof: the call as
// Python writes it, named after the oneof's field ("connect_ex"), and what it returned.
// Each case is declared once, by register, in the ops_*.go file of its family.
type operation struct {
	// args returns the call's arguments as Python writes them, payload previews cut after
	// max characters; empty ones (flags of 0) are left out. nil means none.
	args func(ev *socklabv1.Event, max int) []string
	// result returns what the call returned when it did not raise, as Python prints it;
	// payload previews are cut after max characters. nil means None.
	result func(ev *socklabv1.Event, max int) string
	// errnoValue marks a call that returns its errno as a value instead of raising it
	// (connect_ex); the event's result value is that errno.
	errnoValue bool
	// makes marks a call of the host that makes a resource (socket, spawn): it is no
	// method of the resource, so the handle an agent may put on its event is shown as the
	// outcome, not in the handle column.
	makes bool
	// process marks spawn and the methods of a process: the handle is a process's, which
	// the transcript names p3 where a socket is s3.
	process bool
}

// opOneof is the Operation oneof whose cases operations declares.
var opOneof = func() protoreflect.OneofDescriptor {
	o := (&socklabv1.Operation{}).ProtoReflect().Descriptor().Oneofs().ByName("op")
	if o == nil {
		panic("report: socklab.v1.Operation has no oneof op")
	}
	return o
}()

// operations holds each registered case of the Operation oneof, by its field's name.
var operations = map[protoreflect.Name]operation{}

// register declares how the Operation oneof case named name is shown. It panics when name
// is not a field of the oneof or is declared twice.
func register(name string, op operation) {
	n := protoreflect.Name(name)
	if opOneof.Fields().ByName(n) == nil {
		panic(fmt.Sprintf("report: %q is not a field of the Operation oneof %s", name, opOneof.FullName()))
	}
	if _, dup := operations[n]; dup {
		panic(fmt.Sprintf("report: operation %q declared twice", name))
	}
	operations[n] = op
}

// operationOf returns the name and declaration of the event's operation; ok is false when
// the event has none or it is not declared.
func operationOf(ev *socklabv1.Event) (name string, op operation, ok bool) {
	f := ev.GetOperation().ProtoReflect().WhichOneof(opOneof)
	if f == nil {
		return "", operation{}, false
	}
	op, ok = operations[f.Name()]
	return string(f.Name()), op, ok
}

// hasOperation reports whether the case named n is declared.
func hasOperation(n protoreflect.Name) bool {
	_, ok := operations[n]
	return ok
}

// Operations returns the names of the Operation oneof's cases that Call and Outcome know,
// in the oneof's order. The names are Python's ("connect_ex", "send_bulk").
func Operations() []string {
	var names []string
	fields := opOneof.Fields()
	for i := range fields.Len() {
		if n := fields.Get(i).Name(); hasOperation(n) {
			names = append(names, string(n))
		}
	}
	return names
}

// constName returns the name in Python's socket module of the constant of kind that the
// API's enum value e stands for, its name with the API's prefix for Python's:
// FAMILY_INET is AF_INET. A value with no such constant shows as its number.
func constName(kind sockconst.Kind, e protoreflect.Enum, apiPrefix, pyPrefix string) string {
	if v := e.Descriptor().Values().ByNumber(e.Number()); v != nil {
		if c, ok := sockconst.Lookup(pyPrefix + strings.TrimPrefix(string(v.Name()), apiPrefix)); ok && c.Kind == kind {
			return c.Name
		}
	}
	return strconv.Itoa(int(e.Number()))
}

// familyName returns an address family as Python names it, "AF_INET".
func familyName(f socklabv1.Family) string {
	return constName(sockconst.Family, f, "FAMILY_", "AF_")
}

// typeName returns a socket type as Python names it, "SOCK_STREAM".
func typeName(t socklabv1.SocketType) string {
	return constName(sockconst.Type, t, "SOCKET_TYPE_", "SOCK_")
}

// howName returns a shutdown direction as Python names it, "SHUT_WR".
func howName(h socklabv1.ShutdownHow) string {
	return constName(sockconst.Shut, h, "SHUTDOWN_HOW_", "SHUT_")
}

// flagNames returns MSG_* flags as Python code writes them, "MSG_PEEK|MSG_WAITALL"; 0
// gives "", which call leaves out.
func flagNames(flags int32) string { return sockconst.Flags(int(flags)) }

// count returns an unsigned count or size in decimal.
func count[T ~uint32 | ~uint64](n T) string { return strconv.FormatUint(uint64(n), 10) }

// value returns the event's result value: what send, sendto and send_bulk return.
func value(ev *socklabv1.Event, _ int) string {
	return strconv.FormatInt(ev.GetResult().GetValue(), 10)
}
