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

// OpenMethod reports whether method (a gRPC full method name) is served without a token:
// the standard health service's are.
func OpenMethod(method string) bool { return strings.HasPrefix(method, healthPrefix) }

// BearerToken returns the token a call carries as metadata "authorization: Bearer TOKEN",
// or an Unauthenticated error saying how to send one.
func BearerToken(ctx context.Context) (string, error) {
	return bearerToken(metadata.ValueFromIncomingContext(ctx, "authorization")) // no copy of the rest
}

// bearerToken reads the token of a call's "authorization" values.
func bearerToken(vals []string) (string, error) {
	if len(vals) == 0 {
		return "", errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "missing token: send metadata \"authorization: Bearer TOKEN\""))
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return "", errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "authorization must be \"Bearer TOKEN\""))
	}
	return got, nil
}

// tokenAuth checks the bearer token of every call but the health service's.
type tokenAuth struct {
	token []byte
}

func (a tokenAuth) check(md metadata.MD, method string) error {
	if OpenMethod(method) {
		return nil
	}
	got, err := bearerToken(md.Get("authorization"))
	if err != nil {
		return err
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
