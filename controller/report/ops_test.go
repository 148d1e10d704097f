package report

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestOperationsComplete walks the Operation oneof: every case needs a declaration, or
// its events would print as "?" and "None".
func TestOperationsComplete(t *testing.T) {
	fields := (&socklabv1.Operation{}).ProtoReflect().Descriptor().Oneofs().ByName("op").Fields()
	for i := range fields.Len() {
		if name := fields.Get(i).Name(); !hasOperation(name) {
			t.Errorf("operation %s of the Operation oneof has no formatter: register it in an ops_*.go file", name)
		}
	}
	if got, want := len(Operations()), fields.Len(); got != want {
		t.Errorf("len(Operations()) = %d, want %d (the oneof's cases)", got, want)
	}
}

// TestRegisterPanics: a name that is not a case of the oneof, or one declared twice, stops
// the program at init rather than printing "?".
func TestRegisterPanics(t *testing.T) {
	for _, tc := range []struct {
		name, op, want string
	}{
		{"not a field", "fileno", `"fileno" is not a field of the Operation oneof`},
		{"a field of Operation's messages, not of the oneof", "data", `"data" is not a field`},
		{"declared twice", "connect", `operation "connect" declared twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("register(%q) panicked with %q, want %q", tc.op, msg, tc.want)
				}
			}()
			register(tc.op, operation{})
		})
	}
}

// TestEnumConstNames: every value of the API's enums that stand for socket constants has
// a name in sockconst, so no socket() or shutdown() prints a bare number.
func TestEnumConstNames(t *testing.T) {
	for _, tc := range []struct {
		enum protoreflect.EnumDescriptor
		name func(protoreflect.EnumNumber) string
	}{
		{socklabv1.Family(0).Descriptor(), func(n protoreflect.EnumNumber) string { return familyName(socklabv1.Family(n)) }},
		{socklabv1.SocketType(0).Descriptor(), func(n protoreflect.EnumNumber) string { return typeName(socklabv1.SocketType(n)) }},
		{socklabv1.ShutdownHow(0).Descriptor(), func(n protoreflect.EnumNumber) string { return howName(socklabv1.ShutdownHow(n)) }},
	} {
		values := tc.enum.Values()
		for i := range values.Len() {
			v := values.Get(i)
			got := tc.name(v.Number())
			if unspecified := v.Number() == 0; unspecified != (got == "0") {
				t.Errorf("%s: name = %q, want a socket constant's name (0 only for the unspecified value)", v.FullName(), got)
			}
		}
	}
}
