package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/tap"

	"github.com/socklab/socklab/agent/errdefs"
)

// healthPrefix begins the methods reachable without the token: only the standard health
// service's, so that load balancers and probes can ask whether the agent is up.
const healthPrefix = "/grpc.health.v1.Health/"

// tokenAuth checks the bearer token of every call but the health service's.
type tokenAuth struct {
	token []byte
}

func (a tokenAuth) check(md metadata.MD, method string) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "missing token: send metadata \"authorization: Bearer TOKEN\""))
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "authorization must be \"Bearer TOKEN\""))
	}
	if subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
		return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "wrong token"))
	}
	return nil
}

// tap checks a call as its headers arrive, before the server reads its message or looks
// its method up: a caller without the token learns nothing (not whether the method exists,
// not what the server serves) and makes the server read nothing.
func (a tokenAuth) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if err := a.check(info.Header, info.FullMethodName); err != nil {
		return nil, err
	}
	return ctx, nil
}

// TokenOptions returns the server options that require "authorization: Bearer token" on
// every call but the standard health service's; none when token is empty. The token is
// checked as a call's headers arrive, so a call without it is Unauthenticated whatever
// its method, one that exists or not, and its message is never read.
func TokenOptions(token string) []grpc.ServerOption {
	if token == "" {
		return nil
	}
	a := tokenAuth{token: []byte(token)}
	return []grpc.ServerOption{grpc.InTapHandle(a.tap)}
}
