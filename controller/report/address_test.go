package report

import (
	"testing"

	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestAddressErrors: an address that does not resolve for the socket's family is raised,
// by connect_ex too, as Python raises socket.gaierror or OSError.
func TestAddressErrors(t *testing.T) {
	gai := sockErr("gaierror", -9, "Address family for hostname not supported")
	for _, tc := range []struct {
		name string
		ev   *socklabv1.Event
		want string
	}{
		{"bind", op(client.Bind("127.0.0.1", 0), gai), "gaierror [Errno -9] Address family for hostname not supported"},
		{"connect_ex", op(client.ConnectEx("::1", 1), gai), "gaierror [Errno -9] Address family for hostname not supported"},
		{"broadcast", op(client.Bind("<broadcast>", 0), sockErr("OSError", 0, "address family mismatched")), "OSError: address family mismatched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Outcome(tc.ev); got != tc.want {
				t.Errorf("Outcome = %q, want %q", got, tc.want)
			}
		})
	}
}
