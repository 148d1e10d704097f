package topology

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Inventory describes the agents of a lab room, as an inventory file lists them:
//
//	agents:
//	  - name: pc1
//	    address: 10.0.0.11:7070
//	    token: "..."
//	    labels: [room-a]
type Inventory struct {
	// Agents are the room's agents, in the file's order.
	Agents []InventoryAgent `yaml:"agents"`
}

// InventoryAgent is one agent of an inventory.
type InventoryAgent struct {
	// Name names the agent; a lab host of the same name binds to it.
	Name string `yaml:"name"`
	// Address is its gRPC address, HOST:PORT.
	Address string `yaml:"address"`
	// Token is its bearer token ("" = the command's --token).
	Token string `yaml:"token"`
	// Labels group agents (a room, a row).
	Labels []string `yaml:"labels"`
}

// LoadInventory reads an inventory file; unknown fields and agents without a name or an
// address are errors naming the line.
func LoadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var inv Inventory
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, a := range inv.Agents {
		switch {
		case a.Name == "":
			return nil, fmt.Errorf("inventory %s: agent %d has no name", path, i+1)
		case a.Address == "":
			return nil, fmt.Errorf("inventory %s: agent %s has no address (HOST:PORT)", path, a.Name)
		case seen[a.Name]:
			return nil, fmt.Errorf("inventory %s: agent %s is listed twice", path, a.Name)
		}
		seen[a.Name] = true
	}
	return &inv, nil
}

// Find returns the agent named name.
func (inv *Inventory) Find(name string) (InventoryAgent, bool) {
	for _, a := range inv.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return InventoryAgent{}, false
}

// Bind binds a lab's roles to agents: explicit is --agent ROLE=NAME (an inventory agent)
// or ROLE=HOST:PORT (any agent); a role left over binds to the agent of the same name,
// else to the next agent not yet bound. token is used for agents without one of their own.
func (inv *Inventory) Bind(roles []string, explicit map[string]string, token string) (Static, error) {
	st := Static{Agents: map[string]string{}, Tokens: map[string]string{}, Token: token}
	used := map[string]bool{}
	bind := func(role string, a InventoryAgent) {
		st.Agents[role] = a.Address
		if a.Token != "" {
			st.Tokens[role] = a.Token
		}
		used[a.Name] = true
	}
	for _, role := range roles {
		to, ok := explicit[role]
		if !ok {
			continue
		}
		if a, ok := inv.Find(to); ok {
			bind(role, a)
			continue
		}
		if err := CheckTarget(role, to, inv); err != nil {
			return Static{}, err
		}
		st.Agents[role] = to
	}
	for _, role := range roles {
		if _, ok := st.Agents[role]; ok {
			continue
		}
		if a, ok := inv.Find(role); ok && !used[a.Name] {
			bind(role, a)
		}
	}
	for _, role := range roles {
		if _, ok := st.Agents[role]; ok {
			continue
		}
		i := slices.IndexFunc(inv.Agents, func(a InventoryAgent) bool { return !used[a.Name] })
		if i < 0 {
			return Static{}, fmt.Errorf("no free agent for host %s: the inventory has %d agents for %d hosts", role, len(inv.Agents), len(roles))
		}
		bind(role, inv.Agents[i])
	}
	return st, nil
}

// CheckTarget checks the target of --agent ROLE=TARGET: an agent of inv (nil: no
// inventory) by name, else an address HOST:PORT. A bare name that is not the inventory's
// is an error listing the names it has, never a host name to look up.
func CheckTarget(role, target string, inv *Inventory) error {
	if inv != nil {
		if _, ok := inv.Find(target); ok {
			return nil
		}
	}
	if host, port, err := net.SplitHostPort(target); err == nil && host != "" && port != "" {
		return nil
	}
	if inv == nil {
		return fmt.Errorf("--agent %s=%s: not HOST:PORT, and there is no inventory to name agents: give --inventory FILE, or the agent's address", role, target)
	}
	names := make([]string, len(inv.Agents))
	for i, a := range inv.Agents {
		names[i] = a.Name
	}
	return fmt.Errorf("--agent %s=%s: the inventory has no agent %s (its agents: %s); give one of them, or an address HOST:PORT", role, target, target, strings.Join(names, ", "))
}

// Status is what an agent says of itself.
type Status struct {
	// Agent is the inventory's entry.
	Agent InventoryAgent
	// Version, HostAddress and Name are its Hello answer.
	Version, HostAddress, Name string
	// Err is set when it does not answer.
	Err error
}

// Check asks every agent of the inventory who it is.
func (inv *Inventory) Check(ctx context.Context, token string) []Status {
	out := make([]Status, len(inv.Agents))
	for i, a := range inv.Agents {
		t := a.Token
		if t == "" {
			t = token
		}
		out[i].Agent = a
		out[i].Name, out[i].Version, out[i].HostAddress, out[i].Err = describe(ctx, a.Address, t)
	}
	return out
}

// Topology returns a topology that binds each run's hosts to the inventory's agents as
// Bind does.
func (inv *Inventory) Topology(explicit map[string]string, token string) Topology {
	return inventoryTopology{inv: inv, explicit: explicit, token: token}
}

type inventoryTopology struct {
	inv      *Inventory
	explicit map[string]string
	token    string
}

func (t inventoryTopology) Start(ctx context.Context, roles []string) (Pool, error) {
	st, err := t.inv.Bind(roles, t.explicit, t.token)
	if err != nil {
		return nil, err
	}
	return st.Start(ctx, roles)
}
