package report

import (
	"testing"

	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// TestAPICalls: how a transcript shows the calls that complete Python's socket API, and
// what they returned.
func TestAPICalls(t *testing.T) {
	unixPair := client.SocketPair(socklabv1.Family_FAMILY_UNIX, client.Stream)
	for _, tc := range []struct {
		name          string
		ev            *socklabv1.Event
		call, outcome string
	}{
		{"socketpair", op(unixPair, result(&socklabv1.Result{Handles: []uint32{3, 4}})),
			"socketpair(AF_UNIX, SOCK_STREAM)", "(s3, s4)"},
		{"socketpair inet", op(client.SocketPair(socklabv1.Family_FAMILY_INET, client.Dgram),
			sockErr("ENOTSUP", 95, "Operation not supported")),
			"socketpair(AF_INET, SOCK_DGRAM)", "ENOTSUP [Errno 95] Operation not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Call(tc.ev); got != tc.call {
				t.Errorf("Call() = %q, want %q", got, tc.call)
			}
			if got := Outcome(tc.ev); got != tc.outcome {
				t.Errorf("Outcome() = %q, want %q", got, tc.outcome)
			}
		})
	}
}
