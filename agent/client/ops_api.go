package client

import socklabv1 "github.com/socklab/socklab/proto/socklab/v1"

// SocketProto is socket(family, typ, proto).
func SocketProto(family socklabv1.Family, typ socklabv1.SocketType, proto int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: family, Type: typ, Proto: int32(proto)}}}
}

// SocketPair is socketpair(family, typ).
func SocketPair(family socklabv1.Family, typ socklabv1.SocketType) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Socketpair{Socketpair: &socklabv1.SocketPairOp{Family: family, Type: typ}}}
}

// Select is select(read, write, exceptional, timeout) over handles; a nil timeout is
// None.
func Select(read, write, exceptional []uint32, timeout *float64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Select{Select: &socklabv1.SelectOp{
		Read: read, Write: write, Exceptional: exceptional, TimeoutSeconds: timeout}}}
}

// RecvInto is recv_into(buffer, bufsize, flags): the agent returns the bytes, which the
// caller writes into its buffer.
func RecvInto(bufsize, flags int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_RecvInto{RecvInto: &socklabv1.RecvOp{Bufsize: uint32(bufsize), Flags: int32(flags)}}}
}

// SendFile is sendfile(file, offset, count) of a file of the session's directory; a nil
// count sends to the end of the file.
func SendFile(file string, offset uint64, count *uint64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Sendfile{Sendfile: &socklabv1.SendFileOp{File: file, Offset: offset, Count: count}}}
}
