package policy

import (
	"net/netip"
	"testing"
	"time"
)

func TestParsePortRanges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"1024-65535", "1024-65535", false},
		{"8080, 9000-9010", "8080,9000-9010", false},
		{"0-80", "", true},
		{"9000-80", "", true},
		{"70000", "", true},
		{"", "", true},
		{"http", "", true},
	} {
		got, err := ParsePortRanges(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParsePortRanges(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil {
			p := Policy{Ports: got}
			if s := p.PortsString(); s != tc.want {
				t.Errorf("ParsePortRanges(%q) = %s, want %s", tc.in, s, tc.want)
			}
		}
	}
}

func TestDestinations(t *testing.T) {
	nets, err := ParseNetworks([]string{"10.1.0.0/16,192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Networks: append(Loopback(), append(nets, netip.MustParsePrefix("255.255.255.255/32"))...)}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.9.8.7", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.200.3", true},
		{"10.2.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"0.0.0.0", true}, // this host, on loopback: allowed as 127.0.0.1 is
		{"8.8.8.8", false},
		{"10.1.255.255", false},   // the listed subnet's broadcast address
		{"10.1.0.0", true},        // its network address is an address like another
		{"255.255.255.255", true}, // listed on its own
	} {
		if got := p.AllowsDestination(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("AllowsDestination(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if q := (Policy{Networks: nets}); q.AllowsDestination(netip.MustParseAddr("0.0.0.0")) || q.AllowsDestination(netip.MustParseAddr("255.255.255.255")) {
		t.Error("without loopback, the wildcard (this host) is allowed; or a broadcast not listed is")
	}
	if _, err := ParseNetworks([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseNetworks(10.0.0.0/33) succeeded, want an error")
	}
}

func TestDefaultNeverAllowsTheWideNetwork(t *testing.T) {
	p := Default()
	for _, ip := range []string{"8.8.8.8", "1.1.1.1", "2001:4860::8888"} {
		if p.AllowsDestination(netip.MustParseAddr(ip)) {
			t.Errorf("the default policy allows %s: an agent must not be an open relay", ip)
		}
	}
	if p.AllowsBindPort(80) || !p.AllowsBindPort(0) || !p.AllowsBindPort(8080) {
		t.Error("the default bind ports should be 0 and 1024-65535")
	}
}

func TestLeaseAndPayloadClamps(t *testing.T) {
	p := Default()
	if got := p.Lease(0); got != p.DefaultLease {
		t.Errorf("Lease(0) = %v, want the default %v", got, p.DefaultLease)
	}
	if got := p.Lease(time.Nanosecond); got != p.MinLease {
		t.Errorf("Lease(1ns) = %v, want the minimum %v", got, p.MinLease)
	}
	if got := p.Lease(100 * time.Hour); got != p.MaxLease {
		t.Errorf("Lease(100h) = %v, want the maximum %v", got, p.MaxLease)
	}
	if got := p.PayloadCap(1 << 30); got != p.MaxPayloadCap {
		t.Errorf("PayloadCap(1GiB) = %d, want %d", got, p.MaxPayloadCap)
	}
}

// TestBinds: bind takes the host's address and the listed ones, and the wildcard only
// when listed.
func TestBinds(t *testing.T) {
	host := netip.MustParseAddr("10.1.2.3")
	p := Default()
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true}, {"127.0.0.1", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"0.0.0.0", false}, {"::", false}, {"10.1.2.4", false}, {"192.168.1.1", false},
	} {
		if got := p.AllowsBindAddr(netip.MustParseAddr(tc.ip), host); got != tc.want {
			t.Errorf("default policy: AllowsBindAddr(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	p.Binds = append(p.Binds, netip.MustParsePrefix("0.0.0.0/32"))
	if !p.AllowsBindAddr(netip.IPv4Unspecified(), host) {
		t.Error("with 0.0.0.0 listed, the IPv4 wildcard is refused")
	}
}
