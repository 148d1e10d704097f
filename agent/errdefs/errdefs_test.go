package errdefs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/agent/errdefs"
)

// TestRoundTrip: an error of each kind crosses a gRPC boundary (ToGRPC, then FromGRPC)
// keeping its kind and its message, and no gRPC wording is added to the message.
func TestRoundTrip(t *testing.T) {
	for _, kind := range []error{
		errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrPermissionDenied, errdefs.ErrResourceExhausted,
		errdefs.ErrFailedPrecondition, errdefs.ErrUnauthenticated, errdefs.ErrUnavailable, errdefs.ErrDeadlineExceeded,
		errdefs.ErrCanceled, errdefs.ErrInternal, errdefs.ErrNotImplemented,
	} {
		t.Run(kind.Error(), func(t *testing.T) {
			sent := fmt.Errorf("perform: %w", errdefs.Errorf(kind, "session s1 has no handle %d", 7))
			got := errdefs.FromGRPC(errdefs.ToGRPC(sent))
			if !errors.Is(got, kind) {
				t.Errorf("FromGRPC(ToGRPC(%v)) = %v, not of kind %v", sent, got, kind)
			}
			if got.Error() != "perform: session s1 has no handle 7" {
				t.Errorf("message = %q, want the sender's", got.Error())
			}
		})
	}
}

func TestCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("plain"), codes.Unknown},
		{errdefs.Errorf(errdefs.ErrResourceExhausted, "too many"), codes.ResourceExhausted},
	} {
		if got := errdefs.Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestFromGRPC(t *testing.T) {
	if errdefs.FromGRPC(nil) != nil {
		t.Error("FromGRPC(nil) != nil")
	}
	plain := errors.New("not a status")
	if got := errdefs.FromGRPC(plain); got != plain {
		t.Errorf("FromGRPC(plain) = %v, want it unchanged", got)
	}
	got := errdefs.FromGRPC(status.Error(codes.Canceled, "the request was cancelled"))
	if !errors.Is(got, context.Canceled) || !errors.Is(got, errdefs.ErrCanceled) {
		t.Errorf("a cancelled call = %v: want errors.Is context.Canceled and ErrCanceled", got)
	}
	got = errdefs.FromGRPC(status.Error(codes.DeadlineExceeded, "late"))
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("a late call = %v: want errors.Is context.DeadlineExceeded", got)
	}
	got = errdefs.FromGRPC(status.Error(codes.DataLoss, "lost"))
	if !errors.Is(got, errdefs.ErrUnknown) || got.Error() != "lost" {
		t.Errorf("DataLoss = %v, want ErrUnknown with the message", got)
	}
}

// TestGRPCWords: gRPC's own failures come back in plain words, of a finer kind, with
// gRPC's wording kept for --debug only.
func TestGRPCWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   error
		kind error
		sub  error
		want string
	}{
		{"refused", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`),
			errdefs.ErrUnavailable, errdefs.ErrUnreachable, "connection refused"},
		{"no such host", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp: lookup pc9 on 127.0.0.53:53: no such host"`),
			errdefs.ErrUnavailable, errdefs.ErrUnreachable, "no such host"},
		{"too large", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (10485912 vs. 4194304)"),
			errdefs.ErrResourceExhausted, errdefs.ErrTooLarge, "the message is larger than the 4 MiB limit (10.0 MiB)"},
		{"lost", status.Error(codes.Unavailable, "error reading from server: EOF"), errdefs.ErrUnavailable, nil, "error reading from server: EOF"},
		{"a server's own", status.Error(codes.ResourceExhausted, "too many sessions"), errdefs.ErrResourceExhausted, nil, "too many sessions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := errdefs.FromGRPC(tc.st)
			if !errors.Is(got, tc.kind) || got.Error() != tc.want {
				t.Errorf("FromGRPC(%v) = %q, want %q of kind %v", tc.st, got, tc.want, tc.kind)
			}
			if tc.sub != nil && !errors.Is(got, tc.sub) {
				t.Errorf("FromGRPC(%v) is not %v", tc.st, tc.sub)
			}
			if tc.sub == nil && (errors.Is(got, errdefs.ErrUnreachable) || errors.Is(got, errdefs.ErrTooLarge)) {
				t.Errorf("FromGRPC(%v) = %v: of a finer kind it is not", tc.st, got)
			}
			if d := errdefs.Detail(fmt.Errorf("call: %w", got)); d != tc.st.Error() {
				t.Errorf("Detail = %q, want %q", d, tc.st.Error())
			}
		})
	}
}
