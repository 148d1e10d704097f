package session

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestEveryOperationImplemented walks Operation's oneof: every case has a spec, and the
// table holds nothing else.
func TestEveryOperationImplemented(t *testing.T) {
	fields := opCases.Fields()
	if fields.Len() == 0 {
		t.Fatal("Operation's oneof has no cases: the descriptor was not found")
	}
	var cases []string
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		cases = append(cases, name)
		if !slices.Contains(Operations(), name) {
			t.Errorf("operation %s (Operation.%s, field %d) has no implementation on the agent: declare its spec in the ops_*.go file of its family",
				name, name, fields.Get(i).Number())
		}
	}
	for _, name := range Operations() {
		if !slices.Contains(cases, name) {
			t.Errorf("Operations() lists %s, which is no case of Operation's oneof", name)
		}
	}
}

// TestRegisterRefuses: a spec for a name that is no case of the oneof, of another case's
// message, declared twice, or with neither or both of run and host stops the agent as it
// starts.
func TestRegisterRefuses(t *testing.T) {
	bind := spec[*socklabv1.BindOp]{run: nothing[*socklabv1.BindOp]}
	for _, tc := range []struct {
		name     string
		register func()
		want     string
	}{
		{"not a case", func() { register("frobnicate", bind) }, `"frobnicate" is not a case of socklab.v1.Operation.op`},
		{"another case's message", func() { register("close", bind) }, "operation close carries *socklabv1.CloseOp, not *socklabv1.BindOp"},
		{"twice", func() { register("bind", bind); register("bind", bind) }, "operation bind declared twice"},
		{"neither run nor host", func() { register("bind", spec[*socklabv1.BindOp]{}) }, "operation bind must set exactly one of run, host and process"},
		{"both run and host", func() {
			register("bind", spec[*socklabv1.BindOp]{run: nothing[*socklabv1.BindOp], host: nothing[*socklabv1.BindOp]})
		}, "operation bind must set exactly one of run, host and process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := ops
			ops = map[reflect.Type]*op{}
			defer func() { ops = saved }()
			defer func() {
				if got := fmt.Sprint(recover()); !strings.Contains(got, tc.want) {
					t.Errorf("register panicked with %q, want it to say %q", got, tc.want)
				}
			}()
			tc.register()
		})
	}
}

// nothing is a run or host function that does nothing.
func nothing[T any](context.Context, *call, T) error { return nil }

// TestUnknownOperation: a case of the oneof that the agent does not implement is an
// InvalidArgument request error naming it.
func TestUnknownOperation(t *testing.T) {
	sysctl := reflect.TypeOf(&socklabv1.Operation_Sysctl{})
	saved := ops[sysctl]
	delete(ops, sysctl)
	defer func() { ops[sysctl] = saved }()
	req := &socklabv1.PerformRequest{Operation: &socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: "net.core.somaxconn"}}}}
	pol := policy.Default()
	err := Validate(req, &pol)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != "operation sysctl is not supported by this agent" {
		t.Errorf("Validate(sysctl without a spec) = %v, want InvalidArgument %q", err, "operation sysctl is not supported by this agent")
	}
}

// TestSpecs pins what each operation declares: its lane, whether it runs on the host or
// on a process, whether it carries an address, whether it makes a handle.
func TestSpecs(t *testing.T) {
	lanes := map[string]lane{
		"accept": recvLane, "recv": recvLane, "recv_into": recvLane, "recvfrom": recvLane, "drain": recvLane, "serve": recvLane,
		"connect": sendLane, "connect_ex": sendLane, "send": sendLane, "sendall": sendLane, "sendto": sendLane, "send_bulk": sendLane, "sendfile": sendLane,
		"wait": recvLane, "wait_output": recvLane, "wait_listening": recvLane, "write": sendLane,
	}
	onHost := []string{"socket", "ss", "sysctl", "connect_many", "spawn", "fault", "clear_faults", "reset_link", "netstat", "socketpair", "select"}
	onProcess := []string{"write", "close_stdin", "signal", "kill", "wait", "stdout", "stderr", "cpu_seconds", "rss", "alive", "wait_output", "wait_listening"}
	addressed := []string{"bind", "connect", "connect_ex", "sendto", "connect_many"}
	reserving := []string{"accept"}
	for _, name := range Operations() {
		o := opNamed(protoreflect.Name(name))
		if o.lane != lanes[name] { // absent: noLane, the zero lane
			t.Errorf("%s runs in lane %d, want %d", name, o.lane, lanes[name])
		}
		if got, want := o.host != nil, slices.Contains(onHost, name); got != want {
			t.Errorf("%s on the host = %v, want %v", name, got, want)
		}
		if got, want := o.process != nil, slices.Contains(onProcess, name); got != want {
			t.Errorf("%s acts on a process = %v, want %v", name, got, want)
		}
		if got, want := o.address != nil, slices.Contains(addressed, name); got != want {
			t.Errorf("%s carries an address = %v, want %v", name, got, want)
		}
		if got, want := o.reserves, slices.Contains(reserving, name); got != want {
			t.Errorf("%s reserves a handle = %v, want %v", name, got, want)
		}
	}
}

// TestEmptyCases: a request whose case is set but whose message was left nil (a caller
// in this process can build one; gRPC never delivers one) is validated as the empty
// message, for every case, without a panic.
func TestEmptyCases(t *testing.T) {
	pol := policy.Default()
	for wrapper, o := range ops {
		operation := &socklabv1.Operation{}
		reflect.ValueOf(operation).Elem().FieldByName("Op").Set(reflect.New(wrapper.Elem()))
		h := uint32(1)
		if o.host != nil {
			h = 0
		}
		got, m, err := lookup(operation)
		if err != nil || got != o || m == nil || reflect.ValueOf(m).IsNil() {
			t.Errorf("lookup(%s with a nil message) = %v, %v, %v; want its declaration and an empty message", o.name, got, m, err)
			continue
		}
		_ = Validate(&socklabv1.PerformRequest{Handle: h, Operation: operation}, &pol) // an error is fine; a panic is not
	}
}

// opNamed returns the declaration of the case named name, or nil.
func opNamed(name protoreflect.Name) *op {
	for _, o := range ops {
		if o.name == name {
			return o
		}
	}
	return nil
}
