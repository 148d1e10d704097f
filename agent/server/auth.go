package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/socklab/socklab/agent/errdefs"
)

// healthPrefix starts the methods reachable without the token: only the standard health
// service's, so that load balancers and probes can ask whether the agent is up.
const healthPrefix = "/grpc.health.v1.Health/"

// OpenMethod reports whether method (a gRPC full method name) is served without a token:
// the standard health service's are.
func OpenMethod(method string) bool { return strings.HasPrefix(method, healthPrefix) }

// BearerToken returns the token a call carries as metadata "authorization: Bearer TOKEN",
// or an Unauthenticated error saying how to send one.
func BearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
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

func (a tokenAuth) check(ctx context.Context, method string) error {
	if OpenMethod(method) {
		return nil
	}
	got, err := BearerToken(ctx)
	if err != nil {
		return err
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
