package topology

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/netns"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
)

// Netns gives each lab host a network namespace of its own, on a bridge made for the
// run: its own addresses (10.R.S.N/24, R and S chosen per run, inside the namespaces
// only), its own loopback and its own port space, so that two hosts can both bind
// 127.0.0.1:8080. The bridge lives in a namespace of its own too (the run's switch),
// so that nothing of the run is in this host's namespace: neither its firewall (Docker's
// forwarding rules) nor its routes see the run's traffic. The agents run inside this
// process, each making its sockets and starting its programs in its host's namespace;
// the controller reaches them on loopback. It needs root.
//
// A run's namespaces are named for their owner (Owner): socklab-OWNER-RUN-N, and
// socklab-OWNER-RUN-switch. Close removes them; CleanNetns removes what a dead owner
// left, never a live run's.
//
// Without root, where the kernel allows unprivileged user namespaces, the run's
// namespaces are made by a child process (this binary again, see Init) that is root of a
// user namespace of its own; its agents serve on Unix sockets in a directory of the run,
// and everything of the run ends with that child.
type Netns struct {
	// Programs are the programs the agents may start (host.spawn); none when empty.
	Programs []string
	// ProgramsRefusal, when set, is what the agents answer a spawn of anything else.
	ProgramsRefusal string

	dir     string // where the namespaces are bound; "" is netnsDir
	sockets string // where the agents serve, on Unix sockets; "" is loopback TCP
}

var _ Topology = Netns{}

// netnsDir is where named network namespaces are bound, as ip netns does.
const netnsDir = "/run/netns"

// ownedPrefix starts the names of a run's namespaces.
const ownedPrefix = "socklab-"

// Start makes the run's switch (a namespace holding a bridge), one namespace per role
// joined to it by a veth, and one agent per namespace, and returns them once all listen.
func (n Netns) Start(ctx context.Context, roles []string) (_ Pool, err error) {
	if len(roles) > 250 {
		return nil, fmt.Errorf("netns topology: %d hosts is more than 250", len(roles))
	}
	if os.Geteuid() != 0 {
		return n.startUnprivileged(ctx, roles)
	}
	dir := n.dir
	if dir == "" {
		dir = netnsDir
		_, _ = CleanNetns() // what killed runs left; a live run's is never touched
	}
	owner, err := Self()
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	run, err := randomHex(3)
	if err != nil {
		return nil, err
	}
	tag := ownedPrefix + owner.String() + "-" + run
	r, err := rand.Int(rand.Reader, big.NewInt(256*256))
	if err != nil {
		return nil, err
	}
	subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.Int64() / 256), byte(r.Int64() % 256), 0}), 24)
	token, err := randomHex(16)
	if err != nil {
		return nil, err
	}

	p := &netnsPool{dir: dir}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	sw, err := p.namespace(tag + "-switch")
	if err != nil {
		return nil, fmt.Errorf("netns topology: %w", err)
	}
	defer sw.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := sw.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("netns topology: bridge: %w", err)
	}
	if err := sw.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("netns topology: bridge up: %w", err)
	}
	for i, role := range roles {
		ip := subnet.Addr().As4()
		ip[3] = byte(2 + i)
		addr := netip.AddrFrom4(ip)
		name := fmt.Sprintf("%s-%d", tag, i)
		if err := p.addHost(sw, br, name, i, netip.PrefixFrom(addr, 24)); err != nil {
			return nil, fmt.Errorf("netns topology: host %s: %w", role, err)
		}
		ns, err := netns.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("netns topology: host %s: %w", role, err)
		}
		lis, target, err := n.listen(i)
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("netns topology: agent for %s: %w", role, err)
		}
		pol := policy.Default()
		// Its own loopback, the run's subnet, and a broadcast that goes no further than
		// the run's bridge.
		pol.Networks = append(policy.Loopback(), subnet, netip.PrefixFrom(broadcastOf(subnet), 32), netip.MustParsePrefix("255.255.255.255/32"))
		pol.Programs, pol.ProgramsRefusal = n.Programs, n.ProgramsRefusal
		pol.Faults = true      // the host's own namespace: its links may fail,
		pol.Binds = everywhere // and its interfaces are its own
		a, err := serveAgent(lis, server.Config{Name: role, HostIP: addr, Token: token, Policy: pol, NetNS: ns})
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("netns topology: agent for %s: %w", role, err)
		}
		p.agents = append(p.agents, a)
		p.handles = append(p.handles, ns)
		p.hosts = append(p.hosts, Host{Role: role, IP: addr, Target: target, Token: token})
	}
	return p, nil
}

// listen returns the listener of host i's agent and the target that dials it.
func (n Netns) listen(i int) (net.Listener, string, error) {
	if n.sockets == "" {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		return lis, lis.Addr().String(), nil
	}
	path := filepath.Join(n.sockets, fmt.Sprintf("agent-%d.sock", i))
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", err
	}
	return lis, "unix://" + path, nil
}

// namespace makes the named namespace, to be removed with the pool, and returns a
// netlink handle inside it.
func (p *netnsPool) namespace(name string) (*netlink.Handle, error) {
	h, err := newNamed(p.dir, name)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer h.Close()
	p.namespaces = append(p.namespaces, name)
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	return nl, nil
}

// addHost makes the host's namespace name, a veth from the switch's bridge (portN) to
// it (eth0), the host's address on eth0, and brings eth0 and lo up.
func (p *netnsPool) addHost(sw *netlink.Handle, br netlink.Link, name string, i int, addr netip.Prefix) error {
	in, err := p.namespace(name)
	if err != nil {
		return err
	}
	defer in.Close()
	h, err := vnetns.GetFromPath(filepath.Join(p.dir, name))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer h.Close()
	port := fmt.Sprintf("port%d", i)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port, MasterIndex: br.Attrs().Index}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(h))}
	if err := sw.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s: %w", port, err)
	}
	if err := sw.LinkSetUp(veth); err != nil {
		return fmt.Errorf("veth %s up: %w", port, err)
	}
	eth0, err := in.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("eth0: %w", err)
	}
	ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := in.AddrAdd(eth0, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("eth0 address: %w", err)
	}
	for _, l := range []string{"eth0", "lo"} {
		link, err := in.LinkByName(l)
		if err != nil {
			return fmt.Errorf("%s: %w", l, err)
		}
		if err := in.LinkSetUp(link); err != nil {
			return fmt.Errorf("%s up: %w", l, err)
		}
	}
	return nil
}

// newNamed makes a network namespace bound at dir/name, as ip netns add does, without
// moving this process into it: the thread that makes it comes back, or ends.
func newNamed(dir, name string) (vnetns.NsHandle, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return vnetns.None(), err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return vnetns.None(), err
	}
	f.Close()
	runtime.LockOSThread()
	home, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		os.Remove(path)
		return vnetns.None(), err
	}
	defer home.Close()
	h, err := vnetns.New() // unshare(CLONE_NEWNET) of this thread
	if err == nil {
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err = unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			h.Close()
			err = fmt.Errorf("bind %s: %w", path, err)
		}
	}
	if serr := vnetns.Set(home); serr != nil {
		// Locked and never unlocked: the runtime ends this thread with the goroutine.
		if err == nil {
			h.Close()
		}
		return vnetns.None(), fmt.Errorf("come back from %s: %w", name, serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		os.Remove(path)
		return vnetns.None(), err
	}
	return h, nil
}

// deleteNamed unbinds and removes the namespace dir/name, as ip netns delete does; the
// namespace ends once nothing else holds it.
func deleteNamed(dir, name string) error {
	path := filepath.Join(dir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		if errors.Is(err, unix.ENOENT) {
			return os.ErrNotExist
		}
		return err
	}
	return os.Remove(path)
}

// netnsPool is one run's namespaces and agents.
type netnsPool struct {
	dir        string // where its namespaces are bound
	hosts      []Host
	agents     []localAgent
	handles    []*netns.Namespace
	namespaces []string // named namespaces made, to remove
}

func (p *netnsPool) Hosts() []Host { return p.hosts }

// Close stops every agent, then removes the run's namespaces: with them go their veths
// and the bridge.
func (p *netnsPool) Close() error {
	var errs []error
	if err := stopAgents(p.agents); err != nil {
		errs = append(errs, err)
	}
	p.agents = nil
	for _, h := range p.handles {
		h.Close()
	}
	p.handles = nil
	for _, name := range p.namespaces {
		if err := deleteNamed(p.dir, name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove network namespace %s: %w", name, err))
		}
	}
	p.namespaces = nil
	return errors.Join(errs...)
}

// CleanNetns removes the network namespaces that runs whose owner is dead left behind (a
// run killed with SIGKILL), never a live run's, and returns their names. Without root
// there is nothing it could have made.
func CleanNetns() ([]string, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clean network namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if o, ok := ownerOf(e.Name()); ok && !o.Alive() {
			switch err := deleteNamed(netnsDir, e.Name()); {
			case errors.Is(err, os.ErrNotExist): // another cleaner was first
			case err != nil:
				errs = append(errs, fmt.Errorf("remove network namespace %s: %w", e.Name(), err))
			default:
				removed = append(removed, e.Name())
			}
		}
	}
	return removed, errors.Join(errs...)
}

// ownerOf reads the owner from a name or alias a run gave: "socklab-PID-START-RUN...".
func ownerOf(s string) (Owner, bool) {
	rest, ok := strings.CutPrefix(s, ownedPrefix)
	if !ok {
		return Owner{}, false
	}
	f := strings.SplitN(rest, "-", 3)
	if len(f) < 3 {
		return Owner{}, false
	}
	o, err := ParseOwner(f[0] + "-" + f[1])
	return o, err == nil
}

// broadcastOf returns an IPv4 subnet's broadcast address, its last.
func broadcastOf(subnet netip.Prefix) netip.Addr {
	b := subnet.Masked().Addr().As4()
	for i := subnet.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(b)
}
