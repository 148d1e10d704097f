package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/socklab/socklab/agent/errdefs"
)

// strictCodec is the proto codec whose decoding failures reach the caller as what they
// are, a malformed request (InvalidArgument), where gRPC would answer Internal. gRPC turns
// any error of a codec into Internal, so the codec returns none: it leaves the failure in
// the message itself (emptied, holding only an unknown field, failedField, that carries
// the failure's text), and the interceptors answer for it as the handler receives the
// message. Nothing is kept beside the message, so a call that fails before its handler
// (a second request message, a reset) leaves nothing behind.
type strictCodec struct {
	base encoding.CodecV2
}

// failedField is the unknown field in which the codec leaves a decoding failure: the
// highest field number protobuf allows, which no socklab message uses.
const failedField = protowire.MaxValidNumber

func newStrictCodec() strictCodec {
	return strictCodec{base: encoding.GetCodecV2(grpcproto.Name)}
}

// options returns the server options that install the codec with its interceptors: one
// without the other would hand handlers emptied messages.
func (c strictCodec) options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodecV2(c), grpc.ChainUnaryInterceptor(c.unary), grpc.ChainStreamInterceptor(c.stream)}
}

// Name is the proto codec's name.
func (c strictCodec) Name() string { return grpcproto.Name }

// Marshal encodes v as the proto codec does.
func (c strictCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

// Unmarshal decodes data into v; a failure leaves v empty but for failedField.
func (c strictCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.base.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err // not a message this codec can mark: gRPC answers as it does
	}
	proto.Reset(m)
	b := protowire.AppendTag(nil, failedField, protowire.BytesType)
	m.ProtoReflect().SetUnknown(protowire.AppendString(b, err.Error()))
	return nil
}

// check returns the request error for a message the codec could not decode, nil for any
// other.
func check(m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	b := pm.ProtoReflect().GetUnknown()
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != failedField || typ != protowire.BytesType {
		return nil
	}
	why, _ := protowire.ConsumeString(b[n:])
	return errdefs.ToGRPC(errdefs.Errorf(errdefs.ErrInvalidArgument, "the request is not a valid %s (%s): send a well-formed protobuf message",
		pm.ProtoReflect().Descriptor().FullName(), why))
}

func (c strictCodec) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := check(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (c strictCodec) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, strictStream{ss})
}

// strictStream is a server stream whose messages are checked as they are received.
type strictStream struct{ grpc.ServerStream }

// RecvMsg receives m, failing if it could not be decoded.
func (s strictStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return check(m)
}
