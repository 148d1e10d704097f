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
		{"select", op(client.Select([]uint32{1, 2}, []uint32{3}, nil, ptr(0.5)),
			result(&socklabv1.Result{Ready: &socklabv1.Ready{Read: []uint32{2}}})),
			"select([s1, s2], [s3], [], 0.5)", "([s2], [], [])"},
		{"select without a timeout", op(client.Select(nil, []uint32{3}, []uint32{3}, nil),
			result(&socklabv1.Result{Ready: &socklabv1.Ready{Write: []uint32{3}}})),
			"select([], [s3], [s3])", "([], [s3], [])"},
		{"select timed out", op(client.Select([]uint32{1}, nil, nil, ptr(0.0))),
			"select([s1], [], [], 0.0)", "([], [], [])"},
		{"select closed", op(client.Select([]uint32{1}, nil, nil, nil), sockErr("EBADF", 9, "Bad file descriptor")),
			"select([s1], [], [])", "EBADF [Errno 9] Bad file descriptor"},
		{"recv_into", op(client.RecvInto(1024, 0), payload("hello", 5), result(&socklabv1.Result{Value: 5})),
			"recv_into(buffer, 1024)", "5 (b'hello')"},
		{"recv_into peek", op(client.RecvInto(4, client.MSG_PEEK), result(&socklabv1.Result{})),
			"recv_into(buffer, 4, MSG_PEEK)", "0 (b'')"},
		{"recv_into timeout", op(client.RecvInto(4, 0), timedOut), "recv_into(buffer, 4)", "timeout: timed out"},
		{"sendfile", op(client.SendFile("data.bin", 0, nil), result(&socklabv1.Result{Value: 1800})),
			"sendfile('data.bin')", "1800"},
		{"sendfile from an offset", op(client.SendFile("data.bin", 5, nil), result(&socklabv1.Result{Value: 1795})),
			"sendfile('data.bin', 5)", "1795"},
		{"sendfile a count", op(client.SendFile("data.bin", 0, ptr(uint64(4))), result(&socklabv1.Result{Value: 4})),
			"sendfile('data.bin', 0, 4)", "4"},
		{"sendfile missing", op(client.SendFile("gone", 0, nil), sockErr("ENOENT", 2, "No such file or directory")),
			"sendfile('gone')", "ENOENT [Errno 2] No such file or directory"},
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
