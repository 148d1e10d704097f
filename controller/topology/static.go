package topology

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/socklab/socklab/agent/client"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Static binds lab hosts to agents that already run, on this machine or others
// (`socklab agent` on each lab machine). Each host's address is what its agent reports.
type Static struct {
	// Agents maps a lab host's role to its agent's gRPC address (HOST:PORT).
	Agents map[string]string
	// Token is the agents' bearer token.
	Token string
}

var _ Topology = Static{}

// Start asks each bound agent who it is; an agent that does not answer fails the run
// before any step, naming it.
func (s Static) Start(ctx context.Context, roles []string) (Pool, error) {
	p := &staticPool{}
	for _, role := range roles {
		target, ok := s.Agents[role]
		if !ok {
			return nil, fmt.Errorf("no agent for host %s: give --agent %s=HOST:PORT", role, role)
		}
		ip, err := hello(ctx, target, s.Token)
		if err != nil {
			return nil, fmt.Errorf("agent for host %s at %s: %w", role, target, err)
		}
		p.hosts = append(p.hosts, Host{Role: role, IP: ip, Target: target, Token: s.Token})
	}
	return p, nil
}

// hello asks the agent at target for its host address.
func hello(ctx context.Context, target, token string) (netip.Addr, error) {
	c, err := client.Dial(target, token)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.API().Hello(ctx, &socklabv1.HelloRequest{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("unreachable: %w", err)
	}
	ip, err := netip.ParseAddr(resp.GetHostAddress())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("it reports no host address (%q): start it with --host-ip", resp.GetHostAddress())
	}
	return ip, nil
}

type staticPool struct{ hosts []Host }

func (p *staticPool) Hosts() []Host { return p.hosts }

// Close does nothing: the agents are not ours to stop (each frees the run's sessions).
func (p *staticPool) Close() error { return nil }
