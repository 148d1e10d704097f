package report

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// op returns an operation event for op, changed by each of mods.
func op(o *socklabv1.Operation, mods ...func(*socklabv1.Event)) *socklabv1.Event {
	ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Operation: o}
	for _, m := range mods {
		m(ev)
	}
	return ev
}

func payload(b string, total uint64) func(*socklabv1.Event) {
	return func(ev *socklabv1.Event) { ev.Payload, ev.PayloadLength = []byte(b), total }
}

func result(r *socklabv1.Result) func(*socklabv1.Event) {
	return func(ev *socklabv1.Event) { ev.Result = r }
}

func sockErr(name string, errno int32, msg string) func(*socklabv1.Event) {
	return func(ev *socklabv1.Event) {
		ev.Error = &socklabv1.SocketError{Name: name, Errno: errno, Message: msg}
	}
}

var (
	refused  = sockErr("ECONNREFUSED", 111, "Connection refused")
	timedOut = sockErr("timeout", 0, "timed out")
)

func addr(host string, port uint32) *socklabv1.Address {
	return &socklabv1.Address{Host: host, Port: port}
}

func ptr[T any](v T) *T { return &v }

func TestCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *socklabv1.Event
		want string
	}{
		{"socket stream", op(client.Socket(client.Stream)), "socket(AF_INET, SOCK_STREAM)"},
		{"socket dgram", op(client.Socket(client.Dgram)), "socket(AF_INET, SOCK_DGRAM)"},
		{"socket inet6", op(&socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{
			Family: socklabv1.Family_FAMILY_INET6, Type: client.Stream}}}), "socket(AF_INET6, SOCK_STREAM)"},
		{"setsockopt named by result", op(client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1),
			result(&socklabv1.Result{OptionName: "SO_REUSEADDR"})), "setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)"},
		{"setsockopt tcp", op(client.SetSockOpt(client.IPPROTO_TCP, client.TCP_NODELAY, 1),
			result(&socklabv1.Result{OptionName: "TCP_NODELAY"})), "setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)"},
		{"setsockopt ip", op(client.SetSockOpt(client.IPPROTO_IP, client.IP_TTL, 64),
			result(&socklabv1.Result{OptionName: "IP_TTL"})), "setsockopt(IPPROTO_IP, IP_TTL, 64)"},
		{"setsockopt named by the table", op(client.SetSockOpt(41, 26, 0)), "setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0)"},
		{"setsockopt unnamed", op(client.SetSockOpt(255, 99, 0)), "setsockopt(255, 99, 0)"},
		{"setsockopt named by the result first", op(client.SetSockOpt(255, 99, 0),
			result(&socklabv1.Result{OptionName: "SO_FUTURE"})), "setsockopt(255, SO_FUTURE, 0)"},
		{"setsockopt bytes", op(client.SetSockOptBytes(client.SOL_SOCKET, client.SO_LINGER, []byte("\x01\x00\x00\x00\x00\x00\x00\x00")),
			result(&socklabv1.Result{OptionName: "SO_LINGER"})),
			`setsockopt(SOL_SOCKET, SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')`},
		{"getsockopt", op(client.GetSockOpt(client.SOL_SOCKET, client.SO_ERROR),
			result(&socklabv1.Result{OptionName: "SO_ERROR"})), "getsockopt(SOL_SOCKET, SO_ERROR)"},
		{"getsockopt buflen", op(client.GetSockOptBytes(client.SOL_SOCKET, client.SO_LINGER, 8),
			result(&socklabv1.Result{OptionName: "SO_LINGER"})), "getsockopt(SOL_SOCKET, SO_LINGER, 8)"},
		{"socket unix", op(client.SocketOf(socklabv1.Family_FAMILY_UNIX, client.Dgram)), "socket(AF_UNIX, SOCK_DGRAM)"},
		{"socket unknown family and type", op(client.SocketOf(9, 0)), "socket(9, 0)"},
		{"socket proto", op(&socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{
			Family: socklabv1.Family_FAMILY_INET, Type: client.Stream, Proto: 6}}}), "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)"},
		{"bind", op(client.Bind("127.0.0.1", 8080)), "bind(('127.0.0.1', 8080))"},
		{"bind any", op(client.Bind("", 0)), "bind(('', 0))"},
		{"bind unix", op(&socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{
			Address: &socklabv1.Address{Path: "/tmp/s.sock"}}}}), "bind('/tmp/s.sock')"},
		{"listen backlog", op(client.Listen(5)), "listen(5)"},
		{"listen zero", op(client.Listen(0)), "listen(0)"},
		{"listen default", op(client.Listen(-1)), "listen()"},
		{"accept", op(client.Accept()), "accept()"},
		{"connect", op(client.Connect("127.5.0.2", 8080)), "connect(('127.5.0.2', 8080))"},
		{"connect_ex", op(client.ConnectEx("127.5.0.2", 8081)), "connect_ex(('127.5.0.2', 8081))"},
		{"send from payload", op(&socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{}}},
			payload("hello", 5)), "send(b'hello')"},
		{"send from operation", op(client.Send([]byte("hello"), 0)), "send(b'hello')"},
		{"send flags", op(client.Send(nil, client.MSG_DONTWAIT|0x4000), payload("x", 1)), "send(b'x', MSG_DONTWAIT|MSG_NOSIGNAL)"},
		{"send empty", op(client.Send(nil, 0)), "send(b'')"},
		{"send failed before a byte", op(client.Send(nil, 0), sockErr("EPIPE", 32, "Broken pipe")), "send(...)"},
		{"send capped payload", op(client.Send(nil, 0), payload("abc", 70000)), "send(b'abc'... (70000 bytes))"},
		{"send long payload", op(client.Send(nil, 0), payload(strings.Repeat("a", 100), 100)),
			"send(b'" + strings.Repeat("a", PreviewMax) + "'... (100 bytes))"},
		{"sendall", op(client.SendAll(nil, 0), payload("it's", 4)), `sendall(b"it's")`},
		{"sendall more", op(client.SendAll(nil, 0x8000), payload("a", 1)), "sendall(b'a', MSG_MORE)"},
		{"sendto", op(client.SendTo(nil, 0, "127.0.0.1", 9000), payload("hi", 2)), "sendto(b'hi', ('127.0.0.1', 9000))"},
		{"sendto flags", op(client.SendTo(nil, client.MSG_OOB, "127.0.0.1", 9000), payload("hi", 2)),
			"sendto(b'hi', MSG_OOB, ('127.0.0.1', 9000))"},
		{"recv", op(client.Recv(1024, 0)), "recv(1024)"},
		{"recv peek", op(client.Recv(1024, client.MSG_PEEK)), "recv(1024, MSG_PEEK)"},
		{"recv every flag", op(client.Recv(16, 0x1|0x2|0x40|0x100|0x4000|0x8000)),
			"recv(16, MSG_OOB|MSG_PEEK|MSG_DONTWAIT|MSG_WAITALL|MSG_NOSIGNAL|MSG_MORE)"},
		{"recv unknown flag", op(client.Recv(16, client.MSG_PEEK|0x800)), "recv(16, MSG_PEEK|0x800)"},
		{"recvfrom", op(client.RecvFrom(1024, 0)), "recvfrom(1024)"},
		{"recvfrom waitall", op(client.RecvFrom(8, client.MSG_WAITALL)), "recvfrom(8, MSG_WAITALL)"},
		{"shutdown rd", op(client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_RD)), "shutdown(SHUT_RD)"},
		{"shutdown wr", op(client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_WR)), "shutdown(SHUT_WR)"},
		{"shutdown rdwr", op(client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR)), "shutdown(SHUT_RDWR)"},
		{"shutdown unknown", op(client.Shutdown(7)), "shutdown(7)"},
		{"close", op(client.Close()), "close()"},
		{"getsockname", op(client.GetSockName()), "getsockname()"},
		{"getpeername", op(client.GetPeerName()), "getpeername()"},
		{"settimeout", op(client.SetTimeout(0.5)), "settimeout(0.5)"},
		{"settimeout whole", op(client.SetTimeout(2)), "settimeout(2.0)"},
		{"settimeout zero", op(client.SetTimeout(0)), "settimeout(0.0)"},
		{"settimeout none", op(client.SetTimeoutNone()), "settimeout(None)"},
		{"setblocking false", op(client.SetBlocking(false)), "setblocking(False)"},
		{"setblocking true", op(client.SetBlocking(true)), "setblocking(True)"},
		{"gettimeout", op(client.GetTimeout()), "gettimeout()"},
		{"getblocking", op(client.GetBlocking()), "getblocking()"},
		{"ss", op(&socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{}}}), "ss()"},
		{"ss filtered", op(&socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{
			Port: 8080, State: "LISTEN", Protocol: "tcp", Host: "server"}}}),
			"ss(port = 8080, state = 'LISTEN', proto = 'tcp', host = 'server')"},
		{"sysctl", op(&socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{
			Name: "net.ipv4.tcp_fin_timeout"}}}), "sysctl('net.ipv4.tcp_fin_timeout')"},
		{"send_bulk", op(client.SendBulk(1 << 20)), "send_bulk(1048576)"},
		{"drain", op(client.Drain(1000)), "drain(1000)"},
		{"connect_many", op(client.ConnectMany("127.0.0.1", 8080, 100)), "connect_many(('127.0.0.1', 8080), 100)"},
		{"serve", op(client.Serve(socklabv1.Behaviour_BEHAVIOUR_ECHO)), "serve('echo')"},
		{"no operation", &socklabv1.Event{Op: "fileno"}, "fileno()"},
		{"empty operation", op(&socklabv1.Operation{}, func(ev *socklabv1.Event) { ev.Op = "fileno" }), "fileno()"},
		{"nil event", nil, "?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Call(tc.ev); got != tc.want {
				t.Errorf("Call() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *socklabv1.Event
		want string
	}{
		{"socket", op(client.Socket(client.Stream), result(&socklabv1.Result{Handle: 3})), "s3"},
		{"socket handle on event", op(client.Socket(client.Stream), func(ev *socklabv1.Event) { ev.Handle = 4 }), "s4"},
		{"socket error", op(client.Socket(client.Stream), sockErr("EMFILE", 24, "Too many open files")),
			"EMFILE [Errno 24] Too many open files"},
		{"setsockopt", op(client.SetSockOpt(client.SOL_SOCKET, client.SO_REUSEADDR, 1)), "None"},
		{"getsockopt int", op(client.GetSockOpt(client.SOL_SOCKET, client.SO_ERROR),
			result(&socklabv1.Result{OptionName: "SO_ERROR", Value: 111})), "111"},
		{"getsockopt zero", op(client.GetSockOpt(client.IPPROTO_TCP, client.TCP_NODELAY)), "0"},
		{"getsockopt bytes", op(client.GetSockOptBytes(client.SOL_SOCKET, client.SO_LINGER, 8),
			result(&socklabv1.Result{BytesValue: []byte("\x01\x00\x00\x00\x05\x00\x00\x00")})),
			`b'\x01\x00\x00\x00\x05\x00\x00\x00'`},
		{"bind", op(client.Bind("127.0.0.1", 8080)), "None"},
		{"bind in use", op(client.Bind("127.0.0.1", 8080), sockErr("EADDRINUSE", 98, "Address already in use")),
			"EADDRINUSE [Errno 98] Address already in use"},
		{"listen", op(client.Listen(5)), "None"},
		{"accept", op(client.Accept(), result(&socklabv1.Result{Handle: 2, Address: addr("127.0.0.1", 43210)})),
			"(s2, ('127.0.0.1', 43210))"},
		{"accept timeout", op(client.Accept(), timedOut), "timeout: timed out"},
		{"connect", op(client.Connect("127.5.0.2", 8080)), "None"},
		{"connect refused", op(client.Connect("127.5.0.2", 8080), refused), "ECONNREFUSED [Errno 111] Connection refused"},
		{"connect timeout", op(client.Connect("127.5.0.2", 8080), timedOut), "timeout: timed out"},
		{"connect_ex ok", op(client.ConnectEx("127.5.0.2", 8080)), "0"},
		{"connect_ex refused", op(client.ConnectEx("127.5.0.2", 8080), refused,
			result(&socklabv1.Result{Value: 111})), "111"},
		{"connect_ex in progress", op(client.ConnectEx("127.5.0.2", 8080), sockErr("EINPROGRESS", 115, "Operation now in progress"),
			result(&socklabv1.Result{Value: 115})), "115"},
		{"connect_ex raised", op(client.ConnectEx("127.5.0.2", 8080), sockErr("cancelled", 0, "the request was cancelled")),
			"cancelled: the request was cancelled"},
		{"send", op(client.Send(nil, 0), payload("hello", 5), result(&socklabv1.Result{Value: 5})), "5"},
		{"send broken pipe", op(client.Send(nil, 0), sockErr("EPIPE", 32, "Broken pipe")), "EPIPE [Errno 32] Broken pipe"},
		{"send would block", op(client.Send(nil, client.MSG_DONTWAIT), sockErr("EAGAIN", 11, "Resource temporarily unavailable")),
			"EAGAIN [Errno 11] Resource temporarily unavailable"},
		{"sendall", op(client.SendAll(nil, 0), payload("hello", 5), result(&socklabv1.Result{Value: 5})), "None"},
		{"sendto", op(client.SendTo(nil, 0, "127.0.0.1", 9000), payload("hi", 2), result(&socklabv1.Result{Value: 2})), "2"},
		{"recv", op(client.Recv(1024, 0), payload("HELLO", 5), result(&socklabv1.Result{})), "b'HELLO'"},
		{"recv eof", op(client.Recv(1024, 0), result(&socklabv1.Result{})), "b''"},
		{"recv capped", op(client.Recv(1<<20, 0), payload("abc", 1<<20)), "b'abc'... (1048576 bytes)"},
		{"recv reset", op(client.Recv(1024, 0), sockErr("ECONNRESET", 104, "Connection reset by peer")),
			"ECONNRESET [Errno 104] Connection reset by peer"},
		{"recv timeout", op(client.Recv(1024, 0), timedOut), "timeout: timed out"},
		{"recv truncated datagram", op(client.Recv(4, 0), payload("abcd", 4),
			result(&socklabv1.Result{Truncated: true, DatagramLength: 10})), "b'abcd' [truncated: 10-byte datagram]"},
		{"recvfrom", op(client.RecvFrom(1024, 0), payload("x", 1),
			result(&socklabv1.Result{Address: addr("127.0.0.1", 5000), DatagramLength: 1})), "(b'x', ('127.0.0.1', 5000))"},
		{"recvfrom on a connected stream returns None, whatever the peer", op(client.RecvFrom(1024, 0), payload("x", 1),
			func(ev *socklabv1.Event) { ev.Peer = addr("127.0.0.1", 5001) }), "(b'x', None)"},
		{"recvfrom stream", op(client.RecvFrom(1024, 0), payload("x", 1)), "(b'x', None)"},
		{"recvfrom truncated", op(client.RecvFrom(10, 0), payload("0123456789", 10),
			result(&socklabv1.Result{Address: addr("127.0.0.1", 5000), Truncated: true, DatagramLength: 100})),
			"(b'0123456789', ('127.0.0.1', 5000)) [truncated: 100-byte datagram]"},
		{"recvfrom truncated length unknown", op(client.RecvFrom(1, 0), payload("0", 1),
			result(&socklabv1.Result{Address: addr("127.0.0.1", 5000), Truncated: true})),
			"(b'0', ('127.0.0.1', 5000)) [truncated]"},
		{"shutdown", op(client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_WR)), "None"},
		{"shutdown not connected", op(client.Shutdown(socklabv1.ShutdownHow_SHUTDOWN_HOW_WR),
			sockErr("ENOTCONN", 107, "Transport endpoint is not connected")), "ENOTCONN [Errno 107] Transport endpoint is not connected"},
		{"close", op(client.Close()), "None"},
		{"getsockname", op(client.GetSockName(), result(&socklabv1.Result{Address: addr("127.0.0.1", 8080)})), "('127.0.0.1', 8080)"},
		{"getsockname unbound", op(client.GetSockName(), result(&socklabv1.Result{Address: addr("0.0.0.0", 0)})), "('0.0.0.0', 0)"},
		{"getpeername", op(client.GetPeerName(), result(&socklabv1.Result{Address: addr("127.5.0.2", 8080)})), "('127.5.0.2', 8080)"},
		{"getpeername not connected", op(client.GetPeerName(), sockErr("ENOTCONN", 107, "Transport endpoint is not connected")),
			"ENOTCONN [Errno 107] Transport endpoint is not connected"},
		{"settimeout", op(client.SetTimeout(0.5)), "None"},
		{"setblocking", op(client.SetBlocking(false)), "None"},
		{"gettimeout none", op(client.GetTimeout(), result(&socklabv1.Result{})), "None"},
		{"getblocking true", op(client.GetBlocking(), result(&socklabv1.Result{Value: 1})), "True"},
		{"getblocking false", op(client.GetBlocking(), result(&socklabv1.Result{})), "False"},
		{"gettimeout", op(client.GetTimeout(), result(&socklabv1.Result{TimeoutSeconds: ptr(0.5)})), "0.5"},
		{"gettimeout non-blocking", op(client.GetTimeout(), result(&socklabv1.Result{TimeoutSeconds: ptr(0.0)})), "0.0"},
		{"ss none", op(&socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{}}},
			result(&socklabv1.Result{})), "[] (no such socket)"},
		{"ss rows", op(&socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{}}},
			result(&socklabv1.Result{Sockets: []*socklabv1.KernelSocket{
				{Protocol: "tcp", State: "LISTEN", Local: addr("127.0.0.1", 8080)},
				{Protocol: "tcp", State: "ESTAB", Local: addr("::1", 8080), Peer: addr("::1", 43210)},
			}})), "2 row(s): tcp LISTEN 127.0.0.1:8080, tcp ESTAB [::1]:8080 -> [::1]:43210"},
		{"sysctl", op(&socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: "net.core.somaxconn"}}},
			result(&socklabv1.Result{Found: true, Text: "4096"})), "'4096'"},
		{"sysctl missing", op(&socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: "net.x"}}},
			result(&socklabv1.Result{})), "None (no such knob on this kernel)"},
		{"send_bulk", op(client.SendBulk(1<<20), result(&socklabv1.Result{Value: 1 << 20})), "1048576"},
		{"drain", op(client.Drain(1000), result(&socklabv1.Result{Value: 1000, Checksum: 0xbeef})), "(1000, 0x0000beef)"},
		{"connect_many none", op(client.ConnectMany("127.0.0.1", 8080, 0), result(&socklabv1.Result{})), "[]"},
		{"connect_many one", op(client.ConnectMany("127.0.0.1", 8080, 1), result(&socklabv1.Result{Handles: []uint32{3}})), "[s3]"},
		{"connect_many", op(client.ConnectMany("127.0.0.1", 8080, 3), result(&socklabv1.Result{Handles: []uint32{3, 4, 5}})),
			"[s3 ... s5] (3 sockets)"},
		{"serve", op(client.Serve(socklabv1.Behaviour_BEHAVIOUR_UPPER)), "None"},
		{"no operation", &socklabv1.Event{Op: "fileno"}, "None"},
		{"nil event", nil, "None"},
		{"error without errno or name", op(client.Close(), sockErr("", 0, "something broke")), "something broke"},
		{"error with only a name", op(client.Close(), sockErr("cancelled", 0, "")), "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Outcome(tc.ev); got != tc.want {
				t.Errorf("Outcome() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBytesPythonRepr compares Bytes with testdata/pyrepr.txt: CPython's repr of every
// single byte and of 200 random strings heavy in quotes, backslashes and control bytes,
// written once by python3 (the file's first line says which).
func TestBytesPythonRepr(t *testing.T) {
	f, err := os.Open("testdata/pyrepr.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		h, want, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("pyrepr.txt: no tab in %q", line)
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("pyrepr.txt: %v", err)
		}
		if got := Bytes(b, 0, 0); got != want {
			t.Errorf("Bytes(%x) = %s, want %s", b, got, want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 256 {
		t.Errorf("pyrepr.txt has %d cases, want at least 256", n)
	}
}

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *socklabv1.Address
		want string
	}{
		{"nil", nil, "None"},
		{"inet", addr("127.0.0.1", 8080), "('127.0.0.1', 8080)"},
		{"any", addr("", 80), "('', 80)"},
		{"unix", &socklabv1.Address{Path: "/tmp/s.sock"}, "'/tmp/s.sock'"},
		{"unix with a quote", &socklabv1.Address{Path: "/tmp/it's"}, `"/tmp/it's"`},
		{"unix with odd characters", &socklabv1.Address{Path: "a\n\u0080é\u00a0"}, `'a\n\x80é\xa0'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Address(tc.in); got != tc.want {
				t.Errorf("Address() = %s, want %s", got, tc.want)
			}
		})
	}
}
