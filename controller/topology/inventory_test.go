package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeInventory(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "room.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadInventory(t *testing.T) {
	inv, err := LoadInventory(writeInventory(t, `agents:
  - name: pc1
    address: 10.0.0.11:7070
    token: "secret"
    labels: [room-a]
  - name: server
    address: 10.0.0.12:7070
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Agents) != 2 || inv.Agents[0].Token != "secret" || inv.Agents[0].Labels[0] != "room-a" {
		t.Errorf("LoadInventory = %+v", inv)
	}
	for _, tc := range []struct{ text, want string }{
		{"agents:\n  - address: a:1\n", "agent 1 has no name"},
		{"agents:\n  - name: x\n", "agent x has no address"},
		{"agents:\n  - name: x\n    address: a:1\n  - name: x\n    address: b:1\n", "listed twice"},
		{"agents:\n  - name: x\n    adress: a:1\n", "field adress not found"},
	} {
		if _, err := LoadInventory(writeInventory(t, tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadInventory(%q) = %v, want an error with %q", tc.text, err, tc.want)
		}
	}
}

// TestBind: an explicit --agent wins, then an agent of the host's name, then the next
// free agent; too few agents is an error naming the host.
func TestBind(t *testing.T) {
	inv := &Inventory{Agents: []InventoryAgent{
		{Name: "pc1", Address: "a:1", Token: "own"}, {Name: "client", Address: "b:1"}, {Name: "pc3", Address: "c:1"},
	}}
	st, err := inv.Bind([]string{"server", "client", "spy"}, map[string]string{"spy": "d:1"}, "T")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"server": "a:1", "client": "b:1", "spy": "d:1"}
	for role, addr := range want {
		if st.Agents[role] != addr {
			t.Errorf("host %s bound to %s, want %s", role, st.Agents[role], addr)
		}
	}
	if st.Tokens["server"] != "own" || st.Token != "T" {
		t.Errorf("tokens = %v / %q, want server's own and T for the rest", st.Tokens, st.Token)
	}
	st, err = inv.Bind([]string{"a"}, map[string]string{"a": "pc3"}, "")
	if err != nil || st.Agents["a"] != "c:1" {
		t.Errorf("--agent a=pc3 bound to %v (%v), want c:1", st.Agents, err)
	}
	if _, err := inv.Bind([]string{"a", "b", "c", "d"}, nil, ""); err == nil || !strings.Contains(err.Error(), "no free agent for host d") {
		t.Errorf("4 hosts on 3 agents: %v", err)
	}
}
