package topology

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
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
			return nil, fmt.Errorf("host %s: %w", role, err)
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
		return "", "", "", agentError(target, token, err)
	}
	return resp.GetName(), resp.GetVersion(), resp.GetHostAddress(), nil
}

// agentError says in the command line's terms why the agent at target did not answer
// Hello; token is the one sent ("" none). The error keeps err's kind.
func agentError(target, token string, err error) error {
	switch {
	case errors.Is(err, errdefs.ErrUnreachable):
		return fmt.Errorf("cannot reach the agent at %s: is it running? (%w)", target, err)
	case errors.Is(err, errdefs.ErrUnauthenticated) && token == "":
		return fmt.Errorf("the agent at %s wants a token, and none was given: give --token-file FILE or $SOCKLAB_TOKEN, or the agent's token in the inventory%w", target, quiet{err})
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return fmt.Errorf("the agent at %s refused the token: check --token-file, --token or $SOCKLAB_TOKEN, or the agent's token in the inventory%w", target, quiet{err})
	case errors.Is(err, errdefs.ErrDeadlineExceeded):
		return fmt.Errorf("the agent at %s did not answer within 5s (%w)", target, err)
	}
	return fmt.Errorf("the agent at %s: %w", target, err)
}

// quiet wraps an error whose words are already said: it adds nothing to a message, and
// errors.Is and errors.As still reach it.
type quiet struct{ err error }

func (quiet) Error() string   { return "" }
func (q quiet) Unwrap() error { return q.err }

type staticPool struct{ hosts []Host }

func (p *staticPool) Hosts() []Host { return p.hosts }

// Close does nothing: the agents are not ours to stop (each frees the run's sessions).
func (p *staticPool) Close() error { return nil }
