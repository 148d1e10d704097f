package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/socklab/socklab/agent/errdefs"
)

// openMethods are reachable without the token: only the standard health service, so that
// load balancers and probes can ask whether the agent is up.
const healthPrefix = "/grpc.health.v1.Health/"

// tokenAuth checks the bearer token of every call but the health service's.
type tokenAuth struct {
	token []byte
}

func (a tokenAuth) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
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

func (a tokenAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a tokenAuth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// TokenOptions returns the server options that require "authorization: Bearer token" on
// every call but the standard health service's; none when token is empty.
func TokenOptions(token string) []grpc.ServerOption {
	if token == "" {
		return nil
	}
	a := tokenAuth{token: []byte(token)}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(a.unary), grpc.ChainStreamInterceptor(a.stream)}
}
