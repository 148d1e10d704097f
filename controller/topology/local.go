package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"

	"github.com/socklab/socklab/agent/kernel"
	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
)

// Local starts one agent per lab host inside this process, each on its own loopback
// address 127.R.S.N (R and S chosen at random per run, N = 2, 3, ...), so that reruns and
// parallel runs never meet each other's ports or TIME_WAIT. Each run gets a random token.
// No privileges are needed: the whole of 127.0.0.0/8 is loopback on Linux.
type Local struct {
	// Programs are the programs the agents may start (host.spawn); none when empty.
	Programs []string
	// ProgramsRefusal, when set, is what the agents answer a spawn of anything else.
	ProgramsRefusal string
	// Confine keeps each run's agents to the run's own 127.R.S.0/24, for connect,
	// sendto and bind alike: the local topology of labs that arrive from elsewhere (a
	// controller's), which must not reach the host's own services or its networks.
	// Unset, they may reach loopback and the host's subnets and bind any address, as a
	// lab the machine's own user runs may.
	Confine bool
}

var _ Topology = Local{}

// everywhere is every address bind may take, the wildcard included.
var everywhere = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// Start serves one agent per role and returns them once all listen.
func (l Local) Start(ctx context.Context, roles []string) (Pool, error) {
	if len(roles) > 250 {
		return nil, fmt.Errorf("local topology: %d hosts is more than 250", len(roles))
	}
	net16, err := freshNetwork(randomNetwork)
	if err != nil {
		return nil, err
	}
	token, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	p := &localPool{}
	for i, role := range roles {
		ip := netip.AddrFrom4([4]byte{127, net16[0], net16[1], byte(2 + i)})
		lis, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("local topology: agent for %s: listen on %s: %w", role, ip, err)
		}
		pol := policy.Default()
		pol.Programs, pol.ProgramsRefusal = l.Programs, l.ProgramsRefusal
		pol.Binds = everywhere
		if l.Confine {
			run := localNetwork(net16)
			pol.Networks, pol.Binds = []netip.Prefix{run}, []netip.Prefix{run}
		}
		a, err := serveAgent(lis, server.Config{Name: role, HostIP: ip, Token: token, Policy: pol})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("local topology: agent for %s: %w", role, err)
		}
		p.agents = append(p.agents, a)
		p.hosts = append(p.hosts, Host{Role: role, IP: ip, Target: lis.Addr().String(), Token: token})
	}
	return p, nil
}

// localAgent is an agent served by this process, until cancel.
type localAgent struct {
	cancel context.CancelFunc
	done   chan error
}

// serveAgent serves an agent on lis, in this process, until it is stopped; on an error
// it closes lis.
func serveAgent(lis net.Listener, cfg server.Config) (localAgent, error) {
	a, err := server.New(lis, cfg)
	if err != nil {
		lis.Close()
		return localAgent{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	return localAgent{cancel: cancel, done: done}, nil
}

// stopAgents stops every agent and waits for each to release its sockets and port.
func stopAgents(agents []localAgent) error {
	var errs []error
	for _, a := range agents {
		a.cancel()
	}
	for _, a := range agents {
		if err := <-a.done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// randomHex returns n random bytes in hex: a run's token or name.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("topology: %w", err)
	}
	return hex.EncodeToString(b), nil
}

type localPool struct {
	hosts  []Host
	agents []localAgent
}

func (p *localPool) Hosts() []Host { return p.hosts }

// Close stops every agent and waits for each to release its sockets and port.
func (p *localPool) Close() error {
	err := stopAgents(p.agents)
	p.agents = nil
	return err
}

// freshNetwork picks the run's 127.R.S.0/24 with random, passing over one that any socket
// of this host uses, in any state, TCP or UDP, as its own address or its peer's (a run a
// moment ago, whose connections wait in TIME_WAIT on the same ports; another program),
// so that a run never meets another's. Each candidate costs one query of the kernel's
// table filtered to its network, however many sockets the host has.
func freshNetwork(random func() ([2]byte, error)) ([2]byte, error) {
	for range 64 {
		n, err := random()
		if err != nil {
			return [2]byte{}, err
		}
		rows, err := kernel.Sockets(kernel.Filter{Net: localNetwork(n)})
		if err != nil {
			return [2]byte{}, fmt.Errorf("local topology: read this host's socket table to choose a free 127.R.S.0/24: %w", err)
		}
		if len(rows) == 0 {
			return n, nil
		}
	}
	return [2]byte{}, errors.New("local topology: no free 127.R.S.0/24 network after 64 tries")
}

// randomNetwork returns R and S of a random 127.R.S.0/24 (R from 1 to 254).
func randomNetwork() ([2]byte, error) {
	r, err := rand.Int(rand.Reader, big.NewInt(254*256))
	if err != nil {
		return [2]byte{}, fmt.Errorf("local topology: %w", err)
	}
	return [2]byte{byte(1 + r.Int64()/256), byte(r.Int64() % 256)}, nil
}

// localNetwork is the network 127.R.S.0/24 of n (R, S).
func localNetwork(n [2]byte) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, n[0], n[1], 0}), 24)
}
