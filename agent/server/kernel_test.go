package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/agenttest"
	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

func ss(port int, state string) *socklabv1.Operation {
	return &socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{Port: uint32(port), State: state}}}
}

// TestKernelView: ss finds a listener without connecting to it, and the TIME_WAIT an
// active close leaves behind; sysctl tells which knobs exist.
func TestKernelView(t *testing.T) {
	a := agenttest.Start(t)
	s := a.Session(t, 0)
	lis, port := s.Listener("127.0.0.1", 1)
	rows := s.OK(0, ss(port, "LISTEN")).GetEvent().GetResult().GetSockets()
	if len(rows) != 1 || rows[0].GetLocal().GetPort() != uint32(port) || rows[0].GetInode() == 0 {
		t.Fatalf("ss(port %d, LISTEN) = %v, want the one listener with its inode", port, rows)
	}
	cli := s.Socket(client.Stream)
	s.OK(cli, client.Connect("127.0.0.1", port))
	cliPort := s.OK(cli, client.GetSockName()).GetEvent().GetResult().GetAddress().GetPort()
	conn := s.OK(lis, client.Accept()).GetEvent().GetResult().GetHandle()
	s.OK(conn, client.Close()) // the server closes first: its end waits in TIME_WAIT
	s.OK(cli, client.Recv(10, 0))
	s.OK(cli, client.Close())
	tw := s.OK(0, ss(port, "TIME_WAIT")).GetEvent().GetResult().GetSockets()
	// Other tests' connections may share the port number (as a peer's, or as a TIME_WAIT
	// of an earlier run): only this connection's two ends count.
	var server, clientEnd int
	for _, r := range tw {
		switch {
		case r.GetLocal().GetPort() == uint32(port) && r.GetPeer().GetPort() == cliPort:
			server++
		case r.GetLocal().GetPort() == cliPort && r.GetPeer().GetPort() == uint32(port):
			clientEnd++
		}
	}
	if server != 1 || clientEnd != 0 {
		t.Errorf("ss(port %d, TIME_WAIT) = %v: want the server's end of this connection (client port %d), not the client's", port, tw, cliPort)
	}

	sysctl := func(name string) *socklabv1.Result {
		return s.OK(0, &socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: name}}}).GetEvent().GetResult()
	}
	if r := sysctl("net.ipv4.tcp_fin_timeout"); !r.GetFound() || r.GetText() == "" {
		t.Errorf("sysctl(tcp_fin_timeout) = %v, want a value", r)
	}
	netstat := func(name string) *socklabv1.Result {
		return s.OK(0, &socklabv1.Operation{Op: &socklabv1.Operation_Netstat{Netstat: &socklabv1.NetstatOp{Name: name}}}).GetEvent().GetResult()
	}
	// The kernel's counters rise with what the host does: a connection just opened.
	if r := netstat("Tcp.ActiveOpens"); !r.GetFound() || r.GetValue() < 1 {
		t.Errorf("netstat(Tcp.ActiveOpens) = %v, want at least this test's own connection", r)
	}
	if r := netstat("TcpExt.TCPTimeouts"); !r.GetFound() {
		t.Errorf("netstat(TcpExt.TCPTimeouts) = %v, want a counter of /proc/net/netstat", r)
	}
	if r := netstat("Tcp.NoSuchCounter"); r.GetFound() {
		t.Errorf("netstat(Tcp.NoSuchCounter) = %v, want not found", r)
	}
	// A fault needs an agent whose owner allows them: this one shares the machine's network.
	fault := &socklabv1.Operation{Op: &socklabv1.Operation_Fault{Fault: &socklabv1.FaultOp{Peer: "127.0.0.2", Kind: socklabv1.FaultKind_FAULT_KIND_DOWN}}}
	if _, err := s.Session.Do(t.Context(), 0, fault); !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), "--topology netns or docker") {
		t.Errorf("fault on an agent that shares its machine's network: %v, want PermissionDenied naming the topologies that allow it", err)
	}
	if r := sysctl("net.ipv4.tcp_tw_recycle"); r.GetFound() {
		t.Logf("this kernel still has tcp_tw_recycle (%s): older than 4.12", r.GetText())
	}
	for _, tc := range []struct {
		h  uint32
		op *socklabv1.Operation
	}{
		{lis, ss(port, "")},
		{0, &socklabv1.Operation{Op: &socklabv1.Operation_Sysctl{Sysctl: &socklabv1.SysctlOp{Name: "kernel.hostname"}}}},
		{0, &socklabv1.Operation{Op: &socklabv1.Operation_Ss{Ss: &socklabv1.SsOp{Protocol: "sctp"}}}},
		{0, &socklabv1.Operation{Op: &socklabv1.Operation_Netstat{Netstat: &socklabv1.NetstatOp{Name: "../snmp"}}}},
	} {
		if _, err := s.Session.Do(t.Context(), tc.h, tc.op); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Perform(handle %d, %v): %v, want InvalidArgument", tc.h, tc.op, err)
		}
	}
}
