package server_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
)

// TestWildcardDestinationIsThisHost: connect and sendto to the wildcard reach the agent's
// own host, as the kernel takes 0.0.0.0 from a socket with the host's address, and the
// policy judges them so: an agent confined to its host's network (the local topology's
// for remote labs) reaches itself at ('0.0.0.0', port), while '::', which the kernel takes
// to ::1, stays outside that network.
func TestWildcardDestinationIsThisHost(t *testing.T) {
	const host = "127.93.0.2"
	own := []netip.Prefix{netip.MustParsePrefix("127.93.0.0/24")}
	a := agenttest.Start(t, agenttest.HostIP(host), agenttest.WithPolicy(func(p *policy.Policy) {
		p.Networks, p.Binds = own, own
	}))
	s := a.Session(t, 0)

	lis, port := s.Listener(host, 4)
	c := s.Socket(client.Stream)
	s.OK(c, client.Connect("0.0.0.0", port))
	if peer := s.OK(c, client.GetPeerName()).GetEvent().GetResult().GetAddress().GetHost(); peer != host {
		t.Errorf("connect to ('0.0.0.0', %d) reached %s, want the host, %s", port, peer, host)
	}
	s.OK(lis, client.Accept())
	if code := s.OK(s.Socket(client.Stream), client.ConnectEx("0.0.0.0", port)).GetEvent().GetResult().GetValue(); code != 0 {
		t.Errorf("connect_ex to ('0.0.0.0', %d) = %d, want 0", port, code)
	}
	if hs := s.OK(0, client.ConnectMany("0.0.0.0", port, 2)).GetEvent().GetResult().GetHandles(); len(hs) != 2 {
		t.Errorf("connect_many to ('0.0.0.0', %d) opened %d connections, want 2", port, len(hs))
	}

	rx := s.Socket(client.Dgram)
	s.OK(rx, client.Bind(host, 0))
	rport := int(s.OK(rx, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort())
	tx := s.Socket(client.Dgram)
	s.OK(tx, client.SendTo([]byte("here"), 0, "0.0.0.0", rport))
	resp := s.OK(rx, client.RecvFrom(10, 0))
	if string(resp.GetData()) != "here" || resp.GetEvent().GetResult().GetAddress().GetHost() != host {
		t.Errorf("recvfrom after sendto ('0.0.0.0', %d) = %q from %v, want %q from %s", rport, resp.GetData(), resp.GetEvent().GetResult().GetAddress(), "here", host)
	}

	c6 := s.OK(0, client.SocketOf(client.Inet6, client.Stream)).GetEvent().GetResult().GetHandle()
	if _, err := s.Session.Do(t.Context(), c6, client.Connect("::", port)); !errors.Is(err, errdefs.ErrPermissionDenied) {
		t.Errorf("connect to ('::', %d), which is ::1, outside the agent's networks: %v, want PermissionDenied", port, err)
	}
}
