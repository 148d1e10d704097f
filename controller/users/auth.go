package users

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"google.golang.org/grpc"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/server"
)

// Directory finds the user a call's bearer token belongs to.
type Directory struct {
	// users are the users with a token, each with the token's SHA-256.
	users []tokenUser
	// open is set when no token is asked for: every caller is Anonymous.
	open bool
}

type tokenUser struct {
	sum  [sha256.Size]byte
	user *User
}

// NewDirectory returns the users of f (nil: none) and, when token is set, the admin
// TokenUser whose token it is (a controller's plain --token). With neither, no token is
// asked for and every caller is Anonymous. A user of f named TokenUser beside a token is
// an error: the two would be one owner of runs.
func NewDirectory(f *File, token string) (*Directory, error) {
	d := &Directory{}
	if f != nil {
		for i := range f.Users {
			u := &f.Users[i]
			if token != "" && u.Name == TokenUser {
				return nil, fmt.Errorf("users file: user %s: the controller's --token authenticates the admin named %s: rename this user", u.Name, TokenUser)
			}
			var tu tokenUser
			if _, err := hex.Decode(tu.sum[:], []byte(u.TokenSHA256)); err != nil {
				return nil, fmt.Errorf("users file: user %s: %w", u.Name, err)
			}
			tu.user = u
			d.users = append(d.users, tu)
		}
	}
	if token != "" {
		d.users = append(d.users, tokenUser{sum: sha256.Sum256([]byte(token)), user: &User{Name: TokenUser, Role: Admin}})
	}
	d.open = f == nil && token == ""
	return d, nil
}

// Authenticate returns the user whose token the call carries, or an Unauthenticated
// error that says what is wrong. Every known token is compared, in constant time.
func (d *Directory) Authenticate(ctx context.Context) (*User, error) {
	if d.open {
		return Anonymous, nil
	}
	token, err := server.BearerToken(ctx)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	var found *User
	for _, tu := range d.users {
		if subtle.ConstantTimeCompare(sum[:], tu.sum[:]) == 1 {
			found = tu.user
		}
	}
	if found == nil {
		return nil, errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrUnauthenticated, "wrong token"))
	}
	return found, nil
}

// ServerOptions returns the gRPC server options that authenticate every call but the
// standard health service's and hand its handler the caller (FromContext).
func (d *Directory) ServerOptions() []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if server.OpenMethod(info.FullMethod) {
			return handler(ctx, req)
		}
		u, err := d.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		return handler(NewContext(ctx, u), req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if server.OpenMethod(info.FullMethod) {
			return handler(srv, ss)
		}
		u, err := d.Authenticate(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, callerStream{ServerStream: ss, ctx: NewContext(ss.Context(), u)})
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

// callerStream is a server stream whose context holds its caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context, with its caller.
func (s callerStream) Context() context.Context { return s.ctx }

// callerKey is the context key of a call's user.
type callerKey struct{}

// NewContext returns ctx carrying u as its caller.
func NewContext(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, callerKey{}, u)
}

// FromContext returns the caller ctx carries, if any.
func FromContext(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(callerKey{}).(*User)
	return u, ok && u != nil
}
