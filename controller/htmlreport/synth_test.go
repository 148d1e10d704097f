package htmlreport_test

import (
	"fmt"
	"time"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// pingPongHeader is the header of the run pingPong makes.
func pingPongHeader() transcript.Header {
	return transcript.Header{RunID: "run-0000000000000001", Lab: "ping-pong", Summary: "a synthesised ping-pong",
		Hosts:  []transcript.Host{{Role: "client", Address: "127.9.0.2"}, {Role: "server", Address: "127.9.0.3"}},
		Checks: []transcript.Check{{ID: "all-pongs", Description: "every ping gets its pong", MaxPoints: 1}}}
}

// pingPongResult is how the run pingPong makes ended.
func pingPongResult() *transcript.Result {
	h := pingPongHeader()
	return &transcript.Result{Header: h, Checks: []transcript.Check{{ID: "all-pongs", Description: "every ping gets its pong",
		MaxPoints: 1, Passed: true, Reached: true}}}
}

// pingPong yields n transcript entries (n >= 6) of a TCP ping-pong between a client
// and a server, as the runner would merge them: a connection, then "ping K" and "pong
// K" back and forth. It holds nothing but the entry it yields, so a run of any length
// costs the same memory.
func pingPong(n int, yield func(transcript.Entry)) {
	cli := &socklabv1.Address{Host: "127.9.0.2", Port: 40000}
	srv := &socklabv1.Address{Host: "127.9.0.3", Port: 8080}
	var seq [2]uint64
	at := time.Duration(0)
	emit := func(host int, handle uint32, op *socklabv1.Operation, name string, res *socklabv1.Result, payload []byte, off uint64, local, peer *socklabv1.Address) {
		seq[host]++
		at += 50 * time.Microsecond
		ev := &socklabv1.Event{Kind: socklabv1.EventKind_EVENT_KIND_OPERATION, Seq: seq[host], Handle: handle, Op: name, Operation: op,
			Result: res, Payload: payload, PayloadLength: uint64(len(payload)), StreamOffset: off, Local: local, Peer: peer}
		role, addr := "client", "127.9.0.2"
		if host == 1 {
			role, addr = "server", "127.9.0.3"
		}
		ev.Host, ev.Role = addr, role
		yield(transcript.Entry{Kind: transcript.Operation, At: at, Duration: 20 * time.Microsecond, Host: role, Address: addr, Event: ev,
			Pos: "ping-pong.star:" + fmt.Sprint(10+len(name))})
	}
	stream := &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: socklabv1.Family_FAMILY_INET, Type: socklabv1.SocketType_SOCKET_TYPE_STREAM}}}
	emit(1, 0, stream, "socket", &socklabv1.Result{Handle: 1}, nil, 0, nil, nil)
	emit(1, 1, &socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: srv}}}, "bind", &socklabv1.Result{}, nil, 0, srv, nil)
	emit(1, 1, &socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: &socklabv1.ListenOp{}}}, "listen", &socklabv1.Result{}, nil, 0, srv, nil)
	emit(0, 0, stream, "socket", &socklabv1.Result{Handle: 1}, nil, 0, nil, nil)
	emit(0, 1, &socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: srv}}}, "connect", &socklabv1.Result{}, nil, 0, cli, srv)
	emit(1, 1, &socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}}, "accept", &socklabv1.Result{Handle: 2, Address: cli}, nil, 0, srv, nil)
	send := func() *socklabv1.Operation {
		return &socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{}}}
	}
	recv := &socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: 1024}}}
	var up, down uint64 // stream offsets
	for i := 6; i < n; i++ {
		k := (i - 6) / 4
		switch (i - 6) % 4 {
		case 0:
			p := fmt.Appendf(nil, "ping %d\n", k)
			emit(0, 1, send(), "sendall", &socklabv1.Result{Value: int64(len(p))}, p, up, cli, srv)
		case 1:
			p := fmt.Appendf(nil, "ping %d\n", k)
			emit(1, 2, recv, "recv", &socklabv1.Result{}, p, up, srv, cli)
			up += uint64(len(p))
		case 2:
			p := fmt.Appendf(nil, "pong %d\n", k)
			emit(1, 2, send(), "sendall", &socklabv1.Result{Value: int64(len(p))}, p, down, srv, cli)
		case 3:
			p := fmt.Appendf(nil, "pong %d\n", k)
			emit(0, 1, recv, "recv", &socklabv1.Result{}, p, down, cli, srv)
			down += uint64(len(p))
		}
	}
}
