// Package topology provides the agents a lab's hosts run on: one agent per lab host,
// each with its own address. The local topology (the default) starts agents inside this
// process on fresh loopback addresses; static agents, network namespaces and containers
// provide the same Pool.
package topology

import (
	"context"
	"net/netip"
)

// Host is one lab host bound to an agent.
type Host struct {
	// Role is the lab's name for the host ("server", "client").
	Role string
	// IP is the host's address: what its sockets bind and its peers see.
	IP netip.Addr
	// Target is the agent's gRPC address.
	Target string
	// Token is the agent's bearer token.
	Token string
}

// Topology provides agents for a lab's hosts.
type Topology interface {
	// Start provides one agent per role, in the order given. The pool must be closed
	// when the run ends, whatever happened.
	Start(ctx context.Context, roles []string) (Pool, error)
}

// Pool is the agents of one run.
type Pool interface {
	// Hosts returns the run's hosts, in the order of the roles given to Start.
	Hosts() []Host
	// Close releases the agents: a local topology stops them and frees their ports.
	Close() error
}

// KindOf names a topology as a lab's topologies do: "local", "netns", "docker" or
// "static".
func KindOf(t Topology) string {
	if k, ok := t.(interface{ Kind() string }); ok {
		return k.Kind()
	}
	return "static"
}

// Kind returns "local".
func (Local) Kind() string { return "local" }

// Kind returns "netns".
func (Netns) Kind() string { return "netns" }

// Kind returns "docker".
func (Docker) Kind() string { return "docker" }

// Choose returns where a run's hosts go: with an inventory, its agents (a host named in
// explicit binds to the agent given there, by name or HOST:PORT); else the agents named
// in explicit, if any; else local, the agents started for the run (Local, Netns). token
// reaches agents whose entry gives none.
func Choose(explicit map[string]string, inv *Inventory, token string, local Topology) Topology {
	switch {
	case inv != nil:
		return inv.Topology(explicit, token)
	case len(explicit) > 0:
		return Static{Agents: explicit, Token: token}
	}
	return local
}
