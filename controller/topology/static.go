package topology

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/socklab/socklab/agent/client"
)

// Static binds lab hosts to agents that already run, on this machine or others
// (`socklab agent` on each lab machine). Each host's address is what its agent reports.
type Static struct {
	// Agents maps a lab host's role to its agent's gRPC address (HOST:PORT).
	Agents map[string]string
	// Token is the agents' bearer token.
	Token string
	// Tokens overrides Token for some roles (an inventory agent's own token).
	Tokens map[string]string
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
		token := s.Token
		if t, ok := s.Tokens[role]; ok {
			token = t
		}
		_, _, host, err := describe(ctx, target, token)
		if err != nil {
			return nil, fmt.Errorf("agent for host %s at %s: %w", role, target, err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("agent for host %s at %s reports no host address (%q): start it with --host-ip", role, target, host)
		}
		p.hosts = append(p.hosts, Host{Role: role, IP: ip, Target: target, Token: token})
	}
	return p, nil
}

// describe asks the agent at target for its name, version and host address.
func describe(ctx context.Context, target, token string) (name, version, host string, err error) {
	c, err := client.Dial(target, token)
	if err != nil {
		return "", "", "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.Hello(ctx)
	if err != nil {
		return "", "", "", fmt.Errorf("unreachable: %w", err)
	}
	return resp.GetName(), resp.GetVersion(), resp.GetHostAddress(), nil
}

type staticPool struct{ hosts []Host }

func (p *staticPool) Hosts() []Host { return p.hosts }

// Close does nothing: the agents are not ours to stop (each frees the run's sessions).
func (p *staticPool) Close() error { return nil }
