package kernel

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestParseRow(t *testing.T) {
	// Rows as /proc/net/tcp and tcp6 print them.
	s, err := parseRow("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if s.Local != netip.MustParseAddrPort("127.0.0.1:8080") || s.State != "LISTEN" || s.RecvQ != 3 || s.Inode != 12345 || s.UID != 1000 || s.Peer.IsValid() {
		t.Errorf("parseRow(tcp) = %+v", s)
	}
	s, err = parseRow("   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A2C4 06 00000000:00000000 03:00000F8E 00000000     0        0 0 3 0000000000000000", "tcp6")
	if err != nil {
		t.Fatal(err)
	}
	if s.Local != netip.MustParseAddrPort("[::1]:8080") || s.Peer != netip.MustParseAddrPort("[::1]:41668") || s.State != "TIME_WAIT" {
		t.Errorf("parseRow(tcp6) = %+v", s)
	}
}

// TestSocketsSeesRealStates: a real listener, a connection, and the TIME_WAIT its active
// close leaves, found through the filter.
func TestSocketsSeesRealStates(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	port := uint16(lis.Addr().(*net.TCPAddr).Port)
	rows, err := Sockets(Filter{Port: port, State: "LISTEN"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Protocol != "tcp" || rows[0].Inode == 0 {
		t.Fatalf("Sockets(port %d, LISTEN) = %+v, want the one listener", port, rows)
	}
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cliPort := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	c.Close() // the client closes first: its end goes to TIME_WAIT
	buf := make([]byte, 1)
	srv.Read(buf)
	srv.Close()
	// Other tests' connections may share the port number (as a peer's, or as a TIME_WAIT
	// of an earlier run): only this connection's two ends count.
	ours := func(rows []Socket) (client, server []Socket) {
		for _, r := range rows {
			switch {
			case r.Local.Port() == cliPort && r.Peer.Port() == port:
				client = append(client, r)
			case r.Local.Port() == port && r.Peer.Port() == cliPort:
				server = append(server, r)
			}
		}
		return client, server
	}
	var tw, cliTW, srvTW []Socket
	for deadline := time.Now().Add(5 * time.Second); len(cliTW) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tw, _ = Sockets(Filter{Port: port, State: "time-wait", Protocol: "tcp"})
		cliTW, srvTW = ours(tw)
	}
	if len(cliTW) != 1 || len(srvTW) != 0 {
		t.Errorf("Sockets(TIME_WAIT, port %d) = %+v: want the client's end (port %d) of this connection, not the server's", port, tw, cliPort)
	}
}

func TestSysctl(t *testing.T) {
	if _, found, err := Sysctl("net.ipv4.tcp_fin_timeout"); err != nil || !found {
		t.Errorf("Sysctl(tcp_fin_timeout) found %v, %v; want it on any Linux", found, err)
	}
	if _, found, err := Sysctl("net.ipv4.tcp_tw_recycle_not_a_knob"); err != nil || found {
		t.Errorf("Sysctl(missing knob) found %v, %v; want not found, no error", found, err)
	}
	for _, bad := range []string{"kernel.hostname", "net.ipv4../../../etc/passwd", "net.ipv4."} {
		if _, _, err := Sysctl(bad); err == nil {
			t.Errorf("Sysctl(%q) succeeded, want it refused", bad)
		}
	}
}
