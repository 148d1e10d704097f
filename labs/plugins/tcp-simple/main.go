// Command tcp-simple is the tcp-simple lesson (labs/tcp-simple.star) as a lab plugin in
// Go: one TCP message, echoed upper-cased (the tutorial's programs 1 and 2). It performs
// the Starlark lab's operations in the same order, so that both record the same
// transcript.
//
//	go build -o /tmp/tcp-simple ./labs/plugins/tcp-simple
//	socklab run /tmp/tcp-simple
package main

import (
	"bytes"

	"github.com/socklab/socklab/labs/plugins/lab"
)

func main() {
	lab.Main(lab.Spec{
		Name:    "tcp-simple",
		Summary: "One TCP message echoed upper-cased (tutorial programs 1 and 2)",
		Doc: `The server binds, listens and accepts one client; the client connects and sends b"hello";
the server sends it back upper-cased; then both close, and the server's recv returns b""
once the client has gone: that empty result is how a program learns its peer left.`,
		Hosts:  []string{"server", "client"},
		Params: []lab.Param{{Name: "port", Default: 8080}, {Name: "message", Default: []byte("hello")}},
		Checks: []lab.Check{
			{ID: "server-receives", Description: "the server receives exactly what the client sent"},
			{ID: "client-gets-upper", Description: "the client receives the message upper-cased"},
			{ID: "eof-after-close", Description: "the server's recv returns b'' once the client has closed"},
		},
	}, run)
}

func run(t *lab.T) {
	server, client := t.Host("server"), t.Host("client")
	port, message := t.Int("port"), t.Bytes("message")

	srv := listener(server, port)
	cli := connect(client, server, port)
	conn, _ := srv.Accept()
	t.Say("the client says %s", message)
	cli.Send(message)
	got := conn.Recv(1024)
	t.Check("server-receives", bytes.Equal(got, message), lab.Got(got), lab.Want(message))
	conn.Send(bytes.ToUpper(got))
	reply := cli.Recv(1024)
	t.Check("client-gets-upper", bytes.Equal(reply, bytes.ToUpper(message)), lab.Got(reply), lab.Want(bytes.ToUpper(message)))
	cli.Close()
	t.Check("eof-after-close", len(conn.Recv(1024)) == 0)
	conn.Close()
	srv.Close()
}

// listener returns a TCP socket on host listening on port (labs/lib/net.star's listener).
func listener(host *lab.Host, port int) *lab.Socket {
	s := host.Socket(lab.AF_INET, lab.SOCK_STREAM)
	s.Bind(host.IP, port)
	s.Listen(5)
	return s
}

// connect returns a TCP socket on host connected to server's port (net.star's connect).
func connect(host, server *lab.Host, port int) *lab.Socket {
	s := host.Socket(lab.AF_INET, lab.SOCK_STREAM)
	s.Connect(server.IP, port)
	return s
}
