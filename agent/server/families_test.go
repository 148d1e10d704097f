package server_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
)

// TestIPv6: TCP and UDP over ::1, and IPV6_V6ONLY deciding whether an IPv4 client reaches
// a listener on the IPv6 any address.
func TestIPv6(t *testing.T) {
	// The dual-stack listener below binds the wildcard, which the owner must allow.
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) {
		p.Binds = append(p.Binds, netip.MustParsePrefix("::/128"))
	}))
	s := a.Session(t, 0)

	lis := s.OK(0, client.SocketOf(client.Inet6, client.Stream)).GetEvent().GetResult().GetHandle()
	s.OK(lis, client.Bind("::1", 0))
	s.OK(lis, client.Listen(1))
	port := int(s.OK(lis, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	cli := s.OK(0, client.SocketOf(client.Inet6, client.Stream)).GetEvent().GetResult().GetHandle()
	s.OK(cli, client.Connect("::1", port))
	acc := s.OK(lis, client.Accept()).GetEvent().GetResult()
	if acc.GetAddress().GetHost() != "::1" {
		t.Errorf("accept over IPv6 from %v, want ::1", acc.GetAddress())
	}
	s.OK(cli, client.Send([]byte("six"), 0))
	if got := s.OK(acc.GetHandle(), client.Recv(10, 0)).GetData(); string(got) != "six" {
		t.Errorf("recv over IPv6 = %q, want %q", got, "six")
	}
	if e := s.Errno(cli, client.Connect("::1", port)); e != "EISCONN" {
		t.Errorf("connect again = %q, want EISCONN", e)
	}
	// An IPv4 address does not resolve for AF_INET6: gaierror, as CPython's getaddrinfo.
	if e := s.Errno(cli, client.Connect("127.0.0.1", port)); e != "gaierror" {
		t.Errorf("connect to an IPv4 address on AF_INET6 = %q, want gaierror", e)
	}

	u := s.OK(0, client.SocketOf(client.Inet6, client.Dgram)).GetEvent().GetResult().GetHandle()
	s.OK(u, client.Bind("::1", 0))
	uport := int(s.OK(u, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	tx := s.OK(0, client.SocketOf(client.Inet6, client.Dgram)).GetEvent().GetResult().GetHandle()
	s.OK(tx, client.SendTo([]byte("dgram6"), 0, "::1", uport))
	resp := s.OK(u, client.RecvFrom(100, 0))
	if string(resp.GetData()) != "dgram6" || resp.GetEvent().GetResult().GetAddress().GetHost() != "::1" {
		t.Errorf("recvfrom over IPv6 = %q from %v", resp.GetData(), resp.GetEvent().GetResult().GetAddress())
	}

	for _, tc := range []struct {
		v6only int64
		want   string // the IPv4 client's connect error, "" for success
	}{{0, ""}, {1, "ECONNREFUSED"}} {
		l := s.OK(0, client.SocketOf(client.Inet6, client.Stream)).GetEvent().GetResult().GetHandle()
		s.OK(l, client.SetSockOpt(client.IPPROTO_IPV6, client.IPV6_V6ONLY, tc.v6only))
		if got := s.OK(l, client.GetSockOpt(client.IPPROTO_IPV6, client.IPV6_V6ONLY)).GetEvent().GetResult().GetValue(); got != tc.v6only {
			t.Errorf("getsockopt(IPV6_V6ONLY) = %d, want %d", got, tc.v6only)
		}
		s.OK(l, client.Bind("", 0)) // the IPv6 any address, "::"
		s.OK(l, client.Listen(1))
		p := int(s.OK(l, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
		c4 := s.Socket(client.Stream)
		if e := s.Errno(c4, client.Connect("127.0.0.1", p)); e != tc.want {
			t.Errorf("IPv4 connect to [::]:%d with IPV6_V6ONLY=%d = %q, want %q", p, tc.v6only, e, tc.want)
		}
		if tc.want == "" {
			if from := s.OK(l, client.Accept()).GetEvent().GetResult().GetAddress().GetHost(); from != "::ffff:127.0.0.1" {
				t.Errorf("the IPv6 listener sees the IPv4 client as %s, want ::ffff:127.0.0.1", from)
			}
		}
	}
	if e := s.Errno(u, client.SendTo([]byte("x"), 0, "<broadcast>", 9)); e != "OSError" {
		t.Errorf("<broadcast> on AF_INET6 = %q, want OSError (address family mismatched)", e)
	}
}

// TestUnixSockets: AF_UNIX stream and datagram sockets live in the session's own
// directory, show the names the lab gave them, and vanish with the session.
func TestUnixSockets(t *testing.T) {
	root := t.TempDir()
	a := agenttest.Start(t, agenttest.WithPolicy(func(p *policy.Policy) { p.SessionRoot = root }))
	s := a.Session(t, 0)

	lis := s.OK(0, client.SocketOf(client.Unix, client.Stream)).GetEvent().GetResult().GetHandle()
	s.OK(lis, client.BindPath("server.sock"))
	s.OK(lis, client.Listen(1))
	if got := s.OK(lis, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPath(); got != "server.sock" {
		t.Errorf("getsockname = %q, want the name the lab gave, server.sock", got)
	}
	matches, _ := filepath.Glob(filepath.Join(root, "*", "server.sock"))
	if len(matches) != 1 {
		t.Fatalf("server.sock in the session's directory: %v, want exactly one", matches)
	}
	cli := s.OK(0, client.SocketOf(client.Unix, client.Stream)).GetEvent().GetResult().GetHandle()
	s.OK(cli, client.ConnectPath("server.sock"))
	conn := s.OK(lis, client.Accept()).GetEvent().GetResult().GetHandle()
	s.OK(cli, client.SendAll([]byte("over a file"), 0))
	if got := s.OK(conn, client.Recv(100, 0)).GetData(); string(got) != "over a file" {
		t.Errorf("recv over AF_UNIX = %q", got)
	}
	if e := s.Errno(s.OK(0, client.SocketOf(client.Unix, client.Stream)).GetEvent().GetResult().GetHandle(), client.ConnectPath("nobody.sock")); e != "ENOENT" {
		t.Errorf("connect to a missing path = %q, want ENOENT", e)
	}

	rx := s.OK(0, client.SocketOf(client.Unix, client.Dgram)).GetEvent().GetResult().GetHandle()
	s.OK(rx, client.BindPath("rx.sock"))
	tx := s.OK(0, client.SocketOf(client.Unix, client.Dgram)).GetEvent().GetResult().GetHandle()
	s.OK(tx, client.BindPath("tx.sock"))
	s.OK(tx, client.SendToPath([]byte("note"), "rx.sock"))
	resp := s.OK(rx, client.RecvFrom(100, 0))
	if string(resp.GetData()) != "note" || resp.GetEvent().GetResult().GetAddress().GetPath() != "tx.sock" {
		t.Errorf("recvfrom = %q from %v, want \"note\" from tx.sock", resp.GetData(), resp.GetEvent().GetResult().GetAddress())
	}

	for _, p := range []string{"/tmp/evil.sock", "../escape.sock", "a/../../escape.sock"} {
		h := s.OK(0, client.SocketOf(client.Unix, client.Dgram)).GetEvent().GetResult().GetHandle()
		if _, err := s.Session.Do(t.Context(), h, client.BindPath(p)); !errors.Is(err, errdefs.ErrPermissionDenied) {
			t.Errorf("bind(%q): %v, want PermissionDenied", p, err)
		}
	}
	if _, err := s.Session.Do(t.Context(), rx, client.Bind("127.0.0.1", 0)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bind((host, port)) on AF_UNIX: %v, want InvalidArgument", err)
	}
	if _, err := s.Session.Do(t.Context(), s.Socket(client.Stream), client.BindPath("x.sock")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bind(path) on AF_INET: %v, want InvalidArgument", err)
	}

	if _, err := s.Session.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("after the session closed, its directory remains: %v", left)
	}
}
