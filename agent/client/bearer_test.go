package client

import (
	"context"
	"testing"
)

// TestBearerNoAllocation: the token's metadata is made once, not on every call.
func TestBearerNoAllocation(t *testing.T) {
	b := newBearer("tok")
	md, _ := b.GetRequestMetadata(context.Background())
	if got := md["authorization"]; got != "Bearer tok" {
		t.Errorf("authorization = %q, want %q", got, "Bearer tok")
	}
	if n := testing.AllocsPerRun(100, func() { b.GetRequestMetadata(context.Background()) }); n != 0 {
		t.Errorf("GetRequestMetadata allocates %.0f times a call, want 0", n)
	}
}
