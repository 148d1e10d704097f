package client

import socklabv1 "github.com/socklab/socklab/proto/socklab/v1"

// Linux values of the constants Python's socket module exposes, for building requests;
// TestConstantsAreSockconst keeps them equal to agent/sockconst's table.
const (
	SOL_SOCKET   = 1
	IPPROTO_IP   = 0
	IPPROTO_TCP  = 6
	SO_REUSEADDR = 2
	SO_TYPE      = 3
	SO_ERROR     = 4
	SO_BROADCAST = 6
	SO_SNDBUF    = 7
	SO_RCVBUF    = 8
	SO_KEEPALIVE = 9
	SO_LINGER    = 13
	TCP_NODELAY  = 1
	IP_TTL       = 2
	MSG_OOB      = 0x1
	MSG_PEEK     = 0x2
	MSG_DONTWAIT = 0x40
	MSG_WAITALL  = 0x100
)

// Stream and Dgram are the socket types.
const (
	Stream = socklabv1.SocketType_SOCKET_TYPE_STREAM
	Dgram  = socklabv1.SocketType_SOCKET_TYPE_DGRAM
)

func addr(host string, port int) *socklabv1.Address {
	return &socklabv1.Address{Host: host, Port: uint32(port)}
}

// Socket is socket(AF_INET, typ).
func Socket(typ socklabv1.SocketType) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_INET, Type: typ}}}
}

// SetSockOpt is setsockopt(level, name, value).
func SetSockOpt(level, name int, value int64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{
		Level: int32(level), Name: int32(name), Value: &socklabv1.SetSockOptOp_IntValue{IntValue: value}}}}
}

// SetSockOptBytes is setsockopt(level, name, buffer).
func SetSockOptBytes(level, name int, value []byte) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{
		Level: int32(level), Name: int32(name), Value: &socklabv1.SetSockOptOp_BytesValue{BytesValue: value}}}}
}

// GetSockOpt is getsockopt(level, name).
func GetSockOpt(level, name int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Getsockopt{Getsockopt: &socklabv1.GetSockOptOp{Level: int32(level), Name: int32(name)}}}
}

// GetSockOptBytes is getsockopt(level, name, buflen).
func GetSockOptBytes(level, name, buflen int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Getsockopt{Getsockopt: &socklabv1.GetSockOptOp{Level: int32(level), Name: int32(name), Buflen: uint32(buflen)}}}
}

// Bind is bind((host, port)).
func Bind(host string, port int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: addr(host, port)}}}
}

// Listen is listen(backlog); a negative backlog means listen() with no argument.
func Listen(backlog int) *socklabv1.Operation {
	l := &socklabv1.ListenOp{}
	if backlog >= 0 {
		b := int32(backlog)
		l.Backlog = &b
	}
	return &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: l}}
}

// Accept is accept().
func Accept() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}}
}

// Connect is connect((host, port)).
func Connect(host string, port int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: addr(host, port)}}}
}

// ConnectEx is connect_ex((host, port)).
func ConnectEx(host string, port int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_ConnectEx{ConnectEx: &socklabv1.ConnectOp{Address: addr(host, port)}}}
}

// Send is send(data, flags).
func Send(data []byte, flags int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{Data: data, Flags: int32(flags)}}}
}

// SendAll is sendall(data, flags).
func SendAll(data []byte, flags int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{Data: data, Flags: int32(flags)}}}
}

// SendTo is sendto(data, flags, (host, port)).
func SendTo(data []byte, flags int, host string, port int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: data, Flags: int32(flags), Address: addr(host, port)}}}
}

// Recv is recv(bufsize, flags).
func Recv(bufsize, flags int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: uint32(bufsize), Flags: int32(flags)}}}
}

// RecvFrom is recvfrom(bufsize, flags).
func RecvFrom(bufsize, flags int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Recvfrom{Recvfrom: &socklabv1.RecvOp{Bufsize: uint32(bufsize), Flags: int32(flags)}}}
}

// Shutdown is shutdown(how).
func Shutdown(how socklabv1.ShutdownHow) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Shutdown{Shutdown: &socklabv1.ShutdownOp{How: how}}}
}

// Close is close().
func Close() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}}
}

// GetSockName is getsockname().
func GetSockName() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Getsockname{Getsockname: &socklabv1.GetSockNameOp{}}}
}

// GetPeerName is getpeername().
func GetPeerName() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Getpeername{Getpeername: &socklabv1.GetPeerNameOp{}}}
}

// SetTimeout is settimeout(seconds).
func SetTimeout(seconds float64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Settimeout{Settimeout: &socklabv1.SetTimeoutOp{Seconds: &seconds}}}
}

// SetTimeoutNone is settimeout(None).
func SetTimeoutNone() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Settimeout{Settimeout: &socklabv1.SetTimeoutOp{}}}
}

// SetBlocking is setblocking(flag).
func SetBlocking(flag bool) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Setblocking{Setblocking: &socklabv1.SetBlockingOp{Blocking: flag}}}
}

// GetBlocking is getblocking().
func GetBlocking() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Getblocking{Getblocking: &socklabv1.GetBlockingOp{}}}
}

// GetTimeout is gettimeout().
func GetTimeout() *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Gettimeout{Gettimeout: &socklabv1.GetTimeoutOp{}}}
}

// Families other than AF_INET.
const (
	Inet6 = socklabv1.Family_FAMILY_INET6
	Unix  = socklabv1.Family_FAMILY_UNIX
)

// IPPROTO_IPV6 and IPV6_V6ONLY are Linux's values.
const (
	IPPROTO_IPV6 = 41
	IPV6_V6ONLY  = 26
)

// SocketOf is socket(family, typ).
func SocketOf(family socklabv1.Family, typ socklabv1.SocketType) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: family, Type: typ}}}
}

// BindPath is bind(path) for AF_UNIX.
func BindPath(path string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: &socklabv1.Address{Path: path}}}}
}

// ConnectPath is connect(path) for AF_UNIX.
func ConnectPath(path string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: &socklabv1.Address{Path: path}}}}
}

// SendToPath is sendto(data, path) for AF_UNIX.
func SendToPath(data []byte, path string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: data, Address: &socklabv1.Address{Path: path}}}}
}

// SendBulk is send_bulk(count): count generated bytes, sent by the agent itself.
func SendBulk(count uint64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_SendBulk{SendBulk: &socklabv1.SendBulkOp{Count: count}}}
}

// Drain is drain(count): receive count bytes on the agent, returning count and checksum.
func Drain(count uint64) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Drain{Drain: &socklabv1.DrainOp{Count: count}}}
}

// ConnectMany is connect_many((host, port), count) on the host (handle 0).
func ConnectMany(host string, port int, count int) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_ConnectMany{ConnectMany: &socklabv1.ConnectManyOp{Address: addr(host, port), Count: uint32(count)}}}
}

// Serve is serve(behaviour) on a listening socket.
func Serve(b socklabv1.Behaviour) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Serve{Serve: &socklabv1.ServeOp{Behaviour: b}}}
}
